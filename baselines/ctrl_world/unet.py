"""The SVD spatio-temporal UNet with Ctrl-World's frame-level conditioning.

diffusers' ``UNetSpatioTemporalConditionModel`` repeats one context sequence to every frame.
Ctrl-World instead gives each frame its own cross-attention token: the (B, F, D) action tokens
are reshaped to (B*F, 1, D), so frame k's spatial cross-attention sees only token k (its pose),
while the temporal layers still mix frames. Everything else (modules, parameter names, shapes)
is diffusers' class unchanged, which is what lets the official state dict load by name.
"""

from __future__ import annotations

import torch
from diffusers import UNetSpatioTemporalConditionModel

from baselines.ctrl_world.config import UNetConfig


class FrameLevelUNet(UNetSpatioTemporalConditionModel):
    """``UNetSpatioTemporalConditionModel`` whose ``forward`` accepts one token per frame."""

    @classmethod
    def from_size(cls, size: UNetConfig) -> FrameLevelUNet:
        return cls(**size.kwargs())

    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        frame_level_cond: bool = True,
        input_offset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """sample (B, F, C, H, W); timestep scalar or (B,) (c_noise = ln(sigma)/4);
        encoder_hidden_states (B, F, D) when frame-level, else (B, L, D); added_time_ids (B, 3).
        ``input_offset`` (B*F, C0, H, W), optional: added to ``conv_in``'s output (the small
        recipe's pose map, :class:`pwbench.diffusion.pose_map.PoseMap`).
        Returns the raw network output F_theta, shaped like ``sample`` with ``out_channels``."""
        batch, frames = sample.shape[:2]
        if frame_level_cond and encoder_hidden_states.shape[1] != frames:
            raise ValueError(f"frame-level conditioning needs one token per frame: {frames} frames, "
                             f"{encoder_hidden_states.shape[1]} tokens")
        t = torch.as_tensor(timestep, device=sample.device)
        t = t.reshape(-1).to(sample.dtype if sample.dtype.is_floating_point else torch.float32).expand(batch)

        emb = self.time_embedding(self.time_proj(t).to(sample.dtype))
        time_ids = self.add_time_proj(added_time_ids.flatten()).reshape(batch, -1).to(emb.dtype)
        emb = emb + self.add_embedding(time_ids)
        emb = emb.repeat_interleave(frames, dim=0)

        if frame_level_cond:  # frame k attends to token k only
            context = encoder_hidden_states.reshape(batch * frames, 1, encoder_hidden_states.shape[-1])
        else:  # stock SVD: the whole sequence for every frame
            context = encoder_hidden_states.repeat_interleave(frames, dim=0)

        x = self.conv_in(sample.flatten(0, 1))
        if input_offset is not None:
            x = x + input_offset.to(x.dtype)
        indicator = torch.zeros(batch, frames, dtype=x.dtype, device=x.device)
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                x, res = block(hidden_states=x, temb=emb, encoder_hidden_states=context,
                               image_only_indicator=indicator)
            else:
                x, res = block(hidden_states=x, temb=emb, image_only_indicator=indicator)
            skips += res
        x = self.mid_block(hidden_states=x, temb=emb, encoder_hidden_states=context, image_only_indicator=indicator)
        for i, block in enumerate(self.up_blocks):
            res, skips = skips[-len(block.resnets):], skips[: -len(block.resnets)]
            size = skips[-1].shape[2:] if i < len(self.up_blocks) - 1 else None
            if getattr(block, "has_cross_attention", False):
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res, encoder_hidden_states=context,
                          upsample_size=size, image_only_indicator=indicator)
            else:
                x = block(hidden_states=x, temb=emb, res_hidden_states_tuple=res, upsample_size=size,
                          image_only_indicator=indicator)
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))
        return x.reshape(batch, frames, *x.shape[1:])

"""The small WPE world model: the WPE network on the shared residual recipe, with diffusion forcing.

A window is up to ``max_frames`` consecutive frames, oldest first; causal temporal attention lets
frame f see only frames <= f. One frame is the reference — at inference the current frame, the
last of the context — given as its raw code (lightly noised in training, sigma_c ~ U(0, 0.3));
every other frame is its residual z[f] - z[ref] with **its own** noise level. The network's
per-frame timestep is 1000 * c_noise(sigma_f) (the reference's from sigma_c, floored at
sigma_min), so each frame's noise is told to it the same way — the per-frame timestep the
original trains with (diffusion forcing). An untrained network (zero output layer) predicts the
zero residual: copy-last.

Sampling a chunk of h new frames after the context (window <= max_frames): context frames are
clean and enter at the stabilization level sigma_s (scaled by c_in(sigma_s), no noise added — the
original feeds its context at timestep 14 the same way); the new frames walk the shared pyramid
schedule (:func:`pwbench.diffusion.sampler.pyramid_schedule`), frame j starting j steps after
frame 0, over the recipe's Karras sigmas. Guidance is off (the recipe's finding: CFG changed
nothing measurable for the small Ctrl-World).

Deviation (model card): in training the frames before the reference are clean context at
sigma_s, as at inference, and only the frames after it are diffusion-forced; the original noises
every frame of the window independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from baselines.wpe.config import WPEConfig
from baselines.wpe.model import WPE, FrameCache
from pwbench.diffusion.edm import initial_noise_scale, precondition
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.poses import FrameActionFeatures
from pwbench.diffusion.recipe import SMALL_RECIPE, ResidualRecipe, noised_condition
from pwbench.diffusion.residual import to_residual
from pwbench.diffusion.sampler import Trajectory, euler_sample_frames, pyramid_schedule, randn_per_row
from pwbench.diffusion.world import PatchPCAWorld

Generators = torch.Generator | list[torch.Generator]
TIMESTEP_SCALE = 1000.0  # network timestep = TIMESTEP_SCALE * c_noise(sigma)

SMALL_NET = WPEConfig(name="wpe-droid-sim", in_channels=48, patch_size=2, dim=192, num_layers=6, num_heads=3,
                      action_dim=FrameActionFeatures.dim, max_frames=8)


@dataclass(frozen=True)
class SmallWPEConfig:
    name: str = "wpe-droid-sim-small"
    net: WPEConfig = SMALL_NET
    view_height: int = 96
    view_width: int = 160
    num_views: int = 3
    latent_channels: int = 48
    patch: int = 8
    chunk: int = 4  # new frames per rollout step
    stabilization_sigma: float = 0.05  # the level clean context frames are fed at
    recipe: ResidualRecipe = field(default=SMALL_RECIPE)

    def __post_init__(self) -> None:
        if self.net.in_channels != self.latent_channels:
            raise ValueError(f"{self.name}: the network must take {self.latent_channels} channels")
        if not 1 <= self.chunk < self.net.max_frames:
            raise ValueError(f"{self.name}: chunk {self.chunk} must leave room for the anchor in "
                             f"{self.net.max_frames} frames")


SMALL = SmallWPEConfig()
# the same network with a pose map (pwbench.diffusion.pose_map): 8 maps over the 36x20 canvas from
# each frame's 24 action features, patchified onto its tokens
SMALL_POSE_MAP = SmallWPEConfig(name="wpe-droid-sim-small-posemap",
                                net=replace(SMALL_NET, pose_map_channels=8, input_size=(36, 20)))
CONFIGS = {c.name: c for c in (SMALL, SMALL_POSE_MAP)}


class WPEWorld(PatchPCAWorld):
    """``net`` (the WPE DiT) and ``vae`` (the patch-PCA code, with its latent scale)."""

    def __init__(self, config: SmallWPEConfig = SMALL) -> None:
        super().__init__(config, WPE(config.net))

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, reference: torch.Tensor, ref_code: torch.Tensor,
                ref_sigma: torch.Tensor, actions: torch.Tensor, cache: list[FrameCache] | None = None,
                commit: int = 0, window: int | None = None) -> torch.Tensor:
        """x0 estimates of every frame's residual. x (B, F, C, h, w) residuals from the reference
        frame at sigma (B, F); reference (B,) the reference frame's index, whose slot takes the raw
        code ``ref_code`` (B, C, h, w) at noise ``ref_sigma`` (B,) instead; actions (B, F, A).
        ``cache``, ``commit``, ``window``: incremental use, as :meth:`WPE.forward` (x then holds
        the frames after the cached ones; ``reference`` still counts from the window's start)."""
        r = self.config.recipe
        b, f = x.shape[:2]
        start = cache[0].length if cache else 0
        is_ref = start + torch.arange(f, device=x.device)[None] == reference[:, None]  # (B, F)
        sigma = torch.where(is_ref, ref_sigma.clamp(min=r.sigma_min)[:, None], sigma)
        p = precondition(sigma[..., None, None, None], r.sigma_data)
        frames = torch.where(is_ref[..., None, None, None], ref_code[:, None], x * p.c_in)
        t = TIMESTEP_SCALE * p.c_noise.reshape(b, f)
        out = self.net(frames.permute(0, 1, 3, 4, 2), t, actions, cache, commit, window).permute(0, 1, 4, 2, 3)
        return p.c_skip * x + p.c_out * out

    def training_loss(self, latents: torch.Tensor, actions: torch.Tensor, k: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The EDM-weighted x0 loss of one batch over the frames after each window's reference
        (:meth:`estimate`)."""
        return self.estimate(latents, actions, k, generator).x0_loss(self.config.recipe.sigma_data)

    def estimate(self, latents: torch.Tensor, actions: torch.Tensor, k: torch.Tensor,
                 generator: torch.Generator | None = None) -> X0Estimate:
        """latents (B, F, C, h, w) scaled; k (B,) each window's reference frame (0..F-2, drawn by
        the caller with the batch); actions (B, F, A) taken against the reference's pose. Frames
        before k are clean context at the stabilization level, frame k is the raw (lightly noised)
        condition, every later frame gets its own sigma (diffusion forcing) and is ``predicted``:
        in the loss, and what a rollout outputs."""
        r, cfg = self.config.recipe, self.config
        b, f = latents.shape[:2]
        dev, dt = latents.device, latents.dtype
        current = latents[torch.arange(b, device=dev), k]
        cs = torch.rand(b, device=dev, dtype=dt, generator=generator) * r.cond_sigma_max
        noise_c = torch.randn(current.shape, device=dev, dtype=dt, generator=generator)
        ref_code = noised_condition(current, cs, noise_c) / self.scaling_factor
        target = to_residual(latents, current)
        order = torch.arange(f, device=dev)[None]
        future = order > k[:, None]
        sigma = torch.where(future, r.train_sigma.sample((b, f), generator, dev, dt),
                            torch.full((b, f), cfg.stabilization_sigma, device=dev, dtype=dt))
        noise = torch.randn(target.shape, device=dev, dtype=dt, generator=generator)
        noisy = target + noise * (sigma * future)[..., None, None, None]  # context frames stay clean
        x0 = self.denoise(noisy, sigma, k, ref_code, cs, actions)
        return X0Estimate(x0, target, sigma[..., None, None, None], current, residual=True, predicted=future)

    @torch.no_grad()
    def chunk_trajectory(self, window: torch.Tensor, new: int, actions: torch.Tensor, generator: Generators,
                         num_steps: int | None = None, pyramid: bool = True) -> Trajectory:
        """Sample ``new`` frames after ``window`` (B, n, C, h, w) scaled latents, the last of which is
        the current frame (the reference; n + new <= max_frames); actions (B, n + new, A) against
        the current pose. ``pyramid``: the original's staggered schedule (num_steps + new - 1
        network calls); otherwise the new frames walk the sigmas together (num_steps calls).
        The trajectory holds residuals from the current frame; context frames are unchanged, and a
        frame's x0 estimate is only meaningful in the rows where it moves. Each call runs only the
        frames it must (:class:`baselines.wpe.model.FrameCache`): with the pyramid and one step, 11
        frame-passes per 4-frame chunk after 4 context frames instead of 32."""
        r, cfg = self.config.recipe, self.config
        b, n = window.shape[:2]
        if n + new > cfg.net.max_frames:
            raise ValueError(f"{cfg.name}: a window holds at most {cfg.net.max_frames} frames, got {n} + {new}")
        current = window[:, -1].float()
        context = to_residual(window.float(), current)
        schedule = r.schedule(num_steps)
        noise = randn_per_row((b, new, *current.shape[1:]), generator, current.device)
        x = torch.cat([context, noise * initial_noise_scale(schedule.sigma_max, r.sigma_data)], dim=1)
        sigmas = schedule.sigmas()
        rows = pyramid_schedule(sigmas, new) if pyramid else sigmas[:, None].expand(-1, new)
        held = torch.full((len(rows), n), cfg.stabilization_sigma)
        ref_code = current / self.scaling_factor
        reference = torch.full((b,), n - 1, dtype=torch.long, device=current.device)
        zero = torch.zeros(b, device=current.device)

        given = torch.arange(n + new, device=current.device) < n
        cache = self.net.new_cache()

        def denoise(xx: torch.Tensor, sigma: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
            # Causal attention: run only from the first uncached frame to the last moving one. The
            # context and the finished frames (sigma 0, fed like the context at the stabilization
            # level) no longer change, so the leading run of them is cached after its one pass.
            if not moving.any():  # nothing to estimate (a schedule row that only holds frames)
                return xx
            start, stop = cache[0].length, int(moving.nonzero().max()) + 1
            if moving[:start].any():
                raise RuntimeError(f"frames {moving[:start].nonzero().flatten().tolist()} move after being cached; "
                                   "the frame cache needs a schedule in which finished frames stay finished")
            fixed = (given | (sigma == 0))[start:stop]
            commit = int(fixed.int().cumprod(0).sum())
            level = torch.where(sigma > 0, sigma, torch.full_like(sigma, cfg.stabilization_sigma))[start:stop]
            x0 = xx.clone()  # frames outside the span (context, not yet started) are not estimated
            x0[:, start:stop] = self.denoise(xx[:, start:stop], level.expand(b, -1), reference, ref_code, zero,
                                             actions[:, start:stop], cache, commit, window=n + new)
            x0[:, :n] = xx[:, :n]  # context frames are given, not estimated
            return x0

        return euler_sample_frames(denoise, x, torch.cat([held, rows], dim=1).to(current.device))

    @torch.no_grad()
    def predict_chunk(self, window: torch.Tensor, new: int, actions: torch.Tensor, generator: Generators,
                      num_steps: int | None = None, pyramid: bool = True) -> torch.Tensor:
        """(B, new, C, h, w) scaled latents of the new frames."""
        traj = self.chunk_trajectory(window, new, actions, generator, num_steps, pyramid)
        return traj.sample[:, -new:] + window[:, -1:].float()

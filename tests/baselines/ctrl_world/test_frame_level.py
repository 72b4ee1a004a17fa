"""Frame-level conditioning: frame k's spatial cross-attention sees exactly token k."""

from __future__ import annotations

import torch


def _run(model, tokens: torch.Tensor, frame_level: bool, capture: list) -> torch.Tensor:
    cfg = model.config
    h, w = cfg.latent_hw
    torch.manual_seed(1)
    x = torch.randn(1, 11, cfg.unet.in_channels, h, w)
    hooks = []
    for name, mod in model.unet.named_modules():
        if name.split(".")[-3:] == ["transformer_blocks", "0", "attn2"]:  # spatial (not temporal) cross-attention
            hooks.append(mod.register_forward_hook(
                lambda m, args, kwargs, out: capture.append(kwargs["encoder_hidden_states"]), with_kwargs=True))
    try:
        return model.unet(x, torch.tensor(0.3), tokens, model.time_ids(1, 0.02, x.dtype, "cpu"),
                          frame_level_cond=frame_level)
    finally:
        for hook in hooks:
            hook.remove()


def test_each_frame_attends_to_its_own_token(tiny_model) -> None:
    torch.manual_seed(0)
    tokens = torch.randn(1, 11, tiny_model.config.action_hidden)
    seen: list[torch.Tensor] = []
    out = _run(tiny_model, tokens, True, seen)
    assert out.shape[:2] == (1, 11)
    assert seen, "no spatial cross-attention was hooked"
    for ctx in seen:
        assert ctx.shape == (11, 1, tokens.shape[-1])  # (B*F, 1, D): one token per frame
        assert torch.equal(ctx[:, 0], tokens[0])  # frame f's context is token f
    stock: list[torch.Tensor] = []
    _run(tiny_model, tokens, False, stock)
    assert stock[0].shape == (11, 11, tokens.shape[-1])  # stock SVD: every frame sees every token


def test_changing_one_frames_token_changes_the_output(tiny_model) -> None:
    torch.manual_seed(0)
    tokens = torch.randn(1, 11, tiny_model.config.action_hidden)
    base = _run(tiny_model, tokens, True, [])
    moved = tokens.clone()
    moved[0, 8] += 1.0
    diff = (_run(tiny_model, moved, True, []) - base).abs().flatten(2).amax(-1)[0]
    assert diff[8] > 0
    # only frame 8's spatial attention saw the change: it is the frame that moved most
    assert diff.argmax() == 8

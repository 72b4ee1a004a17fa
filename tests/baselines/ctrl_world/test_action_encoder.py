from __future__ import annotations

import torch

from baselines.ctrl_world.action_encoder import ActionEncoder, normalize_bound


def test_one_token_per_frame_and_text_added_to_every_token() -> None:
    torch.manual_seed(0)
    enc = ActionEncoder(7, 64)
    assert [k for k in enc.state_dict()] == [f"action_encode.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    assert enc.action_encode[0].weight.shape == (64, 7)
    actions = torch.rand(2, 11, 7) * 2 - 1
    tokens = enc(actions)
    assert tokens.shape == (2, 11, 64)
    text = torch.randn(2, 32)  # tiled x2 to the token width
    with_text = enc(actions, text)
    delta = with_text - tokens
    assert torch.allclose(delta, torch.cat([text, text], -1)[:, None].expand(-1, 11, -1), atol=1e-6)
    # frame k's token depends only on frame k's pose
    moved = actions.clone()
    moved[:, 3] += 0.5
    diff = (enc(moved) - tokens).abs().sum(-1)
    assert (diff[:, 3] > 0).all() and diff[:, [0, 1, 2, 4, 5]].abs().max() == 0


def test_normalize_bound_maps_percentiles_to_unit_interval_and_clips() -> None:
    q01, q99 = torch.tensor([0.0, -1.0]), torch.tensor([2.0, 1.0])
    x = torch.tensor([[0.0, -1.0], [1.0, 0.0], [2.0, 1.0], [5.0, -9.0]])
    y = normalize_bound(x, q01, q99)
    assert torch.allclose(y, torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [1.0, -1.0]]), atol=1e-6)

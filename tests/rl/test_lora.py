"""LoRA on attention projections: injected adapters start as the identity, and merging them for
inference computes what the unmerged adapted model computes."""

from __future__ import annotations

import torch
from torch import nn

from pwbench.rl.lora import add_lora, lora_parameters, merge_lora


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.to_q, self.to_k, self.other = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        return self.other(self.to_q(x) * self.to_k(x))


def test_fresh_adapters_are_the_base_and_a_merge_keeps_the_output():
    torch.manual_seed(0)
    block, x = Block(), torch.randn(4, 8)
    base = block(x)
    assert add_lora(block, rank=2, alpha=4.0, targets=("to_q", "to_k")) == ["to_q", "to_k"]
    assert torch.equal(block(x), base)  # B = 0
    with torch.no_grad():
        for _, p in lora_parameters(block):
            p.normal_()
    adapted = block(x)
    assert not torch.allclose(adapted, base)
    assert merge_lora(block) == 2
    merged = block(x)
    torch.testing.assert_close(merged, adapted, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        for _, p in lora_parameters(block):
            p.zero_()  # merged: the adapters no longer take part in the forward
    torch.testing.assert_close(block(x), merged, rtol=1e-5, atol=1e-5)

"""PersistWorld post-training (arXiv 2603.25685): DiffusionNFT on a world model's own rollouts.

Model-agnostic. A diffusion world model implements :class:`pwbench.rl.protocol.Branchable`
(start a rollout state at a ground-truth frame, advance it by one chunk under the active weights
and return the chunk's clean latents and decoded frames, predict x0 for noised latents of a
recorded chunk); this package does the rest:

- ``policies``: the trainable tensors (LoRA + action encoder) and their *old* (sampling) and
  *reference* copies, swapped in for a forward pass, the old one soft-updated after each step;
- ``reward``: clip-level, multi-view combinations of the harness's own metric values;
- ``advantage``: group-normalised advantages mapped to an optimality probability r in [0, 1];
- ``nft``: the x0-adapted DiffusionNFT loss on forward-noised candidates;
- ``recipe``: prefix rollout -> K branches -> rewards -> loss, as a task of the shared training
  loop (:mod:`pwbench.train.loop`: AdamW, EMA, clipping, bit-exact resume, metrics log);
- ``lora``: peft LoRA adapters on a module's attention projections.
"""

"""The PersistWorld iteration, as a task of the shared training loop.

One iteration (one optimiser step), for each of the loop's ``batch_size`` states (groups):

1. **prefix** — pick a training episode and a start frame; the *old* policy rolls out P chunks on
   its own outputs with the recorded actions (P ~ uniform on ``prefix``), so the branch point
   carries the model's own accumulated drift, not a ground-truth history;
2. **branch** — K candidate futures of L chunks from that state (L ~ uniform on ``future``: the
   "variable length"), all K rows in one batched forward per sampler step, each with its own noise;
3. **reward** — each candidate's decoded frames against the episode's own frames, through the
   harness's metric kernels, at clip level over every view (:mod:`pwbench.rl.reward`);
4. **advantage** — r in [0, 1] per candidate (:mod:`pwbench.rl.advantage`);
5. **update** — the x0-NFT loss (:mod:`pwbench.rl.nft`) on ``loss_samples`` (candidate, chunk)
   pairs drawn from the iteration's candidates, each forward-noised at a sigma of the model's
   training distribution (or of ``train_sigma``: ``--train-sigma``, e.g. around the 1-step
   sampler's sigma 80, as DiffusionNFT trains at its sampler's timesteps); no gradient flows
   through any sampler.

After the step the old policy is soft-updated toward the trained one (eta = min(0.001 step, 0.5),
DiffusionNFT's default). Defaults and why: K = 16 (the paper); prefix 0..9 and future 1..4 chunks
so that branch points and candidates cover the whole 14-chunk (11 s) evaluation rollout, where the
drift the paper targets appears; beta = 1 (DiffusionNFT's default); the EDM weight (the base
model's own loss weight); KL off (DiffusionNFT's 1e-4 applies to velocity units, not ours).

``objective="best-of-k"`` is the ablation without RL on the same self-generated data: the same
prefixes, branches and rewards, but the update is plain fine-tuning (the EDM-weighted x0 loss) on
each group's highest-reward candidate (rejection-sampling fine-tuning), so the rewards choose the
data and nothing pushes away from the worse candidates. ``objective="any-of-k"`` is its control:
the same fine-tuning on the candidates the NFT loss would sample, whatever their reward
(self-distillation on the model's own rollouts), which tells what the reward's choice adds.
``objective="ground-truth"`` asks whether the recording, not the reward, is what own-rollout
training needs (DAgger-like; scheduled sampling at full rate): ``batch_size`` rows roll out
together under the old policy, P prefix chunks then L more, with no branching and no reward; the
L chunks keep the context the model built itself but get the episode's recorded frames as their
target (:meth:`Branchable.recorded`), fine-tuned with the plain x0 loss. Beside best-of-K it
separates what own-rollout training learns from its context (the model's own, in both) from what
it learns from its targets (the model's own samples there, the recording here); with ``prefix``
(0, 0) and ``future`` (1, 1) every chunk starts from a recorded frame: plain teacher-forced
fine-tuning of the adapters, the control for both.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.schedule import LogNormalSigma
from pwbench.rl.advantage import optimality
from pwbench.rl.nft import denoising_loss, nft_loss
from pwbench.rl.policies import PolicyCopies, old_decay
from pwbench.rl.protocol import Branchable, Chunk
from pwbench.rl.reward import RewardSpec, clip_metrics, group_rewards

OBJECTIVES = ("nft", "best-of-k", "any-of-k", "ground-truth")
FINE_TUNING = ("best-of-k", "any-of-k", "ground-truth")  # plain x0 loss on chosen targets, no old-policy term


@dataclass(frozen=True)
class NFTConfig:
    k: int = 16
    prefix: tuple[int, int] = (0, 9)  # chunks the old policy runs before branching, uniform, inclusive
    future: tuple[int, int] = (1, 4)  # chunks per candidate, uniform, inclusive
    beta: float = 1.0
    weighting: str = "edm"
    kl: float = 0.0
    adv_clip: float = 5.0
    adv_std: str = "global"
    loss_samples: int = 16  # (candidate, chunk) pairs the loss is computed on per iteration
    old_rate: float = 0.001
    old_cap: float = 0.5
    reward: RewardSpec = field(default_factory=RewardSpec)
    objective: str = "nft"  # OBJECTIVES: the NFT loss, or an ablation's plain fine-tuning (FINE_TUNING)

    def __post_init__(self) -> None:
        for name in ("prefix", "future"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi or (name == "future" and lo < 1):
                raise ValueError(f"{name} must be (lo, hi) with {'1' if name == 'future' else '0'} <= lo <= hi")
        if self.k < 2:
            raise ValueError(f"k must be at least 2 (advantages compare candidates), got {self.k}")
        if self.loss_samples < 1:
            raise ValueError(f"loss_samples must be at least 1, got {self.loss_samples}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["prefix"], d["future"] = list(self.prefix), list(self.future)
        if self.objective == "nft":  # runs from before the option record the same facts
            del d["objective"]
        return d


def _logged_means(metrics: list[dict[str, float]]) -> dict[str, float]:
    """The candidates' mean full-frame metrics, logged every iteration as ``candidate_<key>``."""
    return {f"candidate_{key}": float(np.mean([m[key] for m in metrics]))
            for key in ("lpips_full", "ssim_full", "psnr_full")}


@dataclass
class Iteration:
    """The data of one update: the candidates' chunks and their optimality."""

    chunks: list[Chunk]  # per (group, future step); rows = group's K candidates
    r: list[torch.Tensor]  # per chunk: (K,) optimality of its rows
    pairs: list[tuple[int, int]]  # (chunk index, row) the loss is computed on


class PostTrainModule(nn.Module):
    """The checkpointed whole: the world model (adapters included) and the policy copies."""

    def __init__(self, model: nn.Module, policies: PolicyCopies) -> None:
        super().__init__()
        self.model = model
        self.policies = policies


class PersistWorldTask:
    """:class:`pwbench.train.loop.TrainTask` hooks for NFT post-training of a Branchable."""

    def __init__(self, name: str, world: Branchable, episodes: list[TrainEpisode], config: NFTConfig,
                 scorer, facts: dict[str, Any] | None = None, train_sigma: LogNormalSigma | None = None) -> None:
        self.name = name
        self.train_sigma = train_sigma  # None: the model's own training distribution
        self.world = world
        self.episodes = episodes
        self.config = config
        self.scorer = scorer
        self._named = world.trainable()
        self.policies = PolicyCopies(self._named)
        self.module = PostTrainModule(world.module, self.policies)
        self._facts = dict(facts or {}) | {"nft": config.as_dict()}
        self._stats: dict[str, float] = {}
        self._t_batch_end = 0.0

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(f"model.{n}", p) for n, p in self._named]

    def facts(self) -> dict[str, Any]:
        return self._facts

    # -- rollouts and rewards (old policy, no gradient) ------------------------------------------
    def batch(self, rng: np.random.Generator, size: int) -> Iteration:
        cfg = self.config
        if cfg.objective == "ground-truth":
            return self._recorded_batch(rng, size)
        times = {"prefix_s": 0.0, "branch_s": 0.0, "reward_s": 0.0}
        chunks, metrics_all = [], []
        for _ in range(size):
            prefix = int(rng.integers(cfg.prefix[0], cfg.prefix[1] + 1))
            future = int(rng.integers(cfg.future[0], cfg.future[1] + 1))
            ep, t0 = self._draw_start(rng, prefix + future)
            seeds = rng.integers(0, 2**31 - 1, size=1 + cfg.k)
            n = self.world.chunk_frames
            with self.policies.use("old"):
                t = time.perf_counter()
                state = self.world.start([ep], [t0], [int(seeds[0])])
                for j in range(prefix):
                    self.world.advance(state, [ep.pose[t0 + 1 + j * n: t0 + 1 + (j + 1) * n]])
                times["prefix_s"] += time.perf_counter() - t
                t = time.perf_counter()
                state = self.world.branch(state, cfg.k, [int(s) for s in seeds[1:]])
                branch_t0 = t0 + prefix * n
                group_chunks = []
                for j in range(future):
                    lo = branch_t0 + 1 + j * n
                    group_chunks.append(self.world.advance(state, [ep.pose[lo:lo + n]] * cfg.k))
                times["branch_s"] += time.perf_counter() - t
            t = time.perf_counter()
            metrics_all.append([self._row_metrics(group_chunks, row, ep, branch_t0 + 1) for row in range(cfg.k)])
            times["reward_s"] += time.perf_counter() - t
            chunks.append(group_chunks)
        r = optimality(group_rewards(metrics_all, cfg.reward), cfg.adv_clip, cfg.adv_std)
        flat = [(g, c) for g, group in enumerate(chunks) for c in group]
        picks = rng.integers(0, len(flat), size=cfg.loss_samples)  # draw order kept: runs reproduce
        rows = rng.integers(0, cfg.k, size=cfg.loss_samples)
        if cfg.objective == "best-of-k":  # every sample on its group's best candidate
            rows = [int(torch.argmax(r[flat[i][0]])) for i in picks]
        pairs = [(int(i), int(row)) for i, row in zip(picks, rows, strict=True)]
        rs = [r[g] for g, _ in flat]
        stats = dict(times) | _logged_means([m for group in metrics_all for m in group])
        # how different a group's candidates are: without spread there is nothing to prefer
        stats["candidate_lpips_spread"] = float(np.mean([np.std([m["lpips_full"] for m in group])
                                                         for group in metrics_all]))
        self._stats = stats
        self._t_batch_end = time.perf_counter()
        return Iteration([c for _, c in flat], rs, pairs)

    def _recorded_batch(self, rng: np.random.Generator, size: int) -> Iteration:
        """The ground-truth ablation's data: ``size`` rows from their own starts, one prefix and one
        future length for all, rolled out in one batch; each future chunk's target replaced by
        the recording. The rollout's own metrics are logged (as its one candidate's)."""
        cfg = self.config
        n = self.world.chunk_frames
        prefix = int(rng.integers(cfg.prefix[0], cfg.prefix[1] + 1))
        future = int(rng.integers(cfg.future[0], cfg.future[1] + 1))
        starts = [self._draw_start(rng, prefix + future) for _ in range(size)]
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=size)]

        def span(j: int) -> list[slice]:  # each row's frames of chunk j after its start
            return [slice(t0 + 1 + j * n, t0 + 1 + (j + 1) * n) for _, t0 in starts]

        times = {"prefix_s": 0.0, "branch_s": 0.0, "reward_s": 0.0}
        chunks = []
        with self.policies.use("old"):
            t = time.perf_counter()
            state = self.world.start([ep for ep, _ in starts], [t0 for _, t0 in starts], seeds)
            for j in range(prefix):
                self.world.advance(state, [ep.pose[sl] for (ep, _), sl in zip(starts, span(j), strict=True)])
            times["prefix_s"] = time.perf_counter() - t
            t = time.perf_counter()
            for j in range(prefix, prefix + future):
                sl = span(j)
                chunk = self.world.advance(state, [ep.pose[s] for (ep, _), s in zip(starts, sl, strict=True)])
                chunk.target = self.world.recorded(chunk, [ep.frames[s] for (ep, _), s in zip(starts, sl, strict=True)])
                chunks.append(chunk)
            times["branch_s"] = time.perf_counter() - t
        t = time.perf_counter()
        metrics = [self._row_metrics(chunks, row, ep, t0 + 1 + prefix * n) for row, (ep, t0) in enumerate(starts)]
        times["reward_s"] = time.perf_counter() - t
        picks = rng.integers(0, len(chunks), size=cfg.loss_samples)
        rows = rng.integers(0, size, size=cfg.loss_samples)
        self._stats = dict(times) | _logged_means(metrics)
        self._t_batch_end = time.perf_counter()
        return Iteration(chunks, [torch.ones(size)] * len(chunks),
                         [(int(i), int(r)) for i, r in zip(picks, rows, strict=True)])

    def _row_metrics(self, chunks: list[Chunk], row: int, ep: TrainEpisode, lo: int) -> dict[str, float]:
        """One row's decoded frames over ``chunks`` against the episode's recorded frames from
        ``lo`` on, at clip level over every view (what rewards and the logs are made of)."""
        pred = {v: np.concatenate([c.frames[row][v] for c in chunks]) for v in self.world.views}
        hi = lo + len(pred[self.world.views[0]])
        return clip_metrics(self.scorer, pred, {v: ep.frames[lo:hi, i] for i, v in enumerate(self.world.views)})

    def _draw_start(self, rng: np.random.Generator, chunks: int) -> tuple[TrainEpisode, int]:
        need = chunks * self.world.chunk_frames + 1
        usable = [e for e in self.episodes if len(e.pose) >= need]
        if not usable:
            raise ValueError(f"no training episode has the {need} frames a {chunks}-chunk rollout needs")
        ep = usable[int(rng.integers(len(usable)))]
        return ep, int(rng.integers(0, len(ep.pose) - need + 1))

    # -- the loss (trained policy, with gradient) -------------------------------------------------
    def loss(self, batch: Iteration, generator: torch.Generator) -> torch.Tensor:
        """The NFT loss over the iteration's (candidate, chunk) pairs. The old and reference
        predictions are all made first: swapping policy values into the parameters while a
        trained forward's graph is alive would change tensors its backward needs."""
        cfg = self.config
        by_chunk: dict[int, list[int]] = {}
        for i, row in batch.pairs:
            by_chunk.setdefault(i, []).append(row)
        parts = []
        for i, rows in sorted(by_chunk.items()):
            idx = torch.tensor(rows, device=batch.chunks[i].target.device)
            x0 = batch.chunks[i].target[idx]
            sigma = (self.world.sample_sigma(len(rows), generator) if self.train_sigma is None
                     else self.train_sigma.sample((len(rows),), generator, x0.device, torch.float32))
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
            parts.append((i, idx, x0, sigma, x0 + sigma.reshape(-1, *[1] * (x0.ndim - 1)) * noise))
        if cfg.objective in FINE_TUNING:
            return self._fine_tune_loss(batch, parts)
        with torch.no_grad():
            with self.policies.use("old"):
                d_old = [self.world.x0(batch.chunks[i], idx, noisy, sigma) for i, idx, _, sigma, noisy in parts]
            d_ref = [None] * len(parts)
            if cfg.kl > 0:
                with self.policies.use("reference"):
                    d_ref = [self.world.x0(batch.chunks[i], idx, noisy, sigma) for i, idx, _, sigma, noisy in parts]
        total = None
        for (i, idx, x0, sigma, noisy), old, ref in zip(parts, d_old, d_ref, strict=True):
            d_theta = self.world.x0(batch.chunks[i], idx, noisy, sigma)
            part = nft_loss(d_theta, old, x0, batch.r[i][idx].to(x0.device), cfg.beta,
                            weight=self.world.loss_weight(sigma), weighting=cfg.weighting, d_ref=ref, kl=cfg.kl)
            part = part * len(idx) / len(batch.pairs)
            total = part if total is None else total + part
        return total

    def _fine_tune_loss(self, batch: Iteration, parts: list) -> torch.Tensor:
        """The fine-tuning ablations' update (best-of-K, any-of-K): the plain x0 loss on the chosen
        candidates, no old-policy prediction."""
        total = None
        for i, idx, x0, sigma, noisy in parts:
            part = denoising_loss(self.world.x0(batch.chunks[i], idx, noisy, sigma), x0, self.world.loss_weight(sigma))
            part = part * len(idx) / len(batch.pairs)
            total = part if total is None else total + part
        return total

    def after_step(self, step: int) -> dict[str, float]:
        eta = old_decay(step, self.config.old_rate, self.config.old_cap)
        self.policies.soft_update(eta)
        return self._stats | {"update_s": time.perf_counter() - self._t_batch_end, "old_eta": eta}

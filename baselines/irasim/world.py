"""The small IRASim world model: the IRASim network on the shared residual recipe and codec.

One 16-frame window is the condition frame (frame 0) and 15 frames to predict, as in the
original. What changes for the small recipe (:mod:`pwbench.diffusion.recipe`):

* the three 96x160 views are coded by the shared 8x8 patch-PCA (48 orthonormal channels) and
  stacked on height (:class:`pwbench.diffusion.codec.MultiViewCodec`): one 36x20 canvas per frame;
* frames 1..15 are diffused as residuals z[f] - z[0] (EDM, sigma_data 0.5), scaled by c_in; the
  network's output F gives x0 = c_skip * x + c_out * F, and because the original initialisation
  zeroes the output layer an untrained model is copy-last in expectation;
* frame 0 enters clean, as in the original, but as its raw code lightly noised
  (sigma_c ~ U(0, 0.3) in training, 0 at inference), its level embedded into frame 0's condition;
* the timestep fed to the sinusoidal embedding is 1000 * c_noise = 250 ln sigma, so it spans the
  frequencies the way DDPM's integer timesteps do in the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from baselines.irasim.config import SMALL_NET, IRASimConfig
from baselines.irasim.model import IRASim
from pwbench.diffusion.edm import initial_noise_scale, precondition
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.recipe import SMALL_RECIPE, ResidualRecipe, noised_condition
from pwbench.diffusion.residual import from_residual, to_residual
from pwbench.diffusion.sampler import Denoiser, Trajectory, euler_sample, randn_per_row
from pwbench.diffusion.world import PatchPCAWorld

Generators = torch.Generator | list[torch.Generator]  # one for the batch, or one per row
TIMESTEP_SCALE = 1000.0  # network timestep = TIMESTEP_SCALE * c_noise
COND_NOISE_SCALE = 1000.0  # the condition-noise embedder sees 1000 * sigma_c


@dataclass(frozen=True)
class SmallIRASimConfig:
    name: str = "irasim-droid-sim-small"
    net: IRASimConfig = SMALL_NET
    view_height: int = 96
    view_width: int = 160
    num_views: int = 3
    latent_channels: int = 48
    patch: int = 8
    recipe: ResidualRecipe = field(default=SMALL_RECIPE)

    def __post_init__(self) -> None:
        expect = (self.num_views * self.view_height // self.patch, self.view_width // self.patch)
        if tuple(self.net.input_size) != expect:
            raise ValueError(f"{self.name}: the network's input {self.net.input_size} must be the stacked "
                             f"latent canvas {expect}")
        if self.net.in_channels != self.latent_channels or self.net.out_channels != self.latent_channels:
            raise ValueError(f"{self.name}: the network must take and return {self.latent_channels} channels")

    @property
    def chunk(self) -> int:
        """Frames predicted per window (15: the original's 16 minus the condition frame)."""
        return self.net.num_frames - 1


SMALL = SmallIRASimConfig()
# the same network with a pose map (pwbench.diffusion.pose_map): 8 maps over the 36x20 canvas from
# each frame's 24 action features, patchified onto its tokens (1.6 M more parameters)
SMALL_POSE_MAP = SmallIRASimConfig(name="irasim-droid-sim-small-posemap", net=replace(SMALL_NET, pose_map_channels=8))
CONFIGS = {c.name: c for c in (SMALL, SMALL_POSE_MAP)}


class IRASimWorld(PatchPCAWorld):
    """``net`` (the IRASim transformer) and ``vae`` (the patch-PCA code, with its latent scale)."""

    def __init__(self, config: SmallIRASimConfig = SMALL) -> None:
        super().__init__(config, IRASim(config.net))

    def denoise(self, noisy: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor, actions: torch.Tensor,
                cond_sigma: torch.Tensor) -> torch.Tensor:
        """x0 estimate of the residuals: noisy (B, 15, C, h, w) at sigma (B, 1, 1, 1, 1) or a scalar,
        cond (B, C, h, w) the raw condition code, actions (B, 15, 24), cond_sigma (B,)."""
        sd = self.config.recipe.sigma_data
        b = noisy.shape[0]
        p = precondition(sigma, sd)
        x = torch.cat([cond[:, None], noisy * p.c_in], dim=1)
        t = (TIMESTEP_SCALE * p.c_noise).reshape(-1).expand(b)
        out = self.net(x, t, actions, cond_noise=COND_NOISE_SCALE * cond_sigma)[:, 1:]
        return p.c_skip * noisy + p.c_out * out

    def training_loss(self, latents: torch.Tensor, actions: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM-weighted x0 loss of one batch: latents (B, 16, C, h, w) scaled, frame 0 the condition;
        actions (B, 15, 24). One sigma per window (the original's one timestep per video)."""
        return self.estimate(latents, actions, generator).x0_loss(self.config.recipe.sigma_data)

    def estimate(self, latents: torch.Tensor, actions: torch.Tensor,
                 generator: torch.Generator | None = None) -> X0Estimate:
        """Noise one batch as the recipe does and estimate the 15 residuals (all of them output)."""
        r = self.config.recipe
        b = latents.shape[0]
        dev, dt = latents.device, latents.dtype
        current = latents[:, 0]
        cs = torch.rand(b, device=dev, dtype=dt, generator=generator) * r.cond_sigma_max
        noise_c = torch.randn(current.shape, device=dev, dtype=dt, generator=generator)
        cond = noised_condition(current, cs, noise_c) / self.scaling_factor
        target = to_residual(latents[:, 1:], current)
        sigma = r.train_sigma.sample((b, 1, 1, 1, 1), generator, dev, dt)
        noisy = target + torch.randn(target.shape, device=dev, dtype=dt, generator=generator) * sigma
        return X0Estimate(self.denoise(noisy, sigma, cond, actions, cs), target, sigma, current, residual=True)

    def denoiser(self, current: torch.Tensor, actions: torch.Tensor) -> Denoiser:
        """D(x, sigma) for one chunk at inference: the condition frame clean (sigma_c = 0); sigma a
        scalar (the sampler) or one per row (post-training's loss)."""
        cond = current.float() / self.scaling_factor
        cs = torch.zeros(current.shape[0], device=current.device)

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            per_row = sigma.numel() > 1  # a scalar stays a scalar: the sampler's arithmetic, unchanged
            return self.denoise(x, sigma.reshape(-1, 1, 1, 1, 1) if per_row else sigma.reshape(()), cond, actions, cs)

        return denoise

    @torch.no_grad()
    def chunk_trajectory(self, current: torch.Tensor, actions: torch.Tensor, generator: Generators,
                         num_steps: int | None = None) -> Trajectory:
        """Sample the 15 residuals of one window from pure noise at sigma_max (Euler, Karras)."""
        schedule = self.config.recipe.schedule(num_steps)
        b, c, h, w = current.shape
        x = randn_per_row((b, self.config.chunk, c, h, w), generator, current.device)
        x = x * initial_noise_scale(schedule.sigma_max, self.config.recipe.sigma_data)
        return euler_sample(self.denoiser(current, actions), x, schedule.sigmas())

    @torch.no_grad()
    def predict_chunk(self, current: torch.Tensor, actions: torch.Tensor, generator: Generators,
                      num_steps: int | None = None) -> torch.Tensor:
        """(B, 15, C, h, w) scaled latents of frames 1..15 after the condition ``current`` (B, C, h, w)."""
        traj = self.chunk_trajectory(current, actions, generator, num_steps)
        return from_residual(traj.sample, current.float())

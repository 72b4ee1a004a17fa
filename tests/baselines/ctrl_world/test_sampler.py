"""The sampler is SVD's EulerDiscreteScheduler (Karras, v-prediction) with the per-frame CFG ramp."""

from __future__ import annotations

import torch
from diffusers import EulerDiscreteScheduler

from baselines.ctrl_world.config import FULL
from baselines.ctrl_world.sampler import guidance_ramp, karras_sigmas, sample

# stabilityai/stable-video-diffusion-img2vid scheduler/scheduler_config.json
SVD_SCHEDULER = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085, interpolation_type="linear",
                     num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                     steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)


def test_cfg_ramp_per_frame() -> None:
    assert guidance_ramp(5, FULL.min_guidance, FULL.max_guidance).tolist() == [1.0, 1.25, 1.5, 1.75, 2.0]


def test_karras_sigmas_monotone_and_equal_to_diffusers() -> None:
    for n in (2, 10, 50):
        ours = karras_sigmas(n, FULL.sigma_min, FULL.sigma_max, FULL.rho)
        assert len(ours) == n + 1 and ours[-1] == 0
        assert (ours[1:] < ours[:-1]).all()
        ref = EulerDiscreteScheduler(**SVD_SCHEDULER)
        ref.set_timesteps(n)
        assert torch.allclose(ours, ref.sigmas.float(), rtol=1e-6)
        assert torch.allclose(ours[:-1].log() / 4, ref.timesteps.float(), rtol=1e-5, atol=1e-6)
        assert abs(float(ref.init_noise_sigma) - float((ours[0] ** 2 + 1) ** 0.5)) < 1e-3


def test_sampling_loop_equals_diffusers_scheduler_loop() -> None:
    """Same network, same initial noise, no history, guidance off: identical trajectories."""
    torch.manual_seed(0)
    weight = torch.randn(4, 8) * 0.3

    def network(x: torch.Tensor, c_noise: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,bfchw->bfohw", weight, x) * torch.cos(c_noise) + ctx.mean(-1)[..., None, None, None]

    current = torch.randn(1, 4, 6, 4)
    tokens = torch.randn(1, 5, 16)
    steps = 8
    ours = sample(network, current=current, history=current[:, None][:, :0], tokens=tokens, num_frames=5,
                  num_steps=steps, sigma_min=0.002, sigma_max=700.0, rho=7.0, min_guidance=1.0, max_guidance=1.0,
                  generator=torch.Generator().manual_seed(3))
    sched = EulerDiscreteScheduler(**SVD_SCHEDULER)
    sched.set_timesteps(steps)
    x = torch.randn((1, 5, 4, 6, 4), generator=torch.Generator().manual_seed(3)) * sched.init_noise_sigma
    cond = current[:, None].expand(-1, 5, -1, -1, -1)
    for t in sched.timesteps:
        inp = torch.cat([sched.scale_model_input(x, t), cond], dim=2)
        x = sched.step(network(inp, t, tokens), t, x).prev_sample
    assert torch.allclose(ours, x, rtol=1e-4, atol=1e-4)


def test_guidance_ramp_applies_per_frame() -> None:
    """Conditional output 1, unconditional 0: the guided output of frame f is exactly w_f."""
    seen = []

    def network(x: torch.Tensor, c_noise: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        seen.append(ctx.shape)
        out = torch.zeros(x.shape[0], x.shape[1], 2, *x.shape[3:])
        out[x.shape[0] // 2:] = 1.0  # second half of the batch is the conditional branch
        return out

    current = torch.zeros(1, 2, 2, 2)
    sigma_max = 1.0
    x = sample(network, current=current, history=torch.zeros(1, 3, 2, 2, 2), tokens=torch.ones(1, 8, 4),
               num_frames=5, num_steps=1, sigma_min=0.5, sigma_max=sigma_max, rho=7.0, min_guidance=1.0,
               max_guidance=2.0, generator=torch.Generator().manual_seed(0))
    assert seen == [torch.Size([2, 8, 4])]  # history (3) + chunk (5) tokens, uncond + cond
    noise = torch.randn((1, 5, 2, 2, 2), generator=torch.Generator().manual_seed(0)) * 2**0.5
    c_out = -sigma_max / 2**0.5
    x0 = c_out * guidance_ramp(5, 1.0, 2.0)[None, :, None, None, None] + noise / 2
    expected = noise + (noise - x0) / sigma_max * (0 - sigma_max)  # one Euler step to sigma 0
    assert torch.allclose(x, expected, atol=1e-5)

"""The shared Euler sampler is SVD's EulerDiscreteScheduler (Karras, v-prediction) step for step."""

from __future__ import annotations

import pytest
import torch
from diffusers import EulerDiscreteScheduler

from pwbench.diffusion.edm import initial_noise_scale, precondition
from pwbench.diffusion.sampler import euler_sample
from pwbench.diffusion.schedule import KarrasSchedule, karras_sigmas

# stabilityai/stable-video-diffusion-img2vid scheduler/scheduler_config.json
SVD_SCHEDULER = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085, interpolation_type="linear",
                     num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                     steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)


def test_karras_sigmas_monotone_and_equal_to_diffusers() -> None:
    for n in (2, 10, 50):
        ours = karras_sigmas(n, 0.002, 700.0, 7.0)
        assert len(ours) == n + 1 and ours[-1] == 0
        assert (ours[1:] < ours[:-1]).all()
        ref = EulerDiscreteScheduler(**SVD_SCHEDULER)
        ref.set_timesteps(n)
        torch.testing.assert_close(ours, ref.sigmas.float(), rtol=1e-6, atol=0)
        torch.testing.assert_close(ours[:-1].log() / 4, ref.timesteps.float(), rtol=1e-5, atol=1e-6)
        assert float(ref.init_noise_sigma) == pytest.approx(initial_noise_scale(ours[0]), abs=1e-3)


def test_sampling_loop_equals_diffusers_scheduler_loop() -> None:
    """Same v-prediction network, same initial noise: identical states at every step."""
    torch.manual_seed(0)
    weight = torch.randn(4, 8) * 0.3
    cond = torch.randn(1, 5, 4, 6, 4)

    def network(x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,bfchw->bfohw", weight, torch.cat([x_in, cond], dim=2)) * torch.cos(c_noise)

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        p = precondition(sigma)
        return p.c_skip * x + p.c_out * network(p.c_in * x, p.c_noise)

    steps = 8
    sigmas = KarrasSchedule(steps, 0.002, 700.0).sigmas()
    x_init = torch.randn((1, 5, 4, 6, 4), generator=torch.Generator().manual_seed(3))
    traj = euler_sample(denoise, x_init * initial_noise_scale(700.0), sigmas)
    sched = EulerDiscreteScheduler(**SVD_SCHEDULER)
    sched.set_timesteps(steps)
    x = x_init * sched.init_noise_sigma
    for i, t in enumerate(sched.timesteps):
        torch.testing.assert_close(traj.states[i], x, rtol=1e-4, atol=1e-4)
        x = sched.step(network(sched.scale_model_input(x, t), t), t, x).prev_sample
    torch.testing.assert_close(traj.sample, x, rtol=1e-4, atol=1e-4)
    assert len(traj.states) == steps + 1 and len(traj.x0) == steps
    torch.testing.assert_close(traj.x0[-1], traj.sample)  # the last step lands on its x0 estimate


def test_keep_false_holds_only_the_ends() -> None:
    calls = []

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        calls.append(float(sigma))
        return torch.zeros_like(x)

    x = torch.ones(3)
    traj = euler_sample(denoise, x, KarrasSchedule(4, 0.01, 5.0).sigmas(), keep=False)
    assert len(calls) == 4 and len(traj.states) == 2 and len(traj.x0) == 1
    # D = 0 shrinks x by sigma_next / sigma every step: exactly 0 at the end
    assert torch.equal(traj.sample, torch.zeros(3))


def test_per_frame_euler_moves_only_frames_whose_sigma_changes() -> None:
    from pwbench.diffusion.sampler import euler_sample, euler_sample_frames, pyramid_schedule

    target = torch.randn(2, 3, 4)
    calls, moved = [], []

    def denoise(x, sigma, moving):  # x0 = a fixed blend, so every step is checkable
        calls.append(sigma.clone())
        moved.append(moving.tolist())
        return 0.5 * x + 0.5 * target

    x = torch.randn(2, 3, 4) * 80
    sigmas = torch.tensor([80.0, 5.0, 0.0])
    traj = euler_sample_frames(denoise, x, pyramid_schedule(sigmas, 3))
    assert len(calls) == 2 + 3 - 1 and len(traj.states) == 5
    # the denoiser is told which frames step: frame j from call j to call j + 1
    assert moved == [[True, False, False], [True, True, False], [False, True, True], [False, False, True]]
    assert torch.equal(traj.states[1][:, 1:], x[:, 1:])  # frames 1, 2 have not started
    assert torch.allclose(traj.sample[:, 2], 0.5 * traj.states[-2][:, 2] + 0.5 * target[:, 2])
    # frame 0 alone follows the scalar sampler exactly
    ref = euler_sample(lambda xx, s: 0.5 * xx + 0.5 * target[:, :1], x[:, :1].clone(), sigmas)
    assert torch.allclose(traj.states[2][:, 0], ref.sample[:, 0])

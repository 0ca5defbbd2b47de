"""The few-step denoising loop with its whole schedule fixed before it runs.

For DDIM (eta = 0) every step is a fixed linear update whose coefficients are known as
soon as K and the strength are. The plan takes them from diffusers' DDIMScheduler and
repeats its arithmetic operation for operation with Python-float scalars, so the result
is bit-identical to ``scheduler.step`` (tested) while nothing on the host changes from
one run to the next: no indexing, no host-to-device copies, no allocations of schedule
tensors. That is what lets a CUDA graph capture the loop. DPM-Solver is multistep and
stateful; it keeps diffusers' own ``step`` and runs uncaptured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from .options import SAMPLER_NAMES, SamplingOptions

if TYPE_CHECKING:
    from .cicld import CICLD

SAMPLERS = {
    # eta = 0 DDIM on "trailing" timesteps, so K = 1 starts from the last timestep.
    "ddim": lambda config: DDIMScheduler.from_config(config, timestep_spacing="trailing", clip_sample=False,
                                                      set_alpha_to_one=True),
    "dpmsolver": lambda config: DPMSolverMultistepScheduler.from_config(
        config, timestep_spacing="trailing", algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True),
}
assert set(SAMPLERS) == set(SAMPLER_NAMES), "options.SAMPLER_NAMES lists the samplers built here"


def denoising_schedule(model: "CICLD", sampler: str, steps: int, strength: float, prediction_type: str = "epsilon"):
    """A fresh sampler and its last ``steps`` timesteps of a ``steps / strength`` schedule:
    the start timestep is about strength * T. ``prediction_type``: what the network predicts
    (eps_theta: the noise; a label denoiser: the clean sample)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {sampler!r}")
    scheduler = SAMPLERS[sampler]({**model.noise_schedule.config, "prediction_type": prediction_type})
    total = max(steps, round(steps / strength))
    scheduler.set_timesteps(total)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(total - steps)
    return scheduler, scheduler.timesteps[total - steps:]


def plan_for(model: "CICLD", options: SamplingOptions, device: torch.device) -> "DenoisePlan | None":
    """The denoising plan for these options, or None for K = 0 (the plain encoder-decoder path)."""
    return DenoisePlan(model, options.sampler, options.steps, options.strength, device) if options.steps > 0 else None


@dataclass(frozen=True)
class DDIMStep:
    sqrt_beta: float  # sqrt(1 - abar_t)
    sqrt_alpha: float  # sqrt(abar_t)
    sqrt_alpha_prev: float  # sqrt(abar_prev)
    direction: float  # sqrt(1 - abar_prev): the weight of eps_hat pointing to z_prev


class DenoisePlan:
    """K denoising steps from strength * T, for one sampler, on one device."""

    def __init__(self, model: "CICLD", sampler: str, steps: int, strength: float, device: torch.device) -> None:
        self._schedule = lambda: denoising_schedule(model, sampler, steps, strength)
        self.scheduler, timesteps = self._schedule()
        self.timesteps = timesteps
        self.device_timesteps = [t.to(device) for t in timesteps]
        self.start = int(timesteps[0])
        alphas = self.scheduler.alphas_cumprod  # float32 on the CPU, as diffusers computes its scalars
        self.ddim = [self._ddim_step(int(t), alphas) for t in timesteps] if sampler == "ddim" else None
        # diffusers casts the schedule to the latent's dtype before taking square roots
        self.noise_scales = {dtype: ((a ** 0.5).item(), ((1 - a) ** 0.5).item())
                             for dtype in (torch.float32, torch.bfloat16, torch.float16)
                             for a in [alphas.to(dtype)[self.start]]}

    @property
    def graph_safe(self) -> bool:
        return self.ddim is not None

    def _ddim_step(self, timestep: int, alphas: torch.Tensor) -> DDIMStep:
        # the same expressions as DDIMScheduler.step, evaluated once in float32
        scheduler = self.scheduler
        prev = timestep - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
        alpha = alphas[timestep]
        alpha_prev = alphas[prev] if prev >= 0 else scheduler.final_alpha_cumprod
        return DDIMStep(sqrt_beta=((1 - alpha) ** 0.5).item(), sqrt_alpha=(alpha ** 0.5).item(),
                        sqrt_alpha_prev=(alpha_prev ** 0.5).item(), direction=((1 - alpha_prev) ** 0.5).item())

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps at the start timestep (diffusers' add_noise,
        whose schedule is cast to the latent's dtype first)."""
        if self.ddim is None:
            start = self.device_timesteps[0].expand(z0.shape[0])
            return self.scheduler.add_noise(z0, noise, start)
        signal, noise_scale = self.noise_scales[z0.dtype]
        return signal * z0 + noise_scale * noise

    def run(self, model: "CICLD", latent: torch.Tensor, tokens: torch.Tensor | None) -> torch.Tensor:
        """Denoise ``latent`` (already noised by ``add_noise``) to an estimate of z0."""
        dtype = latent.dtype
        if self.ddim is None:
            scheduler, _ = self._schedule()  # multistep state starts afresh each run
            for t, t_device in zip(self.timesteps, self.device_timesteps):
                eps_hat = model.denoiser(latent, t_device, tokens)
                latent = scheduler.step(eps_hat, t, latent).prev_sample.to(dtype)
            return latent
        for t, step in zip(self.device_timesteps, self.ddim):
            eps_hat = model.denoiser(latent, t, tokens)
            z0_hat = (latent - step.sqrt_beta * eps_hat) / step.sqrt_alpha
            latent = (step.sqrt_alpha_prev * z0_hat + step.direction * eps_hat).to(dtype)
        return latent

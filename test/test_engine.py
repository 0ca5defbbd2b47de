"""The fixed-schedule denoising plan and the streaming engine: same masks as segment(),
prepared once per shape, with compilation that falls back instead of failing."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from cicld_core.model import (
    CICLD, EngineOptions, ModelConfig, SamplingOptions, SegmentationEngine, images_to_tensor, segment,
)
from cicld_core.model.sampling import DenoisePlan, denoising_schedule
from tiny import TINY


@pytest.fixture(scope="module")
def model() -> CICLD:
    torch.manual_seed(0)
    return CICLD(ModelConfig(**TINY)).eval()


def frames(batch: int = 2, height: int = 37, width: int = 70, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)


def reference(model: CICLD, images: np.ndarray, channels_last: bool = False, **options):
    """segment() on the frames, in this process: the engine must give its masks bit for bit.
    With ``channels_last`` segment() gets the engine's memory layout too, so both run the same
    convolution kernels (NHWC and NCHW kernels may round differently on another CPU)."""
    batch = images_to_tensor(images, model.config.mean, model.config.std)
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return segment(model, batch, **options)


@pytest.mark.parametrize("steps,strength", [(1, 0.5), (2, 0.5), (4, 1.0), (3, 0.3)])
def test_ddim_plan_is_bit_identical_to_the_diffusers_step(model, steps, strength):
    z0, noise = torch.randn(2, 8, 5, 9), torch.randn(2, 8, 5, 9)
    plan = DenoisePlan(model, "ddim", steps, strength, torch.device("cpu"))
    scheduler, timesteps = denoising_schedule(model, "ddim", steps, strength)
    expected = scheduler.add_noise(z0, noise, timesteps[:1].expand(2))
    assert torch.equal(plan.add_noise(z0, noise), expected)

    fake_eps = [torch.randn_like(z0) for _ in timesteps]
    for t, eps in zip(timesteps, fake_eps):
        expected = scheduler.step(eps, t, expected).prev_sample

    class FixedDenoiser:  # replays the same noise predictions into the plan
        def __init__(self):
            self.outputs = iter(fake_eps)

        def denoiser(self, latent, t, tokens):
            return next(self.outputs)

    assert torch.equal(plan.run(FixedDenoiser(), plan.add_noise(z0, noise), None), expected)
    assert plan.graph_safe


def engine_options(**options) -> EngineOptions:
    """EngineOptions from flat keywords: the sampling ones go into its one SamplingOptions."""
    names = {f.name for f in dataclasses.fields(SamplingOptions)}
    return EngineOptions(SamplingOptions(**{k: v for k, v in options.items() if k in names}),
                         **{k: v for k, v in options.items() if k not in names})


@pytest.mark.parametrize("options", [
    dict(steps=0), dict(steps=2), dict(steps=3, strength=1.0), dict(steps=2, sampler="dpmsolver"),
    dict(steps=2, num_samples=3, with_confidence=True), dict(steps=1, channels_last=True)])
def test_engine_gives_exactly_the_masks_of_segment(model, options):
    images = frames()
    engine = SegmentationEngine(model, engine_options(**options))
    for _ in range(2):  # the second call reuses the prepared shape
        result = engine(images)
    o = engine.options.sampling
    expected = reference(model, images, engine.options.channels_last, steps=o.steps, strength=o.strength, seed=o.seed,
                         num_samples=o.num_samples, sampler=o.sampler, with_confidence=engine.options.with_confidence)
    assert result.train_ids.dtype == np.uint8 and result.train_ids.shape == images.shape[:3]
    np.testing.assert_array_equal(result.train_ids, expected.train_ids.numpy())
    for name in ("confidence", "uncertainty"):
        got, want = getattr(result, name), getattr(expected, name)
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_array_equal(got, want.numpy())


def test_a_fixed_seed_repeats_and_no_seed_draws_fresh_noise(model):
    images = frames(batch=1)
    engine = SegmentationEngine(model, engine_options(steps=2, seed=None))
    engine(images)
    shape = engine._shapes[(1, 37, 70)]
    first_noise = shape.noise.clone()
    engine(images)
    assert not torch.equal(first_noise, shape.noise)
    fixed = SegmentationEngine(model, engine_options(steps=2, seed=5))
    np.testing.assert_array_equal(fixed(images).train_ids, fixed(images).train_ids)


def test_shapes_are_prepared_once_and_the_oldest_is_dropped(model):
    engine = SegmentationEngine(model, engine_options(steps=1, max_shapes=2))
    for height in (32, 40, 32, 48):
        result = engine(frames(batch=1, height=height))
        assert result.train_ids.shape == (1, height, 70)
    assert list(engine._shapes) == [(1, 32, 70), (1, 48, 70)]


def test_profiling_splits_the_time_into_stages(model):
    result = SegmentationEngine(model, engine_options(steps=2))(frames(), profile=True)
    assert set(result.stage_ms) == {"encoder", "denoise", "decoder"}
    assert all(ms >= 0 for ms in result.stage_ms.values())


def test_compiled_stages_give_the_same_masks(model):
    images = frames(batch=1)
    engine = SegmentationEngine(model, engine_options(steps=2, compile="default", compile_backend="eager"))
    result = engine(images)
    assert engine.compiled and "compile=default" in engine.describe()
    np.testing.assert_array_equal(result.train_ids, reference(model, images, steps=2, seed=0).train_ids.numpy())


def broken_backend(graph_module, example_inputs):
    raise RuntimeError("this backend always fails")


@pytest.mark.parametrize("backend", [broken_backend, "no-such-backend"])
def test_a_failed_compilation_falls_back_to_eager_with_a_warning(model, backend, caplog):
    images = frames(batch=1)
    with caplog.at_level(logging.WARNING):
        engine = SegmentationEngine(model, engine_options(steps=2, compile="default", compile_backend=backend))
        result = engine(images)
    assert not engine.compiled
    assert "torch.compile failed" in caplog.text and "running eagerly" in caplog.text
    np.testing.assert_array_equal(result.train_ids, reference(model, images, steps=2, seed=0).train_ids.numpy())


def test_cuda_graphs_are_off_on_the_cpu(model):
    engine = SegmentationEngine(model, engine_options(steps=2, cuda_graphs=True))
    engine(frames(batch=1))
    assert not engine.use_graphs and "cuda_graphs=off" in engine.describe()


@pytest.mark.parametrize("bad,message", [
    (np.zeros((2, 16, 16, 3), np.float32), "RGB uint8"), (np.zeros((16, 16), np.uint8), "RGB uint8"),
    (np.zeros((1, 4, 16, 3), np.uint8), "at least 8x8"), (np.zeros((0, 16, 16, 3), np.uint8), "RGB uint8")])
def test_bad_frames_are_refused_clearly(model, bad, message):
    with pytest.raises(ValueError, match=message):
        SegmentationEngine(model, engine_options())(bad)


@pytest.mark.parametrize("options,message", [
    (dict(steps=-1), "steps"), (dict(strength=0), "strength"), (dict(sampler="euler"), "sampler"),
    (dict(num_samples=0), "num_samples"), (dict(compile="fast"), "compile"), (dict(dtype="fp8"), "dtype"),
    (dict(steps=300), "steps must be a whole number in \\[0, 100\\]"), (dict(strength=2.0), "strength"),
    (dict(steps=50, strength=0.01), "steps / strength must be at most 1000"),
    (dict(seed=99999999999999999999), "seed"), (dict(max_shapes=0), "max_shapes")])
def test_bad_options_are_refused_clearly(model, options, message):
    with pytest.raises(ValueError, match=message):
        SegmentationEngine(model, engine_options(**options))

"""The CICLD model: shapes, switches, gradient routing, few-step inference, checkpoints."""
from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from cicld_core.labels import IGNORE_INDEX
from cicld_core.model import (
    CICLD, MIXED, SOURCE, TARGET, ModelConfig, confusion_loss, discriminator_loss, images_to_tensor,
    kl_to_uniform, latent_diffusion_loss, preset, segment, segmentation_loss,
)
from cicld_core.model.checkpoint import CheckpointError, load_model, read_header, save_checkpoint, save_model
from cicld_core.model.config import LIST_BOUNDS, SIZE_BOUNDS
from cicld_core.model.encoder import stage_strides
from tiny import TINY

REPO = Path(__file__).resolve().parents[1]


def tiny_model(seed: int = 0, **overrides) -> CICLD:
    torch.manual_seed(seed)
    return CICLD(ModelConfig(**(TINY | overrides))).eval()


def images(batch: int = 2, height: int = 64, width: int = 128, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def labels(batch: int = 2, height: int = 64, width: int = 128, seed: int = 0) -> torch.Tensor:
    y = torch.randint(0, 19, (batch, height, width), generator=torch.Generator().manual_seed(seed))
    y[:, :4] = IGNORE_INDEX
    return y


# ---- shapes and switches --------------------------------------------------------------

@pytest.mark.parametrize("inter_coder,conditioning,num_domains,latent_stride",
                         [(i, c, d, s) for i, c, d in itertools.product((True, False), (True, False), (2, 3))
                          for s in (16,)] + [(True, True, 3, 8), (True, True, 3, 32)])
def test_every_module_has_the_documented_shapes(inter_coder, conditioning, num_domains, latent_stride):
    model = tiny_model(inter_coder=inter_coder, conditioning=conditioning, num_domains=num_domains,
                       latent_stride=latent_stride)
    x = images(height=64, width=128)
    encoded = model.encode(x)
    assert encoded.z0.shape == (2, 8, 64 // latent_stride, 128 // latent_stride)
    assert [tuple(s.shape[-2:]) for s in encoded.skips] == [
        (64 // s, 128 // s) for s in model.encoder.backbone.strides[:3]]
    assert model.decode(encoded.z0, encoded.skips).shape == (2, 19, 16, 32)
    assert model(x).shape == (2, 19, 64, 128) and model(x).dtype == torch.float32
    tokens = model.mask_encoder(labels())
    assert tokens.shape == (2, 64, 16)  # 8x8 token grid, UNet middle width
    t = torch.tensor([3, 900])
    z = encoded.z0 if latent_stride != 32 else torch.randn(2, 8, 4, 4)  # 2x4 cannot be halved by the UNet
    eps_hat = model.denoiser(z, t, tokens if conditioning else None)
    assert eps_hat.shape == z.shape
    assert model.discriminator(eps_hat, t).shape == (2, num_domains)
    out = segment(model, x, steps=1, seed=0, with_confidence=True)
    assert out.train_ids.shape == (2, 64, 128) and out.train_ids.dtype == torch.uint8
    assert out.confidence.shape == (2, 64, 128) and out.uncertainty is None


def test_latent_is_unit_scale_and_stages_follow_the_latent_stride():
    z0 = tiny_model().encode(images(height=128, width=256)).z0
    assert abs(z0.mean().item()) < 0.05 and abs(z0.std().item() - 1) < 0.05
    assert stage_strides(32) == [(2, 1)] * 4
    assert stage_strides(16) == [(2, 1)] * 3 + [(1, 2)]
    assert stage_strides(8) == [(2, 1)] * 2 + [(1, 2), (1, 4)]


def test_inter_coder_switch_removes_the_skips_and_narrows_the_decoder():
    with_skips, without = tiny_model(inter_coder=True), tiny_model(inter_coder=False)
    assert without.decoder.skip_projs is None
    assert without.decoder.fuses[0][0].in_channels == with_skips.decoder.fuses[0][0].in_channels - 8
    # without skips, E's fine stages cannot change D's output
    encoded = without.encode(images())
    changed = tuple(torch.randn_like(s) for s in encoded.skips)
    torch.testing.assert_close(without.decode(encoded.z0, encoded.skips), without.decode(encoded.z0, changed))
    encoded = with_skips.encode(images())
    changed = tuple(torch.randn_like(s) for s in encoded.skips)
    assert not torch.allclose(with_skips.decode(encoded.z0, encoded.skips), with_skips.decode(encoded.z0, changed))


def test_inter_coder_skips_one_keeps_only_f1_so_d_must_read_the_latent():
    full, f1_only = tiny_model(), tiny_model(inter_coder_skips=1)
    assert full.config.inter_coder_skips == 3 and len(full.decoder.skip_projs) == 3
    assert len(f1_only.decoder.skip_projs) == 1
    assert f1_only.decoder.skip_projs[0][0].in_channels == f1_only.encoder.skip_channels[0]  # f1's width
    # only the last (finest) fuse is widened by a skip
    assert [f[0].in_channels for f in f1_only.decoder.fuses] == [8, 8, 16]
    encoded = f1_only.encode(images())
    f1, f2, f3 = encoded.skips
    base = f1_only.decode(encoded.z0, encoded.skips)
    assert base.shape == (2, 19, 16, 32)
    torch.testing.assert_close(f1_only.decode(encoded.z0, (f1, torch.randn_like(f2), torch.randn_like(f3))), base)
    assert not torch.allclose(f1_only.decode(encoded.z0, (torch.randn_like(f1), f2, f3)), base)
    assert not torch.allclose(f1_only.decode(torch.randn_like(encoded.z0), encoded.skips), base)
    assert segment(f1_only, images(), steps=1, seed=0).train_ids.shape == (2, 64, 128)


def test_inter_coder_skips_zero_is_inter_coder_off():
    def shapes(model: CICLD) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in model.state_dict().items()}

    assert shapes(tiny_model(inter_coder_skips=0)) == shapes(tiny_model(inter_coder=False))
    assert tiny_model(inter_coder=False).config.kept_skips == 0  # off wins over the default count
    for bad in (4, -1):
        with pytest.raises(ValueError, match=r"inter_coder_skips must be in \[0, 3\]"):
            ModelConfig(inter_coder_skips=bad)


def test_conditioning_follows_eq5_and_its_switch():
    model = tiny_model()
    features, tokens = torch.randn(2, 16, 2, 4), torch.randn(2, 5, 16)
    o = features.flatten(2).transpose(1, 2)
    expected = o + torch.sigmoid(o @ tokens.transpose(1, 2) / 4.0) @ tokens
    torch.testing.assert_close(model.denoiser.conditioning(features, tokens),
                               expected.transpose(1, 2).reshape(2, 16, 2, 4))
    z, t = torch.randn(2, 8, 4, 8), torch.tensor([10, 10])
    a = model.denoiser(z, t, model.mask_encoder(labels(seed=1)))
    b = model.denoiser(z, t, model.mask_encoder(labels(seed=2)))
    assert not torch.allclose(a, b), "the mask must change the noise prediction"
    with pytest.raises(ValueError, match="mask tokens"):
        model.denoiser(z, t, None)
    unconditioned = tiny_model(conditioning=False)
    assert unconditioned.denoiser.conditioning is None
    torch.testing.assert_close(unconditioned.denoiser(z, t, None), unconditioned.denoiser(z, t, None))


def test_mask_encoder_ignores_void_and_takes_probabilities():
    encoder = tiny_model().mask_encoder
    y = labels()
    fractions = encoder.class_fractions(y)
    assert fractions.shape == (2, 19, 8, 8)
    assert fractions[:, :, 0].sum(1).max() < 1  # the top rows hold ignore pixels: no class
    one_hot = torch.nn.functional.one_hot(torch.where(y == IGNORE_INDEX, 0, y), 19).permute(0, 3, 1, 2).float()
    one_hot *= (y != IGNORE_INDEX)[:, None]
    torch.testing.assert_close(encoder(one_hot), encoder(y))
    with pytest.raises(ValueError, match="trainIds"):
        encoder(y.float())
    with pytest.raises(ValueError, match="probabilities"):
        encoder(torch.rand(2, 7, 8, 8))


def test_config_rejects_nonsense_with_the_key_named():
    with pytest.raises(ValueError, match="latent_stride"):
        ModelConfig(latent_stride=12)
    with pytest.raises(ValueError, match="num_domains"):
        ModelConfig(num_domains=4)
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig(backbone="resnet50")
    with pytest.raises(ValueError, match="unknown model config keys \\['latent_channel'\\]"):
        ModelConfig.from_dict({"latent_channel": 4})
    with pytest.raises(ValueError, match="unknown model preset"):
        preset("huge")
    assert ModelConfig.from_dict(preset("cityscapes").to_dict()) == preset("cityscapes")


@pytest.mark.parametrize("key", sorted(SIZE_BOUNDS) + sorted(LIST_BOUNDS))
def test_config_bounds_every_size_a_checkpoint_could_inflate(key):
    if key in SIZE_BOUNDS:
        too_big = SIZE_BOUNDS[key][1] + 1
    else:
        too_big = [LIST_BOUNDS[key][2] + 1] * 4
    with pytest.raises(ValueError, match=f"{key} (must be in|needs 1 to)"):
        ModelConfig(**{key: too_big})
    with pytest.raises(ValueError, match=f"{key} must be a (whole number|list of whole numbers)"):
        ModelConfig(**{key: "8"})


def test_timm_backbone_without_timm_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(RuntimeError, match="needs the timm package"):
        CICLD(ModelConfig(backbone="timm:resnet18"))


# ---- which loss trains what ----------------------------------------------------------

def grads_of(model: CICLD, loss: torch.Tensor) -> set[str]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    parts = {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    return parts


def test_each_loss_reaches_exactly_the_modules_it_should():
    model = tiny_model().train()
    x, y = images(), labels()
    generator = torch.Generator().manual_seed(0)

    assert grads_of(model, segmentation_loss(model(x), y)) == {"encoder", "decoder"}

    branch = latent_diffusion_loss(model, model.encode(x).z0, y, generator)
    assert grads_of(model, branch.loss) == {"denoiser", "mask_encoder"}, "L_ldm must not reach E"

    branches = [latent_diffusion_loss(model, model.encode(x).z0, y, generator) for _ in range(3)]
    assert grads_of(model, discriminator_loss(model, branches, [SOURCE, MIXED, TARGET])) == {"discriminator"}

    branches = [latent_diffusion_loss(model, model.encode(x).z0, y, generator) for _ in range(3)]
    model.discriminator.requires_grad_(False)
    assert grads_of(model, confusion_loss(model, branches)) == {"denoiser", "mask_encoder"}
    model.discriminator.requires_grad_(True)

    encoded = model.encode(x)
    branch = latent_diffusion_loss(model, encoded.z0, y, generator)
    z0_hat = branch.z0_hat(model).detach()
    decoded = segmentation_loss(model.decode(z0_hat, tuple(s.detach() for s in encoded.skips)), y)
    assert grads_of(model, decoded) == {"decoder"}


def test_confusion_kl_is_zero_at_uniform_and_positive_elsewhere():
    assert kl_to_uniform(torch.zeros(4, 3)).abs().max() < 1e-6
    confident = torch.tensor([[10.0, 0.0, 0.0]])
    p = torch.softmax(confident, -1)
    reference = (p * (p / (1 / 3)).log()).sum()
    torch.testing.assert_close(kl_to_uniform(confident)[0], reference)
    assert kl_to_uniform(confident)[0] > 1.0


def test_weighted_segmentation_loss_scales_pixels():
    logits, y = torch.randn(1, 19, 8, 8), torch.randint(0, 19, (1, 8, 8))
    half = torch.full((1, 8, 8), 0.5)
    torch.testing.assert_close(segmentation_loss(logits, y, half), 0.5 * segmentation_loss(logits, y))


# ---- inference ------------------------------------------------------------------------

class DenoiserCalls:
    def __init__(self, model: CICLD) -> None:
        self.timesteps: list[int] = []
        model.denoiser.register_forward_pre_hook(lambda _m, args: self.timesteps.append(int(args[1].reshape(-1)[0])))


def test_k_zero_is_the_plain_encoder_decoder_path():
    model = tiny_model()
    calls = DenoiserCalls(model)
    x = images()
    out = segment(model, x, steps=0, return_logits=True)
    assert calls.timesteps == []
    torch.testing.assert_close(out.logits, model(x))
    assert torch.equal(out.train_ids, model(x).argmax(1).to(torch.uint8))


@pytest.mark.parametrize("steps,strength,expected", [
    (1, 1.0, [999]), (2, 1.0, [999, 499]), (2, 0.5, [499, 249]), (4, 0.5, [499, 374, 249, 124]), (1, 0.25, [249]),
])
def test_steps_and_strength_set_the_denoising_timesteps(steps, strength, expected):
    model = tiny_model()
    calls = DenoiserCalls(model)
    segment(model, images(), steps=steps, strength=strength, seed=0)
    assert calls.timesteps == expected


def test_more_steps_or_strength_change_the_result_and_seed_fixes_it():
    model = tiny_model()
    x = images()
    run = lambda **kw: segment(model, x, seed=kw.pop("seed", 0), return_logits=True, **kw).logits  # noqa: E731
    torch.testing.assert_close(run(steps=2), run(steps=2), rtol=0, atol=0)
    assert not torch.allclose(run(steps=2), run(steps=4))
    assert not torch.allclose(run(steps=2, strength=0.3), run(steps=2, strength=0.9))
    assert not torch.allclose(run(steps=2, seed=1), run(steps=2, seed=2))
    assert not torch.allclose(run(steps=2), run(steps=2, sampler="dpmsolver"))


def test_several_noise_samples_give_uncertainty():
    model = tiny_model()
    out = segment(model, images(), steps=2, strength=1.0, seed=0, num_samples=4, with_confidence=True)
    assert out.uncertainty.shape == (2, 64, 128)
    assert torch.equal(out.uncertainty * 4, (out.uncertainty * 4).round())  # a share of 4 samples
    assert 0 <= out.uncertainty.min() and out.uncertainty.max() <= 1
    assert out.uncertainty.max() > 0, "an untrained model's samples should disagree somewhere"
    assert ((out.confidence > 0) & (out.confidence <= 1)).all()


def test_odd_sizes_are_padded_and_cropped_back():
    model = tiny_model()
    x = images(1, 61, 99)
    out = segment(model, x, steps=1, seed=0, return_logits=True)
    assert out.train_ids.shape == (1, 61, 99) and out.logits.shape == (1, 19, 61, 99)
    single = segment(model, x[0], steps=1, seed=0)
    assert torch.equal(single.train_ids, out.train_ids)


@pytest.mark.parametrize("bad,error,message", [
    (np.zeros((3, 64, 64), np.float32), TypeError, "torch.Tensor"),
    (torch.zeros(1, 4, 64, 64), ValueError, "shape"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), ValueError, "normalised floats"),
    (torch.zeros(0, 3, 64, 64), ValueError, "at least one image"),
    (torch.zeros(1, 3, 4, 64), ValueError, "8x8"),
])
def test_bad_images_get_clear_errors(bad, error, message):
    with pytest.raises(error, match=message):
        segment(tiny_model(), bad)


@pytest.mark.parametrize("kwargs,message", [
    ({"steps": -1}, "steps"), ({"steps": 1.5}, "steps"), ({"strength": 0.0}, "strength"),
    ({"num_samples": 0}, "num_samples"), ({"dtype": "int8"}, "dtype"), ({"sampler": "euler"}, "sampler"),
    ({"steps": 1000}, "steps must be a whole number in \\[0, 100\\]"), ({"strength": 2}, "strength"),
    ({"steps": 50, "strength": 0.01}, "steps / strength must be at most 1000"),
    ({"seed": 99999999999999999999}, "seed"), ({"num_samples": 65}, "num_samples"),
])
def test_bad_options_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        segment(tiny_model(), images(), **kwargs)


def test_batch_of_cameras_matches_one_by_one():
    model = tiny_model()
    x = images(3)
    together = segment(model, x, steps=0, return_logits=True).logits
    for i in range(3):
        torch.testing.assert_close(segment(model, x[i:i + 1], steps=0, return_logits=True).logits, together[i:i + 1],
                                   atol=1e-4, rtol=1e-4)


def test_bf16_autocast_and_channels_last_run_on_cpu():
    model = tiny_model()
    x = images()
    reference = segment(model, x, steps=2, seed=0).train_ids
    out = segment(model, x, steps=2, seed=0, dtype="bf16")
    assert out.train_ids.shape == reference.shape
    assert (out.train_ids == reference).float().mean() > 0.5
    model = model.to(memory_format=torch.channels_last)
    channels_last = segment(model, x.contiguous(memory_format=torch.channels_last), steps=2, seed=0).train_ids
    assert (channels_last == reference).float().mean() > 0.99


def test_images_to_tensor_normalises_uint8_rgb():
    rgb = np.full((4, 6, 3), 255, np.uint8)
    out = images_to_tensor(rgb, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 0.5))
    assert out.shape == (1, 3, 4, 6)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="uint8"):
        images_to_tensor(rgb.astype(np.float32), (0, 0, 0), (1, 1, 1))


# ---- checkpoints ----------------------------------------------------------------------

def test_save_then_load_rebuilds_the_exact_model(tmp_path):
    model = tiny_model(seed=3, inter_coder=False, num_domains=2)
    path = tmp_path / "m.safetensors"
    save_model(path, model, provenance={"command": "test"})
    loaded, metadata = load_model(path)
    assert loaded.config == model.config
    assert metadata["provenance"] == {"command": "test"} and metadata["format_version"] == 1
    assert len(metadata["class_names"]) == 19 and metadata["normalisation"]["mean"] == list(model.config.mean)
    x = images()
    torch.testing.assert_close(segment(loaded, x, steps=2, seed=5, return_logits=True).logits,
                               segment(model, x, steps=2, seed=5, return_logits=True).logits, rtol=0, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"], "no temporary file left behind"


def test_a_checkpoint_written_before_inter_coder_skips_loads_with_all_three(tmp_path):
    # the shipped checkpoint predates the key: its metadata does not name it
    assert "inter_coder_skips" not in read_header(REPO / "checkpoints/cicld_synth.safetensors")["model_config"]
    shipped, _ = load_model(REPO / "checkpoints/cicld_synth.safetensors")
    assert shipped.config.inter_coder_skips == 3 and len(shipped.decoder.skip_projs) == 3
    # a tiny one with the key taken out loads to the same model and the same output
    model = tiny_model(seed=2)
    path = tmp_path / "old.safetensors"
    save_model(path, model)
    metadata = read_header(path)
    metadata["model_config"].pop("inter_coder_skips")
    save_checkpoint(path, {f"model.{k}": v for k, v in model.state_dict().items()}, metadata)
    loaded, _ = load_model(path)
    assert loaded.config == model.config
    x = images()
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_pickles_and_foreign_files_are_refused(tmp_path):
    pickled = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickled)
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(pickled)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a CICLD checkpoint"):
        load_model(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_missing_tensors_shape_mismatch_and_newer_format_are_refused(tmp_path):
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    metadata = read_header(path)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    dropped = dict(state)
    dropped.pop("model.decoder.classifier.weight")
    save_checkpoint(path, dropped, metadata)
    with pytest.raises(CheckpointError, match="1 missing tensors .*decoder.classifier.weight"):
        load_model(path)
    reshaped = dict(state) | {"model.decoder.classifier.bias": torch.zeros(7)}
    save_checkpoint(path, reshaped, metadata)
    with pytest.raises(CheckpointError, match="shape mismatches .*file \\(7,\\) vs model \\(19,\\)"):
        load_model(path)
    save_checkpoint(path, state, metadata | {"model_config": metadata["model_config"] | {"latent_stride": 5}})
    with pytest.raises(CheckpointError, match="unusable model config.*latent_stride"):
        load_model(path)
    save_file({"w": torch.zeros(1)}, str(path), metadata={"format": "cicld-checkpoint", "format_version": "99",
                                                          "metadata": json.dumps(metadata)})
    with pytest.raises(CheckpointError, match="format 99, newer"):
        load_model(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, tiny_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model(path)


# ---- command lines --------------------------------------------------------------------

def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_init_info_and_predict_command_lines(tmp_path):
    checkpoint = tmp_path / "random.safetensors"
    done = run_module("cicld_core.model", "init", "--out", str(checkpoint))
    assert done.returncode == 0, done.stderr
    done = run_module("cicld_core.model", "info", str(checkpoint))
    assert done.returncode == 0 and '"preset": "demo"' in done.stdout and "denoiser" in done.stdout
    frames = tmp_path / "frames" / "cam0"
    frames.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(frames / f"f{i}.png")
    out = tmp_path / "out"
    done = run_module("cicld_core.predict", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "frames"),
                      "--output", str(out), "--steps", "1", "--samples", "2")
    assert done.returncode == 0, done.stderr
    mask = np.asarray(Image.open(out / "cam0/f0_trainIds.png"))
    assert mask.shape == (50, 70) and mask.max() < 19
    assert np.asarray(Image.open(out / "cam0/f1_color.png")).shape == (50, 70, 3)
    assert (out / "cam0/f1_overlay.png").is_file() and (out / "cam0/f1_uncertainty.png").is_file()
    done = run_module("cicld_core.predict", "--checkpoint", str(tmp_path / "nope.safetensors"), "--input",
                      str(frames), "--output", str(out))
    assert done.returncode == 2 and "does not exist" in done.stderr
    done = run_module("cicld_core.predict", "--checkpoint", str(checkpoint), "--input", str(frames), "--output",
                      str(out), "--strength", "2")
    assert done.returncode == 2 and "--strength" in done.stderr


def test_one_set_of_sampling_defaults_everywhere():
    """segment(), the engine, the node's parameters and the commands read SamplingOptions' defaults."""
    from cicld_core.evaluation.__main__ import parse_args as evaluate_args
    from cicld_core.model import EngineOptions, SamplingOptions
    from cicld_core.predict import parse_args as predict_args
    from cicld_ros.segmentation.params import NodeParams

    defaults = SamplingOptions()
    assert EngineOptions().sampling == defaults
    assert NodeParams().sampling() == defaults
    for parse in (predict_args, evaluate_args):
        args = parse(["--checkpoint", "c", "--input", "i", "--output", "o"] if parse is predict_args
                     else ["--checkpoint", "c", "--dataset", "cityscapes", "--root", "r"])
        assert args.sampling.replace(num_samples=1, sampler="ddim") == defaults


def test_sampling_options_name_every_bad_value_at_once():
    from cicld_core.model import SamplingOptions

    with pytest.raises(ValueError) as error:
        SamplingOptions(steps=-1, strength=0, sampler="euler", num_samples=0, seed=-1, dtype="fp8").validate()
    for name in ("steps", "strength", "sampler", "num_samples", "seed", "dtype"):
        assert f"{name} must be" in str(error.value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SamplingOptions().steps = 2


def test_cicld_core_exports_the_public_api_without_importing_torch_up_front():
    import cicld_core
    from cicld_core import model

    assert cicld_core.SamplingOptions is model.SamplingOptions and cicld_core.segment is model.segment
    code = "import sys, cicld_core; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"

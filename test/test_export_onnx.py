"""ONNX export: three graphs that ONNX Runtime runs like PyTorch, and a schedule that,
with them, reproduces segment()'s masks."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat

import numpy as np
import onnxruntime
import pytest
import torch

from cicld_core.model import images_to_tensor, load_model, pad_to_multiple, segment
from cicld_core.export_onnx import main
from cicld_core.model.export_onnx import OWN_FILES, DecoderGraph, example_inputs


def run(path, **inputs):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: value.numpy() if isinstance(value, torch.Tensor) else value
                              for name, value in inputs.items()})


# ONNX Runtime and PyTorch run other float32 kernels (and both pick theirs by the CPU), so
# their logits agree to rounding, not bit for bit. The budget is the one the export itself
# accepts per graph, 1e-4 of the values' scale (measured here: 1.4e-6 on logits up to 1.8
# after the 4 graph runs of K = 2, under ATEN_CPU_CAPABILITY default and avx512). A pixel
# whose two best classes are closer than twice that may go either way on another CPU; every
# other pixel must get the same class.
def budget(logits: torch.Tensor) -> float:
    return 1e-4 * max(1.0, logits.abs().max().item())


def near_ties(logits: torch.Tensor, difference: float) -> torch.Tensor:
    """(B, H, W): pixels whose two best classes are within 2 * difference of each other."""
    best = logits.topk(2, dim=1).values
    return best[:, 0] - best[:, 1] <= 2 * difference


def assert_same_classes(got: torch.Tensor, expected: torch.Tensor) -> None:
    """``got`` logits within the budget of ``expected``, and the same class on every pixel
    that is not a near tie (at least 99% of them, so the check cannot go empty)."""
    difference = budget(expected)
    torch.testing.assert_close(got, expected, rtol=0, atol=difference)
    settled = ~near_ties(expected, difference)
    assert settled.float().mean() > 0.99
    assert torch.equal(got.argmax(1)[settled], expected.argmax(1)[settled])


def test_exported_graphs_and_schedule_reproduce_segment(checkpoint, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert main(["--checkpoint", str(checkpoint), "--size", "64x32", "--batch", "2", "--steps", "2",
                 "--strength", "0.5", "--out", str(out)]) == 0
    assert "max |ONNX Runtime - PyTorch|" in capsys.readouterr().out
    report = json.loads((out / "export.json").read_text())
    assert set(report["graphs"]) == {"encoder", "denoiser", "decoder"}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    names = {p.name for p in out.iterdir()}
    assert {"decoder.onnx", "denoiser.onnx", "encoder.onnx", "export.json"} <= names <= OWN_FILES
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask()  # a plain folder, not mkdtemp's 0700

    # the export's own check of the decoder: the classes differ at most where the difference
    # it measured could swap the two best ones (no pixel of these inputs, on the machines tried)
    model, _ = load_model(checkpoint, "cpu")
    with torch.no_grad():
        decoder_logits = DecoderGraph(model.float().eval())(*example_inputs(model, 2, (64, 32))["decoder"])
    decoder = report["graphs"]["decoder"]
    assert decoder["max_abs_diff"] <= budget(decoder_logits)
    assert decoder["argmax_agreement"] >= 1 - near_ties(decoder_logits, decoder["max_abs_diff"]).float().mean().item()

    # the whole few-step pipeline through the ONNX graphs, the schedule from export.json
    rgb = np.random.default_rng(0).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    images = pad_to_multiple(images_to_tensor(rgb, model.config.mean, model.config.std), model.config.size_multiple)
    z0, *skips = run(out / "encoder.onnx", images=images)
    skip_inputs = {f"skip{i}": s for i, s in enumerate(skips)}
    first_logits = torch.from_numpy(run(out / "decoder.onnx", latent=z0, **skip_inputs)[0])
    with torch.no_grad():
        encoded = model.encode(images)
        torch_first_logits = model.decode(encoded.z0, encoded.skips)
        assert_same_classes(first_logits, torch_first_logits)
        # f_mask (PyTorch in both) reads segment()'s own first pass: the classes were compared
        # just above, and a near tie swapped by rounding would change the condition, not a graph
        tokens = model.mask_encoder(torch_first_logits.argmax(1))
    noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(0)).numpy()
    schedule = report["schedule"]
    signal, noise_scale = schedule["noise_scales"]
    latent = (signal * z0 + noise_scale * noise).astype(np.float32)
    for t, step in zip(schedule["timesteps"], schedule["ddim"]):
        eps = run(out / "denoiser.onnx", latent=latent, timestep=np.full(2, t, np.int64), tokens=tokens)[0]
        z0_hat = (latent - step["sqrt_beta"] * eps) / step["sqrt_alpha"]
        latent = (step["sqrt_alpha_prev"] * z0_hat + step["direction"] * eps).astype(np.float32)
    logits = torch.from_numpy(run(out / "decoder.onnx", latent=latent, **skip_inputs)[0])
    logits = torch.nn.functional.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
    expected = segment(model, images_to_tensor(rgb, model.config.mean, model.config.std), steps=2, strength=0.5,
                       seed=0, return_logits=True)
    assert_same_classes(logits[..., :32, :64], expected.logits)


def test_a_bad_checkpoint_stops_export_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    assert main(["--checkpoint", str(tmp_path / "junk.safetensors"), "--out", str(tmp_path / "onnx")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "onnx").exists()


def umask() -> int:
    value = os.umask(0o022)
    os.umask(value)
    return value


def test_export_into_a_folder_replaces_only_its_own_files(checkpoint, tmp_path, capsys):
    out = tmp_path / "models"
    out.mkdir()
    shutil.copy(checkpoint, out / "model.safetensors")  # the checkpoint being exported lives there
    (out / "notes.txt").write_text("mine")
    (out / "encoder.onnx").write_bytes(b"an older export")
    (out / "encoder.onnx.data").write_bytes(b"the weights of an older, larger export")
    before = (out / "model.safetensors").read_bytes()
    assert main(["--checkpoint", str(out / "model.safetensors"), "--size", "32x32", "--steps", "1",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    names = {p.name for p in out.iterdir()}
    assert {"decoder.onnx", "denoiser.onnx", "encoder.onnx", "export.json", "model.safetensors", "notes.txt"} <= names
    assert names - OWN_FILES == {"model.safetensors", "notes.txt"}
    assert (out / "model.safetensors").read_bytes() == before and (out / "notes.txt").read_text() == "mine"
    assert (out / "encoder.onnx").read_bytes() != b"an older export"
    assert json.loads((out / "export.json").read_text())["schedule"]["steps"] == 1
    assert not [p.name for p in tmp_path.iterdir() if p.name != "models"]  # no staging left behind


@pytest.mark.parametrize("options,message", [
    (["--strength", "2"], "strength must be in \\(0, 1\\]"), (["--strength", "0"], "strength must be in"),
    (["--steps", "1000"], "steps must be a whole number in \\[0, 100\\]"),
    (["--steps", "50", "--strength", "0.01"], "steps / strength must be at most 1000"),  # the model's T
])
def test_a_schedule_that_cannot_exist_is_refused_in_one_line(checkpoint, tmp_path, capsys, options, message):
    out = tmp_path / "onnx"
    with pytest.raises(SystemExit) as stopped:
        code = main(["--checkpoint", str(checkpoint), "--size", "32x32", "--out", str(out), *options])
        raise SystemExit(code)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert re.search(message, err) and not out.exists()


def test_out_that_is_a_file_is_refused(checkpoint, tmp_path, capsys):
    out = tmp_path / "onnx"
    out.write_text("a file")
    assert main(["--checkpoint", str(checkpoint), "--size", "32x32", "--out", str(out)]) == 2
    assert "is a file" in capsys.readouterr().err and out.read_text() == "a file"

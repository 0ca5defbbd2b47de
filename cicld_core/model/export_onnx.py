"""Export a CICLD checkpoint to ONNX as the three graphs a runtime needs: the encoder E,
one denoising step eps_theta(z_t, t, c) and the decoder D + f_cls, each checked against
PyTorch with ONNX Runtime before anything is kept.

    export(model, batch=1, size=(1024, 512), out=Path("runs/onnx"), steps=1, strength=0.25)

(the command is ``python -m cicld_core.export_onnx``).

The schedule stays outside the graphs: the DDIM update between two eps_theta calls is
z_prev = sqrt(abar_prev) * (z_t - sqrt(1 - abar_t) * eps) / sqrt(abar_t) + sqrt(1 - abar_prev) * eps,
with the coefficients written to export.json for the K and strength given. f_mask (the
mask tokens) and the first pass run as in PyTorch; the tokens are the denoiser's input.
Shapes are fixed (one batch size and input size per export), as TensorRT engines want.
Into an existing ``out`` folder only the files named above are written; nothing else there
is ever removed or replaced.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..io import current_umask, write_json
from .inference import pad_to_multiple
from .options import DEFAULT_STEPS, DEFAULT_STRENGTH, SamplingOptions
from .sampling import DenoisePlan

GRAPHS = ("encoder", "denoiser", "decoder")
# what an export writes into --out, and all it ever replaces there (large graphs keep their weights in .onnx.data)
OWN_FILES = frozenset({"export.json", *(f"{g}.onnx" for g in GRAPHS), *(f"{g}.onnx.data" for g in GRAPHS)})


class ExportError(ValueError):
    """The export cannot be written where it was asked to be."""


class EncoderGraph(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoded = self.model.encode(images)
        return (encoded.z0, *encoded.skips)


class DenoiserGraph(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor, timestep: torch.Tensor, tokens: torch.Tensor | None = None,
                ) -> torch.Tensor:
        return self.model.denoiser(latent, timestep, tokens)


class DecoderGraph(nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, latent: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent, skips)


def example_inputs(model, batch: int, size: tuple[int, int]) -> dict[str, tuple[torch.Tensor, ...]]:
    """One real input per graph, taken from a forward pass of a seeded random image."""
    width, height = size
    generator = torch.Generator().manual_seed(0)
    images = pad_to_multiple(torch.randn(batch, 3, height, width, generator=generator), model.config.size_multiple)
    with torch.no_grad():
        encoded = model.encode(images)
        labels = model.decode(encoded.z0, encoded.skips).argmax(1)
        tokens = model.mask_encoder(labels) if model.config.conditioning else None
    timestep = torch.full((batch,), 500, dtype=torch.long)
    latent = encoded.z0 + torch.randn(encoded.z0.shape, generator=generator)
    denoiser_inputs = (latent, timestep) + ((tokens,) if tokens is not None else ())
    return {"encoder": (images,), "denoiser": denoiser_inputs, "decoder": (encoded.z0, *encoded.skips)}


def export(model, batch: int, size: tuple[int, int], out: Path, opset: int = 18, steps: int = DEFAULT_STEPS,
           strength: float = DEFAULT_STRENGTH) -> dict:
    """Write encoder.onnx, denoiser.onnx, decoder.onnx and export.json to ``out`` (all or nothing).

    Raises ValueError for sampling options the schedule cannot be made of, ExportError when
    ``out`` is a file, RuntimeError when ONNX Runtime disagrees with PyTorch."""
    import onnxruntime

    SamplingOptions(steps=steps, strength=strength).validate(model.config.num_train_timesteps)

    model = model.float().eval()
    inputs = example_inputs(model, batch, size)
    skip_names = [f"skip{i}" for i in range(len(inputs["decoder"]) - 1)]
    graphs = {
        "encoder": (EncoderGraph(model), ["images"], ["z0", *skip_names]),
        "denoiser": (DenoiserGraph(model), ["latent", "timestep"] + (["tokens"] if model.config.conditioning else []),
                     ["eps"]),
        "decoder": (DecoderGraph(model), ["latent", *skip_names], ["logits"]),
    }
    report = {"batch": batch, "size": f"{size[0]}x{size[1]}", "opset": opset, "onnxruntime": onnxruntime.__version__,
              "torch": torch.__version__, "graphs": {}}
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, (module, input_names, output_names) in graphs.items():
            path = staging / f"{name}.onnx"
            module.eval()  # export restores the wrapper's mode on all children: keep it eval
            with torch.no_grad():
                expected = module(*inputs[name])
                with warnings.catch_warnings():  # the exporter's deprecation chatter is not the user's business
                    warnings.simplefilter("ignore")
                    torch.onnx.export(module, inputs[name], str(path), input_names=input_names,
                                      output_names=output_names, opset_version=opset, dynamo=True, verbose=False)
            expected = expected if isinstance(expected, tuple) else (expected,)
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {n: t.numpy() for n, t in zip(input_names, inputs[name])})
            max_diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
            scale = max(float(np.abs(e.numpy()).max()) for e in expected)
            report["graphs"][name] = {"inputs": {n: list(t.shape) for n, t in zip(input_names, inputs[name])},
                                      "outputs": output_names, "max_abs_diff": max_diff, "max_abs_value": scale}
            if not max_diff <= 1e-4 * max(1.0, scale):
                raise RuntimeError(f"{name}.onnx differs from PyTorch by {max_diff:.3g} (values up to {scale:.3g}); "
                                   "nothing was written")
            if name == "decoder":
                report["graphs"][name]["argmax_agreement"] = float(
                    (got[0].argmax(1) == expected[0].numpy().argmax(1)).mean())
        plan = DenoisePlan(model, "ddim", steps, strength, torch.device("cpu")) if steps > 0 else None
        report["schedule"] = {"steps": steps, "strength": strength, "timesteps": [int(t) for t in plan.timesteps],
                              "noise_scales": list(plan.noise_scales[torch.float32]),
                              "ddim": [vars(step) for step in plan.ddim]} if plan else {"steps": 0}
        write_json(staging / "export.json", report)
        install(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)  # the staging folder is this run's own, made by mkdtemp above
    return report


def is_own_file(name: str) -> bool:
    """A file name this tool writes: the graphs, their external weights when large, the report."""
    return name in OWN_FILES


def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file; give a folder for the .onnx files and export.json")


def install(staging: Path, out: Path) -> None:
    """Move the staged files into ``out``. A new folder is renamed into place whole; into an
    existing one only this tool's own file names are written, and a stale one of those (say the
    external weights of an earlier, larger export) removed: nothing else there is touched."""
    written = sorted(path.name for path in staging.iterdir())
    if not all(is_own_file(name) for name in written):
        raise RuntimeError(f"the exporter wrote unexpected files {written}; nothing was written to {out}")
    # mkdtemp makes the folder private (0700): give it the permissions a plain mkdir would
    os.chmod(staging, 0o777 & ~current_umask())
    if not out.exists():
        staging.rename(out)
        return
    check_out(out)
    for name in sorted(OWN_FILES - set(written)):
        if (out / name).is_file():
            (out / name).unlink()
    for name in written:
        os.replace(staging / name, out / name)

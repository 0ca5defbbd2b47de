"""The CUDA paths a CPU-only CI cannot reach: segment() in fp32/bf16/fp16 with
channels_last on a GPU, the SegmentationEngine with CUDA graphs, torch.compile and pinned
double-buffered uploads against segment(), timm backbones built with features_only, and a
checkpoint round trip of a timm-backbone model. Run on a GPU machine:

    python benchmarks/cuda_smoke.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from cicld_core.model import (
    CICLD, EngineOptions, ModelConfig, SamplingOptions, SegmentationEngine, images_to_tensor, load_model, preset,
    save_model, segment,
)


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a == b).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"error: this smoke test needs a CUDA GPU, and torch {torch.__version__} sees none here; "
              "run it on a GPU machine", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}")
    images = torch.randn(3, 3, 512, 1024, device=device)
    torch.manual_seed(0)
    model = CICLD(preset("demo")).to(device).eval()
    reference = segment(model, images, steps=4, seed=0).train_ids
    again = segment(model, images, steps=4, seed=0).train_ids
    print(f"demo fp32 K=4: repeat agreement {agreement(reference, again):.4f}")
    for dtype in ("bf16", "fp16"):
        out = segment(model, images, steps=4, seed=0, dtype=dtype).train_ids
        print(f"demo {dtype} K=4: agreement with fp32 {agreement(out, reference):.4f}")
    model = model.to(memory_format=torch.channels_last)
    out = segment(model, images.contiguous(memory_format=torch.channels_last), steps=4, seed=0, dtype="bf16")
    print(f"demo bf16 channels_last K=4: agreement with fp32 {agreement(out.train_ids, reference):.4f}")
    cpu_model = CICLD(preset("demo")).eval()
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    cpu = segment(cpu_model, images[:1].cpu(), steps=0).train_ids
    gpu = segment(model, images[:1], steps=0).train_ids.cpu()
    print(f"demo K=0: CPU vs CUDA agreement {agreement(cpu, gpu):.4f}")
    check_engine(model)

    for name, stride in (("timm:resnet101", 16), ("timm:convnext_tiny", 32), ("timm:resnet50", 8)):
        config = ModelConfig(backbone=name, latent_stride=stride)
        model = CICLD(config).to(device).eval()
        strides, channels = model.encoder.backbone.strides, model.encoder.backbone.channels
        out = segment(model, images[:1], steps=2, seed=0, dtype="bf16")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.safetensors"
            save_model(path, model)
            loaded, _ = load_model(path, device)
            same = agreement(segment(loaded, images[:1], steps=2, seed=0).train_ids,
                             segment(model, images[:1], steps=2, seed=0).train_ids)
        print(f"{name} (latent stride {stride}): feature strides {strides}, channels {channels}, "
              f"output {tuple(out.train_ids.shape)}, save/load agreement {same:.4f}")
    return 0


def check_engine(model: CICLD) -> None:
    """Graphs, compilation and the two upload slots must not change the masks."""
    frames = np.random.default_rng(0).integers(0, 256, (3, 512, 1024, 3), dtype=np.uint8)
    other = frames[:, ::-1].copy()
    batch = images_to_tensor(frames, model.config.mean, model.config.std, "cuda")
    batch = batch.contiguous(memory_format=torch.channels_last)
    reference = segment(model, batch, steps=4, seed=0, dtype="bf16").train_ids.cpu().numpy()
    for compile_mode in ("off", "default"):
        for graphs in (False, True):
            engine = SegmentationEngine(model, EngineOptions(SamplingOptions(steps=4, dtype="bf16"), channels_last=True,
                                                             compile=compile_mode, cuda_graphs=graphs))
            first, second, third = engine.submit(frames), engine.submit(other), engine.submit(frames)
            results = [first.result(), second.result(), third.result()]  # three in flight over two slots
            same = np.mean(results[0].train_ids == reference)
            stable = np.array_equal(results[0].train_ids, results[2].train_ids)
            print(f"engine bf16 K=4 compile={compile_mode} graphs={graphs} ({engine.describe()}): "
                  f"agreement with segment() {same:.4f}, slots reused without corruption: {stable}, "
                  f"flipped frames differ: {not np.array_equal(results[0].train_ids, results[1].train_ids)}")


if __name__ == "__main__":
    sys.exit(main())

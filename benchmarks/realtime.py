"""Is segmentation real-time? The node's engine timed end to end (uint8 frames in, masks
back on the host), for each input size and number of denoising steps K:

  ms per batch p50 / p99 after warm-up, frames/s, peak GPU memory, and the split into
  encoder (with the first pass and f_mask) / K denoising steps / decoder; for one camera
  and for a batch of --cameras cameras. Two anchors per row: the plain encoder-decoder
  of the same model (K = 0) and a floor, the model's FLOPs at this device's measured
  matmul peak; the ratios to both are printed.

    python benchmarks/realtime.py --device cuda --preset cityscapes --dtype bf16 --channels-last \\
        --compile default --json runs/realtime.json            # the GPU figures in docs/benchmarks.md
    .venv/bin/python benchmarks/realtime.py --device cpu --preset demo --sizes 512x256 --steps 0 1 2

Untrained weights: speed does not depend on them (quality: benchmarks/quality_vs_steps.py).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from cicld_core.device import synchronize
from cicld_core.io import write_json
from cicld_core.model import (
    CICLD, COMPILE_MODES, DEFAULT_STRENGTH, DTYPES, PRESETS, STAGES, EngineOptions, SamplingOptions, SegmentationEngine,
    count_parameters, parse_dtype, preset, segment,
)


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, repeats: int = 10) -> float:
    """Sustained dense matmul throughput: the floor's denominator."""
    n = 8192 if device.type == "cuda" else 1024
    dtype = dtype if device.type == "cuda" else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e12


def model_gflops(model: CICLD, batch: int, size: tuple[int, int], steps: int) -> float:
    width, height = size
    images = torch.zeros(batch, 3, height, width, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        segment(model, images, SamplingOptions(steps=steps))
    return counter.get_total_flops() / 1e9


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def time_engine(model: CICLD, options: EngineOptions, frames: np.ndarray, warmup: int, repeats: int,
                device: torch.device) -> dict:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    build_start = time.perf_counter()
    engine = SegmentationEngine(model, options)
    engine(frames)  # prepares the shape: compiles, captures graphs
    prepare_s = time.perf_counter() - build_start
    for _ in range(warmup):
        engine(frames)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine(frames)
        times.append((time.perf_counter() - start) * 1000)
    stages = [engine(frames, profile=True).stage_ms for _ in range(max(3, repeats // 4))]
    p50 = statistics.median(times)
    return {"batch": len(frames), "ms_p50": round(p50, 3), "ms_p99": round(percentile(times, 99), 3),
            "frames_per_s": round(len(frames) * 1000 / p50, 1),
            "stage_ms": {name: round(statistics.median(s[name] for s in stages), 3) for name in STAGES},
            "peak_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)
            if device.type == "cuda" else None,
            "prepare_s": round(prepare_s, 2), "engine": engine.describe()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cityscapes", help="model size (default cityscapes)")
    parser.add_argument("--sizes", nargs="+", default=["1024x512", "2048x1024"], help="WxH input sizes")
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 1, 2, 4, 8], help="values of K (0 is the anchor)")
    parser.add_argument("--cameras", type=int, default=4, help="batch size of the multi-camera rows (default 4)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bf16", choices=list(DTYPES), help="autocast dtype (default bf16)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last model and input")
    parser.add_argument("--compile", default="off", choices=COMPILE_MODES, help="torch.compile mode of the stages")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="run the stages without CUDA graphs")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), parse_dtype(args.dtype)
    if device.type == "cpu" and dtype != torch.float32:
        parser.error("--dtype bf16/fp16 is for GPUs; use --dtype fp32 on the CPU")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    torch.manual_seed(0)
    model = CICLD(preset(args.preset)).to(device).eval()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    peak = matmul_peak_tflops(device, dtype)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    report = {"device": name, "torch": torch.__version__, "preset": args.preset, "dtype": args.dtype,
              "channels_last": args.channels_last, "compile": args.compile, "cuda_graphs": not args.no_cuda_graphs,
              "strength": DEFAULT_STRENGTH, "matmul_peak_tflops": float(f"{peak:.3g}"),
              "parameters_m": round(sum(count_parameters(getattr(model, p)) for p in
                                        ("encoder", "decoder", "denoiser", "mask_encoder")) / 1e6, 2),
              "rows": []}
    print(f"{name}, torch {torch.__version__}, preset {args.preset} ({report['parameters_m']} M parameters for "
          f"inference), {args.dtype}, matmul peak {peak:.1f} TFLOP/s")
    for size in sizes:
        for batch in sorted({1, args.cameras}):
            frames = np.random.default_rng(0).integers(0, 256, (batch, size[1], size[0], 3), dtype=np.uint8)
            print(f"\n-- {size[0]}x{size[1]}, batch {batch}")
            print(f"   {'K':>2} {'p50 ms':>8} {'p99 ms':>8} {'frames/s':>9} {'encoder':>8} {'denoise':>8} "
                  f"{'decoder':>8} {'peak MiB':>9} {'xK=0':>6} {'floor ms':>9} {'xfloor':>7}")
            anchor = None
            for k in args.steps:
                options = EngineOptions(SamplingOptions(steps=k, dtype=args.dtype), channels_last=args.channels_last,
                                        compile=args.compile, cuda_graphs=not args.no_cuda_graphs)
                row = time_engine(model, options, frames, args.warmup, args.repeats, device)
                gflops = model_gflops(model, batch, size, k)
                row |= {"size": f"{size[0]}x{size[1]}", "steps": k, "gflops": float(f"{gflops:.4g}"),
                        "floor_ms": float(f"{gflops / peak:.3g}")}  # GFLOP / (TFLOP/s) = ms
                anchor = row["ms_p50"] if k == 0 else anchor
                row["x_plain"] = round(row["ms_p50"] / anchor, 2) if anchor else None
                row["x_floor"] = round(row["ms_p50"] / row["floor_ms"], 1)
                report["rows"].append(row)
                s = row["stage_ms"]
                print(f"   {k:>2} {row['ms_p50']:>8.2f} {row['ms_p99']:>8.2f} {row['frames_per_s']:>9.1f} "
                      f"{s['encoder']:>8.2f} {s['denoise']:>8.2f} {s['decoder']:>8.2f} "
                      f"{row['peak_memory_mib'] if row['peak_memory_mib'] is not None else '-':>9} "
                      f"{row['x_plain'] if row['x_plain'] else '-':>6} {row['floor_ms']:>9.3g} {row['x_floor']:>7.1f}")
            print(f"   engine: {row['engine']}")
    if args.json:
        write_json(args.json, report)
        print(f"\nwrote {args.json}")
    return report


if __name__ == "__main__":
    main()

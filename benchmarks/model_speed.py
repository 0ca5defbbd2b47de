"""How big and how fast is the CICLD model? Parameter counts, GFLOPs per frame and
milliseconds per frame, split into encoder / one denoising step / decoder, for each
input size and number of denoising steps K.

    .venv/bin/python benchmarks/model_speed.py                       # CPU, both presets
    .venv/bin/python benchmarks/model_speed.py --preset demo --sizes 512x256 --steps 0 2

Times are medians over --repeats runs after a warm-up; "frames/s" is 1000 / median
segment() time of a batch of one. Untrained weights: speed does not depend on them.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from cicld_core.cli_types import frame_size, int_at_least
from cicld_core.device import pick_device, synchronize
from cicld_core.io import write_json
from cicld_core.model import (
    CICLD, DTYPES, PRESETS, ModelConfig, SamplingOptions, autocast, count_parameters, pad_to_multiple, preset, segment,
)

PARTS = ("encoder", "decoder", "denoiser", "mask_encoder", "discriminator")
STRENGTH = 0.5  # the time per step does not depend on it


def median_ms(fn, device: torch.device, repeats: int) -> float:
    fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def gflops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


@torch.no_grad()
def measure(model: CICLD, size: tuple[int, int], steps: list[int], device: torch.device, dtype_name: str,
            repeats: int) -> dict:
    width, height = size
    dtype = SamplingOptions(dtype=dtype_name).torch_dtype
    images = torch.randn(1, 3, height, width, device=device)
    padded = pad_to_multiple(images, model.config.size_multiple)
    with autocast(device, dtype):
        encoded = model.encode(padded)
        labels = model.decode(encoded.z0, encoded.skips).argmax(1)
        tokens = model.mask_encoder(labels) if model.config.conditioning else None
        t = torch.tensor([500], device=device)
        parts = {
            "encoder": lambda: model.encode(padded),
            "decoder": lambda: model.decode(encoded.z0, encoded.skips),
            "mask_encoder": lambda: model.mask_encoder(labels),
            "denoise_step": lambda: model.denoiser(encoded.z0, t, tokens),
        }
        row = {"size": f"{width}x{height}",
               "gflops": {name: round(gflops(fn), 3) for name, fn in parts.items()},
               "ms": {name: round(median_ms(fn, device, repeats), 2) for name, fn in parts.items()}}
    row["per_k"] = {}
    for k in steps:
        options = SamplingOptions(steps=k, strength=STRENGTH, seed=0, dtype=dtype_name)
        run = lambda: segment(model, images, options)  # noqa: E731
        ms = median_ms(run, device, repeats)
        row["per_k"][k] = {"ms": round(ms, 2), "fps": round(1000 / ms, 2), "gflops": round(gflops(run), 3)}
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", nargs="+", choices=sorted(PRESETS), default=["demo", "cityscapes"])
    parser.add_argument("--sizes", nargs="+", type=frame_size, default=[(512, 256), (1024, 512)], metavar="WxH",
                        help="input sizes (default 512x256 1024x512)")
    parser.add_argument("--steps", nargs="+", type=int_at_least(0), default=[0, 1, 2, 4, 8], help="values of K")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--threads", type=int_at_least(1), default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int_at_least(1), default=5, help="timed runs per figure (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    # the presets' T is ModelConfig's default, the bound of steps / strength here
    problems = sorted({p for k in args.steps
                       for p in SamplingOptions(steps=k, strength=STRENGTH).problems(ModelConfig.num_train_timesteps)})
    if problems:
        parser.error("; ".join(problems))
    try:
        device = pick_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.sizes
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
              "threads": torch.get_num_threads(), "dtype": args.dtype, "torch": torch.__version__, "presets": {}}
    print(f"device {report['device']}, {report['threads']} threads, {args.dtype}, torch {torch.__version__}")
    for name in args.preset:
        torch.manual_seed(0)
        model = CICLD(preset(name)).to(device).eval()
        params = {part: count_parameters(getattr(model, part)) for part in PARTS}
        print(f"\n== preset '{name}': {sum(params.values()) / 1e6:.2f} M parameters "
              f"({', '.join(f'{p} {n / 1e6:.2f} M' for p, n in params.items())}); "
              f"inference uses all but the discriminator")
        rows = []
        for size in sizes:
            row = measure(model, size, args.steps, device, args.dtype, args.repeats)
            rows.append(row)
            g, ms = row["gflops"], row["ms"]
            print(f"-- {row['size']}: encoder {ms['encoder']:.1f} ms ({g['encoder']:.2f} GFLOP), "
                  f"decoder {ms['decoder']:.1f} ms ({g['decoder']:.2f}), f_mask {ms['mask_encoder']:.1f} ms "
                  f"({g['mask_encoder']:.2f}), one denoising step {ms['denoise_step']:.1f} ms ({g['denoise_step']:.2f})")
            print(f"   {'K':>3} {'ms/frame':>9} {'frames/s':>9} {'GFLOP':>7}")
            for k, v in row["per_k"].items():
                print(f"   {k:>3} {v['ms']:>9.1f} {v['fps']:>9.2f} {v['gflops']:>7.2f}")
        report["presets"][name] = {"parameters": params, "results": rows}
    if args.json:
        write_json(args.json, report)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

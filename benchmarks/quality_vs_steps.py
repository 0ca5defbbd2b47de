"""How much does each denoising step buy? mIoU of a checkpoint on the generator's
validation drive for several K (denoising steps) and strengths, as a table and a plot,
so K can be picked knowingly (the node's default comes from this curve).

    .venv/bin/python benchmarks/quality_vs_steps.py [--checkpoint checkpoints/cicld_synth.safetensors]
        [--steps 0 1 2 4 8 20 50] [--strengths 0.25 0.5 0.75 1.0] [--frames 100] [--data DIR] [--json OUT] [--plot OUT]

The drive is the adaptation benchmark's validation drive: by default the v1 drive the shipped
checkpoint was trained for (seed 3, 256x128, target style), generated on the fly; --data scores
the val split of a Cityscapes-style folder instead (e.g. data/synth/target of benchmark v2).
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from cicld_core.data import CityscapesDataset
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.io import atomic_path, write_json
from cicld_core.model import MAX_TRAIN_TIMESTEPS, CheckpointError, SamplingOptions, load_model
from cicld_core.synth import generate_frame, write_frame

REPO = Path(__file__).resolve().parents[1]


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for strength, row in results["miou"].items():
        steps = sorted(int(k) for k in row)
        ax.plot([max(k, 0.5) for k in steps], [row[str(k)] for k in steps], marker="o", label=f"strength {strength}")
    ax.set_xscale("log")
    ax.set_xticks([0.5, 1, 2, 4, 8, 20, 50], ["0", "1", "2", "4", "8", "20", "50"])
    ax.set_xlabel("denoising steps K (0 = no diffusion)")
    ax.set_ylabel("target val mIoU")
    checkpoint = Path(results["checkpoint"])
    ax.set_title(f"{checkpoint.parent.name}/{checkpoint.name}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints/cicld_synth.safetensors")
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 1, 2, 4, 8, 20, 50])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--data", type=Path,
                        help="a Cityscapes-style folder whose val split is scored (default: the v1 drive, generated)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=REPO / "runs/quality_vs_steps.json")
    parser.add_argument("--plot", type=Path, default=REPO / "runs/quality_vs_steps.png")
    args = parser.parse_args(argv)
    problems = sorted({problem for k in args.steps for strength in args.strengths
                       for problem in SamplingOptions(steps=k, strength=strength).problems(MAX_TRAIN_TIMESTEPS)})
    if args.frames < 1:
        problems.append(f"--frames must be at least 1, got {args.frames}")
    if args.data is not None and not (args.data / "leftImg8bit" / "val").is_dir():
        problems.append(f"--data {args.data} has no leftImg8bit/val folder (a Cityscapes-style folder, "
                        "e.g. data/synth/target from benchmarks/uda_table.py --prepare)")
    if problems:
        parser.error("; ".join(problems))
    try:
        model, _ = load_model(args.checkpoint, args.device)
        for k in args.steps:  # steps / strength is bounded by the model's T
            for strength in args.strengths:
                SamplingOptions(steps=k, strength=strength).validate(model.config.num_train_timesteps)
    except (CheckpointError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    results = {"checkpoint": str(args.checkpoint), "data": str(args.data or "v1 drive, generated"),
               "frames": args.frames, "miou": {}, "seconds": {}}
    with contextlib.ExitStack() as stack:
        root = args.data
        if root is None:
            root = stack.enter_context(tempfile.TemporaryDirectory())
            for index in range(args.frames):
                write_frame(root, "cityscapes", "val", index, generate_frame(3, index, (256, 128), "target", "val"))
        dataset = CityscapesDataset(root, split="val", transform=eval_transform(model.config))
        results["frames"] = min(args.frames, len(dataset))
        k0 = None
        for strength in args.strengths:
            row, seconds = {}, {}
            for k in args.steps:
                if k == 0 and k0 is not None:  # K = 0 does not depend on the strength
                    row["0"], seconds["0"] = k0
                    continue
                start = time.perf_counter()
                metric = evaluate_model(model, dataset, steps=k, strength=strength, seed=0, device=args.device,
                                        progress=False, max_images=results["frames"])
                row[str(k)] = round(metric.summary(19)["miou"], 2)
                seconds[str(k)] = round(time.perf_counter() - start, 1)
                if k == 0:
                    k0 = (row["0"], seconds["0"])
                print(f"strength {strength:.2f}  K={k:>2}: mIoU {row[str(k)]:.2f}  ({seconds[str(k)]} s)", flush=True)
            results["miou"][str(strength)], results["seconds"][str(strength)] = row, seconds
    print(f"\n{'strength':>9} " + " ".join(f"K={k:<5}" for k in args.steps))
    for strength, row in results["miou"].items():
        print(f"{float(strength):>9.2f} " + " ".join(f"{row[str(k)]:<7.2f}" for k in args.steps))
    write_json(args.json, results)
    plot(results, args.plot)
    print(f"\nwrote {args.json} and {args.plot}")
    return results


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()

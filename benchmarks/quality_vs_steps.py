"""How much does each denoising step buy? mIoU of a checkpoint on the generator's
validation drive for several K (denoising steps) and strengths, as a table and a plot,
so K can be picked knowingly (the node's default comes from this curve).

    .venv/bin/python benchmarks/quality_vs_steps.py [--checkpoint checkpoints/cicld_synth.safetensors]
        [--steps 0 1 2 4 8 20 50] [--strengths 0.25 0.5 0.75 1.0] [--frames 100] [--data DIR] [--json OUT] [--plot OUT]

The drive is the adaptation benchmark's validation drive: by default the v1 drive the shipped
checkpoint was trained for (seed 3, 256x128, target style), generated on the fly; --data scores
the val split of a Cityscapes-style folder instead (e.g. data/synth/target of benchmark v2);
--camvid DIR scores CamVid val (protocol 11, at --input-size, 256x192 by default: the
sim-to-real checkpoints' training size) and adds a per-class panel.

    .venv/bin/python benchmarks/quality_vs_steps.py --camvid DIR --checkpoint runs/uda_table_camvid/cicld_paper_mix_s0/latest.safetensors \
        --steps 0 1 3 --strengths 0.1 0.25 0.5 --json docs/quality_vs_steps_camvid.json --plot docs/quality_vs_steps_camvid.png
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

from cicld_core.cli_types import frame_size
from cicld_core.data import CamVidDataset, CityscapesDataset
from cicld_core.labels import CAMVID_CLASS_NAMES, CAMVID_PROTOCOL, CLASS_NAMES
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.io import atomic_path, write_json
from cicld_core.model import MAX_TRAIN_TIMESTEPS, CheckpointError, SamplingOptions, load_model
from cicld_core.synth import generate_frame, write_frame

REPO = Path(__file__).resolve().parents[1]


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    per_class = results.get("per_class_iou")
    fig = Figure(figsize=(12.8 if per_class else 6.4, 3.6), layout="constrained")
    ax = fig.add_subplot(1, 2 if per_class else 1, 1)
    for strength, row in results["miou"].items():
        steps = sorted(int(k) for k in row)
        ax.plot([max(k, 0.5) for k in steps], [row[str(k)] for k in steps], marker="o", label=f"strength {strength}")
    ax.set_xscale("log")
    measured = sorted({int(k) for row in results["miou"].values() for k in row})
    ax.set_xticks([max(k, 0.5) for k in measured], [str(k) for k in measured])
    ax.minorticks_off()  # the log axis' own minor labels (6e-1, 2e0) would sit between the steps
    ax.set_xlabel("denoising steps K (0 = no diffusion)")
    ax.set_ylabel("CamVid val mIoU (11 classes)" if results.get("protocol") == CAMVID_PROTOCOL else "target val mIoU")
    checkpoint = Path(results["checkpoint"])
    ax.set_title(f"{checkpoint.parent.name}/{checkpoint.name}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if per_class:
        # per class at the best strength: IoU at each K, K = 0 first, so a class that the steps help stands out
        strength = max(results["miou"], key=lambda s: max(results["miou"][s].values()))
        table = per_class[strength]
        order = CAMVID_CLASS_NAMES if results.get("protocol") == CAMVID_PROTOCOL else CLASS_NAMES
        classes = [name for name in order if name in next(iter(table.values()))]  # JSON sorts the keys
        steps = sorted(table, key=int)
        bars = fig.add_subplot(1, 2, 2)
        width = 0.8 / len(steps)
        for i, k in enumerate(steps):
            bars.bar([c + i * width for c in range(len(classes))], [table[k][name] or 0.0 for name in classes],
                     width, label=f"K = {k}")
        bars.set_xticks([c + 0.4 - width / 2 for c in range(len(classes))], classes, rotation=40, ha="right", fontsize=8)
        bars.set_ylabel("IoU (%)")
        bars.set_title(f"per class, strength {strength}", fontsize=9)
        bars.legend(fontsize=8)
        bars.grid(alpha=0.3, axis="y")
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
    parser.add_argument("--camvid", type=Path, default=None, metavar="DIR",
                        help="score CamVid val (SegNet layout) with protocol 11 instead, per class as well")
    parser.add_argument("--input-size", type=frame_size, default=None, metavar="WxH",
                        help="the model's input size (default: with --camvid 256x192, else the frame's size)")
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
    if args.camvid is not None and not (args.camvid / "val").is_dir():
        problems.append(f"--camvid {args.camvid} has no val/ folder (CamVid's SegNet layout: val/, valannot/)")
    if problems:
        parser.error("; ".join(problems))
    if args.camvid is not None and args.input_size is None:
        args.input_size = (256, 192)
    protocol = CAMVID_PROTOCOL if args.camvid is not None else 19
    try:
        model, _ = load_model(args.checkpoint, args.device)
        for k in args.steps:  # steps / strength is bounded by the model's T
            for strength in args.strengths:
                SamplingOptions(steps=k, strength=strength).validate(model.config.num_train_timesteps)
    except (CheckpointError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")
    results = {"checkpoint": str(args.checkpoint), "data": str(args.camvid or args.data or "v1 drive, generated"),
               "frames": args.frames, "protocol": protocol,
               "input_size": list(args.input_size) if args.input_size else None, "miou": {}, "seconds": {},
               "per_class_iou": {}}
    with contextlib.ExitStack() as stack:
        root = args.data
        if args.camvid is not None:
            dataset = CamVidDataset(args.camvid, split="val", transform=eval_transform(model.config))
        else:
            if root is None:
                root = stack.enter_context(tempfile.TemporaryDirectory())
                for index in range(args.frames):
                    write_frame(root, "cityscapes", "val", index, generate_frame(3, index, (256, 128), "target", "val"))
            dataset = CityscapesDataset(root, split="val", transform=eval_transform(model.config))
        results["frames"] = min(args.frames, len(dataset))
        k0 = None
        for strength in args.strengths:
            row, seconds, classes = {}, {}, {}
            for k in args.steps:
                if k == 0 and k0 is not None:  # K = 0 does not depend on the strength
                    row["0"], seconds["0"], classes["0"] = k0
                    continue
                start = time.perf_counter()
                metric = evaluate_model(model, dataset, steps=k, strength=strength, seed=0, device=args.device,
                                        progress=False, max_images=results["frames"], input_size=args.input_size)
                summary = metric.summary(protocol)
                row[str(k)] = round(summary["miou"], 2)
                classes[str(k)] = summary["per_class_iou"]
                seconds[str(k)] = round(time.perf_counter() - start, 1)
                if k == 0:
                    k0 = (row["0"], seconds["0"], classes["0"])
                print(f"strength {strength:.2f}  K={k:>2}: mIoU {row[str(k)]:.2f}  ({seconds[str(k)]} s)", flush=True)
            results["miou"][str(strength)], results["seconds"][str(strength)] = row, seconds
            results["per_class_iou"][str(strength)] = classes
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

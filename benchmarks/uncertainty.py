"""Which per-pixel signal finds the wrong pixels? Error-detection AUROC of a checkpoint on a
labelled drive, for the signals a driving stack can read off the node:

- ``disagreement``: the share of noise samples whose class differs from the averaged result
  (the node's ``uncertainty`` output; needs K > 0 and samples > 1);
- ``1 - max softmax`` of the sample-averaged class probabilities (the node's ``confidence``);
- ``combined``: their sum, so the softmax breaks the ties of the few-valued disagreement;
- for reference, ``1 - max softmax`` of the plain K = 0 path, scored against the K = 0 errors.

A pixel is an error when the prediction differs from the label (ignored pixels left out). An
AUROC of 0.5 is chance, 1.0 ranks every wrong pixel above every right one.

    .venv/bin/python benchmarks/uncertainty.py --checkpoint runs/table_v2/cicld_paper_mix_s0/latest.safetensors \\
        --data data/synth_v2/target [--frames 60] [--steps 1] [--strength 0.5] [--samples 8] [--json OUT] [--plot OUT]

With --camvid, --data is a CamVid root (SegNet layout): frames are resized to --input-size
(default 256x192, labels nearest) and a pixel is an error when prediction and label differ
after both are merged into CamVid's 11 classes (protocol 11).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from cicld_core.cli_types import frame_size
from cicld_core.data import CamVidDataset, CityscapesDataset, SegTransformConfig
from cicld_core.evaluation import eval_transform
from cicld_core.labels import train_ids_to_camvid
from cicld_core.io import atomic_path, write_json
from cicld_core.model import CheckpointError, SamplingOptions, load_model, segment

IGNORE = 255
SIGNALS = ("disagreement", "one_minus_max_softmax", "combined", "k0_one_minus_max_softmax")


def auroc(scores: np.ndarray, errors: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` ranking ``errors`` (bool) first: the Mann-Whitney
    statistic with tied scores sharing their mean rank."""
    positives, negatives = int(errors.sum()), int((~errors).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # mean rank (1-based) of each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    mean_ranks = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_ranks, ends - starts)
    return float((ranks[errors].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def roc_curve(scores: np.ndarray, errors: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at ``points`` score thresholds (for the plot only)."""
    thresholds = np.unique(np.quantile(scores, np.linspace(0, 1, points)))[::-1]
    fpr = [(scores[~errors] >= t).mean() for t in thresholds]
    tpr = [(scores[errors] >= t).mean() for t in thresholds]
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, tpr, 1.0]


@torch.no_grad()
def collect(model, dataset, frames: int, steps: int, strength: float, samples: int, seed: int,
            camvid: bool = False) -> dict[str, np.ndarray]:
    """Per valid pixel: each signal, whether the K-step prediction is wrong, whether K = 0's is
    (``camvid``: judged in CamVid's classes, prediction and label merged)."""
    merge = train_ids_to_camvid if camvid else (lambda ids: ids)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*SIGNALS, "errors", "k0_errors")}
    for index in tqdm(range(min(frames, len(dataset))), desc="scoring", unit="frame"):
        sample = dataset[index]
        image, label = sample["image"][None], merge(sample["label"].numpy().astype(np.uint8))
        valid = label != IGNORE
        sampled = segment(model, image, steps=steps, strength=strength, seed=seed, num_samples=samples,
                          with_confidence=True)
        plain = segment(model, image, steps=0, with_confidence=True)
        one_minus_msp = 1.0 - sampled.confidence[0].numpy()
        disagreement = sampled.uncertainty[0].numpy()  # present: parse_args requires K >= 1 and 2+ samples
        parts["disagreement"].append(disagreement[valid])
        parts["one_minus_max_softmax"].append(one_minus_msp[valid])
        parts["combined"].append((disagreement + one_minus_msp)[valid])
        parts["k0_one_minus_max_softmax"].append(1.0 - plain.confidence[0].numpy()[valid])
        parts["errors"].append((merge(sampled.train_ids[0].numpy().astype(np.uint8)) != label)[valid])
        parts["k0_errors"].append((merge(plain.train_ids[0].numpy().astype(np.uint8)) != label)[valid])
    return {name: np.concatenate(values) for name, values in parts.items()}


def score(pixels: dict[str, np.ndarray]) -> dict[str, float]:
    results = {name: auroc(pixels[name], pixels["errors"]) for name in SIGNALS[:3]}
    results["k0_one_minus_max_softmax"] = auroc(pixels["k0_one_minus_max_softmax"], pixels["k0_errors"])
    return results


def plot(pixels: dict[str, np.ndarray], results: dict[str, float], title: str, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for name in SIGNALS:
        errors = pixels["k0_errors" if name.startswith("k0_") else "errors"]
        fpr, tpr = roc_curve(pixels[name], errors)
        ax.plot(fpr, tpr, label=f"{name.replace('_', ' ')} ({results[name]:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate (right pixels flagged)", ylabel="true positive rate (wrong pixels flagged)",
           title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="lower right")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a .safetensors checkpoint")
    parser.add_argument("--data", type=Path, required=True,
                        help="a Cityscapes-style folder (leftImg8bit/, gtFine/) whose labels are scored")
    parser.add_argument("--split", default="val")
    parser.add_argument("--camvid", action="store_true", help="--data is a CamVid root: protocol 11 errors")
    parser.add_argument("--input-size", type=frame_size, default=None, metavar="WxH",
                        help="resize frames and labels to this size (default: with --camvid 256x192, else none)")
    parser.add_argument("--frames", type=int, default=60, help="first N frames of the split (default 60)")
    parser.add_argument("--steps", type=int, default=1, help="denoising steps K (default 1)")
    parser.add_argument("--strength", type=float, default=0.5, help="noise strength (default 0.5)")
    parser.add_argument("--samples", type=int, default=8, help="noise samples per frame (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the AUROCs here")
    parser.add_argument("--plot", type=Path, help="write the ROC curves here (.png)")
    args = parser.parse_args(argv)
    # the steps / strength bound is the model's T: segment() checks it once the model is loaded
    problems = SamplingOptions(steps=args.steps, strength=args.strength, num_samples=args.samples,
                               seed=args.seed).problems()
    if args.steps < 1 or args.samples < 2:
        problems.append("sample disagreement needs --steps 1 or more and --samples 2 or more")
    if args.frames < 1:
        problems.append(f"--frames must be 1 or more, got {args.frames}")
    if problems:
        parser.error("; ".join(problems))
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        model, _ = load_model(args.checkpoint)
    except (CheckpointError, OSError) as error:
        raise SystemExit(f"error: cannot load {args.checkpoint}: {error}")
    model.eval()
    if args.camvid:
        size = args.input_size or (256, 192)
        transform = SegTransformConfig.no_augmentation(resize=size, **model.config.normalisation_255())
        dataset = CamVidDataset(args.data, args.split, transform=transform)
    else:
        transform = eval_transform(model.config) if args.input_size is None else SegTransformConfig.no_augmentation(
            resize=args.input_size, **model.config.normalisation_255())
        dataset = CityscapesDataset(args.data, args.split, transform=transform)
    if len(dataset) == 0:
        raise SystemExit(f"error: no labelled frames in {args.data} split {args.split!r}")
    pixels = collect(model, dataset, args.frames, args.steps, args.strength, args.samples, args.seed, args.camvid)
    results = score(pixels)
    setting = f"K = {args.steps}, strength {args.strength}, {args.samples} samples"
    summary = {"checkpoint": str(args.checkpoint), "data": str(args.data), "split": args.split,
               "protocol": 11 if args.camvid else 19,
               "frames": min(args.frames, len(dataset)), "steps": args.steps, "strength": args.strength,
               "samples": args.samples, "seed": args.seed, "pixels": int(len(pixels["errors"])),
               "error_rate": float(pixels["errors"].mean()), "k0_error_rate": float(pixels["k0_errors"].mean()),
               "auroc": results}
    print(f"error-detection AUROC, {summary['frames']} frames, {setting}:")
    for name, value in results.items():
        print(f"  {name:26s} {value:.3f}")
    print(f"  error rate {summary['error_rate']:.3f} (K = 0: {summary['k0_error_rate']:.3f})")
    if args.json:
        write_json(args.json, summary)
    if args.plot:
        plot(pixels, results, f"{args.checkpoint.parent.name}/{args.checkpoint.name}: {setting}", args.plot)
    return summary


if __name__ == "__main__":
    main()

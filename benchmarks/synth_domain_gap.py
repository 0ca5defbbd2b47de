"""How big is the procedural generator's domain gap? A quick proxy before the trainer exists.

Trains the same small fully-convolutional network twice, on `source`-style frames and on
`target`-style frames (the oracle), and scores both on target validation frames, then the
source-only network again after re-estimating its BatchNorm statistics on the target
training frames (AdaBN). The UDA benchmark is meaningful only if the oracle beats
source-only by 15 mIoU points or more, and a content shift (benchmark version 2) is one
that AdaBN closes little of (the issue asks for at most 25 %). It also prints the content
statistics of both styles (camera, objects per frame, class pixel shares). This is a
proxy: the real measurement uses the CICLD model and trainer (benchmarks/uda_table.py).

    .venv/bin/python benchmarks/synth_domain_gap.py --train-frames 300 --iters 1500 --version 2
    .venv/bin/python benchmarks/synth_domain_gap.py --stats-only --version 2   # content statistics only, seconds
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from cicld_core.data import CityscapesDataset, GTA5Dataset, SegTransformConfig, collate
from cicld_core.io import write_json
from cicld_core.labels import CLASS_NAMES, IGNORE_INDEX, NUM_TRAIN_CLASSES
from cicld_core.metrics import ConfusionMatrix
from cicld_core.synth import DEFAULT_VERSION, VERSIONS, generate_frame, write_frame
from cicld_core.synth.stats import format_comparison, measure_style


def small_fcn() -> nn.Module:
    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class FCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(block(3, 32, 2), block(32, 32, 1))
            self.down = nn.Sequential(block(32, 64, 2), block(64, 64, 1), block(64, 128, 2), block(128, 128, 1))
            self.context = nn.Sequential(block(128, 128, 1), nn.Conv2d(128, 128, 3, 1, 2, dilation=2), nn.ReLU(inplace=True))
            self.head = nn.Sequential(block(128 + 32, 64, 1), nn.Conv2d(64, NUM_TRAIN_CLASSES, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            low = self.stem(x)
            deep = self.context(self.down(low))
            deep = F.interpolate(deep, size=low.shape[-2:], mode="bilinear", align_corners=False)
            logits = self.head(torch.cat([deep, low], 1))
            return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    return FCN()


def make_split(root: Path, style: str, layout: str, split: str, num: int, size: tuple[int, int], seed: int,
               version: int) -> None:
    for index in tqdm(range(num), desc=f"{style}/{split}", leave=False):
        write_frame(root, layout, split, index, generate_frame(seed, index, size, style, split, version=version))


@torch.no_grad()
def adabn(model: nn.Module, dataset, batch: int) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics on ``dataset``'s images (a
    cumulative average over one pass), weights untouched."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    for start in range(0, len(dataset), batch):
        model(torch.stack([dataset[i]["image"] for i in range(start, min(start + batch, len(dataset)))]))
    return model.eval()


def train(dataset, iters: int, batch: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = small_fcn()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=iters)
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, collate_fn=collate,
                                         generator=generator, drop_last=True)
    model.train()
    step, epoch = 0, 0
    with tqdm(total=iters, desc="train", leave=False) as bar:
        while step < iters:
            dataset.set_epoch(epoch)
            for sample in loader:
                loss = F.cross_entropy(model(sample["image"]), sample["label"], ignore_index=IGNORE_INDEX)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if step >= iters:
                    break
            epoch += 1
    return model


@torch.no_grad()
def evaluate(model: nn.Module, dataset) -> ConfusionMatrix:
    model.eval()
    metric = ConfusionMatrix()
    for index in range(len(dataset)):
        sample = dataset[index]
        metric.update(model(sample["image"][None]).argmax(1)[0], sample["label"])
    return metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-frames", type=int, default=300)
    parser.add_argument("--val-frames", type=int, default=60)
    parser.add_argument("--size", default="256x128")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", type=int, choices=VERSIONS, default=DEFAULT_VERSION,
                        help=f"benchmark version of the generated data (default {DEFAULT_VERSION})")
    parser.add_argument("--stats-frames", type=int, default=100, help="frames per style for the content statistics")
    parser.add_argument("--stats-only", action="store_true", help="print the content statistics and stop")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    torch.set_num_threads(args.threads)
    stats = {style: measure_style(args.version, style, args.stats_frames, size, seed=args.seed) for style in ("source", "target")}
    print(f"content of benchmark version {args.version} ({args.stats_frames} frames per style, {args.size}):")
    print(format_comparison(stats["source"], stats["target"]) + "\n")
    if args.stats_only:
        if args.json:
            write_json(args.json, {"content": stats, "args": vars(args) | {"json": str(args.json)}})
        return
    eval_transform = SegTransformConfig(flip_prob=0.0)
    train_transform = SegTransformConfig(flip_prob=0.5)
    results: dict = {"content": stats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_split(tmp / "source", "source", "gta5", "train", args.train_frames, size, 100 + args.seed, args.version)
        make_split(tmp / "target", "target", "cityscapes", "train", args.train_frames, size, 200 + args.seed, args.version)
        make_split(tmp / "target", "target", "cityscapes", "val", args.val_frames, size, 300 + args.seed, args.version)
        target_val = CityscapesDataset(tmp / "target", split="val", transform=eval_transform)
        target_train_eval = CityscapesDataset(tmp / "target", split="train", transform=eval_transform)
        runs = {
            "source_only": GTA5Dataset(tmp / "source", transform=train_transform, seed=args.seed),
            "target_oracle": CityscapesDataset(tmp / "target", split="train", transform=train_transform, seed=args.seed),
        }
        for name, dataset in runs.items():
            start = time.perf_counter()
            model = train(dataset, args.iters, args.batch, args.seed)
            results[name] = evaluate(model, target_val).summary(19) | {"train_s": round(time.perf_counter() - start, 1)}
            print(f"{name:>17}: target val mIoU {results[name]['miou']:.1f}  ({results[name]['train_s']} s)")
            if name == "source_only":
                results["source_only_adabn"] = evaluate(adabn(model, target_train_eval, args.batch), target_val).summary(19)
                print(f"{'source_only_adabn':>17}: target val mIoU {results['source_only_adabn']['miou']:.1f}")
    gap = results["target_oracle"]["miou"] - results["source_only"]["miou"]
    closed = (results["source_only_adabn"]["miou"] - results["source_only"]["miou"]) / gap if gap else float("nan")
    results["gap"], results["adabn_gap_closed"] = round(gap, 2), round(closed, 3)
    results["args"] = vars(args) | {"json": str(args.json) if args.json else None}
    print(f"\nbenchmark version {args.version}: oracle - source-only gap {gap:.1f} mIoU points (needs >= 15); "
          f"AdaBN closes {100 * closed:.0f} % of it (v2 aims at <= 25 %)")
    print(f"{'class':<14}{'source-only':>12}{'+AdaBN':>9}{'oracle':>9}")
    nan = float("nan")
    for name in CLASS_NAMES:
        s, a, o = (results[r]["per_class_iou"][name] for r in ("source_only", "source_only_adabn", "target_oracle"))
        print(f"{name:<14}{s if s is not None else nan:>12.1f}{a if a is not None else nan:>9.1f}{o if o is not None else nan:>9.1f}")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()

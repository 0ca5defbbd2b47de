"""How big is the procedural generator's domain gap? A quick proxy before the trainer exists.

Trains the same small fully-convolutional network twice, on `source`-style frames and on
`target`-style frames (the oracle), and scores both on target validation frames. The
UDA benchmark is meaningful only if the oracle beats source-only by 15 mIoU points or
more. This is a proxy: the real measurement uses the CICLD model and trainer.

    .venv/bin/python benchmarks/synth_domain_gap.py --train-frames 300 --iters 1500
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
from cicld_core.synth import generate_frame, write_frame


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


def make_split(root: Path, style: str, layout: str, split: str, num: int, size: tuple[int, int], seed: int) -> None:
    for index in tqdm(range(num), desc=f"{style}/{split}", leave=False):
        write_frame(root, layout, split, index, generate_frame(seed, index, size, style, split))


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
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    torch.set_num_threads(2)
    eval_transform = SegTransformConfig(flip_prob=0.0)
    train_transform = SegTransformConfig(flip_prob=0.5)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_split(tmp / "source", "source", "gta5", "train", args.train_frames, size, seed=100 + args.seed)
        make_split(tmp / "target", "target", "cityscapes", "train", args.train_frames, size, seed=200 + args.seed)
        make_split(tmp / "target", "target", "cityscapes", "val", args.val_frames, size, seed=300 + args.seed)
        target_val = CityscapesDataset(tmp / "target", split="val", transform=eval_transform)
        runs = {
            "source_only": GTA5Dataset(tmp / "source", transform=train_transform, seed=args.seed),
            "target_oracle": CityscapesDataset(tmp / "target", split="train", transform=train_transform, seed=args.seed),
        }
        for name, dataset in runs.items():
            start = time.perf_counter()
            metric = evaluate(train(dataset, args.iters, args.batch, args.seed), target_val)
            results[name] = metric.summary(19) | {"train_s": round(time.perf_counter() - start, 1)}
            print(f"{name:>14}: target val mIoU {results[name]['miou']:.1f}  ({results[name]['train_s']} s)")
    gap = results["target_oracle"]["miou"] - results["source_only"]["miou"]
    results["gap"] = round(gap, 2)
    results["args"] = vars(args) | {"json": str(args.json) if args.json else None}
    print(f"\noracle - source-only gap: {gap:.1f} mIoU points (needs >= 15)")
    print(f"{'class':<14}{'source-only':>12}{'oracle':>9}")
    for name in CLASS_NAMES:
        s, o = results["source_only"]["per_class_iou"][name], results["target_oracle"]["per_class_iou"][name]
        print(f"{name:<14}{s if s is not None else float('nan'):>12.1f}{o if o is not None else float('nan'):>9.1f}")
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()

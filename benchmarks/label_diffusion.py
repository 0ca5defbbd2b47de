"""Diffuse the label map instead of the latent (the DDP / DDPS family), on a frozen model.

A documented departure from the paper, tried because its latent diffusion has nothing to act on
(docs/camvid.md: D reads its skips, not z0). Here the thing denoised is the class map itself:

- x0 is a learned embedding of a class map at 1/4 resolution (unit RMS per pixel);
- a small conditional denoiser reads x_t beside the frozen model's decoder features (what f_cls
  reads) and the timestep, and predicts the class map (logits; DDP's x0 prediction);
- it is trained with cross-entropy against the source's ground truth, from noised copies of the
  ground truth and of the frozen model's own first prediction (so it learns to correct the
  mistakes the model makes, not only to denoise clean maps), at t below ``--max-strength`` x T;
- inference starts from the first pass's argmax, noised to strength s, and takes K DDIM steps
  (eta 0, the model's own noise schedule and the node's timesteps), re-embedding the argmax
  of each prediction; the last prediction is the segmentation. K = 0 is the first pass.

E, D and f_cls never change, so K = 0 is the checkpoint's own score and every K > 0 is paired
with it. ``--train-on`` chooses what supervises the denoiser: ``source`` (labels, the prior
"back to the source" at the level of labels) or ``source+target`` (plus the frozen model's
confident pseudo-labels of CamVid train, the self-training control). Minutes on a CPU.

    .venv/bin/python benchmarks/label_diffusion.py --checkpoint runs/uda_table_camvid/dacs_s0/latest.safetensors \\
        --source data/synth_camvid/source --camvid DIR --out runs/label_diffusion/dacs_s0
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.resnet import ResnetBlock2D
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from cicld_core.cli_types import frame_size
from cicld_core.data import CamVidDataset, GTA5Dataset
from cicld_core.labels import IGNORE_INDEX
from cicld_core.metrics import ConfusionMatrix
from cicld_core.model import CheckpointError, images_to_tensor, load_model
from cicld_core.model.inference import pad_to_multiple
from cicld_core.model.sampling import denoising_schedule
from diffusion_prior import score_grid  # benchmarks/ is on the path: the script's own folder

PSEUDO_LABEL_THRESHOLD = 0.968  # the trainer's uda.pseudo_label_threshold


class LabelDenoiser(nn.Module):
    """(noised class-map embedding, image features, t) -> class logits, all at 1/4 resolution."""

    def __init__(self, num_classes: int, feature_channels: int, embed_dim: int = 8, width: int = 64,
                 blocks: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_classes, embed_dim)
        self.time_proj = Timesteps(width, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(width, 4 * width)
        self.conv_in = nn.Conv2d(embed_dim + feature_channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(ResnetBlock2D(in_channels=width, out_channels=width, temb_channels=4 * width,
                                                  groups=8) for _ in range(blocks))
        self.conv_out = nn.Conv2d(width, num_classes, 1)

    def embed(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, h, w) class ids -> (B, embed_dim, h, w) with unit RMS per pixel, the diffusion's x0."""
        table = F.normalize(self.embedding.weight, dim=1) * self.embedding.weight.shape[1] ** 0.5
        return table[labels].permute(0, 3, 1, 2)

    def forward(self, x_t: torch.Tensor, timesteps: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        temb = self.time_embedding(self.time_proj(timesteps).to(x_t.dtype))
        x = self.conv_in(torch.cat([x_t, features], dim=1))
        for block in self.blocks:
            x = block(x, temb)
        return self.conv_out(x)


@torch.no_grad()
def cache_features(model, dataset, size: tuple[int, int], limit: int, labelled: bool) -> dict[str, torch.Tensor]:
    """Per frame at 1/4 of ``size`` (width, height): D's last features (what f_cls reads), the first
    pass's logits, and the labels (nearest-resized, or IGNORE where there are none)."""
    captured = {}
    hook = model.decoder.classifier.register_forward_hook(lambda m, inputs, out: captured.update(features=inputs[0]))
    features, logits, labels = [], [], []
    try:
        for index in tqdm(range(min(limit, len(dataset))), desc="caching features", unit="frame"):
            rgb, label = dataset.load_raw(index)
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            padded = pad_to_multiple(images_to_tensor(rgb, model.config.mean, model.config.std),
                                     model.config.size_multiple)
            encoded = model.encode(padded)
            logits.append(model.decode(encoded.z0, encoded.skips))
            features.append(captured["features"])
            h, w = logits[-1].shape[-2:]
            if labelled:
                labels.append(torch.from_numpy(cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)).long())
            else:
                labels.append(torch.full((h, w), IGNORE_INDEX, dtype=torch.long))
    finally:
        hook.remove()
    return {"features": torch.cat(features), "logits": torch.cat(logits), "labels": torch.stack(labels)}


def pseudo_labelled(cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The frozen model's confident first-pass classes as labels (the rest ignored)."""
    confidence, classes = cache["logits"].softmax(1).max(1)
    return cache | {"labels": torch.where(confidence >= PSEUDO_LABEL_THRESHOLD, classes, IGNORE_INDEX)}


def train_denoiser(denoiser: LabelDenoiser, noise_schedule, cache: dict[str, torch.Tensor], iters: int, batch: int,
                   lr: float, max_strength: float, seed: int) -> list[float]:
    """Cross-entropy against the labels from x_t of the ground truth or of the first pass (half each)."""
    optimizer = torch.optim.AdamW(denoiser.parameters(), lr=lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: min(1.0, (i + 1) / 100) * (1 - i / iters) ** 0.9)
    generator = torch.Generator().manual_seed(seed)
    max_t = max(1, int(round(max_strength * noise_schedule.config.num_train_timesteps)))
    first = cache["logits"].argmax(1)
    losses = []
    denoiser.train()
    for _ in tqdm(range(iters), desc="training the label denoiser", unit="it"):
        pick = torch.randint(0, first.shape[0], (batch,), generator=generator)
        labels, features = cache["labels"][pick], cache["features"][pick]
        from_truth = (torch.rand(batch, generator=generator) < 0.5).view(batch, 1, 1) & (labels != IGNORE_INDEX)
        start = torch.where(from_truth, labels, first[pick])
        t = torch.randint(0, max_t, (batch,), generator=generator)
        x0 = denoiser.embed(start)
        x_t = noise_schedule.add_noise(x0, torch.randn(x0.shape, generator=generator), t)
        # a batch of target frames may hold no confident pixel: its loss is 0, not 0 / 0
        labelled = (labels != IGNORE_INDEX).sum().clamp(min=1)
        loss = F.cross_entropy(denoiser(x_t, t, features), labels, ignore_index=IGNORE_INDEX, reduction="sum") / labelled
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    denoiser.eval()
    return losses


@torch.no_grad()
def refine(denoiser: LabelDenoiser, model, features: torch.Tensor, logits: torch.Tensor, steps: int,
           strength: float, generator: torch.Generator) -> torch.Tensor:
    """K DDIM steps from the first pass's argmax noised to ``strength``; the last step's logits."""
    if steps == 0:
        return logits
    scheduler, timesteps = denoising_schedule(model, "ddim", steps, strength, prediction_type="sample")
    x0 = denoiser.embed(logits.argmax(1))
    x = scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator), timesteps[:1])
    for t in timesteps:
        logits = denoiser(x, t.expand(x.shape[0]), features)
        x = scheduler.step(denoiser.embed(logits.argmax(1)), t, x).prev_sample
    return logits


@torch.no_grad()
def score(denoiser: LabelDenoiser, model, dataset, size: tuple[int, int], cache: dict[str, torch.Tensor],
          steps: int, strength: float, seed: int) -> ConfusionMatrix:
    """CamVid val as evaluate_model scores it: logits to the padded input size (bilinear), argmax,
    nearest back to the label's resolution; one noise seed per frame."""
    metric = ConfusionMatrix(num_classes=model.config.num_classes)
    width, height = size
    for index in range(len(dataset)):
        _, label = dataset.load_raw(index)
        generator = torch.Generator().manual_seed(seed)
        logits = refine(denoiser, model, cache["features"][index:index + 1], cache["logits"][index:index + 1],
                        steps, strength, generator)
        padded = (logits.shape[-2] * 4, logits.shape[-1] * 4)
        classes = F.interpolate(logits, size=padded, mode="bilinear", align_corners=False)[0, :, :height, :width]
        prediction = classes.argmax(0).numpy().astype(np.uint8)
        metric.update(cv2.resize(prediction, label.shape[::-1], interpolation=cv2.INTER_NEAREST), label)
    return metric


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the frozen model (E, D, f_cls)")
    parser.add_argument("--camvid", type=Path, required=True, metavar="DIR", help="CamVid root (SegNet layout)")
    parser.add_argument("--source", type=Path, required=True, metavar="DIR",
                        help="the labelled source in GTA5 layout (benchmarks/uda_table.py --camvid DIR --prepare)")
    parser.add_argument("--train-on", choices=("source", "source+target"), default="source",
                        help="labels that supervise the denoiser: the source's, or also the frozen model's "
                             "confident pseudo-labels of CamVid train (default source)")
    parser.add_argument("--input-size", type=frame_size, default=(256, 192), metavar="WxH")
    parser.add_argument("--frames", type=int, default=500, help="source frames cached (default 500)")
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-strength", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=64, help="the denoiser's channels (default 64)")
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 1, 3])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.1, 0.25, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--denoiser", type=Path, default=None, metavar="FILE",
                        help="score this run's label_denoiser.safetensors instead of training one (same --width)")
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json and the denoiser's weights")
    args = parser.parse_args(argv)
    if not 0 < args.max_strength <= 1 or args.iters < 1 or args.frames < 1 or args.width % 8:
        parser.error("--max-strength must be in (0, 1], --iters and --frames at least 1, --width a multiple of 8")
    if any(k < 0 for k in args.steps) or any(not 0 < s <= 1 for s in args.strengths):
        parser.error("--steps must be at least 0 and --strengths in (0, 1]")
    if args.denoiser is not None and not args.denoiser.is_file():
        parser.error(f"--denoiser: no file at {args.denoiser} (a run's label_denoiser.safetensors)")
    torch.manual_seed(args.seed)
    try:
        model, _ = load_model(args.checkpoint)
    except CheckpointError as error:
        parser.exit(2, f"error: {error}\n")
    model.eval().requires_grad_(False)
    val = CamVidDataset(args.camvid, "val")
    val_cache = cache_features(model, val, args.input_size, len(val), labelled=False)
    denoiser = LabelDenoiser(model.config.num_classes, val_cache["features"].shape[1], width=args.width)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.denoiser is not None:
        try:
            denoiser.load_state_dict(load_file(str(args.denoiser)))
        except (RuntimeError, OSError) as error:
            parser.exit(2, f"error: --denoiser {args.denoiser} does not fit a --width {args.width} denoiser on this "
                           f"checkpoint's features ({str(error).splitlines()[0]})\n")
        denoiser.eval()
        results = {"denoiser": str(args.denoiser)}
    else:
        cache = cache_features(model, GTA5Dataset(args.source), args.input_size, args.frames, labelled=True)
        if args.train_on == "source+target":
            target = pseudo_labelled(cache_features(model, CamVidDataset(args.camvid, "train", labels=False),
                                                    args.input_size, args.frames, labelled=False))
            cache = {key: torch.cat([cache[key], target[key]]) for key in cache}
        losses = train_denoiser(denoiser, model.noise_schedule, cache, args.iters, args.batch, args.lr,
                                args.max_strength, args.seed)
        save_file(denoiser.state_dict(), str(args.out / "label_denoiser.safetensors"),
                  metadata={"arguments": json.dumps({k: str(v) for k, v in vars(args).items()})})
        results = {"train_on": args.train_on, "frames": int(cache["labels"].shape[0]), "iters": args.iters,
                   "max_strength": args.max_strength, "final_loss": round(float(np.mean(losses[-100:])), 4)}
    results = {"checkpoint": str(args.checkpoint), "width": args.width, "seed": args.seed} | results | {
        "miou": {}, "per_class_iou": {}}
    return score_grid(results, args.steps, args.strengths, args.out, lambda k, strength: score(
        denoiser, model, val, args.input_size, val_cache, k, strength, args.seed))


if __name__ == "__main__":
    main()

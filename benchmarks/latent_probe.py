"""Does the decoder read the latent? The latent-swap test of a checkpoint on a labelled split.

The decoder D gets the latent z0 and, through the inter-coder connection, the encoder's skips.
If the skips carry the decision, z0 barely matters and refining it by diffusion cannot move
the score. This scores, with the skips of the image itself in every row:

- ``plain``: D(z0) (the model's K = 0 output);
- ``swapped``: D(z0 of another image): the one half the split away, cyclically, so on a drive
  in time order it is a different street, not the next, near-identical frame;
- ``zero``: D(0);
- ``noised s``: D(z0 noised to strength s, not denoised);
- ``K = k, s``: the model's own k-step refinement from strength s.

A model whose D reads z0 loses far more on ``swapped`` than the 2 points measured on the
shipped checkpoint (plain 21.3, swapped 19.1 on the generated drive).

    .venv/bin/python benchmarks/latent_probe.py --checkpoint runs/uda_table_camvid/cicld_paper_mix_s0/latest.safetensors \\
        --camvid DIR [--input-size 256x192] [--strengths 0.1 0.25 0.5] [--json OUT]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from cicld_core.cli_types import frame_size
from cicld_core.data import CamVidDataset, CityscapesDataset
from cicld_core.evaluation import eval_transform
from cicld_core.io import write_json
from cicld_core.labels import CAMVID_PROTOCOL
from cicld_core.metrics import ConfusionMatrix
from cicld_core.model import CheckpointError, SamplingOptions, images_to_tensor, load_model, segment
from cicld_core.model.inference import finish, pad_to_multiple
from cicld_core.model.sampling import plan_for


@torch.no_grad()
def probe(model, dataset, input_size: tuple[int, int] | None, strengths: list[float], steps: int, frames: int,
          seed: int = 0) -> dict[str, ConfusionMatrix]:
    """One confusion matrix per row of the module docstring, over the first ``frames`` images."""
    model.eval()
    count = min(frames, len(dataset))
    loaded = [dataset.load_raw(i) for i in range(count)]
    size = input_size or (loaded[0][0].shape[1], loaded[0][0].shape[0])
    images = [cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) for rgb, _ in loaded]
    rows = ["plain", "swapped", "zero", *[f"noised {s:g}" for s in strengths],
            *[f"K = {steps}, strength {s:g}" for s in strengths]]
    metrics = {row: ConfusionMatrix(model.config.num_classes) for row in rows}
    generator = torch.Generator().manual_seed(seed)
    tensors = [images_to_tensor(rgb, model.config.mean, model.config.std) for rgb in images]
    padded_size = pad_to_multiple(tensors[0], model.config.size_multiple).shape[-2:]
    # every image encoded once, first, so a swap can take another one's z0
    encodings = [model.encode(pad_to_multiple(t, model.config.size_multiple)) for t in tensors]
    for index in tqdm(range(count), desc="latent probe", unit="image"):
        tensor, encoded = tensors[index], encodings[index]
        z0, label = encoded.z0, loaded[index][1]
        decoded = {"plain": z0, "swapped": encodings[(index + count // 2) % count].z0, "zero": torch.zeros_like(z0)}
        for strength in strengths:
            plan = plan_for(model, SamplingOptions(steps=1, strength=strength), torch.device("cpu"))
            decoded[f"noised {strength:g}"] = plan.add_noise(z0, torch.randn(z0.shape, generator=generator))
        for row, latent in decoded.items():
            logits = model.decode(latent, encoded.skips)
            train_ids = finish(logits, padded_size, tensor.shape[-2:], 1).train_ids[0].numpy()
            metrics[row].update(to_label(train_ids, label), label)
        for strength in strengths:
            result = segment(model, tensor, steps=steps, strength=strength, seed=seed)
            metrics[f"K = {steps}, strength {strength:g}"].update(to_label(result.train_ids[0].numpy(), label), label)
    return metrics


def to_label(train_ids: np.ndarray, label: np.ndarray) -> np.ndarray:
    return cv2.resize(train_ids.astype(np.uint8), (label.shape[1], label.shape[0]), interpolation=cv2.INTER_NEAREST)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--camvid", type=Path, metavar="DIR", help="CamVid root (SegNet layout); protocol 11")
    data.add_argument("--cityscapes", type=Path, metavar="DIR", help="Cityscapes-layout root; protocol 19")
    parser.add_argument("--split", default="val")
    parser.add_argument("--input-size", type=frame_size, default=None, metavar="WxH",
                        help="the model's input size (default: with --camvid 256x192, else the frame's size)")
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.1, 0.25, 0.5])
    parser.add_argument("--steps", type=int, default=1, help="K of the refinement rows (default 1)")
    parser.add_argument("--frames", type=int, default=1000, help="first N images (default: all)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.frames < 2 or not all(0 < s <= 1 for s in args.strengths):
        parser.error("--steps must be 1 or more, --frames 2 or more (a swap needs another image), "
                     "--strengths in (0, 1]")
    try:
        model, _ = load_model(args.checkpoint)
    except CheckpointError as error:
        parser.exit(2, f"error: {error}\n")
    if args.camvid is not None:
        dataset, protocol = CamVidDataset(args.camvid, args.split, transform=eval_transform(model.config)), CAMVID_PROTOCOL
        args.input_size = args.input_size or (256, 192)
    else:
        dataset, protocol = CityscapesDataset(args.cityscapes, args.split, transform=eval_transform(model.config)), 19
    metrics = probe(model, dataset, args.input_size, args.strengths, args.steps, args.frames)
    results = {"checkpoint": str(args.checkpoint), "data": str(args.camvid or args.cityscapes), "split": args.split,
               "protocol": protocol, "input_size": list(args.input_size) if args.input_size else None,
               "frames": min(args.frames, len(dataset)),
               "miou": {row: round(m.summary(protocol)["miou"], 2) for row, m in metrics.items()}}
    for row, value in results["miou"].items():
        print(f"{row:28s} {value:6.2f}")
    if args.json is not None:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

"""The cheapest test of the paper's premise: a latent prior learned on one domain, on a frozen model.

E, D and f_cls of a checkpoint (for example a DACS run, whose diffusion part never trained)
stay frozen. Only eps_theta and f_mask are trained, with the latent diffusion loss on cached
latents of one domain, conditioned as inference conditions them (f_mask of the model's own
first pass), at the noise levels inference uses (t below --max-strength x T):

- ``--prior source``: "back to the source": denoising a noised target latent pulls it towards
  the latents D was supervised on;
- ``--prior target``: the control, the same training on the target's own latents.

Then CamVid val is scored at every K x strength, paired with K = 0 of the same weights (which
this training cannot change: E, D and f_cls are frozen). Minutes on a CPU.

    .venv/bin/python benchmarks/diffusion_prior.py --checkpoint runs/uda_table_camvid/dacs_s0/latest.safetensors \\
        --source data/synth_camvid/source --camvid DIR --prior source --out runs/diffusion_prior/source_s0
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from cicld_core.cli_types import frame_size
from cicld_core.data import CamVidDataset, GTA5Dataset
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.io import write_json
from cicld_core.labels import CAMVID_PROTOCOL
from cicld_core.metrics import ConfusionMatrix
from cicld_core.model import CheckpointError, images_to_tensor, load_model, save_model
from cicld_core.model.inference import pad_to_multiple


@torch.no_grad()
def cache_latents(model, dataset, size: tuple[int, int], limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """z0 and the first-pass trainIds (at the input size) of the first ``limit`` frames."""
    latents, first = [], []
    for index in tqdm(range(min(limit, len(dataset))), desc="caching latents", unit="frame"):
        rgb = cv2.resize(dataset.load_raw(index)[0], size, interpolation=cv2.INTER_AREA)
        padded = pad_to_multiple(images_to_tensor(rgb, model.config.mean, model.config.std), model.config.size_multiple)
        encoded = model.encode(padded)
        logits = model.decode(encoded.z0, encoded.skips, padded.shape[-2:])
        latents.append(encoded.z0)
        first.append(logits.argmax(1).to(torch.uint8))
    return torch.cat(latents), torch.cat(first)


def train_prior(model, latents: torch.Tensor, first: torch.Tensor, iters: int, batch: int, lr: float,
                max_strength: float, seed: int) -> list[float]:
    """L_ldm on the cached latents, updating eps_theta and f_mask only."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trained = [*model.denoiser.parameters(), *model.mask_encoder.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    max_t = max(1, int(round(max_strength * model.config.num_train_timesteps)))
    losses = []
    model.train()
    model.encoder.eval()
    model.decoder.eval()
    for _ in tqdm(range(iters), desc="training the prior", unit="it"):
        pick = torch.randint(0, latents.shape[0], (batch,), generator=generator)
        z0, labels = latents[pick], first[pick].long()
        t = torch.randint(0, max_t, (batch,), generator=generator)
        noise = torch.randn(z0.shape, generator=generator)
        tokens = model.mask_encoder(labels) if model.config.conditioning else None
        loss = F.mse_loss(model.denoiser(model.add_noise(z0, noise, t), t, tokens), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return losses


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--camvid", type=Path, required=True, metavar="DIR", help="CamVid root (SegNet layout)")
    parser.add_argument("--source", type=Path, required=True, metavar="DIR",
                        help="the labelled source in GTA5 layout (benchmarks/uda_table.py --camvid DIR --prepare)")
    parser.add_argument("--prior", choices=("source", "target"), required=True)
    parser.add_argument("--input-size", type=frame_size, default=(256, 192), metavar="WxH")
    parser.add_argument("--frames", type=int, default=500, help="latents cached (default 500)")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--max-strength", type=float, default=0.5)
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 1, 3])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.1, 0.25, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for prior.safetensors and results.json")
    args = parser.parse_args(argv)
    if not 0 < args.max_strength <= 1 or args.iters < 1 or args.frames < 1:
        parser.error("--max-strength must be in (0, 1], --iters and --frames at least 1")
    torch.manual_seed(args.seed)
    try:
        model, _ = load_model(args.checkpoint)
    except CheckpointError as error:
        parser.exit(2, f"error: {error}\n")
    model.eval()
    domain = GTA5Dataset(args.source) if args.prior == "source" else CamVidDataset(args.camvid, "train", labels=False)
    latents, first = cache_latents(model, domain, args.input_size, args.frames)
    losses = train_prior(model, latents, first, args.iters, args.batch, args.lr, args.max_strength, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    save_model(args.out / "prior.safetensors", model, {"command": "benchmarks/diffusion_prior.py",
                                                       "arguments": {k: str(v) for k, v in vars(args).items()}})
    val = CamVidDataset(args.camvid, "val", transform=eval_transform(model.config))
    results = {"checkpoint": str(args.checkpoint), "prior": args.prior, "frames": int(latents.shape[0]),
               "iters": args.iters, "max_strength": args.max_strength, "seed": args.seed,
               "final_loss": round(float(np.mean(losses[-100:])), 4), "miou": {}, "per_class_iou": {}}
    return score_grid(results, args.steps, args.strengths, args.out, lambda k, strength: evaluate_model(
        model, val, steps=k, strength=strength, seed=args.seed, progress=False, input_size=args.input_size))


def score_grid(results: dict, steps: list[int], strengths: list[float], out: Path,
               score: Callable[[int, float], ConfusionMatrix]) -> dict:
    """Score every K x strength once (K = 0 once for all strengths) with protocol 11 into
    ``results`` (its ``miou`` and ``per_class_iou``), print each, and write results.json."""
    for strength in strengths:
        for k in steps:
            key = "K=0" if k == 0 else f"K={k} s={strength:g}"
            if key in results["miou"]:
                continue
            summary = score(k, strength).summary(CAMVID_PROTOCOL)
            results["miou"][key], results["per_class_iou"][key] = round(summary["miou"], 2), summary["per_class_iou"]
            print(f"{key:14s} {summary['miou']:6.2f}", flush=True)
    write_json(out / "results.json", results)
    print(json.dumps(results["miou"]))
    return results


if __name__ == "__main__":
    main()

"""``python -m cicld_core.synth``: write a procedural street-scene dataset to disk."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..cli_types import fail, frame_size, int_at_least
from ..io import write_json
from ..labels import CLASS_NAMES, NUM_TRAIN_CLASSES
from .blender import BPY_REQUIREMENT, bpy_missing
from . import (
    DEFAULT_VERSION, LAYOUTS, SPLITS, STYLES, VERSIONS, LidarSpec, generate_frame, write_frame, write_sensors, write_split_list,
)

RENDERERS = ("2d", "blender")
DEFAULT_SAMPLES = 8

EPILOG = """\
examples:
  # a GTA5-like source domain and a Cityscapes-like target domain
  python -m cicld_core.synth --out data/synth_gta5 --style source --layout gta5 --num 500 --size 1024x512 --seed 1
  python -m cicld_core.synth --out data/synth_cs --style target --layout cityscapes --num 500 --seed 2 --split train
  python -m cicld_core.synth --out data/synth_cs --style target --layout cityscapes --num 100 --seed 2 --split val
  # with depth, a 64-beam LiDAR scan with per-point labels, CameraInfo and the extrinsic
  python -m cicld_core.synth --out data/synth_drive --style target --layout cityscapes --num 20 --split val --lidar --lidar-beams 64
  # the same street layouts path-traced by Blender (needs the extra: pip install "bpy==4.5.*")
  python -m cicld_core.synth --renderer blender --out data/render_gta5 --style source --layout gta5 --num 2000 --size 512x256 --workers 2

The same arguments always give byte-identical files (--renderer blender: the same labels, and
the same pixels with the same Blender and --samples); --split val draws different streets
than --split train. --version 1 is the first benchmark (both styles of one --seed show the
same streets, only the rendering differs); --version 2 (default) keeps that source style
and also changes the target's content: camera, class frequencies, shapes, layout, weather.
--lidar adds lidar/, depth/ and calib/ folders (see docs/data.md, "The procedural driving-scene
generator"); the images and labels are the same with or without it.
--renderer blender renders the same street layouts in 3D with Cycles (labels from the
object-index pass, depth from the Z pass); it is resumable: frames already on disk are kept.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cicld_core.synth",
        description="Generate procedural driving scenes with exact per-pixel labels, in a flat "
        "synthetic 'source' style or a camera-like 'target' style, written in the real GTA5, "
        "Synthia or Cityscapes file layout.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output dataset root (created if missing)")
    parser.add_argument("--style", choices=STYLES, required=True,
                        help="source: flat game-like colours; target: textured, camera-like")
    parser.add_argument("--layout", choices=LAYOUTS, required=True, help="file layout to write")
    parser.add_argument("--num", type=int_at_least(1), default=100, help="number of frames, indices 0..N-1 (default: 100)")
    parser.add_argument("--size", type=frame_size, default=(1024, 512), metavar="WxH",
                        help="frame size in pixels (default: 1024x512)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed, >= 0 (default: 0)")
    parser.add_argument("--version", type=int, choices=VERSIONS, default=DEFAULT_VERSION,
                        help=f"benchmark version: 1 = target differs in rendering only, 2 = also in content "
                        f"(default: {DEFAULT_VERSION}); version 1 frames are byte-identical to the first release")
    parser.add_argument("--split", choices=SPLITS, default="train",
                        help="cityscapes: the folder; gta5/synthia: the random stream, listed in <out>/<split>.txt "
                        "(default: train)")
    parser.add_argument("--lidar", action="store_true",
                        help="also write each frame's depth map, a simulated spinning-LiDAR scan with ground-truth "
                        "trainIds per point, its CameraInfo and the LiDAR-to-camera extrinsic (lidar/, depth/, calib/)")
    parser.add_argument("--lidar-beams", type=int_at_least(1), default=LidarSpec.beams,
                        help=f"beams of the simulated LiDAR, spread over {LidarSpec.elevation_deg[0]:g}..{LidarSpec.elevation_deg[1]:g} "
                        f"degrees of elevation (default: {LidarSpec.beams})")
    parser.add_argument("--lidar-steps", type=int_at_least(1), default=LidarSpec.azimuth_steps,
                        help=f"firings per beam and turn (default: {LidarSpec.azimuth_steps}, every 0.2 degrees)")
    render = parser.add_argument_group("the Blender renderer (--renderer blender)")
    render.add_argument("--renderer", choices=RENDERERS, default="2d",
                        help="2d: the fast flat painter (default; its frames never change); blender: the same street "
                        "layout built in 3D and path-traced by Cycles on the CPU, with physically based materials, sky, "
                        f"sun and weather (needs the optional extra: pip install \"{BPY_REQUIREMENT}\")")
    render.add_argument("--samples", type=int_at_least(1), default=None,
                        help=f"Cycles samples per pixel, denoised with OpenImageDenoise (default: {DEFAULT_SAMPLES}); "
                        "fewer is faster and noisier")
    render.add_argument("--workers", type=int_at_least(1), default=None,
                        help="Blender processes rendering frames side by side (default: 1)")
    render.add_argument("--threads", type=int_at_least(1), default=None,
                        help="Cycles threads per worker (default: the CPU cores shared out over the workers)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        return fail(f"--out {args.out} exists and is not a folder: name a new or existing folder")
    if args.renderer == "blender":
        return render_with_blender(args)
    given = [f"--{name}" for name in ("samples", "workers", "threads") if getattr(args, name) is not None]
    if given:
        return fail(f"{', '.join(given)} only apply to --renderer blender")
    frames_with = np.zeros(NUM_TRAIN_CLASSES, np.int64)
    start = time.perf_counter()
    lidar = LidarSpec(beams=args.lidar_beams, azimuth_steps=args.lidar_steps) if args.lidar else None
    for index in tqdm(range(args.num), desc=f"{args.style} -> {args.layout}/{args.split}", unit="frame"):
        frame = generate_frame(args.seed, index, args.size, args.style, args.split, version=args.version, lidar=lidar)
        write_frame(args.out, args.layout, args.split, index, frame)
        if frame.sensors is not None:
            write_sensors(args.out, args.layout, args.split, index, frame.sensors)
        counts = np.bincount(frame.train_ids.ravel(), minlength=256)[:NUM_TRAIN_CLASSES]
        frames_with += counts > 0
    write_split_list(args.out, args.layout, args.split, range(args.num))
    elapsed = time.perf_counter() - start
    fps = args.num / max(elapsed, 1e-9)
    presence = {name: round(float(n) / args.num, 4) for name, n in zip(CLASS_NAMES, frames_with)}
    write_json(args.out / "synth_info.json", {
        "args": {"out": str(args.out), "style": args.style, "layout": args.layout, "num": args.num,
                 "size": f"{args.size[0]}x{args.size[1]}", "seed": args.seed, "split": args.split,
                 "version": args.version, "lidar": args.lidar},
        "version": __version__, "generator_version": str(args.version), "benchmark_version": args.version, "frames": args.num,
        "class_presence": presence, "frames_per_s": round(fps, 2), "seconds": round(elapsed, 2),
    })
    print(f"wrote {args.num} {args.style} frames (benchmark version {args.version}) of {args.size[0]}x{args.size[1]} to {args.out} "
          f"({args.layout} layout, split {args.split}) at {fps:.1f} frames/s")
    print("share of frames containing each class:")
    for name, share in presence.items():
        print(f"  {name:<14}{100 * share:6.1f}%")
    print(f"details: {args.out / 'synth_info.json'}")
    return 0


def render_with_blender(args: argparse.Namespace) -> int:
    missing = bpy_missing()
    if missing:
        return fail(missing)
    from .blender.run import Job, default_threads, render_dataset  # noqa: PLC0415 - the optional renderer

    workers = args.workers or 1
    lidar = LidarSpec(beams=args.lidar_beams, azimuth_steps=args.lidar_steps) if args.lidar else None
    job = Job(out=args.out, layout=args.layout, split=args.split, seed=args.seed, size=args.size, style=args.style,
              version=args.version, lidar=lidar, samples=args.samples or DEFAULT_SAMPLES,
              threads=args.threads or default_threads(workers))
    try:
        summary = render_dataset(job, range(args.num), workers)
    except RuntimeError as error:  # a worker that could not start Blender
        return fail(error, 1)
    write_split_list(args.out, args.layout, args.split, range(args.num))
    presence = {name: round(float(n) / args.num, 4) for name, n in zip(CLASS_NAMES, summary.frames_with)}
    share = summary.pixels / max(summary.pixels.sum(), 1)
    write_json(args.out / "synth_info.json", {
        "args": {"out": str(args.out), "style": args.style, "layout": args.layout, "num": args.num,
                 "size": f"{args.size[0]}x{args.size[1]}", "seed": args.seed, "split": args.split,
                 "version": args.version, "lidar": args.lidar, "renderer": "blender", "samples": job.samples,
                 "workers": workers, "threads": job.threads},
        "version": __version__, "generator_version": str(args.version), "benchmark_version": args.version,
        "renderer": "blender", "frames": args.num, "rendered": summary.rendered, "kept": summary.skipped,
        "class_presence": presence, "class_pixel_share_of_rendered": {n: round(float(v), 5) for n, v in zip(CLASS_NAMES, share)},
        "frames_per_s": round(summary.frames_per_s, 3), "seconds": round(summary.seconds, 2),
    })
    print(f"rendered {summary.rendered} frames with Blender (kept {summary.skipped} already on disk) of "
          f"{args.size[0]}x{args.size[1]} at {job.samples} samples to {args.out} ({args.layout} layout, split {args.split}) "
          f"at {summary.frames_per_s:.2f} frames/s with {workers} worker(s) x {job.threads} thread(s)")
    print("share of frames containing each class:")
    for name, share_of in presence.items():
        print(f"  {name:<14}{100 * share_of:6.1f}%")
    print(f"details: {args.out / 'synth_info.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

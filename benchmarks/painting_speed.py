"""How fast is a LiDAR cloud painted with a camera mask? 128k points (a 64-beam scan,
about a third of them in the camera's view) onto a 2048x1024 mask, with plumb_bob
distortion and a LiDAR-to-camera extrinsic, as the node does per cloud.

    .venv/bin/python benchmarks/painting_speed.py [--points 131072] [--size 2048x1024] [--repeats 30] [--threads 1] [--json OUT]

Prints the median (and p90) milliseconds per cloud for numpy (float64) and torch on the
CPU, and on CUDA when there is a GPU (--devices picks). The target of issue 19 is under
10 ms for numpy on this CPU; it is reported, not asserted.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from cicld_core.cli_types import frame_size, int_at_least
from cicld_core.io import write_json
from cicld_core.painting import PinholeCamera, lidar_to_camera_matrix, paint_points

LIDAR_AXES_TO_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/painting_speed.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int_at_least(1), default=128 * 1024, help="points per cloud (default: 131072)")
    parser.add_argument("--size", type=frame_size, default=(2048, 1024), metavar="WxH", help="mask size (default: 2048x1024)")
    parser.add_argument("--repeats", type=int_at_least(1), default=30, help="timed clouds per path (default: 30)")
    parser.add_argument("--devices", nargs="+", default=None,
                        help="paths to time: numpy, cpu (torch), cuda... (default: numpy cpu, and cuda when available)")
    parser.add_argument("--threads", type=int_at_least(1), default=1,
                        help="torch CPU threads (default: 1; on a busy machine more threads spin-wait for each other "
                        "and a 128k-point cloud takes hundreds of ms instead of a few)")
    parser.add_argument("--json", type=str, default=None, help="also write the results to this JSON file")
    return parser


def scene(points: int, size: tuple[int, int], seed: int = 0):
    """A cloud shaped like one turn of a 64-beam LiDAR, a camera with a wide lens, a mask."""
    width, height = size
    rng = np.random.default_rng(seed)
    azimuth = rng.uniform(-np.pi, np.pi, points)
    elevation = np.radians(rng.uniform(-25.0, 15.0, points))
    distance = rng.uniform(2.0, 80.0, points)
    cloud = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)], 1)
    cloud = (cloud * distance[:, None]).astype(np.float32)
    focal = 0.55 * width
    camera = PinholeCamera(width, height, np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]]),
                           np.array([-0.28, 0.09, 0.0005, -0.0003, -0.01]))
    mask = rng.integers(0, 19, (height, width)).astype(np.uint8)
    return cloud, camera, mask, lidar_to_camera_matrix(LIDAR_AXES_TO_OPTICAL, translation=(0.0, -0.08, -0.25))


def time_path(device: str, cloud, camera, mask, extrinsic, repeats: int) -> dict:
    torch_device = None if device == "numpy" else device
    points, mask_in = cloud, mask
    if torch_device is not None:
        import torch
        mask_in = torch.as_tensor(mask, device=torch_device)  # the node's mask is already on its device
        sync = torch.cuda.synchronize if torch_device.startswith("cuda") else (lambda: None)
    else:
        sync = lambda: None  # noqa: E731
    for _ in range(3):  # warm-up: caches, allocator, CUDA context
        paint_points(points, mask_in, camera, extrinsic, device=torch_device)
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        painted = paint_points(points, mask_in, camera, extrinsic, device=torch_device)
        sync()
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
            "labelled_share": round(float(painted.visible.mean()), 3)}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cloud, camera, mask, extrinsic = scene(args.points, args.size)
    devices = args.devices
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    if devices is None:
        devices = ["numpy", "cpu"]
        try:
            import torch
            if torch.cuda.is_available():
                devices.append("cuda")
        except ImportError:
            devices = ["numpy"]
    results = {}
    print(f"painting {args.points} points onto a {args.size[0]}x{args.size[1]} mask (plumb_bob, extrinsic), "
          f"median of {args.repeats}:")
    for device in devices:
        results[device] = time_path(device, cloud, camera, mask, extrinsic, args.repeats)
        name = "numpy float64" if device == "numpy" else f"torch float32 on {device}" + (f" ({args.threads} thr)" if device == "cpu" else "")
        r = results[device]
        print(f"  {name:<32}{r['median_ms']:8.2f} ms  (p90 {r['p90_ms']:.2f} ms, {100 * r['labelled_share']:.0f}% of points labelled)")
    if args.json:
        write_json(args.json, {"points": args.points, "size": list(args.size), "repeats": args.repeats, "torch_threads": args.threads,
                               "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())

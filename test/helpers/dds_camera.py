"""A camera in its own process: publish frames on a ROS 2 topic over Cyclone DDS, then exit.

    python test/helpers/dds_camera.py --domain 7 --topic /cam0/image_raw --count 20 --rate 10 \
        --encoding rgb8 --size 64x32 --frame-id cam0 --stamp-sec 1000 [--malformed-every 5]

Frame i has header.stamp = (stamp_sec + i, 0); --malformed-every N sends every Nth frame
with data shorter than step x height. --wait-subscribers S waits up to S seconds for the
node to match before sending.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cicld_ros.dds.config import ensure_cyclonedds_uri  # noqa: E402
from cicld_ros.dds.transport import DdsTransport  # noqa: E402
from cicld_ros.messages import COMPRESSED_IMAGE, IMAGE, CompressedImage, Header, Image, Time  # noqa: E402


def frame(index: int, width: int, height: int) -> np.ndarray:
    """A street-like test card: sky, buildings, road, a moving car-sized block."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 3] = (120, 160, 220)
    rgb[height // 3: height // 2] = (110, 100, 95)
    rgb[height // 2:] = (90, 90, 92)
    x = (index * 3) % max(1, width - width // 5)
    rgb[height // 2: height // 2 + height // 6, x: x + width // 5] = (30, 40, 140)
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--encoding", default="rgb8", help="rgb8, bgr8, mono8 or jpeg (CompressedImage)")
    parser.add_argument("--size", default="64x32")
    parser.add_argument("--frame-id", default="camera")
    parser.add_argument("--stamp-sec", type=int, default=1000)
    parser.add_argument("--malformed-every", type=int, default=0)
    parser.add_argument("--wait-subscribers", type=float, default=20.0)
    parser.add_argument("--reliable", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ensure_cyclonedds_uri()
    kind = COMPRESSED_IMAGE if args.encoding == "jpeg" else IMAGE
    with DdsTransport(args.domain) as transport:
        publisher = transport.publisher(args.topic, kind, reliable=args.reliable, depth=1)
        deadline = time.monotonic() + args.wait_subscribers
        while publisher.subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        period = 1.0 / args.rate
        next_time = time.monotonic()
        for index in range(args.count):
            header = Header(Time(args.stamp_sec + index, 0), args.frame_id)
            rgb = frame(index, width, height)
            if kind == COMPRESSED_IMAGE:
                ok, data = cv2.imencode(".jpg", rgb[..., ::-1])
                msg = CompressedImage(header, "jpeg", data.tobytes())
            else:
                pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "mono8": rgb[..., :1]}[args.encoding]
                pixels = np.ascontiguousarray(pixels)
                data = pixels.tobytes()
                if args.malformed_every and index % args.malformed_every == args.malformed_every - 1:
                    data = data[: len(data) // 2]
                msg = Image(header, height, width, args.encoding, 0, width * pixels.shape[2], data)
            publisher.publish(msg)
            next_time += period
            time.sleep(max(0.0, next_time - time.monotonic()))
        time.sleep(0.5)  # let reliable writers deliver before the participant goes away


if __name__ == "__main__":
    main()

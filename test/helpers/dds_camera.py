"""A camera in its own process: publish frames on a ROS 2 topic over Cyclone DDS, then exit.

    python test/helpers/dds_camera.py --domain 7 --topic /cam0/image_raw --count 20 --rate 10 \
        --encoding rgb8 --size 64x32 --frame-id cam0 --stamp-sec 1000 [--malformed-every 5]

Frame i has header.stamp = (stamp_sec + i, 0); --malformed-every N sends every Nth frame
with data shorter than step x height. Before sending, the camera waits (up to
--wait-subscribers s, else exits 2) until its writer matched a reader. That reader may not
have matched the writer yet (discovery is not symmetric), so a first frame can still be
lost; two ways to start only once both sides match:

--handshake          print "matched" and wait for a line on stdin (the test sends it once its
                     own reader matched this camera)
--answer-topic T     wait for the node's answers on T (an Image topic): first send a warm-up
                     frame (stamp stamp_sec - 1) every --resend s until one is answered; with
                     --each-answered then send each frame only once the previous one was
                     answered, and exit 1 naming the first frame not answered within
                     --answer-timeout s; with --last-answered send all frames at --rate, then
                     resend the last one every --resend s until it is answered
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from cyclonedds.util import duration

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cicld_ros.messages.message_kinds import message_kind  # noqa: E402
from cicld_ros.messages.records import COMPRESSED_IMAGE, IMAGE, CompressedImage, Header, Image, Time  # noqa: E402
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri  # noqa: E402
from cicld_ros.transports.dds.transport import DdsTransport  # noqa: E402


def frame(index: int, width: int, height: int) -> np.ndarray:
    """A street-like test card: sky, buildings, road, a moving car-sized block."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 3] = (120, 160, 220)
    rgb[height // 3: height // 2] = (110, 100, 95)
    rgb[height // 2:] = (90, 90, 92)
    x = (index * 3) % max(1, width - width // 5)
    rgb[height // 2: height // 2 + height // 6, x: x + width // 5] = (30, 40, 140)
    return rgb


# raw CDR a ROS 2 node never sends but Cyclone carries (the reason each is counted under);
# Cyclone's own writer refuses a big-endian (0x0000) header and an unterminated string, so
# those two are not sent here
MALFORMED_CDR = {"xcdr2": lambda good: b"\x00\x07" + good[2:], "pl_cdr": lambda good: b"\x00\x03" + good[2:],
                 "not_utf8": lambda good: good.replace(b"bad!\x00", b"\xff\xfe\xfd\xfc\x00", 1)}
MALFORMED_REASON = {"xcdr2": "foreign_encapsulation", "pl_cdr": "foreign_encapsulation", "not_utf8": "not_utf8"}


def malformed_cdr(index: int, kind: str) -> bytes:
    good = message_kind(kind).encode(Image(Header(Time(0, 0), "bad!"), 1, 1, "mono8", 0, 1, b"\x07") if kind == IMAGE
                                     else CompressedImage(Header(Time(0, 0), "bad!"), "jpeg", b"\xff\xd8"))
    return list(MALFORMED_CDR.values())[index % len(MALFORMED_CDR)](good)


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
    parser.add_argument("--malformed-cdr", type=int, default=0, metavar="N",
                        help="first send N raw samples that do not decode, cycling through " + ", ".join(MALFORMED_CDR))
    parser.add_argument("--wait-subscribers", type=float, default=20.0)
    parser.add_argument("--reliable", action="store_true")
    parser.add_argument("--handshake", action="store_true")
    parser.add_argument("--answer-topic")
    parser.add_argument("--each-answered", action="store_true")
    parser.add_argument("--last-answered", action="store_true")
    parser.add_argument("--answer-timeout", type=float, default=60.0)
    parser.add_argument("--resend", type=float, default=2.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    ensure_cyclonedds_uri()
    kind = COMPRESSED_IMAGE if args.encoding == "jpeg" else IMAGE

    def make(index: int, stamp_sec: int) -> Image | CompressedImage:
        header = Header(Time(stamp_sec, 0), args.frame_id)
        rgb = frame(index, width, height)
        if kind == COMPRESSED_IMAGE:
            ok, data = cv2.imencode(".jpg", rgb[..., ::-1])
            return CompressedImage(header, "jpeg", data.tobytes())
        pixels = np.ascontiguousarray({"rgb8": rgb, "bgr8": rgb[..., ::-1], "mono8": rgb[..., :1]}[args.encoding])
        data = pixels.tobytes()
        if args.malformed_every and index % args.malformed_every == args.malformed_every - 1:
            data = data[: len(data) // 2]
        return Image(header, height, width, args.encoding, 0, width * pixels.shape[2], data)

    answered: set[int] = set()
    arrived = threading.Condition()

    def on_answer(msg: Image) -> None:
        with arrived:
            answered.add(msg.header.stamp.sec)
            arrived.notify_all()

    def wait_answer(stamp_sec: int, timeout: float) -> bool:
        with arrived:
            return arrived.wait_for(lambda: stamp_sec in answered, timeout)

    with DdsTransport(args.domain) as transport:
        # a reliable writer keeps every frame until acknowledged: a reader that matched but has
        # not yet seen the writer's first heartbeat gets the early frames by retransmission
        publisher = transport.publisher(args.topic, kind, reliable=args.reliable, depth=1, keep_all=args.reliable)
        if args.answer_topic:
            transport.subscribe(args.answer_topic, IMAGE, on_answer, reliable=True, depth=100, keep_all=True)
        deadline = time.monotonic() + args.wait_subscribers
        while publisher.subscription_count() == 0:
            if time.monotonic() > deadline:
                print(f"no reader matched {args.topic} within {args.wait_subscribers:g} s", flush=True)
                sys.exit(2)
            time.sleep(0.05)
        if args.handshake:
            print("matched", flush=True)
            sys.stdin.readline()

        def until_answered(index: int, stamp_sec: int, what: str) -> None:
            """Send (again every --resend s) until answered: the node may not have matched us yet."""
            deadline = time.monotonic() + args.answer_timeout
            publisher.publish(make(index, stamp_sec))
            while not wait_answer(stamp_sec, args.resend):
                if time.monotonic() > deadline:
                    print(f"{what} (stamp {stamp_sec}) was not answered on {args.answer_topic} within "
                          f"{args.answer_timeout:g} s", flush=True)
                    sys.exit(1)
                publisher.publish(make(index, stamp_sec))

        if args.answer_topic:
            until_answered(0, args.stamp_sec - 1, "the warm-up frame")
        for index in range(args.malformed_cdr):
            publisher.publish_cdr(malformed_cdr(index, kind))
        period = 1.0 / args.rate
        next_time = time.monotonic()
        for index in range(args.count):
            publisher.publish(make(index, args.stamp_sec + index))
            if args.each_answered and not wait_answer(args.stamp_sec + index, args.answer_timeout):
                print(f"frame {index} (stamp {args.stamp_sec + index}) was not answered on {args.answer_topic} "
                      f"within {args.answer_timeout:g} s", flush=True)
                sys.exit(1)
            next_time += period
            time.sleep(max(0.0, next_time - time.monotonic()))
        last = args.stamp_sec + args.count - 1
        if args.last_answered and args.count and not wait_answer(last, args.resend):
            until_answered(args.count - 1, last, "the last frame")
        if args.each_answered:
            print(f"all {args.count} frames answered", flush=True)
        if args.reliable:  # deliver everything before the participant goes away
            publisher.writer.wait_for_acks(duration(seconds=30))


if __name__ == "__main__":
    main()

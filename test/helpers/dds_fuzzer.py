"""Hostile camera in its own process: send every kind of malformed frame to the node, then exit.

    python test/helpers/dds_fuzzer.py --domain 7 --image-topic /cam0/image_raw \
        --compressed-topic /cam1/image_raw/compressed --count 1000

Each kind is sent ``--count`` times, the kinds interleaved so that samples a best-effort
link loses are spread over all of them, at about ``--rate`` samples a second (unpaced, a
burst overflows socket buffers and most samples never reach the node to be tested). The samples are written as raw CDR, so foreign
encapsulation headers and invalid UTF-8 reach the node's transport as a hostile peer
would send them. Cyclone checks a sample's CDR against the type when it is written (and
again when it is received), so a truncated or garbled buffer is refused by this
process's own writer; those are counted as refused. Prints a JSON object
{kind: [topic, samples written, samples the writer refused]}.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
from cyclonedds.core import DDSException

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cicld_ros.messages import cdr  # noqa: E402
from cicld_ros.messages.records import COMPRESSED_IMAGE, IMAGE, CompressedImage, Header, Image, Time  # noqa: E402
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri  # noqa: E402
from cicld_ros.transports.dds.transport import DdsTransport  # noqa: E402

WIDTH, HEIGHT = 64, 32


def raw_image(rgb: np.ndarray, encoding: str = "rgb8", **fields) -> bytes:
    values = dict(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=0,
                  step=rgb.shape[1] * 3, data=rgb.tobytes()) | fields
    return cdr.encode_image(Image(Header(Time(1, 0), "fuzz"), **values))


def big_endian_image(rgb: np.ndarray) -> bytes:
    """A well-formed Image in big-endian CDR (encapsulation CDR_BE), which the node does not read."""
    out = bytearray(b"\x00\x00\x00\x00")

    def u32(value: int) -> None:
        out.extend(b"\x00" * (-(len(out) - 4) % 4) + struct.pack(">I", value))

    def string(text: str) -> None:
        u32(len(text) + 1)
        out.extend(text.encode() + b"\x00")

    u32(1), u32(0), string("fuzz"), u32(rgb.shape[0]), u32(rgb.shape[1]), string("rgb8")
    out.append(0)
    u32(rgb.shape[1] * 3), u32(rgb.size)
    return bytes(out + rgb.tobytes())


def compressed(data: bytes, fmt: str = "jpeg") -> bytes:
    return cdr.encode_compressed_image(CompressedImage(Header(Time(1, 0), "fuzz"), fmt, data))


def encoded(rgb: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, rgb[..., ::-1])
    return data.tobytes()


def kinds(rng: np.random.Generator) -> dict[str, tuple[str, object]]:
    """kind -> (topic kind, bytes or a function of the generator giving bytes)."""
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    good = raw_image(rgb)
    # the encoding string 'rgb8' replaced by bytes that are not UTF-8, lengths unchanged
    bad_utf8 = good.replace(b"rgb8\x00", b"\xff\xfe\xc0\x80\x00", 1)
    png = encoded(rgb, ".png")
    bomb = bytearray(png)  # a small PNG whose checksummed IHDR claims 24000x24000
    bomb[16:24] = struct.pack(">II", 24000, 24000)
    bomb[29:33] = struct.pack(">I", zlib.crc32(bytes(bomb[12:29])))
    jpeg = encoded(rgb, ".jpg")
    tables_end = jpeg.index(b"\xff\xda")  # where the scan would start: its header replaced by noise
    return {
        "xcdr2_header": (IMAGE, b"\x00\x07\x00\x00" + good[4:]),
        "pl_cdr_header": (IMAGE, b"\x00\x03\x00\x00" + good[4:]),
        "big_endian": (IMAGE, big_endian_image(rgb)),
        "big_endian_garbage": (IMAGE, lambda r: b"\x00\x00\x00\x00" + r.bytes(int(r.integers(0, 200)))),
        "truncated_cdr": (IMAGE, lambda r: good[:int(r.integers(4, len(good) - 4))]),
        "invalid_utf8": (IMAGE, bad_utf8),
        "wrong_step": (IMAGE, raw_image(rgb, step=WIDTH)),
        "wrong_size": (IMAGE, raw_image(rgb, data=rgb.tobytes()[:-7])),
        "unknown_encoding": (IMAGE, raw_image(rgb, encoding="yuv9")),
        "one_pixel": (IMAGE, raw_image(rgb[:1, :1])),
        "huge_dimensions": (IMAGE, raw_image(rgb, height=60000, width=60000, step=180000)),
        "empty_data": (IMAGE, raw_image(rgb, data=b"")),
        "png_bomb_header": (COMPRESSED_IMAGE, compressed(bytes(bomb), "png")),
        "truncated_png": (COMPRESSED_IMAGE, compressed(png[:len(png) // 2], "png")),
        "corrupt_jpeg": (COMPRESSED_IMAGE, lambda r: compressed(jpeg[:tables_end] + r.bytes(300))),
        "not_an_image": (COMPRESSED_IMAGE, lambda r: compressed(r.bytes(int(r.integers(1, 500))))),
        "empty_compressed": (COMPRESSED_IMAGE, compressed(b"")),
        "one_pixel_png": (COMPRESSED_IMAGE, compressed(encoded(rgb[:1, :1], ".png"), "png")),
        "compressed_pl_cdr_header": (COMPRESSED_IMAGE, b"\x00\x03\x00\x00" + compressed(png)[4:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", type=int, required=True)
    parser.add_argument("--image-topic", required=True)
    parser.add_argument("--compressed-topic", required=True)
    parser.add_argument("--count", type=int, default=1000, help="samples of each kind")
    parser.add_argument("--rate", type=float, default=2000.0, help="samples a second, all kinds together")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wait-subscribers", type=float, default=60.0)
    args = parser.parse_args()
    ensure_cyclonedds_uri()
    rng = np.random.default_rng(args.seed)
    samples = kinds(rng)
    sent, refused = {kind: 0 for kind in samples}, {kind: 0 for kind in samples}
    with DdsTransport(args.domain) as transport:
        publishers = {IMAGE: transport.publisher(args.image_topic, IMAGE, reliable=False, depth=1),
                      COMPRESSED_IMAGE: transport.publisher(args.compressed_topic, COMPRESSED_IMAGE, reliable=False,
                                                            depth=1)}
        deadline = time.monotonic() + args.wait_subscribers
        while any(p.subscription_count() == 0 for p in publishers.values()):
            if time.monotonic() > deadline:
                sys.exit(f"error: the node did not subscribe within {args.wait_subscribers} s")
            time.sleep(0.05)
        next_time = time.monotonic()
        for _ in range(args.count):
            next_time += len(samples) / args.rate
            time.sleep(max(0.0, next_time - time.monotonic()))
            for kind, (topic_kind, sample) in samples.items():
                try:
                    publishers[topic_kind].publish_cdr(sample(rng) if callable(sample) else sample)
                    sent[kind] += 1
                except DDSException:  # Cyclone's own check of the CDR against the type
                    refused[kind] += 1
        time.sleep(0.5)  # let the last samples leave before the participant goes away
    topics = {IMAGE: args.image_topic, COMPRESSED_IMAGE: args.compressed_topic}
    print(json.dumps({kind: [topics[samples[kind][0]], sent[kind], refused[kind]] for kind in samples}))


if __name__ == "__main__":
    main()

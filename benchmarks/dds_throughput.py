"""How fast do camera images cross the DDS transport? Publisher and subscriber in separate
processes, 1024x512 rgb8 sensor_msgs/Image over a reliable loopback topic.

    .venv/bin/python benchmarks/dds_throughput.py [--count 1000] [--size 1024x512] [--json OUT]

Reports messages/s and MB/s (publisher sending as fast as the reliable topic takes), the
CPU time per message on each side (encode + write; take + decode), and the one-way
latency (receive time - header.stamp) p50/p99 at a paced 30 Hz. For comparison, the same
image through cyclonedds-python's own serializer.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from cicld_core.cli_types import frame_size, int_at_least

MAX_DOMAIN_ID = 232  # RTPS port numbers pass 65535 above it


def subscriber(domain: int, count: int, ready, results) -> None:
    from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
    ensure_cyclonedds_uri()
    from cicld_ros.messages.records import IMAGE
    from cicld_ros.transports.dds.transport import DdsTransport

    latencies, first, cpu = [], [None], [0.0]

    def on_image(msg) -> None:
        now = time.time()
        latencies.append(now - msg.header.stamp.to_seconds())
        if first[0] is None:
            first[0] = now

    with DdsTransport(domain) as transport:
        subscription = transport.subscribe("/bench/image", IMAGE, on_image, reliable=True, depth=8, keep_all=True)
        ready.set()
        start_cpu = time.process_time()
        deadline = time.monotonic() + 120
        while len(latencies) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        cpu[0] = time.process_time() - start_cpu
        results.put({"received": len(latencies), "first": first[0], "last": time.time(),
                     "latency_ms": [1000 * v for v in latencies], "cpu_ms_per_msg": 1000 * cpu[0] / max(1, len(latencies)),
                     "malformed": subscription.malformed})


def publish(domain: int, count: int, size: tuple[int, int], rate: float | None, ready) -> dict:
    from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
    ensure_cyclonedds_uri()
    from cicld_ros.messages.records import IMAGE, Header, Image, Time
    from cicld_ros.transports.dds.transport import DdsTransport

    width, height = size
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    with DdsTransport(domain) as transport:
        # KeepAll: a reliable writer blocks instead of overwriting samples the reader has not acknowledged
        publisher = transport.publisher("/bench/image", IMAGE, reliable=True, depth=8, keep_all=True)
        ready.wait(30)
        while publisher.subscription_count() == 0:
            time.sleep(0.01)
        time.sleep(0.2)
        start, start_cpu = time.time(), time.process_time()
        for index in range(count):
            publisher.publish(Image(Header(Time.from_seconds(time.time()), "bench"), height, width, "rgb8", 0,
                                    width * 3, pixels))
            if rate:
                time.sleep(max(0.0, start + (index + 1) / rate - time.time()))
        return {"sent_s": time.time() - start, "cpu_ms_per_msg": 1000 * (time.process_time() - start_cpu) / count}


def run(domain: int, count: int, size: tuple[int, int], rate: float | None) -> dict:
    context = mp.get_context("spawn")
    ready, results = context.Event(), context.Queue()
    reader = context.Process(target=subscriber, args=(domain, count, ready, results))
    reader.start()
    sent = publish(domain, count, size, rate, ready)
    received = results.get(timeout=180)
    reader.join(30)
    span = received["last"] - received["first"] if received["first"] else float("nan")
    mbytes = size[0] * size[1] * 3 / 1e6
    latency = np.array(received["latency_ms"]) if received["latency_ms"] else np.array([np.nan])
    return {"count": count, "received": received["received"], "rate_hz": rate,
            "msgs_per_s": received["received"] / span if span > 0 else float("nan"),
            "mb_per_s": received["received"] * mbytes / span if span > 0 else float("nan"),
            "publisher_cpu_ms_per_msg": round(sent["cpu_ms_per_msg"], 3),
            "subscriber_cpu_ms_per_msg": round(received["cpu_ms_per_msg"], 3),
            "latency_ms_p50": round(float(np.percentile(latency, 50)), 3),
            "latency_ms_p99": round(float(np.percentile(latency, 99)), 3)}


def idl_serializer_ms(size: tuple[int, int], repeats: int = 5) -> float:
    """cyclonedds-python's own serializer on the same image, for comparison."""
    from cicld_ros.transports.dds.idl_types import Header_, Image_, Time_

    width, height = size
    msg = Image_(Header_(Time_(0, 0), "bench"), height, width, "rgb8", 0, width * 3,
                 list(np.zeros(width * height * 3, np.uint8).tobytes()))
    start = time.perf_counter()
    for _ in range(repeats):
        msg.serialize()
    return 1000 * (time.perf_counter() - start) / repeats


def domain(text: str) -> int:
    value = int_at_least(0)(text)
    if value > MAX_DOMAIN_ID:
        raise argparse.ArgumentTypeError(f"must be a DDS domain in 0..{MAX_DOMAIN_ID}, got {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int_at_least(1), default=1000, help="messages sent flat out (default 1000)")
    parser.add_argument("--size", type=frame_size, default=(1024, 512), metavar="WxH", help="image size (1024x512)")
    parser.add_argument("--domain", type=domain, default=91, help=f"DDS domain, 0..{MAX_DOMAIN_ID} (default 91)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    size = args.size
    flat_out = run(args.domain, args.count, size, rate=None)
    paced = run(args.domain, 150, size, rate=30.0)
    baseline = idl_serializer_ms(size)
    report = {"size": f"{size[0]}x{size[1]}", "throughput": flat_out, "paced_30hz": paced,
              "cyclonedds_idl_serialize_ms": round(baseline, 1)}
    print(f"{report['size']} rgb8 over a reliable loopback topic, publisher and subscriber in separate processes")
    print(f"  flat out: {flat_out['msgs_per_s']:.0f} msg/s ({flat_out['mb_per_s']:.0f} MB/s), "
          f"{flat_out['received']}/{flat_out['count']} received")
    print(f"  CPU per message: publisher {flat_out['publisher_cpu_ms_per_msg']:.2f} ms (encode + write), "
          f"subscriber {flat_out['subscriber_cpu_ms_per_msg']:.2f} ms (take + decode)")
    print(f"  one-way latency at 30 Hz: p50 {paced['latency_ms_p50']:.2f} ms, p99 {paced['latency_ms_p99']:.2f} ms")
    print(f"  cyclonedds-python's own serializer, same image: {baseline:.1f} ms per message (serialize only)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

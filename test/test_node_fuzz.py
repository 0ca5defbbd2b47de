"""The DDS node in its own process under a hostile burst: every kind of malformed frame
(foreign CDR headers, truncated CDR, invalid UTF-8, wrong sizes and steps, unknown
encodings, 1x1 frames, a PNG whose header claims 24000x24000, corrupt JPEG, empty data),
1000 of each, from a fuzzer process (test/helpers/dds_fuzzer.py). The node must stay
alive, answer good frames afterwards, keep its memory, log a few lines instead of one per
frame, and account for every frame that reached it in /diagnostics, by reason."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

from cicld_ros.messages.records import COMPRESSED_IMAGE, DIAGNOSTICS, IMAGE, CompressedImage, Header, Image, Time
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
from cicld_ros.transports.dds.transport import DdsTransport
from waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
IMAGE_TOPIC, COMPRESSED_TOPIC = "/cam0/image_raw", "/cam1/image_raw/compressed"
MASKS = {IMAGE_TOPIC: "/cam0/segmentation/class_mask", COMPRESSED_TOPIC: "/cam1/segmentation/class_mask"}
PER_KIND = 1000
# the node's reasons each camera's malformed kinds must show up under (cdr: refused by the transport)
REASONS = {IMAGE_TOPIC: {"cdr", "bad_step", "short_data", "unsupported_encoding", "too_small", "too_large"},
           COMPRESSED_TOPIC: {"cdr", "too_large", "corrupt_compressed", "unsupported_format", "zero_size",
                              "too_small"}}


class Recorder:
    """Everything published on the given topics (reliable, keep all)."""

    def __init__(self, transport: DdsTransport, topics: dict[str, str]) -> None:
        self.messages: dict[str, list] = {topic: [] for topic in topics}
        self.lock = threading.Lock()
        for topic, kind in topics.items():
            transport.subscribe(topic, kind, lambda msg, t=topic: self.add(t, msg), reliable=True, depth=100,
                                keep_all=True)

    def add(self, topic: str, msg) -> None:
        with self.lock:
            self.messages[topic].append(msg)

    def stamps(self, topic: str) -> set[int]:
        with self.lock:
            return {m.header.stamp.sec for m in self.messages[topic]}

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.messages[topic])

    def latest_diagnostics(self) -> dict[str, dict[str, str]]:
        with self.lock:
            last = self.messages["/diagnostics"][-1] if self.messages["/diagnostics"] else None
        return {s.hardware_id: {kv.key: kv.value for kv in s.values} for s in last.status
                if s.hardware_id in MASKS} if last else {}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def good_frame(topic: str, stamp: int) -> Image | CompressedImage:
    rgb = np.random.default_rng(stamp).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    header = Header(Time(stamp, 0), "good")
    if topic == COMPRESSED_TOPIC:
        return CompressedImage(header, "jpeg", cv2.imencode(".jpg", rgb)[1].tobytes())
    return Image(header, 32, 64, "rgb8", 0, 64 * 3, rgb.tobytes())


class GoodCamera:
    """Sends a good frame on each camera until the node answers it; a best-effort sample, or one
    sent before the node matched the recorder's subscriptions, may go unanswered."""

    def __init__(self, transport: DdsTransport) -> None:
        self.publishers = {IMAGE_TOPIC: transport.publisher(IMAGE_TOPIC, IMAGE, reliable=False, depth=1),
                           COMPRESSED_TOPIC: transport.publisher(COMPRESSED_TOPIC, COMPRESSED_IMAGE, reliable=False,
                                                                 depth=1)}
        self.sent = {topic: 0 for topic in self.publishers}

    def answered(self, recorder: Recorder, stamp: int, node: subprocess.Popen, timeout: float = 120) -> bool:
        deadline = time.monotonic() + timeout
        assert wait_for(lambda: all(p.subscription_count() for p in self.publishers.values()), timeout)
        while time.monotonic() < deadline:
            waiting = [t for t in self.publishers if stamp not in recorder.stamps(MASKS[t])]
            if not waiting:
                return True
            assert node.poll() is None, "the node ended"
            for topic in waiting:
                self.publishers[topic].publish(good_frame(topic, stamp))
                self.sent[topic] += 1
            wait_for(lambda: all(stamp in recorder.stamps(MASKS[t]) for t in waiting), 2)
        return False


def settled(recorder: Recorder, reports_before: int) -> bool:
    """A report made after the good frames were answered (two later, as topics are not ordered)
    shows every frame that reached the node in its final count."""
    figures = recorder.latest_diagnostics()
    return (recorder.count("/diagnostics") > reports_before + 1 and len(figures) == 2
            and all(v["frames_pending"] == "0" for v in figures.values()))


def test_a_hostile_burst_leaves_the_node_alive_quiet_and_counting(checkpoint, tmp_path):
    ensure_cyclonedds_uri()
    domain = 201 + os.getpid() % 30  # apart from test_node_dds's domains 1..200
    params = {"checkpoint": str(checkpoint), "image_topics": [IMAGE_TOPIC],
              "compressed_image_topics": [COMPRESSED_TOPIC], "steps": 1, "diagnostics_period": 0.5, "warn_period": 60.0}
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump({"segment_node": {"ros__parameters": params}}))
    log_path = tmp_path / "node.log"
    with DdsTransport(domain) as transport, open(log_path, "w") as log:
        recorder = Recorder(transport, {**{mask: IMAGE for mask in MASKS.values()}, "/diagnostics": DIAGNOSTICS})
        node = subprocess.Popen([sys.executable, "-m", "cicld_ros.node", "--transport", "dds", "--params-file",
                                 str(params_path), "--domain-id", str(domain), "--duration", "900"], cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"OMP_NUM_THREADS": "1"})
        try:
            camera = GoodCamera(transport)
            assert camera.answered(recorder, 100, node), log_path.read_text()[-3000:]
            memory_before = rss_kib(node.pid)
            fuzzer = subprocess.run([sys.executable, str(REPO / "test/helpers/dds_fuzzer.py"), "--domain", str(domain),
                                     "--image-topic", IMAGE_TOPIC, "--compressed-topic", COMPRESSED_TOPIC,
                                     "--count", str(PER_KIND)], cwd=REPO, capture_output=True, text=True, timeout=600)
            assert fuzzer.returncode == 0, fuzzer.stderr[-3000:]
            sent = json.loads(fuzzer.stdout)
            assert node.poll() is None, log_path.read_text()[-3000:]
            assert camera.answered(recorder, 200, node), "no answer to a good frame after the burst"
            memory_after = rss_kib(node.pid)
            reports_before = recorder.count("/diagnostics")
            assert wait_for(lambda: settled(recorder, reports_before), 60), recorder.latest_diagnostics()
            figures = recorder.latest_diagnostics()
        finally:
            node.terminate()
            node.wait(60)
    log_text = log_path.read_text()
    assert node.returncode == 0 and "Traceback" not in log_text, log_text[-3000:]
    assert all(written + refused == PER_KIND for _, written, refused in sent.values()), sent
    # Cyclone's writer refuses CDR that does not fit the type; whatever fits it must be written
    assert {kind for kind, (_, written, _) in sent.items() if not written} <= {"big_endian_garbage", "truncated_cdr"}
    assert memory_after - memory_before < 100 * 1024, f"RSS grew by {(memory_after - memory_before) / 1024:.0f} MiB"
    for topic, values in figures.items():
        counts = {k: int(float(v)) for k, v in values.items() if k.startswith(("frames_", "bad_input", "errors",
                                                                             "skipped", "samples_"))}
        sent_here = sum(written for t, written, _ in sent.values() if t == topic) + camera.sent[topic]
        # every frame that reached the node ended in exactly one count
        assert counts["frames_pending"] == 0 and counts["errors"] == 0, counts
        assert counts["frames_in"] == (counts["frames_out"] + counts["frames_dropped"] + counts["bad_inputs"]
                                       + counts["skipped_no_subscribers"]), counts
        assert counts["bad_inputs"] == sum(n for k, n in counts.items() if k.startswith("bad_input.")), counts
        assert counts["frames_in"] + counts["samples_lost"] + counts["samples_rejected"] <= sent_here, counts
        assert {k.removeprefix("bad_input.") for k in counts if k.startswith("bad_input.")} >= REASONS[topic], counts
    # one line per kind of problem and camera per warn_period, not one per frame
    warnings = [line for line in log_text.splitlines() if "WARNING" in line]
    assert len(warnings) < 50, f"{len(warnings)} warning lines:\n" + "\n".join(warnings[:60])

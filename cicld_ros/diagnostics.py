"""What the node measures about itself, for /diagnostics and the log.

Per camera: processing time and latency (now - header.stamp) percentiles over a sliding
window, input and output rates, dropped frames, malformed inputs by reason, frames not
computed because nobody subscribes. Warnings are rate-limited per (topic, reason).
"""
from __future__ import annotations

import collections
import threading
import time

import numpy as np

from .messages import DiagnosticArray, DiagnosticStatus, Header, KeyValue, Time

WINDOW = 200


class CameraStats:
    def __init__(self) -> None:
        self.processing_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.outputs = 0
        self.bad_inputs: collections.Counter[str] = collections.Counter()
        self.skipped_no_subscribers = 0
        self.errors = 0


def percentile(values, q: float) -> float:
    return float(np.percentile(np.fromiter(values, float), q)) if values else float("nan")


class NodeDiagnostics:
    def __init__(self, cameras: list[str], warn_period: float, log) -> None:
        self.cameras = {c: CameraStats() for c in cameras}
        self.warn_period, self.log = warn_period, log
        self._last_warning: dict[tuple[str, str], float] = {}
        self._suppressed: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()
        self._rate_marks: dict[str, tuple[float, int, int]] = {}

    def warn(self, topic: str, reason: str, message: str) -> None:
        """Log at most once per warn_period for each (topic, reason), saying how many were held back."""
        key, now = (topic, reason), time.monotonic()
        with self._lock:
            if now - self._last_warning.get(key, -1e9) < self.warn_period:
                self._suppressed[key] += 1
                return
            self._last_warning[key] = now
            held_back = self._suppressed.pop(key, 0)
        self.log.warning(f"{topic}: {message}" + (f" ({held_back} more like this since the last warning)"
                                                  if held_back else ""))

    def bad_input(self, camera: str, topic: str, reason: str, message: str) -> None:
        with self._lock:
            self.cameras[camera].bad_inputs[reason] += 1
        self.warn(topic, reason, f"frame skipped: {message}")

    def processed(self, camera: str, processing_ms: float, latency_ms: float) -> None:
        with self._lock:
            stats = self.cameras[camera]
            stats.processing_ms.append(processing_ms)
            stats.latency_ms.append(latency_ms)
            stats.outputs += 1

    def snapshot(self, received: dict[str, int], dropped: dict[str, int]) -> dict[str, dict[str, float]]:
        """Figures per camera; rates are over the time since the previous snapshot."""
        now, figures = time.monotonic(), {}
        with self._lock:
            for camera, stats in self.cameras.items():
                last_time, last_in, last_out = self._rate_marks.get(camera, (now, received[camera], stats.outputs))
                span = max(now - last_time, 1e-9)
                figures[camera] = {
                    "input_hz": (received[camera] - last_in) / span if span > 1e-6 else 0.0,
                    "output_hz": (stats.outputs - last_out) / span if span > 1e-6 else 0.0,
                    "processing_ms_p50": percentile(stats.processing_ms, 50),
                    "processing_ms_p99": percentile(stats.processing_ms, 99),
                    "latency_ms_p50": percentile(stats.latency_ms, 50),
                    "latency_ms_p99": percentile(stats.latency_ms, 99),
                    "frames_in": received[camera], "frames_out": stats.outputs, "frames_dropped": dropped[camera],
                    "bad_inputs": sum(stats.bad_inputs.values()),
                    "skipped_no_subscribers": stats.skipped_no_subscribers, "errors": stats.errors,
                    **{f"bad_input.{reason}": n for reason, n in stats.bad_inputs.items()},
                }
                self._rate_marks[camera] = (now, received[camera], stats.outputs)
        return figures

    @staticmethod
    def to_message(figures: dict[str, dict[str, float]], node_name: str, now: float) -> DiagnosticArray:
        statuses = []
        for camera, values in figures.items():
            problems = values["bad_inputs"] + values["errors"]
            level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
            message = f"{values['output_hz']:.1f} Hz out, latency p50 {values['latency_ms_p50']:.1f} ms"
            statuses.append(DiagnosticStatus(
                level=level, name=f"{node_name}: {camera}", message=message, hardware_id=camera,
                values=[KeyValue(k, f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in values.items()]))
        return DiagnosticArray(header=Header(stamp=Time.from_seconds(now)), status=statuses)

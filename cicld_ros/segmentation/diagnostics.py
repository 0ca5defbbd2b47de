"""
What the node measures about itself, for /diagnostics and the log.

Every frame a camera's subscription takes ends in exactly one count: processed,
dropped (replaced in a latest-frame slot before it was used), skipped (nobody subscribes
to its outputs), malformed by reason (the transport's undecodable CDR included) or an
error; frames between arrival and one of these are pending. Samples Cyclone reports lost
or rejected never reach the node and are counted beside these. Per camera there are also
processing time and latency (now - header.stamp) percentiles over a sliding window and
input and output rates. A camera is at WARN while it had problems in the last few
reports, not for the rest of the run. Where the transport counts the datagrams the
kernel dropped (fragments of frames Cyclone never saw), a status of its own reports them.
Warnings are rate-limited per (topic, reason).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..messages.records import DiagnosticArray, DiagnosticStatus, Header, KeyValue, Time

WINDOW = 200
RATE_WINDOW = 10.0  # s the input and output rates are measured over (a 0.5 Hz camera reads 0.5)
RECENT_REPORTS = 10  # the status level looks back this many diagnostics periods
TRANSPORT_COUNTS = ("malformed", "lost", "rejected")


@dataclass
class CameraStats:
    processing_ms: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=WINDOW)
    )
    latency_ms: collections.deque = field(default_factory=lambda: collections.deque(maxlen=WINDOW))
    received: int = 0
    outputs: int = 0
    dropped: int = 0
    skipped_no_subscribers: int = 0
    errors: int = 0
    bad_inputs: collections.Counter = field(default_factory=collections.Counter)
    # what was worked around without losing the message (NaN points labelled 255): reported, never
    # a problem
    notes: collections.Counter = field(default_factory=collections.Counter)
    # problem totals of the last reports, for the level over a recent window
    problem_history: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_REPORTS + 1)
    )


def percentile(values, q: float) -> float:
    return float(np.percentile(np.fromiter(values, float), q)) if values else float("nan")


def transport_counts(subscription: Any) -> dict[str, Any]:
    """
    Return the counts a subscription object keeps, if its transport keeps them.

    rclpy's does not. The malformed samples are counted by reason under "reasons".
    """
    counts: dict[str, Any] = {
        name: int(getattr(subscription, name, 0) or 0) for name in TRANSPORT_COUNTS
    }
    counts["reasons"] = dict(getattr(subscription, "malformed_reasons", None) or {})
    return counts


class NodeDiagnostics:
    def __init__(self, cameras: list[str], warn_period: float, log) -> None:
        self.cameras = {c: CameraStats() for c in cameras}
        self.warn_period, self.log = warn_period, log
        self._last_warning: dict[tuple[str, str], float] = {}
        self._suppressed: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()
        # (time, frames in, frames out) of the reports within RATE_WINDOW, per camera
        self._rate_marks: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._drop_history: collections.deque[int] = collections.deque(maxlen=RECENT_REPORTS + 1)

    def warn(self, topic: str, reason: str, message: str) -> None:
        """
        Log at most once per warn_period for each (topic, reason).

        The message says how many were held back.
        """
        key, now = (topic, reason), time.monotonic()
        with self._lock:
            if now - self._last_warning.get(key, -1e9) < self.warn_period:
                self._suppressed[key] += 1
                return
            self._last_warning[key] = now
            held_back = self._suppressed.pop(key, 0)
        self.log.warning(
            f"{topic}: {message}"
            + (f" ({held_back} more like this since the last warning)" if held_back else "")
        )

    def count(self, camera: str, outcome: str, n: int = 1) -> None:
        """Add to one of the counts: received, dropped, skipped_no_subscribers or errors."""
        with self._lock:
            stats = self.cameras[camera]
            setattr(stats, outcome, getattr(stats, outcome) + n)

    def bad_input(self, camera: str, reason: str, message: str) -> None:
        with self._lock:
            self.cameras[camera].bad_inputs[reason] += 1
        self.warn(camera, reason, f"frame skipped: {message}")

    def note(self, camera: str, key: str, n: int, message: str) -> None:
        """
        Count something worked around and warn, rate-limited.

        It is reported as note.<key>, not as a problem.
        """
        with self._lock:
            self.cameras[camera].notes[key] += n
        self.warn(camera, key, message)

    def processed(self, camera: str, processing_ms: float, latency_ms: float) -> None:
        with self._lock:
            stats = self.cameras[camera]
            stats.processing_ms.append(processing_ms)
            stats.latency_ms.append(latency_ms)
            stats.outputs += 1

    def snapshot(
        self, transport: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, dict[str, float]]:
        """
        Return the figures per camera.

        Rates are over the last RATE_WINDOW seconds of snapshots, ``recent_problems`` over the
        last RECENT_REPORTS snapshots. ``transport`` holds each camera's subscription counts
        (malformed, lost, rejected).
        """
        now, figures = time.monotonic(), {}
        with self._lock:
            for camera, stats in self.cameras.items():
                carried = (
                    dict.fromkeys(TRANSPORT_COUNTS, 0)
                    | {"reasons": {}}
                    | (transport or {}).get(camera, {})
                )
                frames_in = stats.received + carried["malformed"]
                node_bad = sum(stats.bad_inputs.values())
                settled = (
                    stats.outputs
                    + stats.dropped
                    + stats.skipped_no_subscribers
                    + node_bad
                    + stats.errors
                )
                problems = (
                    node_bad
                    + carried["malformed"]
                    + stats.errors
                    + carried["lost"]
                    + carried["rejected"]
                )
                stats.problem_history.append(problems)
                marks = self._rate_marks[camera]
                marks.append((now, frames_in, stats.outputs))
                while len(marks) > 2 and now - marks[1][0] >= RATE_WINDOW:
                    marks.popleft()
                last_time, last_in, last_out = marks[0]
                span = now - last_time
                figures[camera] = {
                    "input_hz": (frames_in - last_in) / span if span > 1e-6 else 0.0,
                    "output_hz": (stats.outputs - last_out) / span if span > 1e-6 else 0.0,
                    "processing_ms_p50": percentile(stats.processing_ms, 50),
                    "processing_ms_p99": percentile(stats.processing_ms, 99),
                    "latency_ms_p50": percentile(stats.latency_ms, 50),
                    "latency_ms_p99": percentile(stats.latency_ms, 99),
                    "frames_in": frames_in,
                    "frames_out": stats.outputs,
                    "frames_dropped": stats.dropped,
                    "frames_pending": stats.received - settled,
                    "skipped_no_subscribers": stats.skipped_no_subscribers,
                    "bad_inputs": node_bad + carried["malformed"],
                    "errors": stats.errors,
                    "samples_lost": carried["lost"],
                    "samples_rejected": carried["rejected"],
                    "recent_problems": (
                        problems - stats.problem_history[0]
                        if len(stats.problem_history) > 1
                        else problems
                    ),
                    **{f"bad_input.{reason}": n for reason, n in sorted(stats.bad_inputs.items())},
                    **{f"note.{key}": n for key, n in sorted(stats.notes.items())},
                    **({"bad_input.cdr": carried["malformed"]} if carried["malformed"] else {}),
                    **{f"cdr.{reason}": n for reason, n in sorted(carried["reasons"].items())},
                }
        return figures

    def socket_figures(self, drops: int) -> dict[str, int]:
        """
        Return the transport's dropped datagrams.

        In all and over the last RECENT_REPORTS reports.
        """
        self._drop_history.append(drops)
        return {"socket_drops": drops, "recent_socket_drops": drops - self._drop_history[0]}

    @staticmethod
    def to_message(figures: dict[str, dict[str, float]], node_name: str, now: float,
                   sockets: dict[str, int] | None = None, active: bool = True) -> DiagnosticArray:
        """
        Return one status per camera, and one for the transport's sockets where it counts them.

        While the node is not active each camera is at WARN saying so.
        """
        statuses = []
        if sockets is not None:
            recent = sockets["recent_socket_drops"]
            message = (
                f"the kernel dropped {recent} datagrams (parts of frames) in the last "
                f"{RECENT_REPORTS} "
                f"reports: raise Cyclone's SocketReceiveBufferSize"
                if recent
                else "no datagrams dropped"
            )
            statuses.append(
                DiagnosticStatus(
                    level=DiagnosticStatus.WARN if recent else DiagnosticStatus.OK,
                    name=f"{node_name}: transport",
                    message=message,
                    hardware_id="transport",
                    values=[KeyValue(k, str(v)) for k, v in sockets.items()],
                )
            )
        for camera, values in figures.items():
            recent = values["recent_problems"]
            level = DiagnosticStatus.WARN if recent or not active else DiagnosticStatus.OK
            latency = values["latency_ms_p50"]
            message = f"{values['output_hz']:.1f} Hz out, latency p50 " + (
                f"{latency:.1f} ms" if np.isfinite(latency) else "- (no frame yet)"
            )
            if not active:
                message = "inactive: not segmenting (lifecycle state inactive; activate it)"
            elif recent:
                message += (
                    f"; {recent} malformed, lost or failed frames in the last "
                    f"{RECENT_REPORTS} reports"
                )
            statuses.append(
                DiagnosticStatus(
                    level=level,
                    name=f"{node_name}: {camera}",
                    message=message,
                    hardware_id=camera,
                    values=[KeyValue("active", str(active).lower())] + [
                        KeyValue(k, f"{v:.2f}" if isinstance(v, float) else str(v))
                        for k, v in values.items()
                    ],
                )
            )
        return DiagnosticArray(header=Header(stamp=Time.from_seconds(now)), status=statuses)

"""One slot per camera holding only its newest frame.

Callbacks put frames in; the worker takes every occupied slot at once. A frame replaced
before the worker took it is counted as dropped: a slow model never builds a queue, it
just skips to the newest frame.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Arrival:
    camera: str
    msg: Any
    received: float  # wall time of arrival, seconds


class LatestFrames:
    def __init__(self, cameras: list[str]) -> None:
        self._slots: dict[str, Arrival | None] = {c: None for c in cameras}
        self._cond = threading.Condition()
        self.received = {c: 0 for c in cameras}
        self.dropped = {c: 0 for c in cameras}
        self._closed = False

    def put(self, camera: str, msg: Any) -> None:
        with self._cond:
            if self._slots[camera] is not None:
                self.dropped[camera] += 1
            self._slots[camera] = Arrival(camera, msg, time.time())
            self.received[camera] += 1
            self._cond.notify()

    def take_all(self, timeout: float) -> list[Arrival]:
        """Every newest frame waiting (oldest arrival first); [] after ``timeout`` or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or any(s is not None for s in self._slots.values()), timeout)
            taken = [s for s in self._slots.values() if s is not None]
            for camera in self._slots:
                self._slots[camera] = None
        return sorted(taken, key=lambda a: a.received)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

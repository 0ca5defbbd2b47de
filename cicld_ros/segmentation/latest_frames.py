"""
One slot per camera holding only its newest frame.

Callbacks put frames in; a consumer takes one camera's slot or every occupied slot at
once. ``put`` hands back the frame it replaced, which the caller counts as dropped: a
slow model never builds a queue, it just skips to the newest frame.
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
        self._slots: dict[str, Arrival | None] = dict.fromkeys(cameras)
        self._cond = threading.Condition()
        self._closed = False

    def put(self, camera: str, msg: Any) -> Arrival | None:
        """Store ``msg`` as the camera's newest frame; returns the frame it replaced, if any."""
        with self._cond:
            replaced = self._slots[camera]
            self._slots[camera] = Arrival(camera, msg, time.time())
            self._cond.notify_all()
        return replaced

    def take(self, camera: str, timeout: float) -> Arrival | None:
        """Return this camera's newest frame; None after ``timeout`` or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._slots[camera] is not None, timeout)
            taken, self._slots[camera] = self._slots[camera], None
        return taken

    def take_all(self, timeout: float) -> list[Arrival]:
        """
        Every newest frame waiting (oldest arrival first).

        [] after ``timeout`` or once closed.
        """
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or any(s is not None for s in self._slots.values()), timeout
            )
            taken = [s for s in self._slots.values() if s is not None]
            for camera in self._slots:
                self._slots[camera] = None
        return sorted(taken, key=lambda a: a.received)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """
        Empty and usable again (the node activated after a deactivate).

        Frames older than the activation are not segmented.
        """
        with self._cond:
            self._closed = False
            for camera in self._slots:
                self._slots[camera] = None

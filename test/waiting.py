"""Waiting for an event in a test: poll a condition until it holds or a generous deadline
passes, so a test waits exactly as long as the machine needs and never a fixed time."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], timeout: float, poll: float = 0.05) -> bool:
    """True as soon as ``condition()`` is truthy; False if it is still falsy after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return bool(condition())

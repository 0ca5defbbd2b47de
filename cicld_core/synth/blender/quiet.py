"""Silencing what Blender's C code prints: a progress line per render step on stdout, and on
``import bpy`` with numpy 2 a note that its audio module could not start (rendering is not
affected). Python's own streams are flushed first; the file descriptors are restored after."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager


@contextmanager
def _to_devnull(fd: int) -> Iterator[None]:
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


@contextmanager
def quiet_output(stderr: bool = False) -> Iterator[None]:
    """Send C-level stdout (and stderr, if asked) to /dev/null inside the block."""
    sys.stdout.flush()
    sys.stderr.flush()
    with ExitStack() as stack:
        stack.enter_context(_to_devnull(1))
        if stderr:
            stack.enter_context(_to_devnull(2))
        yield

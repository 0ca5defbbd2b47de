"""argparse value types shared by the command lines, so each says the same thing about bad input."""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable

from .sizes import check_size


def frame_size(text: str) -> tuple[int, int]:
    """'1024x512' -> (1024, 512), within the generator's size limits."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"must look like WIDTHxHEIGHT, e.g. 1024x512; got {text!r}")
    try:
        return check_size((int(match.group(1)), int(match.group(2))))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def fail(error: BaseException | str, status: int = 2) -> int:
    """Print the one ``error: ...`` line a command ends a failure with, and return its exit status
    (2: bad input, found before any work; 1: the work itself failed)."""
    print(f"error: {error}", file=sys.stderr)
    return status

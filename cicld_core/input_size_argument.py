"""The model's input size on a command line: one default for every command that runs a model.

A model is scored at the size its checkpoint records it was validated at, and the node
resizes camera frames to that size by default (input_width / input_height -1). Every command
that runs a model takes the same default, so evaluate, predict, replay (offline and live) and
the node give one answer for one model and one frame:

    add_input_size_argument(parser)
    args = parser.parse_args(argv)
    model, metadata = load_model(...)
    size = resolve_input_size(args.input_size, metadata)   # (width, height), or None: native

``--input-size WxH`` overrides; ``--input-size native`` runs each frame at its own size.
"""
from __future__ import annotations

import argparse
from typing import Any

from .cli_types import frame_size
from .model import checkpoint_input_size

NATIVE = "native"


def input_size_value(text: str) -> tuple[int, int] | str:
    """'256x192' -> (256, 192); 'native' stays 'native'."""
    if text.strip().lower() == NATIVE:
        return NATIVE
    return frame_size(text)


def add_input_size_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-size", type=input_size_value, default=None, metavar="WxH|native",
                        help="the size the model sees: each frame is resized to WxH and the prediction scaled "
                             "back to the frame; 'native' runs every frame at its own size (default: the size "
                             "the checkpoint records it was validated at, as the node's default; a checkpoint "
                             "that records none runs at each frame's own size)")


def resolve_input_size(requested: tuple[int, int] | str | None,
                       metadata: dict[str, Any]) -> tuple[int, int] | None:
    """(width, height) the model sees, or None for each frame's own size."""
    if requested == NATIVE:
        return None
    if requested is None:
        return checkpoint_input_size(metadata)
    return tuple(requested)


def input_size_record(size: tuple[int, int] | None) -> list[int] | str:
    """How a report writes the size a figure was measured at."""
    return list(size) if size is not None else NATIVE

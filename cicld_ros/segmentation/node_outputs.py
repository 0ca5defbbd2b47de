"""
The node's image outputs as one table.

For each, its topic name under ``<camera namespace>/<output_namespace>/``, the parameter that
switches it on, what produces its picture from a segmented frame, and how that picture becomes a
message.

Adding an output is one row here and its switch in NodeParams (and, for a new map from
the model, its field in the engine's result). Every output carries the input's header
unchanged: downstream synchronisation depends on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import numpy as np

from cicld_core import labels
from cicld_core.labels import PALETTE

from ..messages.image_codec import colour_image, mono8_image
from ..messages.records import Header, Image


@dataclass
class SegmentedFrame:
    """One frame's segmentation at the input's size, what the producers read."""

    rgb: np.ndarray  # (H, W, 3) uint8, the input
    train_ids: np.ndarray  # (H, W) uint8
    confidence: np.ndarray | None  # (H, W) float32 in 0..1, when the engine computed it
    uncertainty: np.ndarray | None  # (H, W) float32 in 0..1, with more than one noise sample
    overlay_alpha: float

    @cached_property
    def colour(self) -> np.ndarray:
        """Return the class colours, computed once for the colour mask and the overlay."""
        return PALETTE[self.train_ids]


def as_mono8(values: np.ndarray | None) -> np.ndarray | None:
    """Return a 0..1 map as 0..255 bytes."""
    return None if values is None else (values * 255).round().astype(np.uint8)


def overlay(frame: SegmentedFrame) -> np.ndarray:
    """
    Return the class colours blended onto the input.

    The one overlay of predict, replay and the node; ignored pixels keep the input's colour.
    """
    return labels.overlay(frame.rgb, frame.train_ids, frame.overlay_alpha, colour=frame.colour)


def mono8(header: Header, values: np.ndarray, color_encoding: str) -> Image:
    return mono8_image(header, values)


def colour(header: Header, rgb: np.ndarray, color_encoding: str) -> Image:
    return colour_image(header, rgb, color_encoding)


@dataclass(frozen=True)
class NodeOutput:
    name: str  # the topic's last name
    flag: str  # the NodeParams switch
    # None: nothing to publish for this frame
    produce: Callable[[SegmentedFrame], np.ndarray | None]
    # (header, picture, color_encoding) -> message
    encode: Callable[[Header, np.ndarray, str], Image]
    needs_confidence: bool = False  # the engine must compute the confidence map
    min_samples: int = 1  # noise samples per frame it needs

    def enabled(self, params: Any) -> bool:
        return bool(getattr(params, self.flag)) and params.num_samples >= self.min_samples


OUTPUTS: tuple[NodeOutput, ...] = (
    NodeOutput("class_mask", "publish_class_mask", lambda frame: frame.train_ids, mono8),
    NodeOutput("color_mask", "publish_color_mask", lambda frame: frame.colour, colour),
    NodeOutput("overlay", "publish_overlay", overlay, colour),
    NodeOutput(
        "confidence",
        "publish_confidence",
        lambda frame: as_mono8(frame.confidence),
        mono8,
        needs_confidence=True,
    ),
    NodeOutput(
        "uncertainty",
        "publish_uncertainty",
        lambda frame: as_mono8(frame.uncertainty),
        mono8,
        min_samples=2,
    ),
)

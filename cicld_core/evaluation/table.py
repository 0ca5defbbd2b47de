"""The per-class table the evaluate command prints: IoU per class, then mIoU, pixel accuracy and the image count."""
from __future__ import annotations

import math

from ..labels import CLASS_NAMES, PROTOCOLS
from ..metrics import ConfusionMatrix


def format_table(metric: ConfusionMatrix, protocol: int, images: int) -> str:
    """One line per class (IoU in %, '-' outside the protocol, 'n/a' when the class never
    occurs in truth or prediction), then mIoU, pixel accuracy and the image count."""
    iou = metric.iou()
    scored = set(PROTOCOLS[protocol])
    mean_label = f"mIoU ({protocol} classes)"
    width = max(len(mean_label), *(len(name) for name in CLASS_NAMES)) + 2
    lines = [f"{'class':<{width}}IoU %"]
    for class_id, name in enumerate(CLASS_NAMES[: metric.num_classes]):
        value = "-" if class_id not in scored else "n/a" if math.isnan(iou[class_id]) else f"{100 * iou[class_id]:.2f}"
        lines.append(f"{name:<{width}}{value}")
    lines.append("")
    lines.append(f"{mean_label:<{width}}{percent(metric.miou(protocol))}")
    lines.append(f"{'pixel accuracy':<{width}}{percent(metric.pixel_accuracy())}")
    lines.append(f"{'images':<{width}}{images}")
    return "\n".join(lines)


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"

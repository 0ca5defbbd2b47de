"""The per-class table the evaluate command prints: IoU per class, then mIoU, pixel accuracy and the image count."""
from __future__ import annotations

import math

from ..labels import CAMVID_CLASS_NAMES, CAMVID_PROTOCOL, CLASS_NAMES, PROTOCOLS
from ..metrics import ConfusionMatrix


def format_table(metric: ConfusionMatrix, protocol: int, images: int) -> str:
    """One line per class (IoU in %, '-' outside the protocol, 'n/a' when the class never
    occurs in truth or prediction), then mIoU, pixel accuracy and the image count. Protocol
    11 prints CamVid's classes, truth and prediction merged into them."""
    if protocol == CAMVID_PROTOCOL:
        metric, protocol, names, mean_label = metric.camvid(), None, CAMVID_CLASS_NAMES, "mIoU (CamVid 11 classes)"
        scored = set(range(len(names)))
    else:
        names, mean_label, scored = CLASS_NAMES, f"mIoU ({protocol} classes)", set(PROTOCOLS[protocol])
    iou = metric.iou()
    width = max(len(mean_label), *(len(name) for name in names)) + 2
    lines = [f"{'class':<{width}}IoU %"]
    for class_id, name in enumerate(names[: metric.num_classes]):
        value = "-" if class_id not in scored else "n/a" if math.isnan(iou[class_id]) else f"{100 * iou[class_id]:.2f}"
        lines.append(f"{name:<{width}}{value}")
    lines.append("")
    lines.append(f"{mean_label:<{width}}{percent(metric.miou(protocol))}")
    lines.append(f"{'pixel accuracy':<{width}}{percent(metric.pixel_accuracy())}")
    lines.append(f"{'images':<{width}}{images}")
    return "\n".join(lines)


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"

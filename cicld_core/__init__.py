"""CICLD core: model, training, data and metrics. Never imports ROS.

What the other layers (the node, the commands, the benchmarks) use is importable from here and
from the subpackage that owns it: ``cicld_core.model`` (SamplingOptions, segment, segment_rgb,
SegmentationEngine, EngineOptions, load_model, ...), ``cicld_core.evaluation`` (evaluate_model),
``cicld_core.data`` (build_dataset) and ``cicld_core.metrics`` (ConfusionMatrix). They load on first
use, so ``import cicld_core`` alone does not import torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

PUBLIC = {  # name -> the subpackage that defines it
    **dict.fromkeys(("SamplingOptions", "Segmentation", "segment", "segment_rgb", "SegmentationEngine",
                     "EngineOptions", "load_model", "save_model", "CheckpointError", "CICLD", "ModelConfig"),
                    "model"),
    "evaluate_model": "evaluation", "eval_transform": "evaluation",
    "build_dataset": "data", "ConfusionMatrix": "metrics",
}


def __getattr__(name: str):
    if name in PUBLIC:
        return getattr(importlib.import_module(f".{PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *PUBLIC]

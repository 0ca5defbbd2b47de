"""Score a CICLD model on a labelled dataset: one confusion matrix over the whole split.

    dataset = build_dataset("cityscapes", root, "val", transform=eval_transform(model.config))
    metric = evaluate_model(model, dataset, SamplingOptions(steps=1, strength=0.25))
    print(metric.summary(protocol=19)["miou"])

Images go through the model one at a time at their own size, so any resolution works
and the prediction comes back at exactly the label's resolution. Each image is read as
uint8 pixels and normalised by ``segment_rgb``, as the node, predict and replay do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..data.transforms import SegTransformConfig
from ..metrics import ConfusionMatrix
from ..model import SamplingOptions, segment_rgb

if TYPE_CHECKING:
    from ..data.base import SegmentationDataset
    from ..model import CICLD, ModelConfig


def eval_transform(model_config: "ModelConfig | None" = None) -> SegTransformConfig:
    """The transform of a dataset built for evaluation: no flip, no crop, no resize, only normalisation.

    evaluate_model reads each image's raw pixels and normalises them with segment_rgb; this
    transform makes the dataset's own tensors (``dataset[i]``) match the model too. It
    normalises 0..255 pixels while the model config stores 0..1 statistics, so the model's mean
    and std are scaled by 255 here; without a config the ImageNet default (the same numbers
    both sides use) is kept.
    """
    if model_config is None:
        return SegTransformConfig.no_augmentation()
    return SegTransformConfig.no_augmentation(**model_config.normalisation_255())


def check_dataset(model: "CICLD", dataset: "SegmentationDataset") -> None:
    """Refuse datasets whose scores would be silently wrong, not just imprecise."""
    if not dataset.has_labels:
        raise ValueError(f"{getattr(dataset, 'display_name', 'dataset')} under {getattr(dataset, 'root', '?')} "
                         "has no labels; evaluation needs ground truth")
    transform = getattr(dataset, "transform_config", None)
    if transform is None:
        return
    if transform.flip_prob > 0 or transform.crop_size is not None:
        raise ValueError("the dataset's transform augments (flip or random crop); evaluation needs whole, "
                         "unflipped images: build it with transform=eval_transform()")
    if transform.resize is not None or transform.scale is not None:
        raise ValueError("the dataset's transform resizes; evaluation scores each image at its label's own "
                         "resolution: build it with transform=eval_transform()")
    expected = eval_transform(model.config)
    if not (np.allclose(transform.mean, expected.mean, rtol=1e-4)
            and np.allclose(transform.std, expected.std, rtol=1e-4)):
        raise ValueError(f"the dataset normalises with mean {transform.mean} / std {transform.std} (0..255 scale) "
                         f"but the model expects mean {model.config.mean} / std {model.config.std} (0..1 scale); "
                         "build the dataset with transform=eval_transform(model.config)")


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def same_device(a: torch.device, b: torch.device) -> bool:
    # torch.device("cuda") has no index while the model's parameters sit on "cuda:0"
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


@torch.no_grad()
def evaluate_model(model: "CICLD", dataset: "SegmentationDataset", options: SamplingOptions | None = None,
                   device: torch.device | str = "cpu", progress: bool = True, max_images: int | None = None,
                   input_size: tuple[int, int] | None = None, **changes: object) -> ConfusionMatrix:
    """Segment the first ``max_images`` images (all when None) with ``options`` (SamplingOptions'
    defaults when None; keyword ``changes`` such as steps=2 replace single ones) and count them
    against the labels.

    Every image is denoised with the same seed, so an image's score does not depend on which
    images come before it or on ``max_images``. The model must already be on ``device``; it
    runs in eval mode and gets its previous mode back afterwards.

    ``input_size`` (width, height): the model sees each image resized to it, as a camera
    node with that input size would, and the prediction is scaled back (nearest) to the
    label's resolution, where it is scored. None: the model sees the label's resolution.
    """
    check_dataset(model, dataset)
    # fail before the first image, not after loading it
    options = (options or SamplingOptions()).replace(**changes).validate(model.config.num_train_timesteps)
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be at least 1 or None, got {max_images!r}")
    device = torch.device(device)
    if not same_device(model_device(model), device):
        raise ValueError(f"the model is on {model_device(model)} but device is {device}; move it first")
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    metric = ConfusionMatrix(num_classes=model.config.num_classes)
    was_training = model.training
    model.eval()
    try:
        for index in tqdm(range(count), desc="evaluating", unit="image", disable=not progress):
            rgb, label = dataset.load_raw(index)
            metric.update(segment_at_size(model, rgb, options, device, input_size), label)
    finally:
        model.train(was_training)
    return metric


def segment_at_size(model: "CICLD", rgb: np.ndarray, options: SamplingOptions, device: torch.device | str,
                    input_size: tuple[int, int] | None = None) -> np.ndarray:
    """trainIds (H, W) uint8 of one RGB image at its own size; with ``input_size`` (width,
    height) the model sees the image resized to it (area) and the prediction is scaled back
    (nearest), as a node whose model input size differs from its camera's does."""
    return segment_at_size_with_uncertainty(model, rgb, options, device, input_size)[0]


def segment_at_size_with_uncertainty(model: "CICLD", rgb: np.ndarray, options: SamplingOptions,
                                     device: torch.device | str, input_size: tuple[int, int] | None = None,
                                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """As segment_at_size, plus the noise samples' disagreement (H, W) in [0, 1] when
    ``options.num_samples`` is above 1 (else None), scaled back like the prediction (linear)."""
    height, width = rgb.shape[:2]
    resized = input_size is not None and tuple(input_size) != (width, height)
    seen = cv2.resize(rgb, tuple(input_size), interpolation=cv2.INTER_AREA) if resized else rgb
    result = segment_rgb(model, seen, options, device)
    train_ids = result.train_ids[0].cpu().numpy().astype(np.uint8)
    uncertainty = result.uncertainty[0].float().cpu().numpy() if result.uncertainty is not None else None
    if resized:
        train_ids = cv2.resize(train_ids, (width, height), interpolation=cv2.INTER_NEAREST)
        if uncertainty is not None:
            uncertainty = cv2.resize(uncertainty, (width, height), interpolation=cv2.INTER_LINEAR)
    return train_ids, uncertainty


__all__ = ["check_dataset", "eval_transform", "evaluate_model", "segment_at_size", "segment_at_size_with_uncertainty"]

"""The smallest CICLD model the tests use: every module present, a few thousand weights."""
from __future__ import annotations

TINY = dict(cnn_widths=(8, 8, 16, 16), cnn_depths=(1, 1, 1, 1), latent_channels=8, decoder_channels=8,
            skip_channels=8, unet_channels=(8, 16), mask_hidden_channels=8, discriminator_channels=(8, 16),
            discriminator_hidden=32, norm_groups=4)


def tiny_overrides() -> list[str]:
    """The same model as ``--set model.<key>=<value>`` overrides of a training config."""
    return [f"model.{key}={list(value) if isinstance(value, tuple) else value}".replace(" ", "")
            for key, value in TINY.items()]

"""The smallest CICLD model the tests use (every module present, a few thousand weights), and
the shortest training run of it on the ``synth_root`` data."""
from __future__ import annotations

TINY = dict(cnn_widths=(8, 8, 16, 16), cnn_depths=(1, 1, 1, 1), latent_channels=8, decoder_channels=8,
            skip_channels=8, unet_channels=(8, 16), mask_hidden_channels=8, discriminator_channels=(8, 16),
            discriminator_hidden=32, norm_groups=4)


def tiny_overrides() -> list[str]:
    """The same model as ``--set model.<key>=<value>`` overrides of a training config."""
    return [f"model.{key}={list(value) if isinstance(value, tuple) else value}".replace(" ", "")
            for key, value in TINY.items()]


# train/uda.py --set overrides for a 4-iteration run on the 64x32 frames of ``synth_root``
TINY_RUN = ["data.crop_size=[32,64]", "data.rcs_min_pixels=4", "run.iters=4", "run.batch_size=2",
            "run.log_interval=2", "run.eval_interval=4", "run.checkpoint_interval=4", "run.eval_steps=1",
            "run.threads=1", "optim.warmup_iters=2"]

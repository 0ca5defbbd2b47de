"""Start an adaptation run from a model trained before it (``run.init_checkpoint``).

The paper pre-trains E and D on the source and the diffusion part on the source's latents, then
adapts. One source-only run can be that pre-training for every row of a table, DACS included:
every row then starts from the same weights and differs only in what adaptation does.
The student and the EMA teacher both start from the checkpoint's scored weights (its ``model``
group: the EMA weights of a training run, or a shipped model). The domain discriminator is the
one part a source-only run never trains, and its shape depends on ``uda.adversarial``; when
the file's does not fit it keeps its fresh initialisation.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..model.checkpoint import (
    MODEL_GROUP, CheckpointError, check_state_fits, differing_config_keys, group, load_checkpoint,
)
from ..model.cicld import CICLD

log = logging.getLogger(__name__)

DISCRIMINATOR_PREFIX = "discriminator."


def load_warm_start(model: CICLD, path: str | Path) -> list[str]:
    """Load ``path``'s scored weights into ``model`` in place; returns the names of the tensors
    left at their initialisation (the discriminator's, when its shape differs)."""
    tensors, metadata = load_checkpoint(path, group_name=MODEL_GROUP)
    state = group(tensors, MODEL_GROUP)
    if not state:
        raise CheckpointError(f"run.init_checkpoint {path} holds no '{MODEL_GROUP}' weights")
    # the file's weights replace the backbone's; the discriminator's shape: see the module doc
    differing = differing_config_keys(model, metadata, frozenset({"backbone_weights", "num_domains"}))
    if differing:
        raise CheckpointError(f"run.init_checkpoint {path} was trained with a different model config "
                              f"({', '.join(differing)}); use the same model: section as the run that made it")
    own = model.state_dict()
    discriminator = [name for name in own if name.startswith(DISCRIMINATOR_PREFIX)]
    fits = all(name in state and state[name].shape == own[name].shape for name in discriminator)
    kept = [] if fits else discriminator
    state = {name: value for name, value in state.items() if name not in kept}
    check_state_fits(model, state | {name: own[name] for name in kept}, f"run.init_checkpoint {path}")
    model.load_state_dict(state | {name: own[name] for name in kept})
    if kept:
        log.info("warm start from %s: the discriminator (%d tensors) does not fit and starts fresh", path, len(kept))
    return kept

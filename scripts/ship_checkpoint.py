"""Make a training run's checkpoint a shippable one: only the scored (EMA) weights, the input
size the run evaluated at, and a provenance whose machine paths are replaced by placeholders.

    python scripts/ship_checkpoint.py runs/uda_table_blender/dacs_s0/latest.safetensors \
        checkpoints/cicld_camvid.safetensors --replace /data/camvid=CAMVID_DIR \
        --replace /work/runs/blender_camvid=data/blender_camvid --note "sim-to-real table, row dacs, seed 0"

A run's latest.safetensors also holds the optimizer, the student and the random state (four times
the size); a shipped file holds the model group alone, which is what load_model reads.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cicld_core.model import load_model
from cicld_core.model.checkpoint import CheckpointError, checkpoint_input_size, save_model


def replaced(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """``value`` (JSON-like) with every occurrence of each old string in its strings replaced."""
    text = json.dumps(value)
    for old, new in replacements:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return json.loads(text)


def parse_replacement(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW (a path and its placeholder), got {text!r}")
    return old, new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a run's latest.safetensors or best.safetensors")
    parser.add_argument("out", type=Path, help="the file to write (atomically)")
    parser.add_argument("--replace", type=parse_replacement, action="append", default=[], metavar="OLD=NEW",
                        help="replace OLD by NEW in the provenance (command, config): machine paths by placeholders")
    parser.add_argument("--note", default=None, help="the provenance's note: what the checkpoint is and its licence")
    args = parser.parse_args(argv)
    try:
        model, metadata = load_model(args.checkpoint)
    except (CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    provenance = replaced(metadata.get("provenance") or {}, args.replace)
    if args.note is not None:
        provenance["note"] = args.note
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(args.out, model, provenance=provenance, input_size=checkpoint_input_size(metadata))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): the model of {args.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Unsupervised domain adaptation with CICLD: ``python train/uda.py --config FILE``.

Trains on a labelled source (GTA5, Synthia, generated scenes) and an unlabelled target
(Cityscapes, your fleet's frames), evaluates the EMA model on the target validation split,
and writes to the work dir: ``latest.safetensors`` (whole state, for --resume),
``best.safetensors`` (the best EMA model, ready for the node), ``metrics.jsonl``,
``curves.png``, ``per_class_iou.png`` and ``report.md``.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from cicld_core.cli_types import fail
from cicld_core.io import DataError
from cicld_core.model import CheckpointError
from cicld_core.uda.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]  # runs/ is created beside train/

EPILOG = """\
examples:
  # the synthetic benchmark on CPU (data from python -m cicld_core.synth)
  python train/uda.py --config config/uda/synth_cicld.yaml --work-dir runs/synth_cicld
  # an ablation, and a longer run, from the same file
  python train/uda.py --config config/uda/synth_cicld.yaml --set model.conditioning=false --work-dir runs/no_cond
  # GTA5 -> Cityscapes on 4 GPUs (global batch = 4 x run.batch_size)
  torchrun --nproc_per_node 4 train/uda.py --config config/uda/gta5_to_cityscapes.yaml --work-dir runs/gta5_cs
  # continue after Ctrl-C, a crash or a pre-empted job
  python train/uda.py --config config/uda/gta5_to_cityscapes.yaml --work-dir runs/gta5_cs --resume

--set takes dotted keys of the config file; values are YAML (1e-4, [512, 512], null, false).

latest.safetensors is written every run.checkpoint_interval iterations and before every
evaluation. An evaluation that fails (e.g. a corrupt validation image) is logged, recorded in
metrics.jsonl as {"kind": "eval", "error": ...}, and training goes on.

exit status: 0 done; 1 training stopped with its state saved (a non-finite loss, an unreadable
training image) or an evaluation failed; 2 a bad config, dataset or checkpoint, found before the
first step (one "error: ..." line); 130 interrupted.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python train/uda.py", description=__doc__, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML (see config/uda/)")
    parser.add_argument("--work-dir", type=Path, help="output folder (default: runs/<config name>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set run.iters=2000 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from WORK_DIR/latest.safetensors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = shlex.join(["python", "train/uda.py", *(argv if argv is not None else sys.argv[1:])])
    try:
        config = load_config(args.config, args.overrides)
        work_dir = args.work_dir or REPO / "runs" / config.name
        if (work_dir / "latest.safetensors").exists() and not args.resume:
            raise ConfigError(f"{work_dir} already holds a run: add --resume to continue it, "
                              "or choose another --work-dir")
        from cicld_core.uda.trainer import Trainer, TrainingError

        trainer = Trainer(config, work_dir, resume=args.resume, command=command)
    except (ConfigError, DataError, CheckpointError, ValueError) as error:
        return fail(error)
    try:
        best = trainer.run()
    except TrainingError as error:
        return fail(error, status=1)
    except KeyboardInterrupt:
        return 130
    finally:
        from cicld_core.uda.distributed import shutdown

        shutdown(trainer.dist)
    if not trainer.dist.is_main:
        return 0
    if best["iter"] is not None:
        print(f"best target mIoU {best['miou']:.2f} at iteration {best['iter']}; report: {work_dir / 'report.md'}")
    if trainer.eval_failures:
        last = trainer.eval_failures[-1]
        return fail(f"{len(trainer.eval_failures)} evaluation(s) failed, the last at iteration {last['iter']}: "
                    f"{last['error']}; training finished and its state is in {work_dir / 'latest.safetensors'}: fix "
                    "the validation data, then score it with python -m cicld_core.evaluate --checkpoint "
                    f"{work_dir / 'latest.safetensors'}", status=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run under torchrun: train a few iterations, then check every rank holds the same weights.

    python -m torch.distributed.run --nproc_per_node 2 test/helpers/ddp_check.py CONFIG WORK_DIR RESULT_JSON KEY=VALUE...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cicld_core.uda.config import load_config  # noqa: E402
from cicld_core.uda.trainer import Trainer  # noqa: E402


def checksum(module: torch.nn.Module) -> torch.Tensor:
    return torch.stack([p.detach().double().sum() for p in module.state_dict().values() if p.is_floating_point()])


def main() -> None:
    config_path, work_dir, result_path, *overrides = sys.argv[1:]
    trainer = Trainer(load_config(config_path, overrides), Path(work_dir), command="ddp_check")
    trainer.run()
    sums = {name: checksum(module) for name, module in (("model", trainer.model), ("ema", trainer.ema_model))}
    agree = {}
    for name, local in sums.items():
        gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, local)
        agree[name] = all(torch.equal(gathered[0], g) for g in gathered[1:])
    if dist.get_rank() == 0:
        Path(result_path).write_text(json.dumps({"world_size": dist.get_world_size(), "agree": agree,
                                                 "iteration": trainer.iteration}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

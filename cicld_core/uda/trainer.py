"""The training loop: data, the iteration, EMA, evaluation, checkpoints, logs, signals."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from ..data import RareClassSampler, SegTransformConfig, build_dataset, load_or_compute_class_stats
from ..device import pick_device
from ..evaluation import evaluate_model, eval_transform
from ..io import DataError, atomic_path
from ..model import CICLD, CheckpointError, discriminator_step, save_model
from . import distributed as dist_utils
from .config import ExperimentConfig
from .data_stream import DrawnSamples, batch_stream
from .iteration import adaptation_losses, supervised_losses
from .optim import build_discriminator_optimizer, build_optimizer, build_scheduler
from .metrics_log import DIS_ACCURACY_PREFIX, best_eval_record, latest_per_iter, read_metrics
from .report_markdown import write_report
from .state import load_training_state, save_training_state
from .teacher import make_ema_model, update_ema
from .warm_start import load_warm_start

log = logging.getLogger(__name__)
LATEST, BEST, METRICS = "latest.safetensors", "best.safetensors", "metrics.jsonl"
ADAPTATION_MODES = ("cicld", "dacs")  # the modes that train on source and unlabelled target


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); the last good state was saved."""


def data_problem(error: BaseException) -> str:
    """The one line that names the file: a loader worker's error carries the worker's traceback
    in its message and the original error on the last line."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(error).__name__
    return lines[-1].split(": ", 1)[-1] if lines[-1].startswith(type(error).__module__) else lines[-1]


def training_device(name: str, info: dist_utils.DistInfo) -> torch.device:
    """The configured device; under torchrun each rank takes the GPU of its local rank."""
    device = pick_device(name)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank if info.enabled else (device.index or 0))
        torch.cuda.set_device(device)
    return device


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[setting]


class Trainer:
    def __init__(self, config: ExperimentConfig, work_dir: Path, resume: bool = False, command: str = "") -> None:
        self.config, self.work_dir, self.command = config, Path(work_dir), command
        run = config.run
        if run.threads:
            torch.set_num_threads(run.threads)
        self.dist = dist_utils.init_from_env("cuda" if run.device.startswith("cuda") or (
            run.device == "auto" and torch.cuda.is_available()) else "cpu")
        self.device = training_device(run.device, self.dist)
        self.amp = amp_dtype(run.amp, self.device)
        torch.manual_seed(run.seed)  # identical initial weights on every rank
        model_config = config.model_config()
        model_config.num_domains = 2 if config.uda.adversarial == "2class" else 3
        self.model = CICLD(model_config).to(self.device).train()
        if run.init_checkpoint and not resume:  # a resumed run reads its own state instead
            load_warm_start(self.model, run.init_checkpoint)
        self.ema_model = make_ema_model(self.model)
        self.optimizer = build_optimizer(self.model, config.optim)
        self.dis_optimizer = build_discriminator_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.optim, run.iters)
        self.dis_scheduler = build_scheduler(self.dis_optimizer, config.optim, run.iters)
        # rank-specific random streams: noise, ClassMix, augmentation
        seed = run.seed * 1000 + self.dist.rank
        self.cpu_generator = torch.Generator().manual_seed(seed)
        self.generator = (torch.Generator(device=self.device).manual_seed(seed + 1)
                          if self.device.type == "cuda" else self.cpu_generator)
        torch.manual_seed(seed + 2)  # dropout
        self.generators = {"cpu": self.cpu_generator} | ({"device": self.generator}
                                                           if self.generator is not self.cpu_generator else {})
        self.iteration, self.best = 0, {"miou": -1.0, "iter": None}
        self.eval_failures: list[dict[str, Any]] = []  # this process's failed evaluations: {"iter", "error"}
        self._saved_at: int | None = None
        self._build_data()
        if resume:
            self._resume()
        if self.dist.enabled:
            dist_utils.broadcast_module(self.model)
            dist_utils.broadcast_module(self.ema_model)
        self.stop_signal: int | None = None

    # -- set-up ---------------------------------------------------------------------------
    def _build_data(self) -> None:
        data, run = self.config.data, self.config.run
        train_streams = {"cicld": ("source", "target"), "dacs": ("source", "target"), "source_only": ("source",), "target_oracle": ("target",)}
        self.streams = {}
        for stream_id, name in enumerate(train_streams[self.config.uda.mode]):
            spec = getattr(data, name)
            resize = data.source_resize if name == "source" else data.target_resize
            transform = SegTransformConfig(resize=resize, crop_size=data.crop_size, cat_max_ratio=data.cat_max_ratio,
                                           **self.model.config.normalisation_255())
            dataset = build_dataset(spec.kind, spec.root, spec.split, transform=transform, seed=run.seed)
            labelled = name == "source" or self.config.uda.mode == "target_oracle"
            if labelled and not dataset.has_labels:
                raise DataError(f"data.{name} ({spec.kind} at {spec.root}) has no labels, and this run trains on them")
            rare_classes = None
            if labelled and data.rare_class_sampling:
                stats = load_or_compute_class_stats(dataset)
                scale = self._pixel_scale(dataset, resize)
                rare_classes = RareClassSampler(stats, num_samples=1, temperature=data.rcs_temperature,
                                                min_pixels=data.rcs_min_pixels, pixel_scale=scale, seed=run.seed)
            self.streams[name] = DrawnSamples(dataset, run.seed, self.dist.rank, stream_id, rare_classes)
        val = data.val
        self.val_dataset = build_dataset(val.kind, val.root, val.split, transform=eval_transform(self.model.config),
                                         seed=run.seed)
        if not self.val_dataset.has_labels:
            raise DataError(f"data.val ({val.kind} at {val.root}) has no labels: evaluation needs them")
        # what the scores are measured at, recorded in every checkpoint: the node, evaluate, predict and
        # replay resize to it by default, so they reproduce the scores this run reports
        self.input_size = run.eval_input_size or self.val_dataset.common_image_size(val.max_images)

    @staticmethod
    def _pixel_scale(dataset, resize: tuple[int, int] | None) -> float:
        """RCS's min_pixels is given for full-size images; scale it to the resized area."""
        if resize is None:
            return 1.0
        image, _ = dataset.load_raw(0)
        return resize[0] * resize[1] / (image.shape[0] * image.shape[1])

    def _resume(self) -> None:
        path = self.work_dir / LATEST
        if not path.is_file():
            raise CheckpointError(f"--resume: no {LATEST} in {self.work_dir} to continue from")
        training = load_training_state(
            path, model=self.model, ema_model=self.ema_model, optimizer=self.optimizer,
            dis_optimizer=self.dis_optimizer, scheduler=self.scheduler, dis_scheduler=self.dis_scheduler,
            generators=self.generators)
        self.iteration, self.best = training["iteration"], training["best"]
        self._fold_in_logged_evaluations()
        if self.dist.is_main:
            log.info("resumed from %s at iteration %d", path, self.iteration)

    def _fold_in_logged_evaluations(self) -> None:
        """The state is saved before its iteration is evaluated, so its ``best`` lacks that score;
        metrics.jsonl has it. Later records (a run that went past this checkpoint) do not count."""
        path = self.work_dir / METRICS
        if not path.is_file():
            return
        _, evals = read_metrics(path)
        logged = best_eval_record(latest_per_iter(r for r in evals if r["iter"] <= self.iteration))
        if logged is not None and logged["miou"] > self.best["miou"]:
            self.best = {"miou": logged["miou"], "iter": logged["iter"]}

    # -- one iteration --------------------------------------------------------------------
    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp)

    def train_step(self, batches: dict[str, dict[str, Any]]) -> dict[str, float]:
        cfg, model = self.config.uda, self.model
        to = lambda x: x.to(self.device, non_blocking=True)  # noqa: E731
        with self._autocast():
            if cfg.mode in ADAPTATION_MODES:
                losses = adaptation_losses(
                    model, self.ema_model, to(batches["source"]["image"]), to(batches["source"]["label"]),
                    to(batches["target"]["image"]), cfg, model.config.mean, model.config.std,
                    self.generator, self.cpu_generator)
            else:
                stream = batches["source" if cfg.mode == "source_only" else "target"]
                losses = supervised_losses(model, to(stream["image"]), to(stream["label"]), cfg, self.generator)
        values = {f"loss/{name}": term.item() for name, term in losses.terms.items()}
        self._check_finite(values)
        self.optimizer.zero_grad(set_to_none=True)
        losses.total().backward()
        self._step(self.optimizer, [p for g in self.optimizer.param_groups for p in g["params"]])
        self.scheduler.step()
        if losses.adversarial_branches:
            with self._autocast():
                dis = discriminator_step(model, losses.adversarial_branches, losses.adversarial_domains)
            loss_dis = dis.loss
            values["loss/dis"] = loss_dis.item()
            # averaged over the log interval like the losses: a discriminator stuck at chance shows
            values |= {f"{DIS_ACCURACY_PREFIX}{name}": accuracy
                       for name, accuracy in zip(losses.adversarial_names, dis.accuracy)}
            self._check_finite({"loss/dis": values["loss/dis"]})
            self.dis_optimizer.zero_grad(set_to_none=True)
            loss_dis.backward()
            self._step(self.dis_optimizer, list(model.discriminator.parameters()))
            self.dis_scheduler.step()
        own_statistics = cfg.mode in ADAPTATION_MODES and cfg.ema_bn_statistics == "target"
        if self.dist.enabled:
            dist_utils.broadcast_buffers(model)
            if own_statistics:  # each rank folded its own target batch in
                dist_utils.broadcast_buffers(self.ema_model)
        update_ema(self.ema_model, model, self.iteration, cfg.ema_alpha, copy_buffers=not own_statistics)
        return values | losses.stats

    def _step(self, optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter]) -> None:
        if self.dist.enabled:
            dist_utils.average_gradients(parameters, self.dist.world_size)
        if self.config.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, self.config.optim.grad_clip)
        optimizer.step()

    def _next_batches(self, loaders: dict[str, Any]) -> dict[str, dict[str, Any]]:
        try:
            return {name: next(loader) for name, loader in loaders.items()}
        except DataError as error:
            # nothing of the next iteration has run: the state is that of the last one, and the
            # batches are a function of the iteration, so --resume draws exactly these again
            self._save_once()
            raise TrainingError(f"{data_problem(error)}; stopped before iteration {self.iteration + 1}, the state "
                                f"after iteration {self.iteration} is saved in {self.work_dir / LATEST}: fix or "
                                "remove that file, then continue with --resume") from None

    def _check_finite(self, values: dict[str, float]) -> None:
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        if bad:
            # the weights are still those of the last good iteration: keep them
            self.save_latest()
            raise TrainingError(f"non-finite {', '.join(bad)} at iteration {self.iteration + 1}; the state after "
                                f"iteration {self.iteration} is saved in {self.work_dir / LATEST}")

    # -- evaluation and files --------------------------------------------------------------
    def evaluate(self) -> dict[str, Any]:
        run = self.config.run
        metric = evaluate_model(self.ema_model, self.val_dataset, run.eval_sampling(amp=bool(self.amp)), device=self.device,
                                progress=False, max_images=self.config.data.val.max_images,
                                input_size=run.eval_input_size)
        summary = metric.summary(run.eval_protocol)
        return {"kind": "eval", "iter": self.iteration, "protocol": run.eval_protocol, "steps": run.eval_steps,
                "miou": summary["miou"], "pixel_accuracy": summary.get("pixel_accuracy"),
                "per_class_iou": summary["per_class_iou"]}

    def provenance(self) -> dict[str, Any]:
        return {"command": self.command, "experiment": self.config.name, "iteration": self.iteration,
                "config": self.config.to_dict(), "mode": self.config.uda.mode}

    def evaluate_and_record(self) -> float | None:
        """Evaluate, log the result, keep the best model; the mIoU, or None when evaluation failed.

        A failed evaluation (a corrupt validation image, memory running out) is logged and
        recorded as an eval error, and training goes on: the state of this iteration is already
        saved, the hours of training are worth more than one score, and the saved checkpoints
        can be scored once the data is fixed. The run still ends with a non-zero status.
        """
        try:
            record = self.evaluate()
        except Exception as error:  # noqa: BLE001 -- whatever went wrong, the training must not be lost
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            # bad data names its file and running out of memory says so in one line; anything else
            # is a bug whose traceback is wanted
            expected = isinstance(error, (DataError, torch.cuda.OutOfMemoryError))
            log.error("evaluation at iteration %d failed: %s; training goes on (the state is saved in %s)",
                      self.iteration, message, self.work_dir / LATEST, exc_info=not expected)
            failure = {"iter": self.iteration, "error": message}
            self.eval_failures.append(failure)
            self.log_record({"kind": "eval", **failure, "miou": None, "protocol": self.config.run.eval_protocol,
                             "steps": self.config.run.eval_steps})
            return None
        self.log_record(record)
        miou = record["miou"]  # None when no scored class occurs in truth or prediction
        if miou is not None and miou > self.best["miou"]:
            self.best = {"miou": miou, "iter": self.iteration}
            save_model(self.work_dir / BEST, self.ema_model, provenance=self.provenance(), input_size=self.input_size)
        return miou

    def save_latest(self) -> None:
        self._saved_at = self.iteration
        if not self.dist.is_main:
            return
        save_training_state(
            self.work_dir / LATEST, model=self.model, ema_model=self.ema_model, optimizer=self.optimizer,
            dis_optimizer=self.dis_optimizer, scheduler=self.scheduler, dis_scheduler=self.dis_scheduler,
            generators=self.generators, iteration=self.iteration, training={"best": self.best},
            provenance=self.provenance(), input_size=self.input_size)

    def log_record(self, record: dict[str, Any]) -> None:
        if self.dist.is_main:
            with open(self.work_dir / METRICS, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def write_run_files(self) -> None:
        if not self.dist.is_main:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.work_dir / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        with atomic_path(self.work_dir / "command.txt") as tmp:
            tmp.write_text(self.command + "\n")

    # -- the loop --------------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        self.stop_signal = signum

    def run(self, pause_after: int | None = None) -> dict[str, Any]:
        """Train to run.iters; ``pause_after`` stops earlier (after saving), as an interruption would."""
        run = self.config.run
        self.write_run_files()
        if self.iteration >= run.iters:
            log.info("nothing to do: %d of %d iterations already done", self.iteration, run.iters)
            return self.best
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        loaders = {name: iter(batch_stream(samples, self.iteration, run.iters, run.batch_size,
                                           self.config.data.workers))
                   for name, samples in self.streams.items()}
        sums: dict[str, float] = {}
        count, start, last_eval = 0, time.perf_counter(), None
        bar = tqdm(total=run.iters, initial=self.iteration, desc=self.config.name, unit="it",
                   disable=not self.dist.is_main, dynamic_ncols=True)
        try:
            while self.iteration < run.iters:
                values = self.train_step(self._next_batches(loaders))
                self.iteration += 1
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
                bar.update(1)
                if self.iteration % run.log_interval == 0 or self.iteration == run.iters:
                    record = {"kind": "train", "iter": self.iteration, "lr": self.scheduler.get_last_lr()[0],
                              "time_s": round(time.perf_counter() - start, 1)}
                    record |= {k: v / count for k, v in sums.items()}
                    self.log_record(record)
                    bar.set_postfix({k.removeprefix("loss/"): f"{v:.3f}" for k, v in record.items()
                                     if k.startswith("loss/")} | ({"mIoU": f"{last_eval:.1f}"} if last_eval else {}))
                    sums, count = {}, 0
                last = self.iteration == run.iters
                evaluate = self.iteration % run.eval_interval == 0 or last
                if evaluate or self.iteration % run.checkpoint_interval == 0 or last:
                    # saved before evaluating: a crash or a kill during evaluation costs no training
                    self.save_latest()
                if evaluate:
                    if self.dist.is_main:
                        last_eval = self.evaluate_and_record()
                    dist_utils.barrier(self.dist)
                if pause_after is not None and self.iteration >= pause_after:
                    self._save_once()
                    return self.best
                if self.stop_signal is not None:
                    self._save_once()
                    name = signal.Signals(self.stop_signal).name
                    bar.write(f"{name}: saved iteration {self.iteration} to {self.work_dir / LATEST}; "
                              "continue with --resume", file=sys.stderr)
                    raise KeyboardInterrupt(name)
        finally:
            bar.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.dist.is_main:
            self.finish(time.perf_counter() - start)
        return self.best

    def _save_once(self) -> None:
        if self._saved_at != self.iteration:
            self.save_latest()

    def finish(self, seconds: float) -> Path:
        _, evals = read_metrics(self.work_dir / METRICS)
        evals = latest_per_iter(evals)
        final = evals[-1] if evals else None
        best = best_eval_record(evals)
        return write_report(self.work_dir, self.config.to_dict(), final, best, self.command,
                            extra={"wall_time_s": round(seconds, 1), "iterations": self.iteration})

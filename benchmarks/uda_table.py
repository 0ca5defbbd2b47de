"""The adaptation benchmark: the procedural generator's source style -> its target style, or
-> real CamVid frames (--camvid DIR, the sim-to-real table).

One command reproduces the table of issue 16: every row over every seed (3 by default,
ablations included), each run a train/uda.py run sized for 10-15 minutes on one CPU core.

Rows: source-only; source-only + AdaBN (the source-only model with BatchNorm statistics
re-estimated on the unlabelled target images: what target statistics alone buy, no
training); DACS (the same model and trainer with self-training, ClassMix and EMA, no
diffusion or adversarial term, scored at K = 0: the baseline CICLD must beat); CICLD with
the decoupled routing; CICLD with the paper's routing conditioned on labels, on the first
pass and on a mix; then, on the best of the three paper rows (highest mean, or --best ROW),
conditioning off, inter-coder off, adversarial none and 2-class; the target oracle.

Every CICLD checkpoint is scored at its default K (the trainer's final evaluation,
run.eval_steps) and at K = 0 (python -m cicld_core.evaluate, cached in the run's
eval_k0.json). The table gives mean +- std per row, the paired per-seed differences
against DACS and against K = 0 of the same checkpoint, and training minutes per run, and
ends with the issue's goal checks, PASS or FAIL. Finished runs and evaluations are kept and
skipped, so the table can be built over several sessions.

    .venv/bin/python benchmarks/uda_table.py --prepare            # generate data/synth once
    .venv/bin/python benchmarks/uda_table.py --dry-run            # what would run, with its overrides
    .venv/bin/python benchmarks/uda_table.py --jobs 2 --set run.threads=1   # every run, two at a time, then the table
    .venv/bin/python benchmarks/uda_table.py --only source_only target_oracle --seeds 0
    .venv/bin/python benchmarks/uda_table.py --best cicld_paper_labels      # start the ablations before the paper rows end
    .venv/bin/python benchmarks/uda_table.py --table-only         # rebuild the table from finished runs

Issue 25's variants (VARIANTS) run only when named: latent_mic (the paper/mix row with D reading
the f1 skip only and the latent consistency term on the target), latent_mic_no_denoiser (its
control: the noised latent decoded directly), dacs_latent_mic (DACS with that control term) and
f1_skip_only (the skips dropped without the term, to separate the two changes).

    .venv/bin/python benchmarks/uda_table.py --only dacs cicld_paper_mix latent_mic latent_mic_no_denoiser dacs_latent_mic

Sim-to-real (issue 25): the same rows with CamVid train (unlabelled) as the target, scored on
CamVid val with protocol 11 (config/uda/synth_to_camvid.yaml; the source is generated at 256x192,
CamVid's 4:3 aspect). CamVid is CC BY-NC 4.0: it is read from DIR, never copied.

    .venv/bin/python benchmarks/uda_table.py --camvid DIR --prepare
    .venv/bin/python benchmarks/uda_table.py --camvid DIR --jobs 2 --best cicld_paper_mix \
        --only source_only dacs cicld_decoupled cicld_paper_mix target_oracle

The rendered source (issue 33): the same street layouts path-traced by Blender (the optional extra
bpy), and two more rows, MIC's masked image consistency composed with DACS (dacs_mic) and with the
decoupled routing (cicld_decoupled_mic). With --camvid the table also checks the sim-to-real goals
and gives per-class IoU for every row (table.md, table_per_class.png).

    .venv/bin/python benchmarks/uda_table.py --camvid DIR --prepare --renderer blender --source-seed 0
    .venv/bin/python benchmarks/uda_table.py --camvid DIR --data data/blender_camvid --out runs/uda_table_blender \
        --jobs 2 --set run.threads=1 --only source_only dacs dacs_mic cicld_decoupled cicld_decoupled_mic \
        target_oracle cicld_paper_mix
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cicld_core.io import atomic_path, write_json
from cicld_core.uda.metrics_log import read_metrics

REPO = Path(__file__).resolve().parents[1]

CONFIG = REPO / "config/uda/synth_cicld.yaml"
DEFAULT_DATA = REPO / "data/synth"
CAMVID_CONFIG = REPO / "config/uda/synth_to_camvid.yaml"
CAMVID_DATA = REPO / "data/synth_camvid"  # the generated source of the sim-to-real table
CAMVID_BLENDER_DATA = REPO / "data/blender_camvid"  # the same, rendered by Blender (--renderer blender)
CAMVID_SOURCE_SIZE = "256x192"  # CamVid's 4:3 (480x360) at about the scale of the generated benchmark


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    overrides: tuple[str, ...] = ()
    cicld: bool = False  # a CICLD checkpoint: scored at K = 0 as well as at its default K


# Every CICLD row names its mode and routing so a change of the config's defaults cannot move a row.
# The paper's routing includes its step 6: f_dis reads the denoised latent z0_hat, which carries
# the domain, where eps_hat's regression target does not (measured: on eps_hat f_dis stays at chance).
_PAPER = ("uda.mode=cicld", "uda.routing=paper", "uda.adversarial=3class", "uda.discriminator_input=z0_hat")
_MIC = "uda.lambda_masked_consistency=1"  # MIC's weight; its mask ratio 0.7, blocks of 16 px at 256 px wide
MAIN_ROWS: dict[str, Row] = {row.name: row for row in [
    Row("source_only", "source-only (no adaptation)", ("uda.mode=source_only",)),
    # DACS has no diffusion loss: its denoiser is untrained, so only K = 0 means anything
    Row("dacs", "DACS (self-training + ClassMix + EMA; K = 0)", ("uda.mode=dacs", "run.eval_steps=0")),
    Row("cicld_decoupled", "CICLD, decoupled routing", ("uda.mode=cicld", "uda.routing=decoupled", "uda.adversarial=3class"), True),
    Row("cicld_paper_labels", "CICLD, paper routing, conditioned on labels", (*_PAPER, "uda.condition_on=labels"), True),
    Row("cicld_paper_first_pass", "CICLD, paper routing, conditioned on the first pass",
        (*_PAPER, "uda.condition_on=first_pass"), True),
    Row("cicld_paper_mix", "CICLD, paper routing, conditioned on a mix", (*_PAPER, "uda.condition_on=mix"), True),
    # MIC's masked image consistency (cicld_core/uda/masked_consistency.py) composed with DACS and
    # with the decoupled routing, the CICLD row that did best on CamVid from scratch and warm
    Row("dacs_mic", "DACS + masked image consistency (MIC; K = 0)", ("uda.mode=dacs", "run.eval_steps=0", _MIC)),
    Row("cicld_decoupled_mic", "CICLD, decoupled routing + masked image consistency",
        ("uda.mode=cicld", "uda.routing=decoupled", "uda.adversarial=3class", _MIC), True),
    Row("target_oracle", "target oracle (target labels)", ("uda.mode=target_oracle",)),
]}
PAPER_ROWS = ("cicld_paper_labels", "cicld_paper_first_pass", "cicld_paper_mix")
CICLD_ROWS = ("cicld_decoupled", *PAPER_ROWS, "cicld_decoupled_mic")
# ablations: applied on top of the best CICLD row's overrides (a key of both takes the ablation's value)
ABLATIONS: dict[str, Row] = {row.name: row for row in [
    Row("no_conditioning", "ablation: conditioning off", ("model.conditioning=false",), True),
    Row("no_inter_coder", "ablation: inter-coder off", ("model.inter_coder=false",), True),
    Row("adversarial_none", "ablation: adversarial none", ("uda.adversarial=none",), True),
    Row("adversarial_2class", "ablation: adversarial 2-class", ("uda.adversarial=2class",), True),
]}
# issue 25's experiments: run only when named with --only, listed in the table once measured.
# Latent consistency with D reading only f1 (so it must read the latent), its control without the
# denoiser, and DACS with the same control term (no denoiser at all, so scored at K = 0 as DACS).
_LATENT_MIC = ("model.inter_coder_skips=1", "uda.lambda_latent_consistency=1", "uda.latent_consistency_max_strength=0.5")
VARIANTS: dict[str, Row] = {row.name: row for row in [
    Row("latent_mic", "CICLD paper/mix, f1 skip only, latent consistency on the target",
        (*MAIN_ROWS["cicld_paper_mix"].overrides, *_LATENT_MIC, "uda.latent_consistency_denoise=true"), True),
    Row("latent_mic_no_denoiser", "the same, the noised latent decoded without the denoiser",
        (*MAIN_ROWS["cicld_paper_mix"].overrides, *_LATENT_MIC, "uda.latent_consistency_denoise=false"), True),
    Row("dacs_latent_mic", "DACS, f1 skip only, latent consistency without denoiser (K = 0)",
        (*MAIN_ROWS["dacs"].overrides, *_LATENT_MIC, "uda.latent_consistency_denoise=false")),
    # separates the two changes of latent_mic: the skips dropped, without the term
    Row("f1_skip_only", "CICLD paper/mix, f1 skip only, no latent consistency",
        (*MAIN_ROWS["cicld_paper_mix"].overrides, "model.inter_coder_skips=1"), True),
]}
# derived rows: name -> the run whose final model they start from (no training of their own)
DERIVED = {"source_only_adabn": "source_only"}
DERIVED_LABELS = {"source_only_adabn": "source-only + AdaBN (target BatchNorm statistics, no training)"}
# table and plot order
ORDER = ["source_only", "source_only_adabn", "dacs", "dacs_mic", *CICLD_ROWS, *ABLATIONS, "target_oracle"]
SPLITS = [("source", "source", "gta5", "train", 400, 1), ("target", "target", "cityscapes", "train", 400, 2),
          ("target", "target", "cityscapes", "val", 100, 3)]
K0_FILE = "eval_k0.json"
DATA_ROOTS = ("data.source.root=", "data.target.root=", "data.val.root=")
DACS_MARGIN = 2.0  # goal: CICLD at default K beats DACS by this many points on the mean
# the sim-to-real goals (camvid_goal_checks)
CAMVID_SOURCE_ONLY_FLOOR, CAMVID_DACS_FLOOR = 20.0, 28.0
ORACLE_LEARNS = 20.0  # a class the oracle learns: its mean IoU at least this
CAMVID_GOAL_SEEDS = 3  # the goals are over 3 seeds: a table of fewer measures none of them
K_MARGIN = 1.0  # goal: default K beats K = 0 by this many points on every seed


def label(name: str) -> str:
    return DERIVED_LABELS.get(name) or (MAIN_ROWS.get(name) or VARIANTS.get(name) or ABLATIONS[name]).label


def is_cicld(name: str) -> bool:
    row = MAIN_ROWS.get(name) or VARIANTS.get(name) or ABLATIONS.get(name)
    return bool(row and row.cicld)


def table_order(present: set[str] | dict) -> list[str]:
    """ORDER, with the variants that were measured before the oracle."""
    return [*ORDER[:-1], *[n for n in VARIANTS if n in present], ORDER[-1]]


def merge_overrides(*groups: list[str] | tuple[str, ...]) -> list[str]:
    """KEY=VALUE overrides, a key given twice keeping the later value: a row then decides its
    own keys whatever the base row or the command line set."""
    merged: dict[str, str] = {}
    for group in groups:
        for override in group:
            key = override.split("=", 1)[0].strip()
            merged.pop(key, None)  # the later one also takes the later place
            merged[key] = override
    return list(merged.values())


def row_overrides(name: str, best: str | None) -> list[str]:
    """The row's own overrides; an ablation's are those of the best CICLD row with its own on top."""
    if name in ABLATIONS:
        if best is None:
            raise ValueError(f"{name} is an ablation of the best CICLD row, which is not known yet")
        return merge_overrides(MAIN_ROWS[best].overrides, ABLATIONS[name].overrides)
    return list((MAIN_ROWS.get(name) or VARIANTS[name]).overrides)


def run_name(name: str, seed: int, best: str | None) -> str:
    """A run's folder. An ablation's names its base row, so a different best never reuses it."""
    return f"{name}_on_{best}_s{seed}" if name in ABLATIONS else f"{name}_s{seed}"


def prepare(data: Path, size: str, version: int = 2, camvid: bool = False, renderer: str = "2d",
            samples: int = 8, workers: int = 1, source_seed: int = 1) -> None:
    """Generate the benchmark's data; ``version`` 1 is the first benchmark (the target differs in
    rendering only), 2 also changes the target's content (cicld_core/synth/styles.py). With
    ``camvid`` only the labelled source is generated (500 frames): CamVid is the target.
    ``renderer`` blender path-traces the same street layouts (the optional extra bpy), with
    ``samples`` per pixel and ``workers`` Blender processes."""
    splits = [("source", "source", "gta5", "train", 500, source_seed)] if camvid else SPLITS
    for folder, style, layout, split, num, seed in splits:
        command = [sys.executable, "-m", "cicld_core.synth", "--out", str(data / folder), "--style", style,
                   "--layout", layout, "--num", str(num), "--size", size, "--seed", str(seed),
                   "--split", split, "--version", str(version)]
        if renderer != "2d":
            command += ["--renderer", renderer, "--samples", str(samples), "--workers", str(workers)]
        subprocess.run(command, check=True, cwd=REPO)


def source_renderer(data: Path) -> str:
    """The renderer the source in ``data`` was made with (its synth_info.json; 2d when unsaid)."""
    info = data / "source" / "synth_info.json"
    return json.loads(info.read_text()).get("renderer", "2d") if info.is_file() else "2d"


def final_eval(work_dir: Path) -> dict | None:
    """The trainer's last evaluation of a finished run (its report written), else None."""
    metrics = work_dir / "metrics.jsonl"
    if not (work_dir / "report.md").is_file() or not metrics.is_file():
        return None
    _, evals = read_metrics(metrics)
    return evals[-1] if evals and evals[-1].get("miou") is not None else None


def final_miou(work_dir: Path) -> float | None:
    record = final_eval(work_dir)
    return None if record is None else record["miou"]


def train_minutes(work_dir: Path) -> float | None:
    """Training minutes from metrics.jsonl: each train record's time_s counts from the start of
    its process, so a resumed run restarts the clock; every stretch adds its last time_s. The
    periodic evaluations inside the loop are included, the final one is not."""
    metrics = work_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    train, _ = read_metrics(metrics)
    total, last = 0.0, None
    for record in train:
        seconds = record.get("time_s")
        if not isinstance(seconds, (int, float)):
            continue
        if last is not None and seconds < last:
            total += last
        last = seconds
    return None if last is None else round((total + last) / 60, 2)


def k0_miou(work_dir: Path) -> float | None:
    """The cached K = 0 score of the run's final checkpoint; None when missing or older than it."""
    path, checkpoint = work_dir / K0_FILE, work_dir / "latest.safetensors"
    if not path.is_file() or (checkpoint.is_file() and path.stat().st_mtime_ns < checkpoint.stat().st_mtime_ns):
        return None
    return json.loads(path.read_text())["miou"]


def k0_command(work_dir: Path) -> list[str]:
    """Score the run's final (EMA) checkpoint as the trainer scores it (same data, seed, strength,
    protocol, images and precision), only with K = 0, so the pairing differs in K alone."""
    import torch
    import yaml

    config = yaml.safe_load((work_dir / "config.yaml").read_text())
    run, val = config["run"], config["data"]["val"]
    device = run.get("device", "auto")
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    # the trainer evaluates in bf16 whenever it trains with autocast
    amp = run.get("amp", "off") in ("bf16", "fp16") or (run.get("amp") == "auto" and on_gpu)
    command = [sys.executable, "-m", "cicld_core.evaluate", "--checkpoint", str(work_dir / "latest.safetensors"),
               "--dataset", val["kind"], "--root", str(val["root"]), "--split", str(val["split"]), "--steps", "0",
               "--strength", str(run["eval_strength"]), "--protocol", str(run["eval_protocol"]),
               "--seed", str(run["seed"]), "--device", device, "--dtype", "bf16" if amp else "fp32",
               "--json", str(work_dir / K0_FILE), "--no-progress"]
    if val.get("max_images"):
        command += ["--max-images", str(val["max_images"])]
    if run.get("eval_input_size"):
        command += ["--input-size", "x".join(str(v) for v in run["eval_input_size"])]
    return command


def k0_environment(work_dir: Path) -> dict[str, str]:
    """run.threads for the evaluation too: side-by-side jobs must not each take every core."""
    import yaml

    threads = yaml.safe_load((work_dir / "config.yaml").read_text())["run"].get("threads")
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def data_roots(data: Path, camvid: Path | None = None) -> list[str]:
    """The runs' data: the generated source and target, or the generated source and CamVid."""
    target = data / "target" if camvid is None else camvid
    return [f"data.source.root={data / 'source'}", f"data.target.root={target}", f"data.val.root={target}"]


def train_command(name: str, seed: int, data: Path, work_dir: Path, extra: list[str],
                  best: str | None = None, camvid: Path | None = None) -> list[str]:
    # the row's own keys win over --set: DACS at K > 0 or a CICLD row with another routing is not that row
    overrides = merge_overrides(extra, data_roots(data, camvid), row_overrides(name, best), [f"run.seed={seed}"])
    config = CONFIG if camvid is None else CAMVID_CONFIG
    command = [sys.executable, "train/uda.py", "--config", str(config), "--work-dir", str(work_dir)]
    command += [arg for o in overrides for arg in ("--set", o)]
    if (work_dir / "latest.safetensors").is_file():
        command.append("--resume")
    return command


@dataclass
class Job:
    name: str
    seed: int
    work_dir: Path
    train: list[str] | None  # None: trained already
    k0: bool  # a K = 0 evaluation is still to do

    def describe(self) -> str:
        if self.train is not None:
            # the data roots are the same for every run: said once by the caller
            sets = [self.train[i + 1] for i, arg in enumerate(self.train)
                    if arg == "--set" and not self.train[i + 1].startswith(DATA_ROOTS)]
            what = "train" + (" (resume)" if "--resume" in self.train else "") + (", then K = 0" if self.k0 else "")
            return f"{self.work_dir.name}: {what}: " + " ".join(sets)
        return f"{self.work_dir.name}: " + ("K = 0 evaluation only" if self.k0 else "done already")


def plan(names: list[str], seeds: list[int], data: Path, out: Path, extra: list[str], best: str | None,
         camvid: Path | None = None) -> list[Job]:
    jobs = []
    for name in names:
        for seed in seeds:
            work_dir = out / run_name(name, seed, best)
            done = final_miou(work_dir) is not None
            train = None if done else train_command(name, seed, data, work_dir, extra, best, camvid)
            jobs.append(Job(name, seed, work_dir, train,
                            is_cicld(name) and (not done or k0_miou(work_dir) is None)))
    return jobs


def run_all(todo: list[Job], jobs: int) -> None:
    """Train and score every unfinished run. One job at a time shows train/uda.py's own progress
    bar; several side by side write each run's output to WORK_DIR/train.log and show one bar over
    the runs. A failed run does not stop the others; they are named at the end."""
    for job in todo:
        if job.train is None and not job.k0:
            print(f"{job.work_dir.name}: done already")
    todo = [job for job in todo if job.train is not None or job.k0]
    logged = jobs > 1

    def run_one(job: Job) -> int:
        job.work_dir.mkdir(parents=True, exist_ok=True)
        with open(job.work_dir / "train.log", "a") if logged else open(os.devnull, "w") as log:
            def call(command: list[str], env: dict[str, str] | None = None) -> int:
                if logged:
                    log.write(f"$ {' '.join(command)}\n")
                    log.flush()
                else:
                    print(f"{job.work_dir.name}: {' '.join(command[1:])}", flush=True)
                output = log if logged else None
                return subprocess.run(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT if logged else None,
                                      env=env).returncode

            if job.train is not None and (code := call(job.train)) != 0:
                return code
            if job.k0 and final_miou(job.work_dir) is not None:
                return call(k0_command(job.work_dir), k0_environment(job.work_dir))
            return 0

    failed = []
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(todo), desc="benchmark runs", unit="run",
                                                disable=not logged) as bar:
        futures = {pool.submit(run_one, job): job for job in todo}
        for future in as_completed(futures):
            job, returncode = futures[future], future.result()
            miou, k0 = final_miou(job.work_dir), k0_miou(job.work_dir)
            if returncode == 0 and miou is not None and (k0 is not None or not job.k0):
                bar.write(f"{job.work_dir.name}: target mIoU {miou:.2f}" + (f", K = 0 {k0:.2f}" if job.k0 else ""))
            else:
                failed.append(job.work_dir)
                where = job.work_dir / "train.log" if logged else "the output above"
                bar.write(f"{job.work_dir.name}: FAILED (exit {returncode}), see {where}")
            bar.update()
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: " + ", ".join(
            str(w / "train.log") if logged else w.name for w in failed))


def adabn_one(seed: int, out: Path, batch_size: int = 4) -> None:
    """Source-only + AdaBN: re-estimate the final source-only model's BatchNorm statistics on
    every target training image, then score it as the runs are scored."""
    import torch
    import yaml

    from cicld_core.data import SegTransformConfig, build_dataset
    from cicld_core.evaluation import eval_transform, evaluate_model
    from cicld_core.model import load_model
    from cicld_core.uda.adabn import reestimate_norm_statistics

    source_dir, work_dir = out / f"{DERIVED['source_only_adabn']}_s{seed}", out / f"source_only_adabn_s{seed}"
    if final_miou(work_dir) is not None:
        print(f"{work_dir.name}: done already")
        return
    if final_miou(source_dir) is None:
        print(f"{work_dir.name}: skipped, {source_dir.name} has not finished")
        return
    config = yaml.safe_load((source_dir / "config.yaml").read_text())
    model, _ = load_model(source_dir / "latest.safetensors")
    transform = eval_transform(model.config)
    target, resize = config["data"]["target"], config["data"].get("target_resize")
    # the statistics are those of the frames as training sees them (CamVid: resized to the source's scale)
    statistics_transform = transform if not resize else SegTransformConfig.no_augmentation(
        resize=tuple(resize), **model.config.normalisation_255())
    train = build_dataset(target["kind"], target["root"], target["split"], transform=statistics_transform, seed=seed)
    val_spec = config["data"]["val"]
    val = build_dataset(val_spec["kind"], val_spec["root"], val_spec["split"], transform=transform, seed=seed)
    batches = (torch.stack([train[i]["image"] for i in range(start, min(start + batch_size, len(train)))])
               for start in range(0, len(train), batch_size))
    reestimate_norm_statistics(model, batches)
    run = config["run"]
    input_size = tuple(run["eval_input_size"]) if run.get("eval_input_size") else None
    summary = evaluate_model(model, val, steps=run["eval_steps"], strength=run["eval_strength"], seed=seed,
                             input_size=input_size).summary(run["eval_protocol"])
    work_dir.mkdir(parents=True, exist_ok=True)
    record = {"kind": "eval", "iter": config["run"]["iters"], "protocol": run["eval_protocol"],
              "steps": run["eval_steps"], "miou": summary["miou"], "per_class_iou": summary["per_class_iou"],
              "adabn_images": len(train)}
    with atomic_path(work_dir / "metrics.jsonl") as tmp:
        tmp.write_text(json.dumps(record) + "\n")
    with atomic_path(work_dir / "report.md") as tmp:
        tmp.write_text(f"# {work_dir.name}\n\n{source_dir.name}/latest.safetensors with BatchNorm statistics "
                       f"re-estimated on the {len(train)} target training images: target val mIoU "
                       f"{summary['miou']:.2f}.\n")
    print(f"{work_dir.name}: {summary['miou']:.2f}", flush=True)


# --------------------------------------------------------------------------- the table's arithmetic
# A row's measurements: seed -> {"miou": default K, "miou_k0": K = 0 or None, "minutes": training or None,
# "per_class_iou": class name -> IoU at default K}
Measured = dict[str, dict[int, dict[str, Any]]]


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    """a - b seed by seed, on the seeds both have: both rows start from the same seed, so the
    difference is free of the seed-to-seed spread that the two means each carry."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean, spread = mean_std(diffs)
    return {"seeds": seeds, "diffs": [round(d, 2) for d in diffs], "mean": round(mean, 2), "std": round(spread, 2),
            "min": round(min(diffs), 2), "ahead": sum(d > 0 for d in diffs), "all_ahead": all(d > 0 for d in diffs)}


def choose_best(measured: Measured, seeds: list[int]) -> str | None:
    """The paper-routing row with the highest mean at default K, once all three have every seed."""
    if not all(set(seeds) <= set(measured.get(name, {})) for name in PAPER_ROWS):
        return None
    return max(PAPER_ROWS, key=lambda name: statistics.mean(measured[name][s]["miou"] for s in seeds))


def summarize(measured: Measured, best: str | None) -> dict[str, Any]:
    """Per row: mean +- std, K = 0, minutes, and the paired differences against DACS and against
    K = 0 of the same checkpoints; then the gap figures. Rows with no finished seed are left out."""
    figures: dict[str, Any] = {}
    dacs = {s: m["miou"] for s, m in measured.get("dacs", {}).items()}
    for name in table_order(measured):
        runs = measured.get(name) or {}
        if not runs:
            continue
        seeds = sorted(runs)
        values = [runs[s]["miou"] for s in seeds]
        mean, spread = mean_std(values)
        row: dict[str, Any] = {"label": label(name), "seeds": seeds, "final_miou": values, "mean": round(mean, 2),
                               "std": round(spread, 2)}
        if name in ABLATIONS:
            row["base"] = best
        row.update(per_class(runs, seeds))
        minutes = [runs[s]["minutes"] for s in seeds if runs[s].get("minutes") is not None]
        row["minutes"] = minutes
        row["minutes_mean"] = round(statistics.mean(minutes), 1) if minutes else None
        k0 = {s: runs[s]["miou_k0"] for s in seeds if runs[s].get("miou_k0") is not None}
        if k0:
            row["miou_k0"] = [k0[s] for s in sorted(k0)]
            row["k0_seeds"] = sorted(k0)
            k0_mean, k0_spread = mean_std(row["miou_k0"])
            row["k0_mean"], row["k0_std"] = round(k0_mean, 2), round(k0_spread, 2)
            row["vs_k0"] = paired({s: runs[s]["miou"] for s in seeds}, k0)
        if name != "dacs" and dacs:
            row["vs_dacs"] = paired({s: runs[s]["miou"] for s in seeds}, dacs)
        figures[name] = row
    figures["best"] = best
    if best in figures and "source_only" in figures and "target_oracle" in figures:
        gap = figures["target_oracle"]["mean"] - figures["source_only"]["mean"]
        figures["gap"] = round(gap, 2)
        for name, key in ((best, "gap_closed"), ("source_only_adabn", "adabn_gap_closed"), ("dacs", "dacs_gap_closed")):
            if name in figures:
                closed = (figures[name]["mean"] - figures["source_only"]["mean"]) / gap if gap else float("nan")
                figures[key] = round(closed, 3)
    return figures


def per_class(runs: dict[int, dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Per-class IoU: the mean over the seeds that recorded it, and each seed's."""
    recorded = [s for s in seeds if runs[s].get("per_class_iou")]
    if not recorded:
        return {}
    classes = list(runs[recorded[0]]["per_class_iou"])
    values = {c: [runs[s]["per_class_iou"].get(c) for s in recorded] for c in classes}
    return {"per_class_iou": {c: round(statistics.mean(v for v in vs if v is not None), 2)
                              for c, vs in values.items() if any(v is not None for v in vs)},
            "per_class_iou_seeds": {str(s): runs[s]["per_class_iou"] for s in recorded}}


def _versus(figures: dict, a: str, b: str) -> dict[str, Any] | None:
    if a not in figures or b not in figures:
        return None
    values = {name: dict(zip(figures[name]["seeds"], figures[name]["final_miou"])) for name in (a, b)}
    return paired(values[a], values[b])


def goal_checks(figures: dict, seeds: list[int]) -> list[dict[str, str]]:
    """The issue's goals, each PASS, FAIL or NOT MEASURED (a row or seed missing: never a PASS).
    "Larger than the seed std" is read as: the mean paired difference is larger than the std over
    seeds of either row compared."""
    best, want = figures.get("best"), len(seeds)
    checks = []

    def add(goal: str, result: dict | None, passed: Any, detail: str) -> None:
        if result is None or len(result["seeds"]) < want:
            have = 0 if result is None else len(result["seeds"])
            status, detail = "NOT MEASURED", f"{have} of {want} seeds paired" + (f"; so far {detail}" if have else "")
        else:
            status = "PASS" if passed(result) else "FAIL"
        checks.append({"goal": goal, "status": status, "detail": detail})

    def diffs(result: dict | None) -> str:
        if result is None:
            return ""
        return (f"{result['mean']:+.2f} ± {result['std']:.2f} (per seed {', '.join(f'{d:+.2f}' for d in result['diffs'])}, "
                f"{result['ahead']}/{len(result['diffs'])} ahead)")

    name = best or "the best CICLD row"
    result = (figures.get(best) or {}).get("vs_dacs")
    add(f"{name} at its default K beats DACS by >= {DACS_MARGIN:g} points on the mean, every seed ahead", result,
        lambda r: r["mean"] >= DACS_MARGIN and r["all_ahead"], diffs(result))
    result = (figures.get(best) or {}).get("vs_k0")
    add(f"{name}: default K beats K = 0 by >= {K_MARGIN:g} point on every seed", result,
        lambda r: r["min"] >= K_MARGIN, diffs(result))
    for goal, a, b in ((f"conditioning on ({name}) beats conditioning off", best, "no_conditioning"),
                       (f"adversarial 3-class ({name}) beats 2-class", best, "adversarial_2class"),
                       ("adversarial 2-class beats none", "adversarial_2class", "adversarial_none")):
        result = _versus(figures, a, b) if a else None
        spread = max(figures[a]["std"], figures[b]["std"]) if result else 0.0
        add(f"{goal} by more than the seed std", result, lambda r, s=spread: r["mean"] > 0 and r["mean"] > s,
            f"{diffs(result)}; seed std {spread:.2f}" if result else "")
    return checks


def camvid_goal_checks(figures: dict, seeds: list[int]) -> list[dict[str, str]]:
    """The sim-to-real goals of the rendered-source issue, each PASS, FAIL or NOT MEASURED (a row
    without every seed is never a PASS): source-only and DACS above a floor; in the best adapted
    row by mean, every class the oracle learns (IoU >= ORACLE_LEARNS) at >= half the oracle's IoU;
    the best CICLD row by mean >= DACS + DACS_MARGIN on every seed. A table of fewer than
    CAMVID_GOAL_SEEDS seeds (one seed's table, built after each seed) measures none of them."""
    checks = []

    def complete(name: str) -> bool:
        return len(seeds) >= CAMVID_GOAL_SEEDS and name in figures and set(seeds) <= set(figures[name]["seeds"])

    def add(goal: str, measured: bool, passed: bool, detail: str) -> None:
        checks.append({"goal": goal, "status": ("PASS" if passed else "FAIL") if measured else "NOT MEASURED",
                       "detail": detail})

    for name, floor in (("source_only", CAMVID_SOURCE_ONLY_FLOOR), ("dacs", CAMVID_DACS_FLOOR)):
        row = figures.get(name)
        add(f"{name} >= {floor:g} mIoU on the mean", complete(name), bool(row) and row["mean"] >= floor,
            f"{row['mean']:.2f} ± {row['std']:.2f}" if row else "not run")
    adapted = [n for n in figures if isinstance(figures[n], dict) and "mean" in figures[n]
               and n not in ("source_only", "target_oracle") and complete(n)]
    oracle = (figures.get("target_oracle") or {}).get("per_class_iou") or {}
    if adapted and oracle:
        top = max(adapted, key=lambda n: figures[n]["mean"])
        learnt = {c: v for c, v in oracle.items() if v >= ORACLE_LEARNS}
        mine = figures[top].get("per_class_iou") or {}
        short = [f"{c} {mine.get(c, 0):.1f} < {v / 2:.1f}" for c, v in learnt.items() if mine.get(c, 0) < v / 2]
        add(f"in the best adapted row ({top}), every class the oracle learns (IoU >= {ORACLE_LEARNS:g}) at >= half "
            "the oracle's IoU", complete("target_oracle"), not short,
            "short: " + "; ".join(short) if short else f"all of {', '.join(learnt)}")
    else:
        add(f"in the best adapted row, every class the oracle learns at >= half the oracle's IoU", False, False,
            "the oracle or an adapted row has not every seed")
    cicld = [n for n in CICLD_ROWS if complete(n)]
    if cicld and complete("dacs"):
        top = max(cicld, key=lambda n: figures[n]["mean"])
        result = figures[top]["vs_dacs"]
        add(f"the best CICLD row ({top}) >= DACS + {DACS_MARGIN:g} on every seed", True,
            result["min"] >= DACS_MARGIN, "per seed " + ", ".join(f"{d:+.2f}" for d in result["diffs"]))
    else:
        add(f"the best CICLD row >= DACS + {DACS_MARGIN:g} on every seed", False, False,
            "DACS or a CICLD row has not every seed")
    return checks


def format_per_class(figures: dict) -> list[str]:
    """Per-class IoU, mean over seeds, one line a row (the classes of the first row that has them)."""
    names = [n for n in table_order(figures) if (figures.get(n) or {}).get("per_class_iou")]
    if not names:
        return []
    classes = list(figures[names[0]]["per_class_iou"])
    lines = ["", "Per-class IoU at default K (mean over seeds):", "",
             "| row | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for name in names:
        values = figures[name]["per_class_iou"]
        lines.append(f"| {name} | " + " | ".join(f"{values[c]:.1f}" if c in values else "" for c in classes) + " |")
    return lines


def _cell(result: dict | None) -> str:
    if result is None:
        return ""
    return f"{result['mean']:+.1f} ± {result['std']:.1f} ({result['ahead']}/{len(result['diffs'])} ahead)"


def format_table(figures: dict, checks: list[dict[str, str]], best_how: str) -> str:
    lines = ["| row | target mIoU, default K (mean ± std) | per seed | K = 0 (mean ± std) | default K - K = 0, paired "
             "| - DACS, paired | train min / run |", "|---|---|---|---|---|---|---|"]
    for name in table_order(figures):
        row = figures.get(name)
        title = label(name) + (f" (on {figures['best']})" if name in ABLATIONS and figures.get("best") else "")
        if name == figures.get("best"):
            title = f"**{title}** (best)"
        if row is None:
            lines.append(f"| {title} | not run | | | | | |")
            continue
        per_seed = ", ".join(f"{v:.1f}" for v in row["final_miou"])
        k0 = f"{row['k0_mean']:.1f} ± {row['k0_std']:.1f}" if "k0_mean" in row else ""
        minutes = ("no training" if name in DERIVED else "" if row["minutes_mean"] is None
                   else f"{row['minutes_mean']:.1f}")
        lines.append(f"| {title} | {row['mean']:.1f} ± {row['std']:.1f} | {per_seed} | {k0} | {_cell(row.get('vs_k0'))} "
                     f"| {_cell(row.get('vs_dacs'))} | {minutes} |")
    lines += ["", "Paired: the mean ± std over seeds of (row - other) seed by seed; ahead: seeds where it is above 0.",
              f"Best CICLD row: {figures.get('best') or 'not known yet'} ({best_how})."]
    if "gap" in figures:
        lines.append(f"oracle - source-only gap: {figures['gap']:.1f} points; {figures['best']} closes "
                     f"{100 * figures['gap_closed']:.0f} % of it.")
        for key, what in (("dacs_gap_closed", "DACS"), ("adabn_gap_closed", "Source-only + AdaBN (no training)")):
            if key in figures:
                lines.append(f"{what} closes {100 * figures[key]:.0f} %.")
    lines += format_per_class(figures)
    lines += ["", "Goals:"]
    lines += [f"- {c['status']}: {c['goal']}: {c['detail']}" for c in checks]
    return "\n".join(lines) + "\n"


def measure(out: Path, seeds: list[int], best: str | None) -> Measured:
    measured: Measured = {}
    for name in [*ORDER, *VARIANTS]:
        if name in ABLATIONS and best is None:
            continue
        for seed in seeds:
            work_dir = out / run_name(name, seed, best)
            record = final_eval(work_dir)  # metrics.jsonl read once per run
            if record is None:
                continue
            measured.setdefault(name, {})[seed] = {
                "miou": record["miou"], "miou_k0": k0_miou(work_dir) if is_cicld(name) else None,
                "per_class_iou": record.get("per_class_iou") or {},
                "minutes": None if name in DERIVED else train_minutes(work_dir)}
    return measured


def pick_best(out: Path, seeds: list[int], chosen: str | None) -> tuple[str | None, str]:
    """The row the ablations build on, and how it was chosen (said in the table)."""
    if chosen:
        return chosen, "given by --best"
    best = choose_best(measure(out, seeds, None), seeds)
    if best is None:
        return None, "chosen by the highest mean of the three paper rows once they all have every seed"
    return best, "the highest mean at default K of the three paper-routing rows"


def build_table(out: Path, seeds: list[int], best: str | None = None, best_how: str = "",
                benchmark: str = "procedural source -> target") -> str:
    figures = summarize(measure(out, seeds, best), best)
    figures["benchmark"] = benchmark
    checks = goal_checks(figures, seeds) + (camvid_goal_checks(figures, seeds) if "CamVid" in benchmark else [])
    figures["best_chosen"], figures["goals"] = best_how, checks
    table = format_table(figures, checks, best_how)
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(table)
    write_json(out / "table.json", figures)
    plot(figures, out / "table.png")
    plot_per_class(figures, out / "table_per_class.png")
    return table


def plot(figures: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    names = [n for n in table_order(figures) if n in figures]
    if not names:
        return
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    means = [figures[n]["mean"] for n in names]
    colours = ["#888888" if n.startswith("source_only") else "#d08c2b" if n == "dacs" else "#3a9d5d"
               if n == "target_oracle" else "#2b7bba" if n in CICLD_ROWS else "#b0c4de" for n in names]
    ax.bar(range(len(names)), means, yerr=[figures[n]["std"] for n in names], capsize=4, color=colours,
           label="default K (mean ± std)")
    k0 = [x for x, n in enumerate(names) if "k0_mean" in figures[n]]
    if k0:
        # beside the bar's own error bar, not on it
        ax.errorbar([x + 0.25 for x in k0], [figures[names[x]]["k0_mean"] for x in k0], yerr=[figures[names[x]]["k0_std"] for x in k0],
                    fmt="o", color="black", markersize=4, capsize=2, label="same checkpoints at K = 0")
    ticks = []
    for x, name in enumerate(names):
        row = figures[name]
        text = f"{row['mean']:.1f}"
        if row.get("vs_dacs"):
            text += f"\n{row['vs_dacs']['mean']:+.1f} vs DACS"
        ax.text(x, row["mean"] + row["std"] + 0.4, text, ha="center", va="bottom", fontsize=7)
        minutes = "" if row.get("minutes_mean") is None else f"\n{row['minutes_mean']:.0f} min"
        ticks.append(name + (" *" if name == figures.get("best") else "") + minutes)
    ax.set_xticks(range(len(names)), ticks, rotation=35, ha="right", fontsize=7)
    if "dacs" in figures:
        ax.axhline(figures["dacs"]["mean"], color="#d08c2b", linestyle="--", linewidth=1,
                   label=f"DACS: {figures['dacs']['mean']:.1f}")
    if "gap" in figures:
        half = figures["source_only"]["mean"] + figures["gap"] / 2
        ax.axhline(half, color="#555555", linestyle=":", linewidth=1, label=f"half the gap: {half:.1f}")
    ax.set_ylabel("target val mIoU")
    best = figures.get("best")
    ax.set_title(f"{figures.get('benchmark', 'procedural source -> target')} adaptation"
                 + (f" (* best CICLD row: ablations on it)" if best else ""))
    ax.set_ylim(0, max(figures[n]["mean"] + figures[n]["std"] for n in names) * 1.3)
    ax.legend(loc="upper left", fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def plot_per_class(figures: dict, path: Path) -> None:
    """Per-class IoU (mean over seeds) as a grid: rows by method, classes across, the value in each cell."""
    from matplotlib.figure import Figure

    names = [n for n in table_order(figures) if (figures.get(n) or {}).get("per_class_iou")]
    if not names:
        return
    classes = list(figures[names[0]]["per_class_iou"])
    values = [[figures[n]["per_class_iou"].get(c, float("nan")) for c in classes] for n in names]
    fig = Figure(figsize=(1.6 + 0.75 * len(classes), 0.9 + 0.42 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for y, row in enumerate(values):
        for x, value in enumerate(row):
            ax.text(x, y, f"{value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 55 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(f"{figures.get('benchmark', '')}: per-class IoU (mean over seeds)", fontsize=9)
    fig.colorbar(image, ax=ax, label="IoU")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true", help="generate the synthetic data and stop")
    parser.add_argument("--size", default="256x128", help="frame size for --prepare (default 256x128)")
    parser.add_argument("--data-version", type=int, choices=(1, 2), default=2,
                        help="benchmark version --prepare generates (default 2; 1 reproduces the first table)")
    parser.add_argument("--renderer", choices=("2d", "blender"), default="2d",
                        help="--prepare: the source's renderer (blender: path-traced, needs the optional extra bpy; "
                             "default data folder with --camvid data/blender_camvid)")
    parser.add_argument("--samples", type=int, default=8, help="--prepare --renderer blender: Cycles samples (default 8)")
    parser.add_argument("--render-workers", type=int, default=2,
                        help="--prepare --renderer blender: Blender processes side by side (default 2)")
    parser.add_argument("--source-seed", type=int, default=1,
                        help="--prepare with --camvid: the source's seed (default 1, the 2D table's)")
    parser.add_argument("--only", nargs="+", choices=[*ORDER, *VARIANTS],
                        help=f"run only these rows (the variants {', '.join(VARIANTS)} run only when named here)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None, help="runs and table (default runs/uda_table)")
    parser.add_argument("--data", type=Path, default=None,
                        help="generated data (default data/synth; with --camvid data/synth_camvid, or "
                             "data/blender_camvid with --renderer blender)")
    parser.add_argument("--camvid", type=Path, default=None, metavar="DIR",
                        help="the sim-to-real table: CamVid (SegNet layout: train/, trainannot/, val/, valannot/) "
                             "as the target, scored on its val split with protocol 11 (default --out "
                             "runs/uda_table_camvid)")
    parser.add_argument("--set", dest="extra", action="append", default=[],
                        help="extra override for every run (a row's own keys, e.g. DACS's run.eval_steps=0, win)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side (default 1; with 2 on 2 cores add --set run.threads=1)")
    parser.add_argument("--best", choices=CICLD_ROWS, default=None,
                        help="the CICLD row the ablations build on (default: the paper-routing row with the highest "
                             "mean, known once all three have every seed)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the runs and evaluations it would start, with their overrides, and what is finished")
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from finished runs")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    camvid = args.camvid
    if camvid is not None and not (camvid / "train").is_dir() and not args.table_only:
        parser.error(f"--camvid {camvid}: no train/ folder there (expected CamVid's SegNet layout: "
                     "train/, trainannot/, val/, valannot/)")
    args.data = args.data or (DEFAULT_DATA if camvid is None else CAMVID_BLENDER_DATA if args.renderer == "blender"
                              else CAMVID_DATA)
    args.out = args.out or REPO / ("runs/uda_table" if camvid is None else "runs/uda_table_camvid")
    source = "Blender-rendered source" if source_renderer(args.data) == "blender" else "procedural source"
    benchmark = f"{source} -> target" if camvid is None else f"{source} -> CamVid (real)"
    if args.prepare:
        prepare(args.data, CAMVID_SOURCE_SIZE if camvid is not None and args.size == "256x128" else args.size,
                args.data_version, camvid=camvid is not None, renderer=args.renderer, samples=args.samples,
                workers=args.render_workers, source_seed=args.source_seed)
        return
    selected = [n for n in args.only or ORDER if n not in DERIVED]
    if not args.table_only:
        folders = ("source", "target") if camvid is None else ("source",)
        missing = [args.data / folder for folder in folders if not (args.data / folder).is_dir()]
        if missing and not args.dry_run:
            parser.error(f"no generated data in {', '.join(map(str, missing))}: run with --prepare first")
        main_rows = [n for n in selected if n in MAIN_ROWS or n in VARIANTS]
        todo = plan(main_rows, args.seeds, args.data, args.out, args.extra, args.best, camvid)
        adabn = not args.only or bool({"source_only", "source_only_adabn"} & set(args.only))
        if args.dry_run:
            print(f"data: {args.data}{'' if not missing else ' (not generated yet: --prepare)'}; runs in {args.out}")
            print("\n".join(job.describe() for job in todo))
            if adabn:
                for seed in args.seeds:
                    work_dir = args.out / f"source_only_adabn_s{seed}"
                    print(f"{work_dir.name}: " + ("done already" if final_miou(work_dir) is not None
                                                  else "AdaBN of source_only_s%d once it has finished" % seed))
        else:
            run_all(todo, args.jobs)
            if adabn:
                for seed in args.seeds:
                    adabn_one(seed, args.out)
        # the ablations need the best row: measured only now, after the rows above have run
        ablations = [n for n in selected if n in ABLATIONS]
        best, how = pick_best(args.out, args.seeds, args.best)
        if ablations and best is None:
            print(f"ablations ({', '.join(ablations)}) wait for the best CICLD row: {', '.join(PAPER_ROWS)} have not "
                  "all finished every seed; run again once they have, or name it with --best ROW")
        elif ablations:
            todo = plan(ablations, args.seeds, args.data, args.out, args.extra, best, camvid)
            if args.dry_run:
                print(f"ablations on {best} ({how}):")
                print("\n".join(job.describe() for job in todo))
            else:
                run_all(todo, args.jobs)
        if args.dry_run:
            return
    best, how = pick_best(args.out, args.seeds, args.best)
    print(build_table(args.out, args.seeds, best, how, benchmark))


if __name__ == "__main__":
    main()

"""The adaptation benchmark on the procedural generator: source style -> target style.

Runs train/uda.py for source-only, full CICLD UDA and the target oracle over several
seeds, then the paper's ablations with one seed, and writes a table (markdown + JSON)
and a bar chart. One baseline is derived without training: source-only + AdaBN, the
source-only model with BatchNorm statistics re-estimated from the unlabelled target
images, which says what target statistics alone buy. Finished runs are kept and skipped, so the table can be built over
several sessions; each run is sized for about 10 minutes on one CPU core.

    .venv/bin/python benchmarks/uda_table.py --prepare            # generate data/synth once
    .venv/bin/python benchmarks/uda_table.py --jobs 2 --set run.threads=1   # every run, two at a time, then the table
    .venv/bin/python benchmarks/uda_table.py --only source_only target_oracle --seeds 0
    .venv/bin/python benchmarks/uda_table.py --table-only         # rebuild the table from finished runs
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cicld_core.io import atomic_path, write_json  # noqa: E402
from cicld_core.uda.report import best_eval_record, read_metrics  # noqa: E402

CONFIG = REPO / "config/uda/synth_cicld.yaml"
DEFAULT_DATA = REPO / "data/synth"
# name -> (overrides, multi-seed?)
RUNS: dict[str, tuple[list[str], bool]] = {
    "source_only": (["uda.mode=source_only"], True),
    "cicld": ([], True),
    "target_oracle": (["uda.mode=target_oracle"], True),
    "no_conditioning": (["model.conditioning=false"], False),
    "no_inter_coder": (["model.inter_coder=false"], False),
    "adversarial_none": (["uda.adversarial=none"], False),
    "adversarial_2class": (["uda.adversarial=2class"], False),
}
# derived rows: name -> the run whose final model they start from
DERIVED = {"source_only_adabn": "source_only"}
# table and plot order: each derived row right after the run it derives from
ORDER = [row for name in RUNS for row in [name, *(d for d, base in DERIVED.items() if base == name)]]
SPLITS = [("source", "source", "gta5", "train", 400, 1), ("target", "target", "cityscapes", "train", 400, 2),
          ("target", "target", "cityscapes", "val", 100, 3)]


def multi_seed(name: str) -> bool:
    """Whether a row runs over every seed (derived rows follow their run) or the first one only."""
    return RUNS[DERIVED.get(name, name)][1]


def row_seeds(name: str, seeds: list[int]) -> list[int]:
    return seeds if multi_seed(name) else seeds[:1]


def prepare(data: Path, size: str, version: int = 2) -> None:
    """Generate the benchmark's data; ``version`` 1 is the first benchmark (the target differs in
    rendering only), 2 also changes the target's content (cicld_core/synth/styles.py)."""
    for folder, style, layout, split, num, seed in SPLITS:
        subprocess.run([sys.executable, "-m", "cicld_core.synth", "--out", str(data / folder), "--style", style,
                        "--layout", layout, "--num", str(num), "--size", size, "--seed", str(seed),
                        "--split", split, "--version", str(version)], check=True, cwd=REPO)


def final_miou(work_dir: Path) -> float | None:
    metrics = work_dir / "metrics.jsonl"
    if not (work_dir / "report.md").is_file() or not metrics.is_file():
        return None
    _, evals = read_metrics(metrics)
    return evals[-1]["miou"] if evals else None


def train_command(name: str, seed: int, data: Path, work_dir: Path, extra: list[str]) -> list[str]:
    overrides = RUNS[name][0] + [f"run.seed={seed}", f"data.source.root={data / 'source'}",
                                 f"data.target.root={data / 'target'}", f"data.val.root={data / 'target'}"] + extra
    command = [sys.executable, "train/uda.py", "--config", str(CONFIG), "--work-dir", str(work_dir)]
    command += [arg for o in overrides for arg in ("--set", o)]
    if (work_dir / "latest.safetensors").is_file():
        command.append("--resume")
    return command


def run_all(runs: list[tuple[str, int]], data: Path, out: Path, extra: list[str], jobs: int) -> None:
    """Train every unfinished run. One job at a time shows train/uda.py's own progress bar;
    several side by side write each run's output to WORK_DIR/train.log and show one bar over
    the runs. A failed run does not stop the others; they are named at the end."""
    todo = []
    for name, seed in runs:
        work_dir = out / f"{name}_s{seed}"
        if final_miou(work_dir) is not None:
            print(f"{work_dir.name}: done already")
        else:
            todo.append((work_dir, train_command(name, seed, data, work_dir, extra)))
    if jobs == 1:
        for work_dir, command in todo:
            print(f"{work_dir.name}: {' '.join(command[1:])}", flush=True)
            subprocess.run(command, check=True, cwd=REPO)
        return

    def run_logged(work_dir: Path, command: list[str]) -> int:
        work_dir.mkdir(parents=True, exist_ok=True)
        with open(work_dir / "train.log", "a") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            return subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode

    failed = []
    with ThreadPoolExecutor(jobs) as pool, tqdm(total=len(todo), desc="benchmark runs", unit="run") as bar:
        futures = {pool.submit(run_logged, work_dir, command): work_dir for work_dir, command in todo}
        for future in as_completed(futures):
            work_dir, returncode = futures[future], future.result()
            miou = final_miou(work_dir)
            if returncode == 0 and miou is not None:
                bar.write(f"{work_dir.name}: target mIoU {miou:.2f}")
            else:
                failed.append(work_dir)
                bar.write(f"{work_dir.name}: FAILED (exit {returncode}), see {work_dir / 'train.log'}")
            bar.update()
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: " + ", ".join(str(w / "train.log") for w in failed))


def adabn_one(seed: int, out: Path, batch_size: int = 4) -> None:
    """Source-only + AdaBN: re-estimate the final source-only model's BatchNorm statistics on
    every target training image, then score it as the runs are scored."""
    import torch
    import yaml

    from cicld_core.data import build_dataset
    from cicld_core.evaluation import eval_transform, evaluate_model
    from cicld_core.model.checkpoint import load_model
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
    target = config["data"]["target"]
    train = build_dataset(target["kind"], target["root"], target["split"], transform=transform, seed=seed)
    val_spec = config["data"]["val"]
    val = build_dataset(val_spec["kind"], val_spec["root"], val_spec["split"], transform=transform, seed=seed)
    batches = (torch.stack([train[i]["image"] for i in range(start, min(start + batch_size, len(train)))])
               for start in range(0, len(train), batch_size))
    reestimate_norm_statistics(model, batches)
    run = config["run"]
    summary = evaluate_model(model, val, steps=run["eval_steps"], strength=run["eval_strength"], seed=seed).summary(run["eval_protocol"])
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


def build_table(out: Path, seeds: list[int]) -> str:
    rows, figures = [], {}
    for name in ORDER:
        finished = {s: v for s in row_seeds(name, seeds) if (v := final_miou(out / f"{name}_s{s}")) is not None}
        done, values = list(finished), list(finished.values())
        best = [best_eval_record(read_metrics(out / f"{name}_s{s}" / "metrics.jsonl")[1])["miou"] for s in done]
        if not values:
            rows.append(f"| {name} | not run | | |")
            continue
        mean = statistics.mean(values)
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        figures[name] = {"final_miou": values, "mean": round(mean, 2), "std": round(spread, 2),
                         "best_miou": best, "seeds": done}
        rows.append(f"| {name} | {mean:.1f} ± {spread:.1f} | {len(values)} | "
                    f"{', '.join(f'{v:.1f}' for v in values)} |")
    lines = ["| run | target val mIoU (final, mean ± std) | seeds | per seed |", "|---|---|---|---|", *rows]
    if {"source_only", "target_oracle", "cicld"} <= set(figures):
        gap = figures["target_oracle"]["mean"] - figures["source_only"]["mean"]
        closed = (figures["cicld"]["mean"] - figures["source_only"]["mean"]) / gap if gap else float("nan")
        lines += ["", f"oracle - source-only gap: {gap:.1f} points; CICLD closes {100 * closed:.0f} % of it."]
        figures["gap"], figures["gap_closed"] = round(gap, 2), round(closed, 3)
        if "source_only_adabn" in figures:
            adabn = (figures["source_only_adabn"]["mean"] - figures["source_only"]["mean"]) / gap if gap else float("nan")
            lines.append(f"Source-only + AdaBN (target BatchNorm statistics, no training) closes {100 * adabn:.0f} %.")
            figures["adabn_gap_closed"] = round(adabn, 3)
    table = "\n".join(lines) + "\n"
    with atomic_path(out / "table.md") as tmp:
        tmp.write_text(table)
    write_json(out / "table.json", figures)
    plot(figures, out / "table.png")
    return table


def plot(figures: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    names = [n for n in ORDER if n in figures]
    if not names:
        return
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.add_subplot()
    means = [figures[n]["mean"] for n in names]
    ax.bar(names, means, yerr=[figures[n]["std"] for n in names], capsize=4,
           color=["#888888" if n == "source_only" else "#2b7bba" if n == "cicld" else "#3a9d5d"
                  if n == "target_oracle" else "#b0c4de" for n in names])
    ax.set_ylabel("target val mIoU")
    ax.set_title("procedural source -> target adaptation")
    ax.tick_params(axis="x", rotation=30)
    for x, name in enumerate(names):
        ax.text(x, figures[name]["mean"] + figures[name]["std"] + 0.4, f"{figures[name]['mean']:.1f}",
                ha="center", va="bottom", fontsize=8)
    if "gap" in figures:
        half = figures["source_only"]["mean"] + figures["gap"] / 2
        ax.axhline(half, color="#555555", linestyle=":", linewidth=1, label=f"half the gap: {half:.1f}")
    ablations = [x for x, name in enumerate(names) if not multi_seed(name)]
    seed = figures[names[ablations[0]]]["seeds"][0] if ablations else None
    if "cicld" in figures and seed in figures["cicld"]["seeds"]:
        # the ablations are one seed: compare them with the full model's same seed, not the mean
        full = figures["cicld"]["final_miou"][figures["cicld"]["seeds"].index(seed)]
        ax.hlines(full, min(ablations) - 0.4, max(ablations) + 0.4, color="#2b7bba", linestyle="--", linewidth=1,
                  label=f"full CICLD, the ablations' seed ({seed}): {full:.1f}")
    ax.set_ylim(0, max(figures[n]["mean"] + figures[n]["std"] for n in names) * 1.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true", help="generate the synthetic data and stop")
    parser.add_argument("--size", default="256x128", help="frame size for --prepare (default 256x128)")
    parser.add_argument("--data-version", type=int, choices=(1, 2), default=2,
                        help="benchmark version --prepare generates (default 2; 1 reproduces the first table)")
    parser.add_argument("--only", nargs="+", choices=sorted([*RUNS, *DERIVED]), help="run only these")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "runs/uda_table")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="generated data (default data/synth)")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra override for every run")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs side by side (default 1; with 2 on 2 cores add --set run.threads=1)")
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from finished runs")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.prepare:
        prepare(args.data, args.size, args.data_version)
        return
    if not args.table_only:
        missing = [args.data / folder for folder in ("source", "target") if not (args.data / folder).is_dir()]
        if missing:
            parser.error(f"no generated data in {', '.join(map(str, missing))}: run with --prepare first")
        runs = [(name, seed) for name in [n for n in args.only or RUNS if n in RUNS]
                for seed in row_seeds(name, args.seeds)]
        run_all(runs, args.data, args.out, args.extra, args.jobs)
        if not args.only or {"source_only", "source_only_adabn"} & set(args.only):
            for seed in args.seeds:
                adabn_one(seed, args.out)
    print(build_table(args.out, args.seeds))


if __name__ == "__main__":
    main()

"""One experiment = one YAML file, read into typed dataclasses; ``--set key=value`` overrides.

Unknown keys stop at start-up with the key and the keys that exist, so a typo never
silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from ..data import DATASET_KINDS
from ..labels import ALL_PROTOCOLS, CAMVID_PROTOCOL, NUM_TRAIN_CLASSES
from ..model import ModelConfig, SamplingOptions, preset

MODES = ("cicld", "dacs", "source_only", "target_oracle")
ROUTINGS = ("decoupled", "paper")
CONDITION_ON = ("labels", "first_pass", "mix")
DISCRIMINATOR_INPUTS = ("eps_hat", "z0_hat")
ADVERSARIAL = ("none", "2class", "3class")
PSEUDO_LABEL_WEIGHTING = ("share", "pixel")
EMA_BN_STATISTICS = ("student", "target")


# The trainer seeds rank r's generators with seed * 1000 + r (+ 1, + 2); torch takes at most 2**63 - 1.
MAX_SEED = (2**63 - 1) // 1000 - 1
# SamplingOptions.problems names its options; the trainer's keys for the ones evaluation uses
SAMPLING_KEYS = {"steps / strength": "run.eval_steps / run.eval_strength", "steps": "run.eval_steps",
                 "strength": "run.eval_strength", "seed": "run.seed"}

TYPE_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
              tuple: "a list", dict: "a mapping"}


class ConfigError(ValueError):
    """A config file or override names an unknown key or holds a bad value."""


@dataclass
class DatasetSpec:
    kind: str = "cityscapes"
    root: str = ""
    split: str | None = "train"
    max_images: int | None = None  # evaluation only: the first N images


@dataclass
class DataConfig:
    source: DatasetSpec = field(default_factory=lambda: DatasetSpec(kind="gta5", split="all"))
    target: DatasetSpec = field(default_factory=DatasetSpec)
    val: DatasetSpec = field(default_factory=lambda: DatasetSpec(split="val"))
    source_resize: tuple[int, int] | None = None  # (width, height) before cropping
    target_resize: tuple[int, int] | None = None
    crop_size: tuple[int, int] = (512, 512)  # (height, width)
    cat_max_ratio: float = 0.75
    rare_class_sampling: bool = True
    rcs_temperature: float = 0.01
    rcs_min_pixels: int = 3000  # at the source's full resolution, as DAFormer
    workers: int = 2


@dataclass
class UDAConfig:
    # cicld | dacs | source_only | target_oracle; dacs: self-training, ClassMix and EMA with no
    # diffusion and no adversarial term at all (the baseline CICLD must beat, evaluated at K = 0)
    mode: str = "cicld"
    adversarial: str = "3class"  # none | 2class | 3class
    pseudo_label_threshold: float = 0.968
    pseudo_label_weighting: str = "share"  # share: q per image (DACS) | pixel: 1 where confident, else 0
    ignore_top: int = 0  # rows of the target crop that pseudo-labels never cover (e.g. a car bonnet)
    ignore_bottom: int = 0
    lambda_ldm: float = 1.0
    lambda_adv: float = 0.1
    lambda_denoised: float = 1.0  # D trained on denoised latents (step 7)
    denoised_max_strength: float = 0.5  # t for step 7 drawn below this share of T, as inference noises
    ema_alpha: float = 0.999
    # target: the EMA model keeps BatchNorm statistics of its own, from the target batches it
    # labels (measured better: docs/benchmarks.md, adaptation benchmark) | student: copied from the student,
    # as DAFormer does (its MiT encoder has no BatchNorm), a mix of source, mixed and target
    ema_bn_statistics: str = "target"
    color_jitter: float = 0.2
    blur: bool = True
    # How the segmentation loss meets the denoiser (docs/design.md section 2). decoupled: CE on the
    # plain path only, L_ldm on detached z0, D on latents of a frozen denoiser (step 8).
    # paper: also CE on the denoised latent of the labelled branches, reaching D, eps_theta,
    # f_mask and E (lambda_denoised weighs it; step 8 is then not used).
    routing: str = "decoupled"
    unroll_steps: int = 1  # DDIM steps with gradients on the denoised path (1: one-step z0_hat)
    # What f_mask encodes in training: labels (the paper; pseudo-labels on the target) |
    # first_pass (the model's own detached plain-path argmax, what inference feeds) | mix
    condition_on: str = "labels"
    condition_label_prob: float = 0.5  # mix: the chance per image of labels instead of the first pass
    condition_corrupt_share: float = 0.0  # share of label regions given a random class, so eps_theta learns to fix c
    # What f_dis reads: eps_hat of L_ldm (round 1) | z0_hat of the denoised path (the latent D reads)
    discriminator_input: str = "eps_hat"
    confusion_to_encoder: bool = False  # z0_hat only: the confusion gradient also reaches E through z_t
    # Latent consistency on the target (issue 25): D decodes a one-step denoised noisy target latent
    # against the EMA teacher's pseudo-labels of the clean image. 0: off.
    lambda_latent_consistency: float = 0.0
    latent_consistency_max_strength: float = 0.5  # t drawn below this share of T
    # false: decode the noised latent scaled back, z_t / sqrt(abar_t), with no denoiser (the control)
    latent_consistency_denoise: bool = True
    # Masked image consistency on the target (MIC; masked_consistency.py): the student on the
    # augmented target with blocks blanked out, against the pseudo-labels of the clean image. 0: off.
    lambda_masked_consistency: float = 0.0
    masked_consistency_ratio: float = 0.7  # share of blocks blanked (MIC's 0.7)
    masked_consistency_block: int = 16  # block side in pixels (MIC's 64 on 1024-wide frames)


@dataclass
class OptimConfig:
    lr: float = 6e-5
    head_lr_mult: float = 10.0  # D and f_cls (DAFormer's decode head)
    diffusion_lr_mult: float = 1.0  # eps_theta, f_mask and f_dis (too high a rate and eps_theta collapses to 0)
    weight_decay: float = 0.01
    warmup_iters: int = 1500
    poly_power: float = 1.0
    grad_clip: float | None = 10.0


@dataclass
class RunConfig:
    iters: int = 40000
    batch_size: int = 1  # source images per GPU; as many target images
    log_interval: int = 50
    eval_interval: int = 4000
    checkpoint_interval: int = 4000  # latest.safetensors is also written before every evaluation
    # K and strength when evaluating; not SamplingOptions' defaults (1 / 0.25, chosen later on the shipped
    # checkpoint) because every run so far was scored with these and the benchmark compares against them
    eval_steps: int = 2
    eval_strength: float = 0.5
    eval_protocol: int = 19
    # (width, height) the model sees at evaluation, scored at the label's resolution; null: the
    # label's own size. A model trained on resized frames is evaluated at that size (CamVid).
    eval_input_size: tuple[int, int] | None = None
    device: str = "auto"
    amp: str = "auto"  # auto (bf16 on CUDA, off on CPU) | bf16 | fp16 | off
    seed: int = 0
    threads: int | None = None
    # a checkpoint to start from instead of random weights (the paper's source pre-training; see
    # uda/warm_start.py); null: from scratch
    init_checkpoint: str | None = None

    def eval_sampling(self, amp: bool = False) -> SamplingOptions:
        """The options evaluation segments with (bf16 when training runs under autocast)."""
        return SamplingOptions(steps=self.eval_steps, strength=self.eval_strength, seed=self.seed,
                               dtype="bf16" if amp else "fp32")


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "demo"})
    data: DataConfig = field(default_factory=DataConfig)
    uda: UDAConfig = field(default_factory=UDAConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def model_config(self) -> ModelConfig:
        """``model:`` holds an optional ``preset`` and ModelConfig overrides."""
        values = dict(self.model)
        try:
            return preset(values.pop("preset", "demo"), **values)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown key {where + '.' if where else ''}{unknown[0]}; "
                          f"keys of {where or 'the config'}: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in values.items():
        hint, key = hints[name], f"{where}.{name}" if where else name
        kwargs[name] = _build(hint, value, key) if dataclasses.is_dataclass(hint) else _coerce(hint, value, key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check a YAML value against a field's type; lists become tuples."""
    options = get_args(hint) if get_origin(hint) in (types.UnionType, typing.Union) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{key} may not be empty")
    for option in options:
        origin = get_origin(option) or option
        if origin is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
        if origin is dict and isinstance(value, dict):
            return value
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin in (int, str, bool) and type(value) is origin:
            return value
    wanted = " or ".join(TYPE_WORDS.get(get_origin(o) or o, str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{key} must be {wanted}, got {value!r}")


def validate(config: ExperimentConfig) -> ExperimentConfig:
    problems = []
    if config.uda.mode not in MODES:
        problems.append(f"uda.mode must be one of {', '.join(MODES)}, got {config.uda.mode!r}")
    problems += uda_problems(config.uda, config.run)
    if config.uda.adversarial not in ADVERSARIAL:
        problems.append(f"uda.adversarial must be one of {', '.join(ADVERSARIAL)}, got {config.uda.adversarial!r}")
    for name in ("source", "target", "val"):
        spec = getattr(config.data, name)
        if spec.kind not in DATASET_KINDS:
            problems.append(f"data.{name}.kind must be one of {', '.join(DATASET_KINDS)}, got {spec.kind!r}")
        if not spec.root:
            problems.append(f"data.{name}.root is not set")
    if config.uda.pseudo_label_weighting not in PSEUDO_LABEL_WEIGHTING:
        problems.append(f"uda.pseudo_label_weighting must be one of {', '.join(PSEUDO_LABEL_WEIGHTING)}, "
                        f"got {config.uda.pseudo_label_weighting!r}")
    if not 0 < config.uda.pseudo_label_threshold < 1:
        problems.append("uda.pseudo_label_threshold must be in (0, 1)")
    if not 0 < config.uda.denoised_max_strength <= 1:
        problems.append("uda.denoised_max_strength must be in (0, 1]")
    if config.uda.ema_bn_statistics not in EMA_BN_STATISTICS:
        problems.append(f"uda.ema_bn_statistics must be one of {', '.join(EMA_BN_STATISTICS)}, "
                        f"got {config.uda.ema_bn_statistics!r}")
    if not 0 < config.uda.ema_alpha < 1:
        problems.append("uda.ema_alpha must be in (0, 1)")
    if config.run.iters < 1 or config.run.batch_size < 1:
        problems.append("run.iters and run.batch_size must be at least 1")
    for name in ("log_interval", "eval_interval", "checkpoint_interval"):
        if getattr(config.run, name) < 1:
            problems.append(f"run.{name} must be at least 1")
    if config.run.amp not in ("auto", "bf16", "fp16", "off"):
        problems.append(f"run.amp must be auto, bf16, fp16 or off, got {config.run.amp!r}")
    model_config = config.model_config()  # raises ConfigError on a bad model section
    problems += run_problems(config.run, config.data.val, model_config) + training_problems(config, model_config)
    if problems:
        raise ConfigError("; ".join(problems))
    return config


def uda_problems(uda: UDAConfig, run: RunConfig) -> list[str]:
    """The routing, conditioning and discriminator keys of issue 16; the latent and masked consistency keys."""
    problems = []
    for key, value, options in (("routing", uda.routing, ROUTINGS), ("condition_on", uda.condition_on, CONDITION_ON),
                                ("discriminator_input", uda.discriminator_input, DISCRIMINATOR_INPUTS)):
        if value not in options:
            problems.append(f"uda.{key} must be one of {', '.join(options)}, got {value!r}")
    if uda.unroll_steps < 1:
        problems.append(f"uda.unroll_steps must be at least 1, got {uda.unroll_steps}")
    for key in ("condition_label_prob", "condition_corrupt_share"):
        if not 0 <= getattr(uda, key) <= 1:
            problems.append(f"uda.{key} must be in [0, 1], got {getattr(uda, key)}")
    if uda.confusion_to_encoder and uda.discriminator_input != "z0_hat":
        # eps_hat comes from L_ldm, whose z0 is detached: the switch would silently do nothing
        problems.append("uda.confusion_to_encoder needs uda.discriminator_input=z0_hat (L_ldm's eps_hat "
                        "never reaches E)")
    if uda.lambda_latent_consistency < 0:
        problems.append(f"uda.lambda_latent_consistency must be at least 0, got {uda.lambda_latent_consistency}")
    if not 0 < uda.latent_consistency_max_strength <= 1:
        problems.append(f"uda.latent_consistency_max_strength must be in (0, 1], "
                        f"got {uda.latent_consistency_max_strength}")
    if uda.lambda_masked_consistency < 0:
        problems.append(f"uda.lambda_masked_consistency must be at least 0, got {uda.lambda_masked_consistency}")
    if not 0 <= uda.masked_consistency_ratio < 1:
        problems.append(f"uda.masked_consistency_ratio must be in [0, 1), got {uda.masked_consistency_ratio}")
    if uda.masked_consistency_block < 1:
        problems.append(f"uda.masked_consistency_block must be at least 1 pixel, got {uda.masked_consistency_block}")
    if uda.mode == "dacs" and uda.lambda_latent_consistency > 0 and uda.latent_consistency_denoise:
        # nothing else trains the denoiser in DACS: the term would decode an untrained network's output
        problems.append("uda.mode=dacs trains no denoiser: with uda.lambda_latent_consistency > 0 set "
                        "uda.latent_consistency_denoise=false")
    if uda.mode == "dacs" and run.eval_steps != 0:
        # a DACS run trains no denoiser: denoising with it would score noise, not the baseline
        problems.append(f"uda.mode=dacs trains no denoiser: set run.eval_steps=0 (got {run.eval_steps})")
    return problems


def run_problems(run: RunConfig, val: DatasetSpec, model_config: ModelConfig) -> list[str]:
    """What evaluation and seeding would only fail on hours into a run, checked before the first step."""
    problems = [_sampling_key(problem) for problem in run.eval_sampling().problems(model_config.num_train_timesteps)]
    bad_seed = [problem for problem in problems if problem.startswith("run.seed")]
    if bad_seed or run.seed > MAX_SEED:  # the trainer's bound is the tighter one: name only it
        problems = [problem for problem in problems if problem not in bad_seed]
        problems.append(f"run.seed must be a whole number in [0, {MAX_SEED}] (each rank's generators are "
                        f"seeded with seed * 1000 + rank), got {run.seed!r}")
    if run.eval_protocol not in ALL_PROTOCOLS:
        problems.append(f"run.eval_protocol must be one of {', '.join(str(p) for p in ALL_PROTOCOLS)} (how many "
                        f"of the {NUM_TRAIN_CLASSES} Cityscapes classes are scored; 11: merged into CamVid's "
                        f"classes), got {run.eval_protocol!r}")
    elif (val.kind == "camvid") != (run.eval_protocol == CAMVID_PROTOCOL):
        problems.append(f"run.eval_protocol {run.eval_protocol} with data.val.kind {val.kind}: CamVid is scored with "
                        f"protocol {CAMVID_PROTOCOL} (its 11 classes) and only CamVid is")
    elif model_config.num_classes != NUM_TRAIN_CLASSES:
        # every dataset kind labels the Cityscapes train classes; the protocols select among them
        problems.append(f"run.eval_protocol {run.eval_protocol} scores the {NUM_TRAIN_CLASSES} Cityscapes train "
                        f"classes the datasets label, but model.num_classes is {model_config.num_classes}: "
                        f"set model.num_classes={NUM_TRAIN_CLASSES}")
    if run.eval_input_size is not None and (len(run.eval_input_size) != 2 or min(run.eval_input_size) < 16):
        problems.append(f"run.eval_input_size must be [width, height], each at least 16, or null, "
                        f"got {run.eval_input_size!r}")
    if val.max_images is not None and val.max_images < 1:
        problems.append(f"data.val.max_images must be at least 1 or null (every image), got {val.max_images!r}")
    if run.threads is not None and run.threads < 0:
        problems.append(f"run.threads must be at least 0 (0 or null: torch's default), got {run.threads!r}")
    if run.init_checkpoint is not None and not Path(run.init_checkpoint).is_file():
        problems.append(f"run.init_checkpoint: no file at {run.init_checkpoint} (give a checkpoint a run or the "
                        "project wrote, or null to start from scratch)")
    return problems


def training_problems(config: ExperimentConfig, model_config: ModelConfig) -> list[str]:
    """What the first training step, not the start-up, would fail on (or silently get wrong)."""
    problems = []
    multiple, crop = model_config.size_multiple, config.data.crop_size
    if len(crop) != 2 or any(not isinstance(v, int) or v < 1 or v % multiple for v in crop):
        # the U-Net's skips only line up on inputs the model can halve that often; training does not pad
        problems.append(f"data.crop_size must be (height, width), each a positive multiple of {multiple} "
                        f"(the model's latent stride x 2 per extra U-Net level), got {list(crop)}")
    if config.data.workers < 0:
        problems.append(f"data.workers must be at least 0 (0: load in the training process), "
                        f"got {config.data.workers}")
    optim = config.optim
    if not optim.lr > 0:
        problems.append(f"optim.lr must be above 0, got {optim.lr}")
    if optim.warmup_iters < 0:
        problems.append(f"optim.warmup_iters must be at least 0, got {optim.warmup_iters}")
    if not optim.poly_power >= 0:
        problems.append(f"optim.poly_power must be at least 0 (0: no decay), got {optim.poly_power}")
    if optim.grad_clip is not None and not optim.grad_clip > 0:
        # a negative bound would flip every gradient without an error
        problems.append(f"optim.grad_clip must be above 0 or null (no clipping), got {optim.grad_clip}")
    return problems


def _sampling_key(problem: str) -> str:
    for name, key in SAMPLING_KEYS.items():
        if problem.startswith(name + " "):
            return key + problem[len(name):]
    return problem


def yaml_problem(error: BaseException) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's own text spans several lines)."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    problem = " ".join(str(part) for part in (getattr(error, "problem", None), getattr(error, "context", None))
                       if part) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        problem += f" (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. run.iters=2000")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError) as error:
        raise ConfigError(f"--set {key.strip()}: the value {raw!r} is not valid YAML: {yaml_problem(error)}; "
                          "write a YAML value such as 0.1, [512, 512], null or a quoted 'string'") from None
    return key.strip().split("."), value


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in the raw YAML mapping; values are parsed as YAML (1e-4, [512, 512], null)."""
    for text in overrides:
        path, value = parse_override(text)
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text}: {part} is not a section")
        node[path[-1]] = value
    return values


def load_config(path: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, RecursionError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(error)}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path}: expected a mapping of sections (name, model, data, uda, "
                              f"optim, run) at the top, got a {type(values).__name__}")
    values = apply_overrides(values, list(overrides))
    return validate(_build(ExperimentConfig, values, ""))

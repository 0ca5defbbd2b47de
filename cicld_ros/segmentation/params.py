"""
The node's parameters: one typed record, its ROS parameter file, and run-time changes.

The same ``config/segment.yaml`` (ROS 2 parameter-file format, ``/**: ros__parameters:``)
feeds ``ros2 launch`` and the DDS mode, which reads it with ROS 2's own rules
(cicld_ros.ros_rules.ros_params: rcl's scalar types, rclpy's matching of the section key against
the
node's full name, rclpy's fixed parameter types); a file may also hold the ``painting``
section (cicld_ros.segmentation.painting_params), so one file can configure both. Each parameter
has a
description (declared to ROS as a ParameterDescriptor) and says whether it may change while
the node runs; the others change while the node is unconfigured (configure reads them).
Topic names may be relative (``camera/image_raw``, the default): the transport resolves them
in the node's namespace and applies remappings, as rcl does (cicld_ros.ros_rules.ros_names).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from cicld_core.model import COMPILE_MODES, SAMPLER_NAMES, SamplingOptions
from cicld_core.model.options import DTYPES, MAX_SAMPLES, MAX_STEPS, SEED_RANGE

from ..ros_rules.ros_names import topic_name_problem
from ..ros_rules.ros_params import load_rcl_yaml, read_node_parameters, type_problem
from .painting_params import SECTION as PAINTING_SECTION, split_painting

NODE_NAME = "segment_node"
NODE_FQN = f"/{NODE_NAME}"  # its full name without a namespace
# Smallest input_width / input_height: the shipped model's size multiple (latent_stride 16 x 2 UNet
# levels = 32, ModelConfig.size_multiple). A smaller resize is padded back up to it, so it only
# throws detail away, and below 8x8 the model refuses the frame (check_images): every frame fails.
MIN_INPUT_SIDE = 32
MAX_INPUT_SIDE = 8192
MAX_BATCH = 64
MAX_MAX_PIXELS = 16384 * 16384
MAX_DEPTH = 1000  # QoS history depth
RELIABILITIES, DURABILITIES = ("best_effort", "reliable"), ("volatile", "transient_local")
MIN_PERIOD, MAX_PERIOD = (
    0.01,
    3600.0,
)  # seconds, of the diagnostics, status-line and warning periods
SAMPLING = SamplingOptions()  # the defaults of the sampling parameters


def param(default: Any, description: str, runtime: bool = False) -> Any:
    factory = (lambda: list(default)) if isinstance(default, list) else None
    metadata = {"description": description, "runtime": runtime}
    if factory:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class NodeParams:
    checkpoint: str = param("", "CICLD checkpoint (.safetensors) to load")
    image_topics: list[str] = param(
        ["camera/image_raw"],
        "sensor_msgs/Image input topics, one per camera (relative "
        "names are resolved in the node's namespace and may be remapped)",
    )
    compressed_image_topics: list[str] = param(
        [], "sensor_msgs/CompressedImage input topics (jpeg, png)"
    )
    output_namespace: str = param(
        "segmentation", "outputs go to <camera namespace>/<output_namespace>/..."
    )
    steps: int = param(
        SAMPLING.steps,
        "denoising steps K (0 = no diffusion, the plain encoder-decoder)",
        runtime=True,
    )
    strength: float = param(
        SAMPLING.strength, "noise level the denoising starts from, in (0, 1]", runtime=True
    )
    sampler: str = param(
        SAMPLING.sampler, f"few-step sampler: {' or '.join(sorted(SAMPLER_NAMES))}", runtime=True
    )
    num_samples: int = param(
        SAMPLING.num_samples,
        "noise samples per frame; above 1 the uncertainty output is available",
        runtime=True,
    )
    seed: int = param(
        SAMPLING.seed, "noise seed: a fixed seed gives repeatable masks", runtime=True
    )
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    dtype: str = param(SAMPLING.dtype, "compute precision: fp32, bf16 or fp16")
    channels_last: bool = param(False, "channels-last memory layout (faster on recent GPUs)")
    compile: str = param(  # noqa: A003 - the ROS parameter is named compile
        "off",
        "torch.compile the model stages: off, default or max-autotune-no-cudagraphs "
        "(compiles on the first frame of each size; falls back to eager if it fails)",
    )
    cuda_graphs: bool = param(
        True, "replay the fixed-shape pipeline as CUDA graphs (CUDA with the ddim sampler)"
    )
    input_width: int = param(
        -1,
        "resize frames to this width before the model (-1 = auto: the size the "
        "checkpoint was validated at, native when it records none; 0 = native)",
    )
    input_height: int = param(
        -1,
        "resize frames to this height before the model (-1 = auto, as input_width; 0 = native)",
    )
    max_batch: int = param(4, "most frames (from different cameras) segmented in one batch")
    max_pixels: int = param(4096 * 4096, "frames with more pixels are rejected as malformed")
    color_encoding: str = param(
        "rgb8", "encoding of colour mask and overlay: rgb8 or bgr8", runtime=True
    )
    overlay_alpha: float = param(
        0.5, "opacity of the colour mask in the overlay, 0..1", runtime=True
    )
    publish_class_mask: bool = param(True, "publish the mono8 trainId mask", runtime=True)
    publish_color_mask: bool = param(True, "publish the colour mask", runtime=True)
    publish_overlay: bool = param(True, "publish the overlay on the input image", runtime=True)
    publish_confidence: bool = param(
        False,
        "publish max class probability as mono8 (0..255); 1 - confidence is "
        "the error score to read (docs/benchmarks.md compares the two)",
        runtime=True,
    )
    publish_uncertainty: bool = param(
        False,
        "publish noise-sample disagreement as mono8 (needs num_samples > 1; "
        "costs K > 0 with several samples)",
        runtime=True,
    )
    input_reliability: str = param(
        "best_effort",
        "QoS of the camera, LiDAR and CameraInfo subscriptions: best_effort (sensor data, as "
        "drivers publish; matches best-effort and reliable publishers) or reliable (matches "
        "reliable ones only)",
    )
    input_durability: str = param(
        "volatile", "QoS durability of the subscriptions: volatile or transient_local"
    )
    input_depth: int = param(5, "QoS history depth (keep last) of the subscriptions")
    output_reliability: str = param(
        "reliable",
        "QoS of the masks, overlays and painted clouds: reliable (best-effort and reliable "
        "subscribers match) or best_effort",
    )
    output_durability: str = param(
        "volatile",
        "QoS durability of the outputs: volatile or transient_local (late joiners get the last)",
    )
    output_depth: int = param(5, "QoS history depth (keep last) of the outputs")
    diagnostics_period: float = param(1.0, "seconds between /diagnostics messages")
    log_period: float = param(10.0, "seconds between status lines in the log")
    warn_period: float = param(5.0, "seconds between repeated warnings of one kind per topic")

    def validate(self, num_train_timesteps: int | None = None) -> "NodeParams":
        """
        Return this record, or raise ValueError naming every invalid value.

        ``num_train_timesteps`` is the loaded model's T for the steps / strength bound; None (no
        model loaded yet) leaves it out.
        """
        problems = []
        if not self.image_topics and not self.compressed_image_topics:
            problems.append("no input: set image_topics and/or compressed_image_topics")
        problems += topic_problems(self)
        problems += self.sampling().problems(num_train_timesteps)
        if self.compile not in COMPILE_MODES:
            problems.append(
                f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}"
            )
        for name in ("color_encoding", *QOS_CHOICES):
            if getattr(self, name) not in CHOICES[name]:
                problems.append(
                    f"{name} must be {' or '.join(CHOICES[name])}, got {getattr(self, name)!r}"
                )
        if not 0 <= self.overlay_alpha <= 1:
            problems.append(f"overlay_alpha must be in [0, 1], got {self.overlay_alpha}")
        problems += input_size_problems(self.input_width, self.input_height, self.max_pixels)
        for (
            name
        ) in NODE_RANGES:  # the ranges ros2 param describe shows, enforced in both transports
            low, high, allowed = RANGES[name]
            if not low <= getattr(self, name) <= high:
                problems.append(f"{name} must be {allowed}, got {getattr(self, name)!r}")
        if problems:
            raise ValueError("invalid node parameters: " + "; ".join(problems))
        return self

    def sampling(self) -> SamplingOptions:
        """
        Return the sampling parameters (named as SamplingOptions' fields) as one SamplingOptions.

        The only form they take below the node's parameters (the engine holds it whole).
        """
        return SamplingOptions(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(SamplingOptions)}
        )


def model_input_size(
    params: NodeParams, checkpoint_size: tuple[int, int] | None
) -> tuple[int, int] | None:
    """
    (width, height) frames are resized to before the model, or None to run them at their own size.

    ``checkpoint_size`` is what the loaded checkpoint records it was validated at (None: it does
    not say).
    """
    if params.input_width == AUTO_SIZE:
        return checkpoint_size
    if params.input_width == NATIVE_SIZE:
        return None
    return params.input_width, params.input_height


def sampling_params(options: SamplingOptions) -> dict[str, Any]:
    """
    Return the node parameters that carry ``options``.

    The same names (NodeParams.sampling() reads them back).
    """
    return dataclasses.asdict(options)


def topic_problems(params: NodeParams) -> list[str]:
    """Invalid input topic names, and an output namespace that would make invalid output topics."""
    problems = []
    for name in [*params.image_topics, *params.compressed_image_topics]:
        problem = topic_name_problem(name)
        if problem:
            problems.append(f"invalid ROS topic name {problem}")
    namespace = params.output_namespace
    if not namespace or namespace.startswith(("/", "~")) or topic_name_problem(namespace):
        problems.append(
            f"output_namespace {namespace!r} must be a relative ROS name such as 'segmentation'"
        )
    return problems


# input_width / input_height: the checkpoint's size, the frame's own
AUTO_SIZE, NATIVE_SIZE = -1, 0


def input_size_problems(width: int, height: int, max_pixels: int) -> list[str]:
    if width == height and width in (AUTO_SIZE, NATIVE_SIZE):
        return []
    if min(width, height) < MIN_INPUT_SIDE:
        return [
            "input_width and input_height must both be -1 (auto: the checkpoint's size), both 0 "
            "(native) "
            f"or both at least {MIN_INPUT_SIDE} (the model's size multiple), got {width}x{height}"
        ]
    if width * height > max_pixels:
        return [
            f"input_width x input_height = {width * height} pixels is over max_pixels = "
            f"{max_pixels}"
        ]
    return []


FIELDS = {f.name: f for f in dataclasses.fields(NodeParams)}
DEFAULTS = NodeParams()
RUNTIME_PARAMS = frozenset(name for name, f in FIELDS.items() if f.metadata["runtime"])


# Declared to ROS in each ParameterDescriptor (ros2 param describe shows them; rclpy refuses a
# value outside a range): name -> (from, to, the allowed values in words). validate() checks
# the finer bounds (steps / strength against the model's timesteps, strength above 0).
RANGES: dict[str, tuple[Any, Any, str]] = {
    "steps": (
        0,
        MAX_STEPS,
        f"0..{MAX_STEPS}; steps / strength at most the model's training timesteps",
    ),
    "strength": (0.0, 1.0, "in (0, 1]"),
    "num_samples": (1, MAX_SAMPLES, f"1..{MAX_SAMPLES}"),
    "overlay_alpha": (0.0, 1.0, "0..1"),
    "seed": (SEED_RANGE[0], SEED_RANGE[1], "0..2**63 - 1"),
    "input_width": (
        -1,
        MAX_INPUT_SIDE,
        f"-1 (auto), 0 (native) or {MIN_INPUT_SIDE}..{MAX_INPUT_SIDE}",
    ),
    "input_height": (
        -1,
        MAX_INPUT_SIDE,
        f"-1 (auto), 0 (native) or {MIN_INPUT_SIDE}..{MAX_INPUT_SIDE}",
    ),
    "max_batch": (1, MAX_BATCH, f"1..{MAX_BATCH}"),
    "max_pixels": (1, MAX_MAX_PIXELS, f"1..{MAX_MAX_PIXELS} (16384 x 16384)"),
    "input_depth": (1, MAX_DEPTH, f"1..{MAX_DEPTH}"),
    "output_depth": (1, MAX_DEPTH, f"1..{MAX_DEPTH}"),
    "diagnostics_period": (MIN_PERIOD, MAX_PERIOD, f"{MIN_PERIOD}..{MAX_PERIOD} s"),
    "log_period": (MIN_PERIOD, MAX_PERIOD, f"{MIN_PERIOD}..{MAX_PERIOD} s"),
    "warn_period": (MIN_PERIOD, MAX_PERIOD, f"{MIN_PERIOD}..{MAX_PERIOD} s"),
}
# the ranges validate() checks itself; the sampling ones and overlay_alpha have their own checks
NODE_RANGES = ("input_width", "input_height", "max_batch", "max_pixels", "input_depth",
               "output_depth", "diagnostics_period", "log_period", "warn_period")
CHOICES: dict[str, tuple[str, ...]] = {
    "sampler": tuple(sorted(SAMPLER_NAMES)),
    "dtype": tuple(DTYPES),
    "compile": tuple(COMPILE_MODES),
    "color_encoding": ("rgb8", "bgr8"),
    "input_reliability": RELIABILITIES,
    "input_durability": DURABILITIES,
    "output_reliability": RELIABILITIES,
    "output_durability": DURABILITIES,
}
QOS_CHOICES = ("input_reliability", "input_durability", "output_reliability", "output_durability")


def coerce_name(name: str) -> None:
    if name not in FIELDS:
        raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(FIELDS)}")


def ros_default(name: str) -> Any:
    """
    Return the default a parameter is declared with under ROS.

    ROS cannot type an empty list: [""].
    """
    default = getattr(DEFAULTS, name)
    return [""] if default == [] else default


def coerce(name: str, value: Any) -> Any:
    """
    Return a value from a file, --set or ROS, checked as rclpy checks it.

    Its type must be the type of the parameter's default (an integer for a double parameter is
    refused, as under ROS).
    """
    coerce_name(name)
    if isinstance(value, tuple):  # launch_ros hands lists over as tuples
        value = list(value)
    problem = type_problem(name, value, ros_default(name))
    if problem:
        raise ValueError(f"parameter {problem}")
    # ROS parameter files cannot hold an empty list, so [""] stands for none
    if isinstance(value, list):
        return [v for v in value if v]
    return value


def with_changes(params: NodeParams, changes: dict[str, Any], at_runtime: bool = False,
                 num_train_timesteps: int | None = None) -> NodeParams:
    """
    Return a validated copy with ``changes``; at run time only the run-time parameters may change.

    ``num_train_timesteps`` is the loaded model's T, which bounds steps / strength.
    """
    if at_runtime:
        fixed = sorted(set(changes) - RUNTIME_PARAMS)
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while the node runs; restart it with the new "
                "value"
            )
    values = {name: coerce(name, value) for name, value in changes.items()}
    return dataclasses.replace(params, **values).validate(num_train_timesteps)


def read_params_file(path: str | Path, node_fqn: str = NODE_FQN) -> dict[str, Any]:
    """
    Return the parameters a ROS 2 parameter file gives the node ``node_fqn``.

    The file is read as ROS 2 reads it (cicld_ros.ros_rules.ros_params), the painting section
    included as dotted names (painting_params.split_painting separates it).
    """
    return read_node_parameters(path, node_fqn)


def parse_set(text: str) -> tuple[str, Any]:
    """
    Return one --set name=value, the value typed as rcl types a -p name:=value.

    On/off are booleans, 1 an integer: a double parameter wants 1.0.
    """
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected name=value, e.g. steps=4")
    name, raw = text.split("=", 1)
    try:
        return name.strip(), load_rcl_yaml(raw)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(
            f"--set {text!r}: the value is not valid YAML ({problem}); quote a string that holds "
            f"YAML syntax, e.g. --set 'checkpoint=\"a[1].safetensors\"'"
        ) from None


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """Return the --set overrides as a mapping (later ones win), each name checked."""
    values = dict(parse_set(s) for s in sets)
    for name in values:
        coerce_name(name)
    return values


def load_params(
    params_file: str | Path | None, sets: list[str] = (), node_fqn: str = NODE_FQN
) -> NodeParams:
    """
    Defaults, then the file, then the --set overrides.

    What the node starts with (and a reload re-reads). A painting section in the file is left to
    painting_params.read_node_files.
    """
    values = split_painting(read_params_file(params_file, node_fqn))[0] if params_file else {}
    values |= parse_sets(sets)
    return with_changes(NodeParams(), values)


def fixed_while_configured(names: Iterable[str]) -> list[str]:
    """
    Return the parameters among ``names`` that only configure reads.

    Every NodeParams field that is not run-time, and the painting section. They may change while
    the node is unconfigured; once it is configured a change is refused (see
    configured_change_problem).
    """
    return sorted(name for name in names if (name in FIELDS and name not in RUNTIME_PARAMS)
                  or name.startswith(PAINTING_SECTION + "."))


def configured_change_problem(names: Iterable[str]) -> str | None:
    """Why changing ``names`` on a configured node is refused, or None when they all may change."""
    fixed = fixed_while_configured(names)
    if not fixed:
        return None
    return (
        f"{', '.join(fixed)} can change only while the node is unconfigured (configure reads "
        "them): "
        f"deactivate and clean up the node, set them, then configure it again"
    )


def descriptions() -> dict[str, str]:
    return {name: f.metadata["description"] for name, f in FIELDS.items()}

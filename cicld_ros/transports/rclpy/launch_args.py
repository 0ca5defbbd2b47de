"""
The launch file's arguments and how they become node parameters and node arguments.

Importable without ROS, so it is tested here; ``launch/segment.launch.py`` is the thin ROS side.

Every value handed to launch_ros must be one it accepts: a bool, int, float or str, or a
non-empty list of one of them (launch_ros/utilities/evaluate_parameters.py refuses an
empty list). The node's own "none" for a topic list is therefore ``[""]``, as in
config/segment.yaml.
"""
from __future__ import annotations

import os
from typing import Any

# name -> (default, description); an empty default leaves the parameter file's value alone
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "params_file": ("", "ROS 2 parameter file (default: the package's config/segment.yaml)"),
    "checkpoint": ("", "CICLD checkpoint (.safetensors); overrides the parameter file"),
    "image_topic": ("", "one sensor_msgs/Image input topic; overrides image_topics"),
    "compressed_image_topic": (
        "",
        "one sensor_msgs/CompressedImage input topic; overrides "
        "compressed_image_topics (given alone, it is the only input)",
    ),
    "steps": ("", "denoising steps K (0 = no diffusion)"),
    "device": ("", "auto, cpu, cuda or cuda:N"),
    "namespace": ("", "namespace of the node"),
    "use_sim_time": (
        "",
        "true: use /clock (rosbag replay); unset, the parameter file's value (default false)",
    ),
    "autostart": (
        "true",
        "configure and activate the lifecycle node at start; false: it waits unconfigured "
        "for 'ros2 lifecycle set <node> configure' (or a lifecycle manager)",
    ),
}
NO_TOPICS = [""]  # how the node's parameters say "no topic" (ROS cannot type an empty list)
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def flag(values: dict[str, str], name: str) -> bool:
    """Return a true/false launch argument; ValueError names it when it is neither."""
    text = values.get(name, LAUNCH_ARGUMENTS[name][0]).strip().lower()
    if text not in TRUE + FALSE:
        raise ValueError(f"{name}:={values[name]!r} must be true or false")
    return text in TRUE


def parameter_overrides(values: dict[str, str]) -> dict[str, Any]:
    """
    Node parameters from the launch arguments a user actually gave.

    Only those: launch_ros writes this dict to a parameter file passed after params_file, and the
    later file wins (launch_ros/actions/node.py, humble and jazzy), so a default here would
    override the file.
    """
    overrides: dict[str, Any] = {}
    if values.get("use_sim_time"):
        overrides["use_sim_time"] = flag(values, "use_sim_time")
    if values.get("checkpoint"):
        overrides["checkpoint"] = values["checkpoint"]
    if values.get("image_topic"):
        overrides["image_topics"] = [values["image_topic"]]
    if values.get("compressed_image_topic"):
        overrides["compressed_image_topics"] = [values["compressed_image_topic"]]
        # the camera given is the only input, not one beside the file's
        if not values.get("image_topic"):
            overrides["image_topics"] = NO_TOPICS
    if values.get("steps"):
        try:
            overrides["steps"] = int(values["steps"])
        except ValueError:
            raise ValueError(f"steps:={values['steps']!r} must be a whole number") from None
    if values.get("device"):
        overrides["device"] = values["device"]
    return overrides


def params_file_path(values: dict[str, str], package_default: str) -> str:
    """
    Return the parameter file to start the node with.

    params_file:= when given (it must be a file: launch_ros would only warn "Parameter file path is
    not a file" and start the node on its defaults, launch_ros/actions/node.py humble and jazzy),
    else the package's config/segment.yaml.
    """
    given = values.get("params_file", "")
    if not given:
        return package_default
    path = os.path.abspath(os.path.expanduser(given))
    if not os.path.isfile(path):
        raise ValueError(
            f"params_file:={given} is not a file ({path}); give the path of a ROS 2 parameter "
            "file, "
            f"or leave params_file unset for the package's config/segment.yaml"
        )
    return path


def node_arguments(values: dict[str, str]) -> list[str]:
    """Return the node's own command-line arguments (before --ros-args)."""
    return [] if flag(values, "autostart") else ["--no-autostart"]

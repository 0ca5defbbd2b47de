"""The launch file's arguments and how they become node parameters and node arguments
(importable without ROS, so it is tested here; ``launch/segment.launch.py`` is the thin ROS side).

Every value handed to launch_ros must be one it accepts: a bool, int, float or str, or a
non-empty list of one of them (launch_ros/utilities/evaluate_parameters.py refuses an
empty list). The node's own "none" for a topic list is therefore ``[""]``, as in
config/segment.yaml.
"""
from __future__ import annotations

from typing import Any

# name -> (default, description); an empty default leaves the parameter file's value alone
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "params_file": ("", "ROS 2 parameter file (default: the package's config/segment.yaml)"),
    "checkpoint": ("", "CICLD checkpoint (.safetensors); overrides the parameter file"),
    "image_topic": ("", "one sensor_msgs/Image input topic; overrides image_topics"),
    "compressed_image_topic": ("", "one sensor_msgs/CompressedImage input topic; overrides "
                                   "compressed_image_topics (given alone, it is the only input)"),
    "steps": ("", "denoising steps K (0 = no diffusion)"),
    "device": ("", "auto, cpu, cuda or cuda:N"),
    "namespace": ("", "namespace of the node"),
    "use_sim_time": ("false", "use /clock (rosbag replay)"),
    "autostart": ("true", "configure and activate the lifecycle node at start; false: it waits unconfigured "
                          "for 'ros2 lifecycle set <node> configure' (or a lifecycle manager)"),
}
NO_TOPICS = [""]  # how the node's parameters say "no topic" (ROS cannot type an empty list)
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def flag(values: dict[str, str], name: str) -> bool:
    """A true/false launch argument; ValueError names it when it is neither."""
    text = values.get(name, LAUNCH_ARGUMENTS[name][0]).strip().lower()
    if text not in TRUE + FALSE:
        raise ValueError(f"{name}:={values[name]!r} must be true or false")
    return text in TRUE


def parameter_overrides(values: dict[str, str]) -> dict[str, Any]:
    """Node parameters from the launch arguments a user actually gave."""
    overrides: dict[str, Any] = {"use_sim_time": flag(values, "use_sim_time")}
    if values.get("checkpoint"):
        overrides["checkpoint"] = values["checkpoint"]
    if values.get("image_topic"):
        overrides["image_topics"] = [values["image_topic"]]
    if values.get("compressed_image_topic"):
        overrides["compressed_image_topics"] = [values["compressed_image_topic"]]
        if not values.get("image_topic"):  # the camera given is the only input, not one beside the file's
            overrides["image_topics"] = NO_TOPICS
    if values.get("steps"):
        try:
            overrides["steps"] = int(values["steps"])
        except ValueError:
            raise ValueError(f"steps:={values['steps']!r} must be a whole number") from None
    if values.get("device"):
        overrides["device"] = values["device"]
    return overrides


def node_arguments(values: dict[str, str]) -> list[str]:
    """The node's own command-line arguments (before --ros-args)."""
    return [] if flag(values, "autostart") else ["--no-autostart"]

"""The launch file's arguments and how they become node parameters (importable without ROS,
so it is tested here; ``launch/segment.launch.py`` is the thin ROS side)."""
from __future__ import annotations

from typing import Any

# name -> (default, description); an empty default leaves the parameter file's value alone
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    "params_file": ("", "ROS 2 parameter file (default: the package's config/segment.yaml)"),
    "checkpoint": ("", "CICLD checkpoint (.safetensors); overrides the parameter file"),
    "image_topic": ("", "one sensor_msgs/Image input topic; overrides image_topics"),
    "compressed_image_topic": ("", "one sensor_msgs/CompressedImage input topic"),
    "steps": ("", "denoising steps K (0 = no diffusion)"),
    "device": ("", "auto, cpu, cuda or cuda:N"),
    "namespace": ("", "namespace of the node"),
    "use_sim_time": ("false", "use /clock (rosbag replay)"),
}


def parameter_overrides(values: dict[str, str]) -> dict[str, Any]:
    """Node parameters from the launch arguments a user actually gave."""
    overrides: dict[str, Any] = {"use_sim_time": values.get("use_sim_time", "false").lower() in ("true", "1", "yes")}
    if values.get("checkpoint"):
        overrides["checkpoint"] = values["checkpoint"]
    if values.get("image_topic"):
        overrides["image_topics"] = [values["image_topic"]]
    if values.get("compressed_image_topic"):
        overrides["compressed_image_topics"] = [values["compressed_image_topic"]]
        if not values.get("image_topic"):
            overrides["image_topics"] = []
    if values.get("steps"):
        try:
            overrides["steps"] = int(values["steps"])
        except ValueError:
            raise ValueError(f"steps:={values['steps']!r} must be a whole number") from None
    if values.get("device"):
        overrides["device"] = values["device"]
    return overrides

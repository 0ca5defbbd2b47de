"""
The semantic point cloud's parameters.

Which cameras paint which LiDAR, their intrinsics and extrinsics, how near in time a cloud and a
mask must be, and the confidence field.

They sit in the node's parameter file as a ``painting`` section beside the other
parameters (under ROS they are the parameters ``painting.<name>``, dotted):

    /**:
      ros__parameters:
        image_topics: ["/front/image_raw"]
        painting:
          # one entry per painted camera; [""] or absent: no painting
          cameras: ["front"]
          stamp_tolerance: 0.05           # s between a cloud's and a mask's header.stamp
          max_wait: 1.0                   # s a cloud newer than every mask waits for its mask
          confidence: "off"               # off, float32 or uint8: a confidence field per point
          front:
            image_topic: /front/image_raw         # one of the node's camera topics
            lidar_topic: /front/points            # sensor_msgs/PointCloud2
            camera_info_topic: /front/camera_info # sensor_msgs/CameraInfo, or instead:
            # intrinsics: {width: 2048, height: 1024, distortion_model: plumb_bob,
            #              k: [...9], d: [...5]}
            lidar_to_camera: {translation: [0.0, 0.0, 0.0], rotation_xyzw: [0.5, -0.5, 0.5, 0.5]}
            # default <camera namespace>/<output_namespace>/painted_points
            output_topic: ""

The extrinsic maps LiDAR-frame points into the camera's optical frame (x right, y down,
z forward), as tf2's transform from the LiDAR frame to the camera frame. Everything is
checked when the node configures; an error names every bad value. They are read at
configure only: a change needs a cleanup and configure (or a restart).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cicld_core.painting import PinholeCamera, lidar_to_camera_matrix

from ..messages.pointcloud import CameraInfo
from ..ros_rules.ros_names import topic_name_problem
from ..ros_rules.ros_params import flatten, read_node_parameters, type_problem

SECTION = "painting"  # the key of the section in ros__parameters
CONFIDENCE_TYPES = ("off", "float32", "uint8")
CAMERA_KEYS = (
    "image_topic",
    "lidar_topic",
    "camera_info_topic",
    "intrinsics",
    "lidar_to_camera",
    "output_topic",
)
SECTION_KEYS = ("cameras", "stamp_tolerance", "max_wait", "confidence")
DEFAULT_OUTPUT = "painted_points"  # the output topic's last name when output_topic is empty


@dataclass(frozen=True)
class PaintedCamera:
    """One camera whose masks paint one LiDAR's clouds."""

    name: str
    image_topic: str
    lidar_topic: str
    camera_info_topic: str = ""  # CameraInfo arrives here when set
    intrinsics: CameraInfo | None = None  # else these, from the parameter file
    # metres, of the extrinsic LiDAR -> optical frame
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    output_topic: str = ""

    @cached_property
    def lidar_to_camera(self) -> np.ndarray:
        """Return the extrinsic as a 4x4 matrix: p_camera = T @ p_lidar."""
        return lidar_to_camera_matrix(
            translation=self.translation, quaternion_xyzw=self.rotation_xyzw
        )

    def camera(self) -> PinholeCamera | None:
        """
        Return the inline intrinsics as a projection model.

        None when they come from a topic.
        """
        return (
            PinholeCamera.from_camera_info(self.intrinsics)
            if self.intrinsics is not None
            else None
        )


@dataclass(frozen=True)
class PaintingParams:
    cameras: tuple[PaintedCamera, ...] = ()
    stamp_tolerance: float = 0.05
    max_wait: float = 1.0
    confidence: str = "off"

    @property
    def confidence_type(self) -> str | None:
        """Return the confidence field's type for pointcloud.painted_cloud, None when off."""
        return None if self.confidence == "off" else self.confidence


def split_painting(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """
    Return a parameter file's ``ros__parameters`` split in two.

    They come back as (the node's own parameters, the painting section). Dotted names
    (``painting.cameras``, as ROS flattens them) are nested again.
    """
    own, section = {}, {}
    for name, value in values.items():
        if name == SECTION:
            if not isinstance(value, dict):
                raise ValueError(
                    f"parameter '{SECTION}' must be a section (a mapping), got {value!r}"
                )
            section = merge(section, value)
        elif name.startswith(SECTION + "."):
            section = merge(section, nest(name[len(SECTION) + 1:], value))
        else:
            own[name] = value
    return own, section


def nest(dotted: str, value: Any) -> dict[str, Any]:
    for part in reversed(dotted.split(".")):
        value = {part: value}
    return value


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = dict(a)
    for key, value in b.items():
        merged[key] = (
            merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


def read_node_files(
    paths: list[Path], node_fqn: str = "/segment_node", overrides: dict[str, Any] | None = None
) -> tuple[dict[str, Any], PaintingParams]:
    """
    Return the node's parameters in the files and its painting parameters.

    The first are for cicld_ros.segmentation.params. A later file wins per parameter, as ROS reads
    several --params-file, and ``overrides`` (-p name:=value, dotted names for the painting
    section) win over every file.
    """
    own, section = {}, {}
    # read_node_parameters is what params.read_params_file reads with (importing params here would
    # be a circle)
    for values in [*(read_node_parameters(path, node_fqn) for path in paths), overrides or {}]:
        file_own, file_section = split_painting(values)
        own, section = own | file_own, merge(section, file_section)
    return own, painting_params(section)


def painting_params(section: dict[str, Any] | None) -> PaintingParams:
    """Return the checked painting parameters, or ValueError naming every problem."""
    section = dict(section or {})
    camera_names = names(section.get("cameras"))
    problems = [f"unknown painting parameter {key!r}" for key in section
                if key not in SECTION_KEYS and key not in camera_names]
    if section.get("cameras") is not None and not isinstance(section.get("cameras"), list):
        problems.append(f"painting.cameras must be a list of names, got {section['cameras']!r}")
    tolerance, max_wait = section.get("stamp_tolerance", 0.05), section.get("max_wait", 1.0)
    for name, value in (("stamp_tolerance", tolerance), ("max_wait", max_wait)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 3600:
            problems.append(f"painting.{name} must be seconds in [0, 3600), got {value!r}")
    problems += ros_type_problems(section, camera_names)
    confidence = section.get("confidence", "off")
    if isinstance(confidence, str) and confidence not in CONFIDENCE_TYPES:
        problems.append(
            f"painting.confidence must be one of {', '.join(CONFIDENCE_TYPES)}, got {confidence!r}"
        )
    cameras = []
    for name in camera_names:
        camera, camera_problems = painted_camera(name, section.get(name))
        problems += camera_problems
        if camera is not None:
            cameras.append(camera)
    lidar_topics = [c.lidar_topic for c in cameras]
    problems += [f"LiDAR topic {t} is painted by two cameras; give each camera its own LiDAR topic"
                 for t in sorted({t for t in lidar_topics if lidar_topics.count(t) > 1})]
    if problems:
        raise ValueError("invalid painting parameters: " + "; ".join(problems))
    return PaintingParams(tuple(cameras), float(tolerance), float(max_wait), confidence)


def ros_type_problems(section: dict[str, Any], camera_names: list[str]) -> list[str]:
    """
    Return the values rclpy would refuse.

    Each must have the type of the default the parameter is declared with under ROS (ROS_DEFAULTS,
    CAMERA_ROS_DEFAULTS), as cicld_ros.ros_rules.ros_params says.
    """
    problems = []
    for name, value in flatten(section).items():
        first, _, rest = name.partition(".")
        default = ROS_DEFAULTS.get(name) if not rest else (
            CAMERA_ROS_DEFAULTS.get(rest) if first in camera_names else None)
        if default is not None or name in ROS_DEFAULTS:
            problem = type_problem(f"{SECTION}.{name}", value, default)
            if problem:
                problems.append(problem)
    return problems


def names(cameras: Any) -> list[str]:
    return [n for n in cameras if isinstance(n, str) and n] if isinstance(cameras, list) else []


def painted_camera(name: str, values: Any) -> tuple[PaintedCamera | None, list[str]]:
    where = f"painting.{name}"
    if not isinstance(values, dict):
        return None, [
            f"{where} is missing: give its image_topic, lidar_topic, camera_info_topic or "
            "intrinsics, "
            f"and lidar_to_camera"
        ]
    problems = [f"unknown parameter {where}.{key}" for key in values if key not in CAMERA_KEYS]
    for key in ("image_topic", "lidar_topic", "camera_info_topic", "output_topic"):
        topic = values.get(key, "")
        if not isinstance(topic, str):
            problems.append(f"{where}.{key} must be a topic name, got {topic!r}")
        elif topic or key in ("image_topic", "lidar_topic"):
            problem = topic_name_problem(topic)
            if problem:
                problems.append(f"{where}.{key}: invalid ROS topic name {problem}")
    intrinsics = values.get("intrinsics")
    info = None
    if bool(values.get("camera_info_topic")) == (intrinsics is not None):
        problems.append(
            f"{where}: give either camera_info_topic or intrinsics (not both, not neither)"
        )
    elif intrinsics is not None:
        try:
            info = CameraInfo.from_dict(intrinsics)
            PinholeCamera.from_camera_info(info)
        except (ValueError, KeyError, TypeError) as error:
            problems.append(
                f"{where}.intrinsics: "
                f"{error if not isinstance(error, KeyError) else f'needs {error}'} "
                f"(width, height, k as 9 numbers, d and distortion_model plumb_bob)"
            )
    translation, rotation = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)
    extrinsic = values.get("lidar_to_camera")
    if not isinstance(extrinsic, dict) or set(extrinsic) - {"translation", "rotation_xyzw"}:
        problems.append(
            f"{where}.lidar_to_camera must be "
            f"{{translation: [x, y, z], rotation_xyzw: [x, y, z, w]}}, got {extrinsic!r}"
        )
    else:
        try:
            translation = np.asarray(extrinsic.get("translation", [0.0, 0.0, 0.0]), np.float64)
            rotation = np.asarray(extrinsic.get("rotation_xyzw", [0.0, 0.0, 0.0, 1.0]), np.float64)
            if (
                translation.shape != (3,)
                or rotation.shape != (4,)
                or not np.isfinite([*translation, *rotation]).all()
            ):
                raise ValueError("translation needs 3 finite numbers (m), rotation_xyzw 4")
            # refuses a zero quaternion
            lidar_to_camera_matrix(translation=translation, quaternion_xyzw=rotation)
            translation, rotation = tuple(translation.tolist()), tuple(rotation.tolist())
        except (ValueError, TypeError) as error:
            problems.append(f"{where}.lidar_to_camera: {error}")
    if problems:
        return None, problems
    return (
        PaintedCamera(
            name,
            values["image_topic"],
            values["lidar_topic"],
            values.get("camera_info_topic", ""),
            info,
            translation,
            rotation,
            values.get("output_topic", ""),
        ),
        [],
    )


# Under ROS each value is a parameter of its own, declared with a default of its type
# (ROS cannot type an empty list: [""] means no cameras; intrinsics with width 0: none given).
ROS_DEFAULTS = {"cameras": [""], "stamp_tolerance": 0.05, "max_wait": 1.0, "confidence": "off"}
CAMERA_ROS_DEFAULTS = {
    "image_topic": "",
    "lidar_topic": "",
    "camera_info_topic": "",
    "output_topic": "",
    "lidar_to_camera.translation": [0.0, 0.0, 0.0],
    "lidar_to_camera.rotation_xyzw": [0.0, 0.0, 0.0, 1.0],
    "intrinsics.width": 0,
    "intrinsics.height": 0,
    "intrinsics.distortion_model": "plumb_bob",
    "intrinsics.k": [0.0] * 9,
    "intrinsics.d": [0.0] * 5,
}


def declared_painting(declare: Callable[[str, Any], Any]) -> PaintingParams:
    """
    Return the painting parameters as ROS parameters (``painting.<name>``, dotted).

    ``declare(name, default)`` declares one (if it is not yet) and returns its value. The cameras'
    own parameters are declared once ``painting.cameras`` names them.
    """
    values = {
        f"{SECTION}.{key}": declare(f"{SECTION}.{key}", default)
        for key, default in ROS_DEFAULTS.items()
    }
    for camera in names(list(values[f"{SECTION}.cameras"])):
        for key, default in CAMERA_ROS_DEFAULTS.items():
            values[f"{SECTION}.{camera}.{key}"] = declare(f"{SECTION}.{camera}.{key}", default)
    _, section = split_painting(
        {name: list(v) if isinstance(v, (tuple, list)) else v for name, v in values.items()}
    )
    for camera in names(section.get("cameras")):
        if not section[camera]["intrinsics"]["width"]:
            del section[camera]["intrinsics"]
    return painting_params(section)

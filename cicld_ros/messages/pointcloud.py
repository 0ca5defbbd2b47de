"""
sensor_msgs/PointCloud2 and sensor_msgs/CameraInfo as plain records, and the semantic cloud.

The semantic point cloud the node publishes: the input cloud's points with a ``label`` field (uint8
trainId, 255 where the camera does not see the point) and optionally a ``confidence`` field, under
the input cloud's header.

Records follow the ROS 2 field names, so the parsing functions also take rclpy messages
as they are (duck typing); ``cicld_ros.messages.cdr`` turns records into the CDR bytes of the
DDS transport, and ``cicld_ros.messages.rclpy_messages`` (``to_rclpy_pointcloud2``,
``to_rclpy_camera_info``) builds rclpy messages (the sensor_msgs_py.point_cloud2 layout: packed
fields, ``data`` appended to the message's array.array without the generated per-byte check).

    # xyz (N, 3), intensity, finite mask; errors name the problem
    cloud = read_cloud(msg)
    painted = paint_points(cloud.xyz, mask, camera, extrinsic)
    out = painted_cloud(msg, painted.labels, painted.confidence)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import Header, Time

# sensor_msgs/PointField datatypes
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
FIELD_DTYPES = {
    INT8: "i1",
    UINT8: "u1",
    INT16: "i2",
    UINT16: "u2",
    INT32: "i4",
    UINT32: "u4",
    FLOAT32: "f4",
    FLOAT64: "f8",
}
LABEL_FIELD, CONFIDENCE_FIELD, INTENSITY_FIELD = "label", "confidence", "intensity"


@dataclass
class PointField:
    name: str = ""
    offset: int = 0
    datatype: int = 0
    count: int = 1


@dataclass
class PointCloud2:
    header: Header = field(default_factory=Header)
    height: int = 1
    width: int = 0
    fields: list[PointField] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: int = 0
    row_step: int = 0
    data: bytes | bytearray | memoryview | np.ndarray = b""
    is_dense: bool = True


@dataclass
class RegionOfInterest:
    x_offset: int = 0
    y_offset: int = 0
    height: int = 0
    width: int = 0
    do_rectify: bool = False


@dataclass
class CameraInfo:
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    distortion_model: str = ""
    d: list[float] = field(default_factory=list)
    k: list[float] = field(default_factory=lambda: [0.0] * 9)
    r: list[float] = field(default_factory=lambda: [0.0] * 9)
    p: list[float] = field(default_factory=lambda: [0.0] * 12)
    binning_x: int = 0
    binning_y: int = 0
    roi: RegionOfInterest = field(default_factory=RegionOfInterest)

    @classmethod
    def from_dict(cls, fields: dict, header: Header | None = None) -> "CameraInfo":
        """From CameraInfo field names (the generator's calib/*.json, a parameter file)."""
        k = [float(v) for v in fields["k"]]
        # an unrectified camera: P = [K | 0]
        p = fields.get("p") or [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]
        return cls(
            header or Header(),
            int(fields["height"]),
            int(fields["width"]),
            str(fields.get("distortion_model", "")),
            [float(v) for v in fields.get("d", [])],
            k,
            [float(v) for v in fields.get("r") or np.eye(3).ravel()],
            [float(v) for v in p],
            int(fields.get("binning_x", 0)),
            int(fields.get("binning_y", 0)),
        )


class PointCloudError(ValueError):
    """A PointCloud2 the node cannot paint; ``reason`` is a short key for diagnostics counters."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def cloud_dtype(
    fields: list[PointField] | Any, point_step: int, big_endian: bool = False
) -> np.dtype:
    """Return the numpy structured dtype of one point (fields at their offsets, padding kept)."""
    order = ">" if big_endian else "<"
    names, formats, offsets = [], [], []
    for f in fields:
        if f.datatype not in FIELD_DTYPES:
            raise PointCloudError(
                f"field {f.name!r} has datatype {f.datatype}, not one of sensor_msgs/PointField's "
                "1..8",
                "bad_field",
            )
        if f.name in names:
            raise PointCloudError(f"field {f.name!r} appears twice", "bad_field")
        base = np.dtype(order + FIELD_DTYPES[f.datatype])
        if f.offset < 0 or f.count < 1 or f.offset + base.itemsize * f.count > point_step:
            raise PointCloudError(
                f"field {f.name!r} (offset {f.offset}, {base.itemsize * f.count} bytes) does not "
                "fit in "
                f"point_step {point_step}",
                "bad_layout",
            )
        names.append(f.name)
        formats.append(base if f.count == 1 else (base, (int(f.count),)))
        offsets.append(int(f.offset))
    try:
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": int(point_step)}
        )
    except ValueError as error:
        raise PointCloudError(
            f"fields do not fit in point_step {point_step}: {error}", "bad_layout"
        ) from None


@dataclass
class CloudArrays:
    points: np.ndarray  # (N,) structured view of every point, row by row
    xyz: np.ndarray  # (N, 3) float32
    intensity: np.ndarray | None  # (N,) float32 when the cloud has the field
    # (N,) bool: x, y and z are all finite (NaN marks "no return" in organised clouds)
    finite: np.ndarray


def read_cloud(msg: Any) -> CloudArrays:
    """
    Check a PointCloud2 (record or rclpy message) and view its points.

    Raises ``PointCloudError`` naming the problem: no x/y/z, a data size that does not match the
    layout, fields outside the point.
    """
    names = [f.name for f in msg.fields]
    missing = [axis for axis in "xyz" if axis not in names]
    if missing:
        raise PointCloudError(
            f"the cloud has no {'/'.join(missing)} field (fields: {', '.join(names) or 'none'}); "
            f"a LiDAR cloud needs x, y and z",
            "no_xyz",
        )
    for f in msg.fields:
        if f.name in "xyz" and (f.datatype not in (FLOAT32, FLOAT64) or f.count != 1):
            raise PointCloudError(
                f"field {f.name} is datatype {f.datatype} x {f.count}; x, y, z must be one "
                "FLOAT32 or FLOAT64",
                "bad_field",
            )
    height, width, point_step, row_step = (
        int(msg.height),
        int(msg.width),
        int(msg.point_step),
        int(msg.row_step),
    )
    if point_step <= 0 or row_step < width * point_step:
        raise PointCloudError(
            f"row_step {row_step} is smaller than width {width} x point_step {point_step}",
            "bad_layout",
        )
    data = (
        memoryview(msg.data).cast("B")
        if not isinstance(msg.data, np.ndarray)
        else memoryview(np.ascontiguousarray(msg.data)).cast("B")
    )
    if len(data) < height * row_step:
        raise PointCloudError(
            f"data holds {len(data)} bytes, the layout needs height {height} x row_step "
            f"{row_step} = "
            f"{height * row_step}",
            "truncated",
        )
    dtype = cloud_dtype(msg.fields, point_step, bool(msg.is_bigendian))
    raw = np.frombuffer(data, np.uint8, height * row_step).reshape(height, row_step)[
        :, : width * point_step
    ]
    points = np.ascontiguousarray(raw).view(dtype).reshape(-1)
    xyz = np.stack([points["x"], points["y"], points["z"]], 1).astype(np.float32)
    intensity = points[INTENSITY_FIELD].astype(np.float32) if INTENSITY_FIELD in names else None
    return CloudArrays(points, xyz, intensity, np.isfinite(xyz).all(1))


def semantic_fields(
    intensity: bool, confidence: str | None, label: bool = True
) -> tuple[list[PointField], int]:
    """
    Return the point layout: x, y, z float32, then intensity, label and confidence.

    Intensity float32, label uint8 and confidence (float32 or uint8), each at its natural
    alignment; the point padded to 4 bytes.
    """
    fields = [
        PointField("x", 0, FLOAT32),
        PointField("y", 4, FLOAT32),
        PointField("z", 8, FLOAT32),
    ]
    offset = 12
    if intensity:
        fields.append(PointField(INTENSITY_FIELD, offset, FLOAT32))
        offset += 4
    if label:
        fields.append(PointField(LABEL_FIELD, offset, UINT8))
        offset += 1
    if confidence == "float32":
        offset = -(-offset // 4) * 4
        fields.append(PointField(CONFIDENCE_FIELD, offset, FLOAT32))
        offset += 4
    elif confidence == "uint8":
        fields.append(PointField(CONFIDENCE_FIELD, offset, UINT8))
        offset += 1
    elif confidence is not None:
        raise ValueError(f"confidence must be 'float32', 'uint8' or None, got {confidence!r}")
    return fields, -(-offset // 4) * 4


def build_cloud(
    header: Header,
    xyz: np.ndarray,
    labels: np.ndarray | None,
    intensity: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    confidence_type: str = "float32",
    height: int = 1,
    is_dense: bool | None = None,
) -> PointCloud2:
    """
    Return a semantic PointCloud2 from per-point arrays (N = height x width points, row by row).

    A uint8 confidence is the 0..1 value times 255, rounded. Without labels: a plain LiDAR cloud
    (x, y, z, intensity), as a recorded drive's input topic.
    """
    xyz = np.asarray(xyz, np.float32).reshape(-1, 3)
    count = len(xyz)
    if (
        (labels is not None and len(labels) != count)
        or (intensity is not None and len(intensity) != count)
        or (confidence is not None and len(confidence) != count)
    ):
        raise ValueError(f"{count} points but {len(labels) if labels is not None else 'no'} labels"
                         + (f", {len(intensity)} intensities" if intensity is not None else "")
                         + (f", {len(confidence)} confidences" if confidence is not None else ""))
    if height < 1 or count % height:
        raise ValueError(f"{count} points do not form {height} rows")
    fields, point_step = semantic_fields(
        intensity is not None,
        confidence_type if confidence is not None else None,
        labels is not None,
    )
    points = np.zeros(count, cloud_dtype(fields, point_step))
    points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if intensity is not None:
        points[INTENSITY_FIELD] = intensity
    if labels is not None:
        points[LABEL_FIELD] = labels
    if confidence is not None:
        values = np.asarray(confidence, np.float32)
        points[CONFIDENCE_FIELD] = (
            values if confidence_type == "float32" else np.round(np.clip(values, 0, 1) * 255)
        )
    width = count // height
    dense = bool(np.isfinite(xyz).all()) if is_dense is None else is_dense
    return PointCloud2(
        header,
        height,
        width,
        fields,
        False,
        point_step,
        width * point_step,
        points.tobytes(),
        dense,
    )


def painted_cloud(
    source: Any,
    labels: np.ndarray,
    confidence: np.ndarray | None = None,
    confidence_type: str = "float32",
    cloud: CloudArrays | None = None,
) -> PointCloud2:
    """
    Return the semantic cloud of ``source`` (a PointCloud2 record or rclpy message).

    Its points, intensity when present, the labels and confidence, with its header, rows and
    is_dense.
    """
    cloud = cloud or read_cloud(source)
    header = source.header if isinstance(source.header, Header) else Header(
        Time(source.header.stamp.sec, source.header.stamp.nanosec), source.header.frame_id)
    return build_cloud(
        header,
        cloud.xyz,
        labels,
        cloud.intensity,
        confidence,
        confidence_type,
        int(source.height),
        bool(source.is_dense),
    )

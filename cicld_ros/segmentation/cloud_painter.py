"""
The semantic point cloud: each LiDAR cloud painted with the camera mask nearest to it in time.

Masks come from the node's publishing thread, clouds and CameraInfo from the transport's
callbacks, which only queue them (a cloud's checks and painting take milliseconds, and
Cyclone delivers every topic on one thread). The painting thread pairs each cloud with
the mask whose ``header.stamp`` is nearest to the cloud's, within ``stamp_tolerance``:

- a cloud usually arrives before its mask (the mask needs the model); it waits until a
  mask stamped at or after it arrives (masks of one camera come in stamp order, so none
  nearer can follow), or ``max_wait`` s, and is then painted with the nearest mask of
  the last few (``MASK_HISTORY``) if that is within the tolerance;
- a cloud with no mask within the tolerance is counted (bad_input.no_matching_mask) and
  not published: it is never painted with a mask from another moment or stamped "now".

The painted cloud keeps the input's header, points and rows (cicld_ros.messages.pointcloud). Each
cloud ends in exactly one count of its LiDAR topic's diagnostics, like a camera frame:
published, dropped (more than ``MAX_PENDING`` waiting), skipped (nobody subscribes) or a
bad input by reason (no_xyz, bad_layout, truncated, bad_field, no_camera_info,
no_matching_mask, size_mismatch). NaN points are labelled 255 and counted as
note.nan_points; a CameraInfo the projection cannot use (zero focal length) is skipped,
counted under the camera_info topic, and the last good one stays in use.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cicld_core.painting import PinholeCamera, paint_points

from ..messages.pointcloud import CloudArrays, PointCloudError, painted_cloud, read_cloud
from ..messages.records import Header
from .diagnostics import NodeDiagnostics
from .painting_params import PaintedCamera, PaintingParams

# masks kept per camera to match clouds against (a 2048x1024 mask and its confidence: 10 MB)
MASK_HISTORY = 6
MAX_PENDING = 4  # clouds waiting for their mask per LiDAR; more and the oldest is dropped


@dataclass
class Mask:
    stamp: float
    train_ids: np.ndarray
    confidence: np.ndarray | None


@dataclass(eq=False)  # compared by identity: a message's arrays have no truth value
class Waiting:
    msg: Any
    arrived: float  # time.monotonic()
    cloud: CloudArrays | None = None  # its points, once read (checked) by the painting thread


@dataclass
class Lidar:
    """One painted camera's state: its projection model, recent masks, clouds waiting."""

    config: PaintedCamera
    publisher: Any
    camera: PinholeCamera | None
    masks: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=MASK_HISTORY)
    )
    clouds: collections.deque = field(default_factory=collections.deque)


class CloudPainter:

    def __init__(
        self,
        params: PaintingParams,
        publishers: dict[str, Any],
        diagnostics: NodeDiagnostics,
        device: Any = None,
    ) -> None:
        """
        Paint with the cameras of ``params``.

        ``publishers``: the painted cloud's publisher per camera name; ``device``: the torch device
        to paint on (the node's GPU), None for numpy.
        """
        self.params, self.diagnostics, self.device = params, diagnostics, device
        self.lidars = {c.name: Lidar(c, publishers[c.name], c.camera()) for c in params.cameras}
        self._cond = threading.Condition()

    # -- from the transport's and the publishing thread ------------------------------------
    def wanted(self, image_topic: str) -> bool:
        """Whether a mask of this camera is wanted: someone subscribes to a cloud it paints."""
        return any(
            lidar.config.image_topic == image_topic and lidar.publisher.subscription_count() > 0
            for lidar in self.lidars.values()
        )

    def on_camera_info(self, name: str, msg: Any) -> None:
        topic = self.lidars[name].config.camera_info_topic
        self.diagnostics.count(topic, "received")
        try:
            camera = PinholeCamera.from_camera_info(msg)
        except (ValueError, TypeError) as error:
            self.diagnostics.bad_input(
                topic, "unusable_camera_info", f"{error}; the last good CameraInfo stays in use"
            )
            return
        with self._cond:
            self.lidars[name].camera = camera
        self.diagnostics.count(topic, "outputs")

    def on_cloud(self, name: str, msg: Any) -> None:
        lidar = self.lidars[name]
        self.diagnostics.count(lidar.config.lidar_topic, "received")
        with self._cond:
            lidar.clouds.append(Waiting(msg, time.monotonic()))
            dropped = len(lidar.clouds) > MAX_PENDING
            if dropped:
                lidar.clouds.popleft()
            self._cond.notify_all()
        if dropped:
            self.diagnostics.count(lidar.config.lidar_topic, "dropped")

    def on_mask(
        self,
        image_topic: str,
        header: Header,
        train_ids: np.ndarray,
        confidence: np.ndarray | None,
    ) -> None:
        mask = Mask(header.stamp.to_seconds(), train_ids, confidence)
        with self._cond:
            for lidar in self.lidars.values():
                if lidar.config.image_topic == image_topic:
                    lidar.masks.append(mask)
            self._cond.notify_all()

    def reopen(self) -> None:
        """Forget masks and waiting clouds (the node activated again): nothing stale is painted."""
        with self._cond:
            stale = {lidar.config.lidar_topic: len(lidar.clouds) for lidar in self.lidars.values()}
            for lidar in self.lidars.values():
                lidar.masks.clear()
                lidar.clouds.clear()
        for topic, count in stale.items():
            if count:
                self.diagnostics.count(topic, "dropped", count)

    # -- the painting thread ------------------------------------------------------------------
    def run(self, stopping: threading.Event, clock) -> None:
        """Paint until ``stopping`` is set; ``clock`` gives now (s) for the latency figure."""
        while not stopping.is_set():
            with self._cond:
                self._cond.wait(timeout=0.05)
            self.paint_ready(clock)

    def paint_ready(self, clock=time.time, flush: bool = False) -> int:
        """
        Paint (or count as unmatched) every cloud whose matching is settled.

        ``flush`` settles every waiting cloud now. Returns how many clouds were published.
        """
        published = 0
        for lidar in self.lidars.values():
            self._read_new(lidar)
            for waiting, mask in self._settled(lidar, flush):
                published += self._paint(lidar, waiting, mask, clock)
        return published

    def _read_new(self, lidar: Lidar) -> None:
        """
        Check the clouds that arrived since the last call.

        A bad one is counted now, without waiting for a mask; the points of a good one are kept for
        painting.
        """
        with self._cond:
            new = [w for w in lidar.clouds if w.cloud is None]
        for waiting in new:
            try:
                waiting.cloud = read_cloud(waiting.msg)
            except PointCloudError as error:
                with self._cond:
                    if waiting in lidar.clouds:
                        lidar.clouds.remove(waiting)
                self.diagnostics.bad_input(lidar.config.lidar_topic, error.reason, str(error))

    def _settled(self, lidar: Lidar, flush: bool) -> list[tuple[Waiting, Mask | None]]:
        """
        Return the waiting clouds whose nearest mask can no longer change, with it.

        The mask is None when none is near enough.
        """
        settled, now, tolerance = [], time.monotonic(), self.params.stamp_tolerance
        with self._cond:
            masks = list(lidar.masks)
            while lidar.clouds:
                waiting = lidar.clouds[0]
                if waiting.cloud is None:  # arrived after _read_new: read next time
                    break
                stamp = waiting.msg.header.stamp.to_seconds()
                if not (
                    flush
                    or any(m.stamp >= stamp for m in masks)
                    or now - waiting.arrived >= self.params.max_wait
                ):
                    break
                lidar.clouds.popleft()
                nearest = min(masks, key=lambda m: abs(m.stamp - stamp), default=None)
                settled.append(
                    (
                        waiting,
                        (
                            nearest
                            if nearest is not None and abs(nearest.stamp - stamp) <= tolerance
                            else None
                        ),
                    )
                )
        return settled

    def _paint(self, lidar: Lidar, waiting: Waiting, mask: Mask | None, clock) -> int:
        topic, started = lidar.config.lidar_topic, time.perf_counter()
        if lidar.publisher.subscription_count() == 0:
            self.diagnostics.count(topic, "skipped_no_subscribers")
            return 0
        stamp = waiting.msg.header.stamp.to_seconds()
        cloud = waiting.cloud
        try:
            if mask is None:
                with self._cond:
                    kept = ", ".join(f"{m.stamp:.3f}" for m in lidar.masks) or "none yet"
                raise PointCloudError(
                    f"no mask of {lidar.config.image_topic} within {self.params.stamp_tolerance} "
                    "s "
                    f"of the cloud's stamp {stamp:.3f} (masks kept: {kept}); raise "
                    f"painting.stamp_tolerance if the sensors' clocks differ",
                    "no_matching_mask",
                )
            if lidar.camera is None:
                raise PointCloudError(
                    f"no CameraInfo has arrived on {lidar.config.camera_info_topic} yet",
                    "no_camera_info",
                )
            confidence = mask.confidence if self.params.confidence_type else None
            try:
                painted = paint_points(
                    cloud.xyz,
                    mask.train_ids,
                    lidar.camera,
                    lidar.config.lidar_to_camera,
                    confidence,
                    self.device,
                )
            except ValueError as error:  # the mask's size is not the CameraInfo's
                raise PointCloudError(str(error), "size_mismatch") from None
            message = painted_cloud(waiting.msg, painted.labels, painted.confidence,
                                    self.params.confidence_type or "float32", cloud)
        except PointCloudError as error:
            self.diagnostics.bad_input(topic, error.reason, str(error))
            return 0
        except (
            Exception
        ) as error:  # noqa: BLE001 - a cloud that breaks the painting must not stop the node
            self.diagnostics.count(topic, "errors")
            self.diagnostics.warn(
                topic, "paint_failed", f"cloud skipped, painting failed: {error!r}"
            )
            return 0
        lidar.publisher.publish(message)
        nan_points = int(len(cloud.finite) - np.count_nonzero(cloud.finite))
        if nan_points:
            self.diagnostics.note(topic, "nan_points", nan_points,
                                  f"{nan_points} NaN or infinite points (no return) labelled 255")
        self.diagnostics.processed(
            topic, (time.perf_counter() - started) * 1000, (clock() - stamp) * 1000
        )
        return 1

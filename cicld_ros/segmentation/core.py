"""
The segmentation node, independent of how messages travel.

A transport (rclpy, or Cyclone DDS with no ROS install) delivers camera messages to
``on_message``, which checks each from its header alone (sizes, encoding, the PNG/JPEG
header; no pixels touched) and refuses a malformed one there, so it never takes the
camera's latest-frame slot from a good frame. Each camera then has its own decoding
thread that takes its newest frame and decodes it into a second slot: the transport's
callbacks stay cheap (Cyclone delivers every reader's samples on one receive thread, and
blocking it loses samples of all cameras), and a camera whose frames are slow to decode
(OpenCV releases the GIL) delays only itself. A segmenting thread takes the newest
decoded frames, batches those of equal size and submits them to a SegmentationEngine
(prepared buffers, CUDA graphs on a GPU); a publishing thread collects each result and
publishes class mask, colour mask, overlay (and optionally confidence and uncertainty),
every output carrying the input's header unchanged (the outputs are one table,
cicld_ros.segmentation.node_outputs). The two overlap: batch N+1 is uploaded while batch N computes
or
publishes. With a painting section, each camera's masks also paint its LiDAR's clouds
(cicld_ros.segmentation.cloud_painter, on a thread of its own).

Constructing the node is the lifecycle's configure (checkpoint loaded, topics created);
``start`` / ``stop`` are activate / deactivate, ``release_gpu`` frees what the engines
held, ``close`` is cleanup (cicld_ros.segmentation.lifecycle drives them). Frames that arrive while
the
node is not active are ignored, so a reactivated node never segments a stale frame.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import cv2
import numpy as np
import torch

from cicld_core.device import pick_device
from cicld_core.model import (
    CheckpointError,
    EngineOptions,
    PendingResult,
    SegmentationEngine,
    checkpoint_input_size,
    load_model,
)

from ..messages.image_codec import InputError, check, decode
from ..messages.records import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    DIAGNOSTICS,
    IMAGE,
    LABEL_INFO,
    POINTCLOUD2,
    Header,
    LabelInfo,
    Time,
    VisionClass,
)
from .cloud_painter import CloudPainter
from .diagnostics import NodeDiagnostics, transport_counts
from .latest_frames import Arrival, LatestFrames
from .node_outputs import OUTPUTS, NodeOutput, SegmentedFrame
from .painting_params import DEFAULT_OUTPUT, PaintingParams
from .params import NODE_FQN, NODE_NAME, NodeParams, model_input_size, with_changes


class Publisher(Protocol):
    def publish(self, msg: Any) -> None: ...
    def subscription_count(self) -> int: ...


class Transport(Protocol):
    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5,
                  transient_local: bool = False) -> Publisher: ...

    def subscribe(
        self,
        topic: str,
        kind: str,
        callback: Callable[[Any], None],
        reliable: bool = False,
        depth: int = 1,
        transient_local: bool = False,
    ) -> Any: ...


class StartupError(RuntimeError):
    """The node cannot start: missing or incompatible checkpoint, bad device."""


def camera_namespace(topic: str) -> str:
    """
    Return the namespace of a camera topic.

    '/front/image_raw' -> '/front'; '/front/image_raw/compressed' -> '/front'; '/image' -> ''.
    """
    name = topic.rstrip("/")
    if name.endswith("/compressed"):
        name = name[: -len("/compressed")]
    return name.rsplit("/", 1)[0] if "/" in name.lstrip("/") else ""


def output_base(topic: str, output_namespace: str) -> str:
    """<camera namespace>/<output_namespace>, relative when ``topic`` is."""
    base = f"{camera_namespace(topic)}/{output_namespace.strip('/')}"
    return base.lstrip("/") if not topic.startswith("/") else base


def output_topics(topic: str, output_namespace: str) -> dict[str, str]:
    """
    Return the outputs of the camera ``topic``.

    ``topic`` is the resolved input name: the outputs follow its namespace and its remapping; every
    one is again a name the transport resolves, so it may be remapped.
    """
    return {
        output.name: f"{output_base(topic, output_namespace)}/{output.name}" for output in OUTPUTS
    }


def label_info_topic(topic: str, output_namespace: str) -> str:
    """Where a camera's class map goes: beside its masks, as segmentation nodes publish it."""
    return f"{output_base(topic, output_namespace)}/label_info"


def label_info(class_names: list[str], header: Header) -> LabelInfo:
    """
    Return the class map of the masks: value i of the class mask is class_names[i].

    The threshold is 0: every pixel gets its most probable class, none is left unlabelled.
    """
    return LabelInfo(
        header, [VisionClass(class_id, name) for class_id, name in enumerate(class_names)], 0.0
    )


def stream_qos(params: NodeParams, side: str) -> dict[str, Any]:
    """
    Return the QoS of one side of the node, as a transport's subscribe and publisher take it.

    side "input" is the sensor subscriptions, "output" the published masks and images.
    """
    return {"reliable": getattr(params, f"{side}_reliability") == "reliable",
            "depth": getattr(params, f"{side}_depth"),
            "transient_local": getattr(params, f"{side}_durability") == "transient_local"}


def milliseconds(value: float) -> str:
    """Format a percentile for a status line: none yet before the first frame, not 'nan ms'."""
    return f"{value:.0f} ms" if np.isfinite(value) else "- (no frame yet)"


def painted_topic(image_topic: str, output_namespace: str) -> str:
    """Where a camera's painted cloud goes unless painting sets its output_topic."""
    return f"{output_base(image_topic, output_namespace)}/{DEFAULT_OUTPUT}"


def resolved_painting(painting: PaintingParams, resolve: Callable[[str], str]) -> PaintingParams:
    """Return the painting parameters with every topic resolved as the transport resolves it."""
    return dataclasses.replace(painting, cameras=tuple(dataclasses.replace(
        c, image_topic=resolve(c.image_topic), lidar_topic=resolve(c.lidar_topic),
        camera_info_topic=resolve(c.camera_info_topic) if c.camera_info_topic else "",
        output_topic=resolve(c.output_topic) if c.output_topic else "") for c in painting.cameras))


@dataclass
class Frame:
    arrival: Arrival
    rgb: np.ndarray
    outputs: list[NodeOutput]
    paint: bool = False  # its mask paints a LiDAR cloud someone subscribes to


@dataclass
class Batch:
    """Frames of one size submitted to the engine together."""

    frames: list[Frame]
    pending: PendingResult
    params: NodeParams
    started: float


class SegmentationNode:

    def __init__(
        self,
        params: NodeParams,
        transport: Transport,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
        painting: PaintingParams = PaintingParams(),
    ) -> None:
        self.params, self.transport = params.validate(), transport
        self.log = log or logging.getLogger(NODE_NAME)
        self.clock = clock
        try:
            self.device = pick_device(params.device)
        except ValueError as error:
            raise StartupError(str(error)) from None
        self.model = self._load_model(params)
        try:  # the one check of steps / strength against the T this model was trained with
            self.params = params.validate(self.model.config.num_train_timesteps)
        except ValueError as error:
            raise StartupError(str(error)) from None
        # input_width / input_height are fixed while configured, so the size is resolved once here
        self.input_size = model_input_size(self.params, checkpoint_input_size(self.metadata))
        self.log.info(
            "model input size: "
            + (
                f"{self.input_size[0]}x{self.input_size[1]} (masks are returned at "
                f"the camera's size)"
                if self.input_size
                else "each frame's own"
            )
        )
        # topics are keyed by their resolved names (namespace and remappings applied, as the
        # transport does); the transport is handed the configured name and resolves it itself
        self._given: dict[str, str] = {}
        self.inputs = {self._resolve(t): IMAGE for t in params.image_topics} | {
            self._resolve(t): COMPRESSED_IMAGE for t in params.compressed_image_topics}
        if len(self.inputs) < len(params.image_topics) + len(params.compressed_image_topics):
            raise StartupError(
                f"two camera topics resolve to the same name: {', '.join(self._given)}"
            )
        painting = resolved_painting(painting, self._resolve)
        unknown = [c.image_topic for c in painting.cameras if c.image_topic not in self.inputs]
        if unknown:
            raise StartupError(
                f"painting: camera topic {', '.join(unknown)} is not one of the node's "
                "image_topics / "
                f"compressed_image_topics ({', '.join(self.inputs)})"
            )
        # checked messages, for each camera's decoder
        self.frames = LatestFrames(list(self.inputs))
        self.decoded = LatestFrames(list(self.inputs))  # decoded frames, for the segmenting thread
        # the LiDAR and CameraInfo topics have their own diagnostics, as the cameras do
        sensor_topics = [
            t for c in painting.cameras for t in (c.lidar_topic, c.camera_info_topic) if t
        ]
        self.diagnostics = NodeDiagnostics(
            [*self.inputs, *sensor_topics], params.warn_period, self.log
        )
        # an output is advertised once it is switched on (ros2 topic list shows what it can get)
        self.publishers: dict[str, dict[str, Publisher]] = {camera: {} for camera in self.inputs}
        self._advertise(self.params)
        self.painter = CloudPainter(
            painting,
            {
                c.name: transport.publisher(
                    c.output_topic or painted_topic(c.image_topic, params.output_namespace),
                    POINTCLOUD2,
                    **stream_qos(params, "output"),
                )
                for c in painting.cameras
            },
            self.diagnostics,
            self.device if self.device.type == "cuda" else None,
        )
        self.diagnostics_publisher = transport.publisher(
            "/diagnostics", DIAGNOSTICS, reliable=True, depth=10
        )
        self.label_info_publishers = self._publish_label_info(params)
        self._label_frame_ids: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._engines: dict[EngineOptions, SegmentationEngine] = {}
        # the engine's two upload slots
        self._in_flight: queue.Queue[Batch] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self.active = False  # True from start to stop; on_message ignores frames otherwise
        self._closing = threading.Event()
        self._reporter: threading.Thread | None = None
        # libjpeg's warning for each corrupt frame would bypass the rate-limited warnings
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        # what subscribe returns may count the samples the transport refused (read in figures())
        given = self._given
        self.subscriptions = {
            camera: transport.subscribe(
                given[camera],
                kind,
                lambda msg, c=camera: self.on_message(c, msg),
                **stream_qos(params, "input"),
            )
            for camera, kind in self.inputs.items()
        }
        for c in painting.cameras:  # the cameras' QoS (sensor data by default)
            self.subscriptions[c.lidar_topic] = transport.subscribe(
                given[c.lidar_topic],
                POINTCLOUD2,
                lambda msg, n=c.name: self.on_cloud(n, msg),
                **stream_qos(params, "input"),
            )
            if c.camera_info_topic:
                self.subscriptions[c.camera_info_topic] = transport.subscribe(
                    given[c.camera_info_topic],
                    CAMERA_INFO,
                    lambda msg, n=c.name: self.painter.on_camera_info(n, msg),
                    **stream_qos(params, "input"),
                )

    def _resolve(self, name: str) -> str:
        """``name`` as the transport resolves it (transports that cannot keep it as it is)."""
        resolve = getattr(self.transport, "resolve", None)
        try:
            resolved = resolve(name) if resolve is not None else name
        except ValueError as error:
            raise StartupError(f"topic {name!r}: {error}") from None
        self._given.setdefault(resolved, name)
        return resolved

    @property
    def node_name(self) -> str:
        """
        Return the node's full name as the transport knows it, for /diagnostics.

        Namespace and __node remapping applied: '/front/segment_node' -> 'front/segment_node'.
        """
        return (getattr(self.transport, "node_name", None) or NODE_FQN).lstrip("/")

    @property
    def class_names(self) -> list[str]:
        """Return the checkpoint's class names: value i of the class mask is class_names[i]."""
        return list(self.metadata.get("class_names") or [])

    def _publish_label_info(self, params: NodeParams) -> dict[str, Publisher]:
        """
        Publish each camera's class map once, latched (transient local), for late joiners too.

        Where the ROS install has no vision_msgs/LabelInfo (vision_msgs before 4.1.0) the node
        says so and runs without it.
        """
        message = label_info(self.class_names, Header(Time.from_seconds(self.clock()), ""))
        publishers = {}
        for camera in self.inputs:
            try:
                publisher = self.transport.publisher(
                    label_info_topic(camera, params.output_namespace),
                    LABEL_INFO,
                    reliable=True,
                    depth=1,
                    transient_local=True,
                )
            except (ImportError, AttributeError) as error:
                self.log.warning(
                    f"class map not published: this ROS install has no vision_msgs/msg/LabelInfo "
                    f"({error}); it needs vision_msgs 4.1.0 or later (apt upgrade "
                    "ros-$ROS_DISTRO-vision-msgs)"
                )
                return {}
            publisher.publish(message)
            publishers[camera] = publisher
        return publishers

    def _label_frame(self, camera: str, header: Header) -> None:
        """
        Publish the camera's class map again, latched, in the camera's frame.

        At configure no frame has said which frame_id the masks will carry; a late joiner then
        gets this one.
        """
        publisher = self.label_info_publishers.get(camera)
        if publisher is None or self._label_frame_ids.get(camera) == header.frame_id:
            return
        self._label_frame_ids[camera] = header.frame_id
        publisher.publish(label_info(self.class_names, header))

    def _load_model(self, params: NodeParams):
        if not params.checkpoint:
            raise StartupError(
                "no checkpoint: set the 'checkpoint' parameter to a CICLD .safetensors file"
            )
        try:
            model, metadata = load_model(params.checkpoint, self.device)
        except CheckpointError as error:
            raise StartupError(str(error)) from None
        if params.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.metadata = metadata
        return model

    # -- parameters -----------------------------------------------------------------------
    def checked_params(self, changes: dict[str, Any]) -> NodeParams:
        """
        Return the parameters with these run-time changes, checked; nothing applied.

        ValueError names a bad one.
        """
        return with_changes(self.params, changes, at_runtime=True,
                            num_train_timesteps=self.model.config.num_train_timesteps)

    def set_params(self, changes: dict[str, Any]) -> None:
        """Apply run-time parameter changes atomically, or raise ValueError and change nothing."""
        self.use_params(self.checked_params(changes))

    def use_params(self, params: NodeParams) -> None:
        """Switch to checked parameters (checked_params' result), advertising new outputs."""
        self._advertise(params)
        self.params = params

    def _advertise(self, params: NodeParams) -> None:
        """Create the publishers of the outputs ``params`` switch on that have none yet."""
        for camera, publishers in self.publishers.items():
            topics = output_topics(camera, params.output_namespace)
            for output in OUTPUTS:
                if output.enabled(params) and output.name not in publishers:
                    publishers[output.name] = self.transport.publisher(
                        topics[output.name], IMAGE, **stream_qos(params, "output")
                    )

    # -- processing -------------------------------------------------------------------------
    def wanted_outputs(self, camera: str, params: NodeParams) -> list[NodeOutput]:
        publishers = self.publishers[camera]
        return [output for output in OUTPUTS if output.enabled(params)
                and output.name in publishers and publishers[output.name].subscription_count() > 0]

    def on_message(self, camera: str, msg: Any) -> None:
        """
        Take a camera frame (a subscription's callback).

        Count the frame, refuse it if malformed, else make it the camera's newest. Cheap whatever
        the frame holds: nothing is decoded here.
        """
        if not self.active:
            # said (rate-limited) so an operator sees why no mask comes, and so a test can
            # know the frame was handled before it activates the node
            self.diagnostics.note(
                camera,
                "ignored_inactive",
                1,
                "frame ignored: the node is not active "
                "(lifecycle state inactive; activate it to segment)",
            )
            return
        self.diagnostics.count(camera, "received")
        try:
            check(msg, self.params.max_pixels)
        except InputError as error:
            self.diagnostics.bad_input(camera, error.reason, str(error))
            return
        except Exception as error:  # noqa: BLE001 - counted, so no frame goes unaccounted
            self.diagnostics.count(camera, "errors")
            self.diagnostics.warn(
                camera, "check_failed", f"frame skipped, checking it failed: {error!r}"
            )
            return
        if self.frames.put(camera, msg) is not None:
            self.diagnostics.count(camera, "dropped")

    def on_cloud(self, name: str, msg: Any) -> None:
        """Queue a LiDAR cloud for the painting thread (its subscription's callback)."""
        if self.active:
            self.painter.on_cloud(name, msg)

    def decode_image(self, msg: Any, max_pixels: int) -> np.ndarray:
        return decode(msg, max_pixels)

    def prepare(self, arrival: Arrival, params: NodeParams) -> Frame | None:
        """
        Return the decoded frame, or None when it is not wanted or cannot be decoded.

        A frame that cannot be decoded is counted.
        """
        try:
            outputs = self.wanted_outputs(arrival.camera, params)
            paint = self.painter.wanted(arrival.camera)
        except (
            Exception
        ) as error:  # noqa: BLE001 - e.g. the DDS matched-readers query racing a match
            self.diagnostics.count(arrival.camera, "errors")
            self.diagnostics.warn(
                arrival.camera,
                "outputs_failed",
                f"frame skipped, finding its subscribers " f"failed: {error!r}",
            )
            return None
        if not outputs and not paint:
            self.diagnostics.count(arrival.camera, "skipped_no_subscribers")
            return None
        try:
            return Frame(
                arrival, self.decode_image(arrival.msg, params.max_pixels), outputs, paint
            )
        except InputError as error:
            self.diagnostics.bad_input(arrival.camera, error.reason, str(error))
        except (
            Exception
        ) as error:  # noqa: BLE001 - a frame that breaks the decoder must not stop the camera
            self.diagnostics.count(arrival.camera, "errors")
            self.diagnostics.warn(
                arrival.camera, "decode_failed", f"frame skipped, decoding failed: {error!r}"
            )
        return None

    def process(self, arrivals: list[Arrival]) -> int:
        """
        Decode, segment and publish these frames in this thread.

        Returns how many were published.
        """
        params = self.params
        frames = [
            frame for frame in (self.prepare(a, params) for a in arrivals) if frame is not None
        ]
        return sum(self._finish(batch) for batch in self._submit_all(frames, params))

    def _submit_all(self, frames: list[Frame], params: NodeParams) -> list[Batch]:
        by_size: dict[tuple[int, int], list[Frame]] = defaultdict(list)
        for frame in frames:
            by_size[frame.rgb.shape[:2]].append(frame)
        batches = []
        for group in by_size.values():
            for start in range(0, len(group), params.max_batch):
                batch = self._submit(group[start:start + params.max_batch], params)
                if batch is not None:
                    batches.append(batch)
        return batches

    def engine(self, params: NodeParams, with_confidence: bool) -> SegmentationEngine:
        """
        Return the engine for these parameters.

        A run-time change of K, strength, ... builds a new one.
        """
        options = EngineOptions(
            params.sampling(),
            channels_last=params.channels_last,
            compile=params.compile,
            cuda_graphs=params.cuda_graphs,
            with_confidence=with_confidence,
        )
        if options not in self._engines:
            if len(self._engines) >= 2:  # with and without confidence; older settings are dropped
                self._engines.pop(next(iter(self._engines)))
            self._engines[options] = SegmentationEngine(self.model, options, self.log)
        return self._engines[options]

    def _submit(self, frames: list[Frame], params: NodeParams) -> Batch | None:
        started = time.perf_counter()
        try:
            images = [f.rgb for f in frames]
            if self.input_size:
                images = [
                    (
                        i
                        if i.shape[1::-1] == self.input_size
                        else cv2.resize(i, self.input_size, interpolation=cv2.INTER_AREA)
                    )
                    for i in images
                ]
            painted_confidence = self.painter.params.confidence_type is not None
            engine = self.engine(
                params,
                with_confidence=any(
                    any(o.needs_confidence for o in f.outputs) or (f.paint and painted_confidence)
                    for f in frames
                ),
            )
            return Batch(frames, engine.submit(np.stack(images)), params, started)
        except Exception as error:  # noqa: BLE001 - a failed batch must not stop the node
            self._failed(frames, error)
            return None

    def _failed(self, frames: list[Frame], error: Exception) -> None:
        for frame in frames:
            self.diagnostics.count(frame.arrival.camera, "errors")
        self.diagnostics.warn(
            frames[0].arrival.camera, "segment_failed", f"segmentation failed: {error!r}"
        )

    def _finish(self, batch: Batch) -> int:
        frames, params = batch.frames, batch.params
        try:
            result = batch.pending.result()
        except Exception as error:  # noqa: BLE001
            self._failed(frames, error)
            return 0
        published = 0
        for index, frame in enumerate(frames):
            try:
                segmented = self._segmented(result, index, frame.rgb, params)
                self._publish(frame, segmented, params)
                if frame.paint:
                    self.painter.on_mask(
                        frame.arrival.camera,
                        frame.arrival.msg.header,
                        segmented.train_ids,
                        segmented.confidence,
                    )
            except (
                Exception
            ) as error:  # noqa: BLE001 - one failed frame must not stop the publishing thread
                self._failed([frame], error)
                continue
            published += 1
            self.diagnostics.processed(
                frame.arrival.camera,
                (time.perf_counter() - batch.started) * 1000,
                (self.clock() - frame.arrival.msg.header.stamp.to_seconds()) * 1000,
            )
        return published

    @staticmethod
    def _segmented(result, index: int, rgb: np.ndarray, params: NodeParams) -> SegmentedFrame:
        """
        Return frame ``index`` of the engine's result, at the input's size.

        It is resized back when the model ran at another size (see model_input_size).
        """
        maps = {"train_ids": result.train_ids[index],
                "confidence": None if result.confidence is None else result.confidence[index],
                "uncertainty": None if result.uncertainty is None else result.uncertainty[index]}
        if maps["train_ids"].shape != rgb.shape[:2]:
            height, width = rgb.shape[:2]
            maps = {
                k: (
                    None
                    if v is None
                    else cv2.resize(v, (width, height), interpolation=cv2.INTER_NEAREST)
                )
                for k, v in maps.items()
            }
        return SegmentedFrame(
            rgb, maps["train_ids"], maps["confidence"], maps["uncertainty"], params.overlay_alpha
        )

    def _publish(self, frame: Frame, segmented: SegmentedFrame, params: NodeParams) -> None:
        header: Header = frame.arrival.msg.header  # copied verbatim: downstream sync depends on it
        self._label_frame(frame.arrival.camera, header)
        publishers = self.publishers[frame.arrival.camera]
        for output in frame.outputs:
            picture = output.produce(segmented)
            if picture is not None:
                publishers[output.name].publish(
                    output.encode(header, picture, params.color_encoding)
                )

    # -- threads ------------------------------------------------------------------------------
    def start(self) -> None:
        """Activate: start the decoding, segmenting, publishing and diagnostics threads."""
        if self.active:
            return
        self._stopping = threading.Event()
        self.frames.reopen()
        self.decoded.reopen()
        self.painter.reopen()
        self.active = True
        self._threads = [
            threading.Thread(target=self._work, name="segment", daemon=True),
            threading.Thread(target=self._publish_results, name="publish", daemon=True),
        ]
        self.start_reporting()
        if self.painter.lidars:
            self._threads.append(
                threading.Thread(
                    target=self.painter.run,
                    args=(self._stopping, self.clock),
                    name="paint",
                    daemon=True,
                )
            )
        self._threads += [
            threading.Thread(
                target=self._decode, args=(camera,), name=f"decode {camera}", daemon=True
            )
            for camera in self.inputs
        ]
        for thread in self._threads:
            thread.start()
        self.log.info(
            f"segmenting {', '.join(self.inputs)} on {self.device} with K={self.params.steps} "
            f"steps; outputs under <camera>/{self.params.output_namespace}/"
        )

    def _decode(self, camera: str) -> None:
        while not self._stopping.is_set():
            arrival = self.frames.take(camera, timeout=0.1)
            frame = self.prepare(arrival, self.params) if arrival is not None else None
            if frame is not None and self.decoded.put(camera, frame) is not None:
                self.diagnostics.count(camera, "dropped")

    def _work(self) -> None:
        while not self._stopping.is_set():
            frames = [arrival.msg for arrival in self.decoded.take_all(timeout=0.1)]
            for batch in self._submit_all(frames, self.params) if frames else []:
                while not self._stopping.is_set():
                    try:
                        self._in_flight.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue

    def _publish_results(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._in_flight.get(timeout=0.1)
            except queue.Empty:
                continue
            self._finish(batch)

    def start_reporting(self) -> None:
        """
        Publish /diagnostics from now until close, active or not.

        A monitor sees an inactive node say so instead of going silent. The lifecycle starts it
        at configure.
        """
        if self._reporter is None:
            self._reporter = threading.Thread(target=self._report, name="diagnostics", daemon=True)
            self._reporter.start()

    def _report(self) -> None:
        last_log = time.monotonic()
        while not self._closing.wait(self.params.diagnostics_period):
            figures = self.figures()
            # only where the transport counts them
            drops = getattr(self.transport, "socket_drops", None)
            sockets = self.diagnostics.socket_figures(drops) if drops is not None else None
            if self.diagnostics_publisher.subscription_count() > 0:
                message = NodeDiagnostics.to_message(
                    figures, self.node_name, self.clock(), sockets, active=self.active
                )
                self.diagnostics_publisher.publish(message)
            if self.active and time.monotonic() - last_log >= self.params.log_period:
                last_log = time.monotonic()
                for camera, v in figures.items():
                    self.log.info(
                        f"{camera}: in {v['input_hz']:.1f} Hz, out {v['output_hz']:.1f} Hz, "
                        f"processing p50 {milliseconds(v['processing_ms_p50'])}, latency p50 "
                        f"{milliseconds(v['latency_ms_p50'])}, "
                        f"dropped {v['frames_dropped']}, malformed {v['bad_inputs']}, "
                        f"lost {v['samples_lost']}, errors {v['errors']}"
                    )

    def figures(self) -> dict[str, dict[str, float]]:
        """Return the diagnostics figures per camera, with the transport's own counts."""
        return self.diagnostics.snapshot({camera: transport_counts(subscription)
                                          for camera, subscription in self.subscriptions.items()})

    def stop(self) -> None:
        """Deactivate: stop the threads; batches still in flight are dropped."""
        self.active = False
        self._stopping.set()
        self.frames.close()
        self.decoded.close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        while not self._in_flight.empty():
            self._in_flight.get_nowait()

    def release_gpu(self) -> None:
        """
        Drop the engines (their buffers and CUDA graphs) and hand the cached memory back.

        The memory goes back to the driver; the weights stay for a quick activate. Called on
        deactivate.
        """
        self._engines.clear()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def close(self) -> None:
        """Cleanup: stop, release the topics where the transport can, and free the model."""
        self.stop()
        self._closing.set()
        if self._reporter is not None:
            self._reporter.join(timeout=10)
            self._reporter = None
        release = getattr(self.transport, "release", None)
        for entity in [*self.subscriptions.values(), self.diagnostics_publisher,
                       *(p for outputs in self.publishers.values() for p in outputs.values()),
                       *self.label_info_publishers.values(),
                       *(lidar.publisher for lidar in self.painter.lidars.values())]:
            if release is not None:
                release(entity)
            elif hasattr(entity, "close"):  # a DDS subscription: its listener stops delivering
                entity.close()
        self.subscriptions, self.publishers, self.label_info_publishers = {}, {}, {}
        self.model = None
        self.release_gpu()

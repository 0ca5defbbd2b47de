"""Publish and subscribe ROS 2 messages over Cyclone DDS with no ROS install.

Topics are ``rt/<ros name>`` with the ROS 2 type names, so ROS 2 nodes on the same
domain see them. Samples travel as CDR bytes written and taken directly (cdr.py,
_raw.py). Subscription callbacks run on Cyclone's listener thread; an exception in a
callback is logged and counted, and the thread goes on.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from cyclonedds.core import Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from ..messages import COMPRESSED_IMAGE, DIAGNOSTICS, IMAGE
from . import cdr
from ._raw import take_raw, write_raw
from .config import ros_topic_to_dds
from .idl_types import DDS_TYPES

log = logging.getLogger(__name__)
ENCODERS = {IMAGE: cdr.encode_image, COMPRESSED_IMAGE: cdr.encode_compressed_image,
            DIAGNOSTICS: cdr.encode_diagnostics}
DECODERS = {IMAGE: cdr.decode_image, COMPRESSED_IMAGE: cdr.decode_compressed_image,
            DIAGNOSTICS: cdr.decode_diagnostics}


def make_qos(reliable: bool, depth: int, keep_all: bool = False) -> Qos:
    history = Policy.History.KeepAll if keep_all else Policy.History.KeepLast(depth)
    reliability = (Policy.Reliability.Reliable(max_blocking_time=duration(seconds=1)) if reliable
                   else Policy.Reliability.BestEffort)
    return Qos(reliability, history, Policy.Durability.Volatile)


def check_kind(kind: str) -> None:
    if kind not in DDS_TYPES:
        raise ValueError(f"unknown message kind {kind!r}; kinds: {', '.join(DDS_TYPES)}")


class DdsPublisher:
    def __init__(self, writer: DataWriter, kind: str) -> None:
        self.writer, self.encode = writer, ENCODERS[kind]

    def publish(self, msg: Any) -> None:
        write_raw(self.writer, self.encode(msg))

    def publish_cdr(self, data: bytes) -> None:
        """Write bytes already in CDR (a bag's recorded message, or a test's malformed one)."""
        write_raw(self.writer, data)

    def subscription_count(self) -> int:
        return len(self.writer.get_matched_subscriptions())


class DdsSubscription:
    def __init__(self, transport: "DdsTransport", topic: Topic, kind: str, callback: Callable[[Any], None],
                 qos: Qos, raw: bool) -> None:
        self.callback, self.decode, self.raw = callback, DECODERS[kind], raw
        self.received, self.malformed, self.callback_errors = 0, 0, 0
        self.topic_name = topic.name
        self._lock = threading.Lock()
        self.reader = DataReader(transport.participant, topic, qos=qos,
                                 listener=Listener(on_data_available=self._on_data))

    def _on_data(self, reader: DataReader) -> None:
        with self._lock:  # one drain at a time, so callbacks see samples in order
            while True:
                samples = take_raw(reader)
                if not samples:
                    return
                for data in samples:
                    self.received += 1
                    try:
                        msg = data if self.raw else self.decode(data)
                    except cdr.CdrError as error:
                        self.malformed += 1
                        log.warning("%s: malformed sample skipped: %s", self.topic_name, error)
                        continue
                    try:
                        self.callback(msg)
                    except Exception:  # noqa: BLE001 - a bad callback must not kill the listener thread
                        self.callback_errors += 1
                        log.exception("%s: subscription callback failed", self.topic_name)

    def close(self) -> None:
        self.reader.set_listener(None)


class DdsTransport:
    """One DDS participant; topics are shared between publishers and subscriptions."""

    def __init__(self, domain_id: int = 0) -> None:
        self.participant = DomainParticipant(domain_id)
        self._topics: dict[str, Topic] = {}
        self._subscriptions: list[DdsSubscription] = []

    def topic(self, name: str, kind: str) -> Topic:
        check_kind(kind)
        dds_name = ros_topic_to_dds(name)
        if dds_name not in self._topics:
            self._topics[dds_name] = Topic(self.participant, dds_name, DDS_TYPES[kind])
        return self._topics[dds_name]

    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5,
                  keep_all: bool = False) -> DdsPublisher:
        writer = DataWriter(self.participant, self.topic(topic, kind), qos=make_qos(reliable, depth, keep_all))
        return DdsPublisher(writer, kind)

    def subscribe(self, topic: str, kind: str, callback: Callable[[Any], None], reliable: bool = False,
                  depth: int = 1, keep_all: bool = False, raw: bool = False) -> DdsSubscription:
        """Sensor-data QoS by default (best effort, keep last 1); ``raw`` hands the callback CDR bytes."""
        subscription = DdsSubscription(self, self.topic(topic, kind), kind, callback,
                                       make_qos(reliable, depth, keep_all), raw)
        self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        self._topics.clear()
        self.participant = None

    def __enter__(self) -> "DdsTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""
Publish and subscribe ROS 2 messages over Cyclone DDS with no ROS install.

Topics are ``rt/<ros name>`` with the ROS 2 type names, so ROS 2 nodes on the same
domain see them. Samples travel as CDR bytes written and taken directly (messages/cdr.py,
_raw.py). Subscription callbacks run on Cyclone's listener thread; an exception in a
callback is logged and counted, and the thread goes on.

What a subscription cannot hand on is counted on it: ``malformed`` (CDR that does not
decode, also by reason), ``lost`` and ``rejected`` (Cyclone's SAMPLE_LOST and
SAMPLE_REJECTED statuses). Frames lost in the socket before Cyclone reassembles them raise
no status; ``DdsTransport.socket_drops`` counts the datagrams the kernel dropped instead.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from cyclonedds.core import Listener, Policy, Qos
from cyclonedds.idl import IdlStruct
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from ...messages import cdr
from ...messages.message_kinds import MessageKind, message_kind
from ...ros_rules.ros_names import NodeNames, expand
from . import idl_types
from ._raw import take_raw, write_raw
from .config import receive_buffer_advice, ros_topic_to_dds
from .sockets import ParticipantSockets, kernel_rmem_max, open_socket_inodes

log = logging.getLogger(__name__)
WARN_PERIOD = 5.0  # seconds between two log lines about one topic's malformed samples
# every message type of idl_types by its DDS type name (nested ones such as Header_ included)
IDL_TYPES = {t.__idl_typename__: t for t in vars(idl_types).values()
             if isinstance(t, type) and issubclass(t, IdlStruct) and t is not IdlStruct}


def dds_type(kind: MessageKind) -> type:
    """
    Return the IdlStruct that registers a topic of this kind.

    The type is named as rmw_cyclonedds names it.
    """
    try:
        return IDL_TYPES[kind.dds_typename]
    except KeyError:
        raise ValueError(
            f"message kind {kind.name!r} ({kind.ros_type}) has no DDS type {kind.dds_typename}: "
            f"declare it in cicld_ros/transports/dds/idl_types.py"
        ) from None


def make_qos(
    reliable: bool, depth: int, keep_all: bool = False, transient_local: bool = False
) -> Qos:
    history = Policy.History.KeepAll if keep_all else Policy.History.KeepLast(depth)
    reliability = (Policy.Reliability.Reliable(max_blocking_time=duration(seconds=1)) if reliable
                   else Policy.Reliability.BestEffort)
    # transient local: the writer keeps its last samples for readers that join later (a latched
    # topic)
    return Qos(
        reliability,
        history,
        Policy.Durability.TransientLocal if transient_local else Policy.Durability.Volatile,
    )


class DdsPublisher:
    def __init__(self, writer: DataWriter, kind: str) -> None:
        self.writer, self.encode = writer, message_kind(kind).encode

    def publish(self, msg: Any) -> None:
        write_raw(self.writer, self.encode(msg))

    def publish_cdr(self, data: bytes) -> None:
        """Write bytes already in CDR (a bag's recorded message, or a test's malformed one)."""
        write_raw(self.writer, data)

    def subscription_count(self) -> int:
        """
        Readers matched so far: writing before the subscriber's reader matched loses the sample.

        Read from the matched status: cyclonedds' get_matched_subscriptions() asks for the count
        and then the list, and raises IndexError when a reader matches in between (seen under
        load).
        """
        return int(self.writer.get_publication_matched_status().current_count)


class DdsSubscription:
    """
    Hands each sample to ``callback``.

    Counts, kept up to date from Cyclone's listener thread: ``received`` (samples taken),
    ``malformed`` (of those, undecodable: skipped) with ``malformed_reasons`` (CdrError.reason ->
    count), ``lost`` and ``rejected`` (Cyclone's SAMPLE_LOST / SAMPLE_REJECTED totals; such samples
    are never taken. Cyclone raises neither for a frame lost in the socket: see
    DdsTransport.socket_drops), ``callback_errors``.
    """

    def __init__(
        self,
        transport: "DdsTransport",
        topic: Topic,
        kind: str,
        callback: Callable[[Any], None],
        qos: Qos,
        raw: bool,
        warn_period: float = WARN_PERIOD,
    ) -> None:
        self.callback, self.decode, self.raw = callback, message_kind(kind).decode, raw
        self.received, self.malformed, self.lost, self.rejected, self.callback_errors = (
            0,
            0,
            0,
            0,
            0,
        )
        self.malformed_reasons: dict[str, int] = {}
        self.topic_name = topic.name
        self.warn_period = warn_period
        self._warned_at: float | None = None
        # malformed samples not logged since the last line, by reason
        self._held_back: dict[str, int] = {}
        self._lock = threading.Lock()
        self.reader = DataReader(
            transport.participant,
            topic,
            qos=qos,
            listener=Listener(
                on_data_available=self._on_data,
                on_sample_lost=self._on_lost,
                on_sample_rejected=self._on_rejected,
            ),
        )
        # a transient-local writer's kept samples can arrive while DataReader is still being built,
        # when
        # the listener has no reader to take them with: take them now
        self._on_data(self.reader)

    def publication_count(self) -> int:
        """Writers matched so far (from the matched status, as DdsPublisher.subscription_count)."""
        return int(self.reader.get_subscription_matched_status().current_count)

    def _on_lost(self, reader: DataReader, status) -> None:
        self.lost = status.total_count

    def _on_rejected(self, reader: DataReader, status) -> None:
        self.rejected = status.total_count

    def _on_malformed(self, error: cdr.CdrError) -> None:
        """Count it; log the first, then one line per ``warn_period`` with how many followed."""
        reason = getattr(error, "reason", "malformed")
        self.malformed += 1
        self.malformed_reasons[reason] = self.malformed_reasons.get(reason, 0) + 1
        now = time.monotonic()
        quiet = self._warned_at is None or (
            now - self._warned_at >= self.warn_period and not self._held_back
        )
        if quiet:  # the first in a while: say what is wrong with it
            self._warned_at = now
            log.warning(
                "%s: malformed sample skipped (%s): %s; further ones are counted and summarised "
                "at most "
                "every %g s",
                self.topic_name,
                reason,
                error,
                self.warn_period,
            )
            return
        self._held_back[reason] = self._held_back.get(reason, 0) + 1
        if now - self._warned_at >= self.warn_period:
            self._warned_at = now
            self._log_held_back()

    def _log_held_back(self) -> None:
        if self._held_back:
            by_reason = ", ".join(f"{reason} {n}" for reason, n in sorted(self._held_back.items()))
            log.warning("%s: %d more malformed samples skipped (%s); %d in all", self.topic_name,
                        sum(self._held_back.values()), by_reason, self.malformed)
            self._held_back = {}

    def _on_data(self, reader: DataReader | None) -> None:
        if reader is None or getattr(reader, "_ref", None) is None:
            # called from inside DataReader's construction: __init__ takes the samples once it is
            # built
            return
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
                        self._on_malformed(error)
                        continue
                    try:
                        self.callback(msg)
                    except (
                        Exception
                    ):  # noqa: BLE001 - a bad callback must not kill the listener thread
                        self.callback_errors += 1
                        log.exception("%s: subscription callback failed", self.topic_name)

    def close(self) -> None:
        self.reader.set_listener(None)
        with self._lock:
            self._log_held_back()


class DdsTransport:
    """
    One DDS participant; topics are shared between publishers and subscriptions.

    ``receive_buffer_bytes`` is the socket receive buffer Cyclone obtained (None where
    unknown); a warning is logged at start when it cannot hold a full-size camera frame.
    ``warn_period`` spaces the log lines about each topic's malformed samples.
    """

    def __init__(
        self, domain_id: int = 0, warn_period: float = WARN_PERIOD, names: NodeNames | None = None
    ) -> None:
        self.warn_period = warn_period
        # a node's name, namespace and remappings; None: names resolve at the root
        self.names = names
        before = open_socket_inodes()
        self.participant = DomainParticipant(domain_id)
        self._sockets = ParticipantSockets(before)
        self.receive_buffer_bytes = self._sockets.receive_buffer_bytes
        advice = receive_buffer_advice(
            self.receive_buffer_bytes, kernel_rmem_max(), os.environ.get("CYCLONEDDS_URI")
        )
        if advice:
            log.warning(advice)
        self._topics: dict[str, Topic] = {}
        self._subscriptions: list[DdsSubscription] = []

    @property
    def socket_drops(self) -> int:
        """
        Datagrams the kernel dropped on this participant's sockets (receive buffer full).

        Fragments of samples that never arrived. 0 where unknown.
        """
        return self._sockets.drops()

    @property
    def node_name(self) -> str | None:
        """Return the node's fully qualified name (None for a transport that is no node's)."""
        return self.names.fully_qualified_name if self.names is not None else None

    def resolve(self, name: str) -> str:
        """Return a topic name as rcl would resolve it for this node (namespace, ~, remappings)."""
        if self.names is not None:
            return self.names.resolve(name)
        if name.startswith("~"):
            raise ValueError(
                f"topic {name!r}: a private name needs a node (DdsTransport(names=...))"
            )
        return expand(name, "", "/")

    def topic(self, name: str, kind: str) -> Topic:
        # an unknown kind is refused before anything is made
        idl_type = dds_type(message_kind(kind))
        dds_name = ros_topic_to_dds(self.resolve(name))
        if dds_name not in self._topics:
            self._topics[dds_name] = Topic(self.participant, dds_name, idl_type)
        return self._topics[dds_name]

    def publisher(self, topic: str, kind: str, reliable: bool = True, depth: int = 5,
                  keep_all: bool = False, transient_local: bool = False) -> DdsPublisher:
        writer = DataWriter(self.participant, self.topic(topic, kind),
                            qos=make_qos(reliable, depth, keep_all, transient_local))
        return DdsPublisher(writer, kind)

    def subscribe(
        self,
        topic: str,
        kind: str,
        callback: Callable[[Any], None],
        reliable: bool = False,
        depth: int = 1,
        keep_all: bool = False,
        raw: bool = False,
        transient_local: bool = False,
    ) -> DdsSubscription:
        """
        Sensor-data QoS by default (best effort, keep last 1).

        ``raw`` hands the callback CDR bytes; ``transient_local`` also receives what a latched
        writer sent before this reader joined.
        """
        subscription = DdsSubscription(
            self,
            self.topic(topic, kind),
            kind,
            callback,
            make_qos(reliable, depth, keep_all, transient_local),
            raw,
            self.warn_period,
        )
        self._subscriptions.append(subscription)
        return subscription

    def release(self, entity: DdsPublisher | DdsSubscription) -> None:
        """
        Delete a publisher's writer or a subscription's reader now (the lifecycle's cleanup).

        The other participants see it unmatch. Releasing one twice does nothing.
        """
        if isinstance(entity, DdsSubscription):
            entity.close()
            if entity in self._subscriptions:
                self._subscriptions.remove(entity)
            dds_entity = entity.reader
        else:
            dds_entity = entity.writer
        # cyclonedds-python deletes an entity in __del__, once and only once; called here so the
        # reader or writer goes at once, not whenever the last reference to it is collected
        dds_entity.__del__()

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

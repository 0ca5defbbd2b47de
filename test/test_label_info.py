"""The class map on the wire: each camera's vision_msgs/LabelInfo (value -> class name) on a
latched topic beside its masks. Over DDS the node runs in its own process and a subscriber that
joins after the node published still receives it, as a ROS 2 subscriber with transient-local
durability would; the CDR form matches the ROS 2 definition (rosbags' typestore)."""
from __future__ import annotations

import threading

from rosbags.typesys import Stores, get_typestore

from cicld_core.labels import CLASS_NAMES
from cicld_ros.messages import cdr
from cicld_ros.messages.records import LABEL_INFO, Header, LabelInfo, Time, VisionClass
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
from cicld_ros.transports.dds.transport import DdsTransport
from test_node_core import make_node
from test_node_cli import START_TIMEOUT, NodeProcess, node_domain, node_params, write_params
from waiting import wait_for


def test_label_info_cdr_is_the_ros_2_message():
    # the ROS 2 definition, as vision_msgs 4.1 ships it (msg/LabelInfo.msg, msg/VisionClass.msg)
    store = get_typestore(Stores.ROS2_HUMBLE)
    from rosbags.typesys import get_types_from_msg

    store.register(get_types_from_msg("uint16 class_id\nstring class_name", "vision_msgs/msg/VisionClass"))
    store.register(get_types_from_msg("std_msgs/Header header\nvision_msgs/VisionClass[] class_map\nfloat32 threshold",
                                      "vision_msgs/msg/LabelInfo"))
    record = LabelInfo(Header(Time(5, 6), "cam"), [VisionClass(0, "road"), VisionClass(7, "traffic sign")], 0.5)
    data = cdr.encode_label_info(record)
    theirs = store.deserialize_cdr(data, "vision_msgs/msg/LabelInfo")
    assert [(c.class_id, c.class_name) for c in theirs.class_map] == [(0, "road"), (7, "traffic sign")]
    assert theirs.threshold == 0.5 and theirs.header.frame_id == "cam"
    assert bytes(store.serialize_cdr(theirs, "vision_msgs/msg/LabelInfo")) == data
    assert cdr.decode_label_info(data) == record


def test_the_node_publishes_each_camera_s_class_map_once_at_configure(checkpoint):
    node, transport = make_node(checkpoint)
    for camera in ("/front", "/rear"):
        messages = transport.publishers[f"{camera}/segmentation/label_info"].messages
        assert len(messages) == 1
        assert [c.class_name for c in messages[0].class_map] == node.metadata["class_names"] == list(CLASS_NAMES)
        assert [c.class_id for c in messages[0].class_map] == list(range(len(CLASS_NAMES)))


def test_a_late_subscriber_still_receives_each_camera_s_class_map(checkpoint, tmp_path):
    domain = node_domain(41)
    params = tmp_path / "params.yaml"
    write_params(params, node_params(checkpoint, image_topics=["/cam0/image_raw", "/cam1/image_raw"]))
    node = NodeProcess("--params-file", str(params), "--domain-id", str(domain))
    try:
        # the class map is published at configure, before the node says it is segmenting
        node.expect(r"segmenting /cam0/image_raw", START_TIMEOUT)
        received: dict[str, list[LabelInfo]] = {"/cam0": [], "/cam1": []}
        lock = threading.Lock()

        def keep(camera: str, msg: LabelInfo) -> None:
            with lock:
                received[camera].append(msg)

        ensure_cyclonedds_uri()  # the node's configuration (loopback), so the two participants discover each other
        with DdsTransport(domain) as transport:
            for camera in received:
                transport.subscribe(f"{camera}/segmentation/label_info", LABEL_INFO,
                                    lambda msg, c=camera: keep(c, msg), reliable=True, depth=1, transient_local=True)
            assert wait_for(lambda: all(received.values()), 60), "the late subscriber got no class map"
        for messages in received.values():
            assert len(messages) == 1
            assert [(c.class_id, c.class_name) for c in messages[0].class_map] == list(enumerate(CLASS_NAMES))
            assert messages[0].threshold == 0.0
    finally:
        node.stop()

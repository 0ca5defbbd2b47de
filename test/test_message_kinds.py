"""One registry of message kinds for both transports, and one table of the node's outputs:
every kind has its DDS type and codec, an unknown kind is an error in either transport,
and every output has its switch among the node's parameters."""
from __future__ import annotations

import numpy as np
import pytest

from cicld_ros.messages.message_kinds import KINDS, message_kind
from cicld_ros.messages.pointcloud import CameraInfo, build_cloud
from cicld_ros.messages.records import Header, Image, LabelInfo, Time, VisionClass
from cicld_ros.segmentation.core import output_topics
from cicld_ros.segmentation.node_outputs import OUTPUTS
from cicld_ros.segmentation.params import FIELDS, NodeParams
from cicld_ros.transports.dds.transport import IDL_TYPES, DdsTransport, dds_type
from cicld_ros.transports.rclpy.rclpy_node import RclpyTransport


def test_every_kind_has_its_dds_type_named_after_its_ros_type():
    assert set(KINDS) == {"image", "compressed_image", "diagnostics", "pointcloud2", "camera_info", "label_info"}
    for kind in KINDS.values():
        assert dds_type(kind).__idl_typename__ == kind.ros_type.replace("/msg/", "::msg::dds_::") + "_"
    assert message_kind("pointcloud2").ros_type == "sensor_msgs/msg/PointCloud2"
    assert "sensor_msgs::msg::dds_::CameraInfo_" in IDL_TYPES
    assert message_kind("label_info").ros_type == "vision_msgs/msg/LabelInfo"


@pytest.mark.parametrize("kind,record", [
    ("image", Image(Header(Time(3, 4), "cam"), 2, 2, "mono8", 0, 2, bytes([1, 2, 3, 4]))),
    ("pointcloud2", build_cloud(Header(Time(5, 6), "lidar"), np.arange(12.0).reshape(4, 3), np.arange(4))),
    ("camera_info", CameraInfo.from_dict({"width": 8, "height": 4, "k": [2, 0, 4, 0, 2, 2, 0, 0, 1]},
                                         Header(Time(7, 8), "cam"))),
    ("label_info", LabelInfo(Header(Time(9, 10), ""), [VisionClass(0, "road"), VisionClass(18, "bicycle")], 0.25)),
])
def test_a_kinds_codec_round_trips_its_record(kind, record):
    codec = message_kind(kind)
    decoded = codec.decode(codec.encode(record))
    assert decoded.header == record.header
    assert bytes(codec.encode(decoded)) == bytes(codec.encode(record))


def test_an_unknown_kind_is_an_error_in_both_transports():
    with pytest.raises(ValueError, match="unknown message kind 'video'.*image, compressed_image"):
        message_kind("video")
    # the rclpy transport refuses it before it needs ROS (no rclpy here), never falling back to a type
    for make in (lambda t: t.publisher("/x", "video"), lambda t: t.subscribe("/x", "video", print)):
        with pytest.raises(ValueError, match="unknown message kind 'video'"):
            make(RclpyTransport(node=None))
    with DdsTransport(domain_id=231) as transport:
        with pytest.raises(ValueError, match="unknown message kind 'video'"):
            transport.publisher("/x", "video")
        with pytest.raises(ValueError, match="unknown message kind 'video'"):
            transport.subscribe("/x", "video", print)


def test_every_output_has_its_switch_among_the_parameters():
    assert [o.name for o in OUTPUTS] == ["class_mask", "color_mask", "overlay", "confidence", "uncertainty"]
    for output in OUTPUTS:
        assert isinstance(getattr(NodeParams(), output.flag), bool) and output.flag in FIELDS
    assert list(output_topics("/front/image_raw", "seg")) == [o.name for o in OUTPUTS]
    uncertainty = next(o for o in OUTPUTS if o.name == "uncertainty")
    assert not uncertainty.enabled(NodeParams(publish_uncertainty=True))  # one noise sample
    assert uncertainty.enabled(NodeParams(publish_uncertainty=True, num_samples=2))


def test_a_released_writer_or_reader_is_gone_for_the_other_side():
    """DdsTransport.release, the lifecycle's cleanup: the peer sees it unmatch; twice does nothing."""
    from waiting import wait_for

    with DdsTransport(domain_id=230) as node, DdsTransport(domain_id=230) as peer:
        publisher = node.publisher("/released/points", "pointcloud2")
        subscription = peer.subscribe("/released/points", "pointcloud2", print)
        assert wait_for(lambda: subscription.publication_count() == 1, 30)
        node.release(publisher)
        assert wait_for(lambda: subscription.publication_count() == 0, 30)
        node.release(publisher)
        watcher = peer.publisher("/released/info", "camera_info")
        reader = node.subscribe("/released/info", "camera_info", print)
        assert wait_for(lambda: watcher.subscription_count() == 1, 30)
        node.release(reader)
        assert wait_for(lambda: watcher.subscription_count() == 0, 30)

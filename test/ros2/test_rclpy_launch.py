"""`ros2 launch cicld_ros segment.launch.py` with arguments, as a user starts the node: it comes
up active, segments 1920x1080 rgb8 and bgr8 Images and a JPEG CompressedImage from a separate
rclpy camera process (best effort), answers with the input's header and size, latches its
LabelInfo for a late joiner, counts and warns about bad frames and serves good ones after
them, and ends cleanly on Ctrl-C. One launched node serves the whole module; the Ctrl-C test
comes last."""
from __future__ import annotations

import signal

import pytest

import ros_tier
from ros_tier import ACTIVE_LINE, CHECKPOINT, OUTPUTS, Camera, Listener, launch, lifecycle_get, serve

ros_tier.require_ros()

DOMAIN = ros_tier.domain_for(1)
FRONT, REAR = "/front/image_raw", "/rear/image_raw/compressed"
FRONT_OUT = {name: f"/front/segmentation/{name}" for name in OUTPUTS}
REAR_OUT = {name: f"/rear/segmentation/{name}" for name in OUTPUTS}
NODE = "/segment_node"


@pytest.fixture(scope="module")
def stack():
    listener = Listener(DOMAIN)
    listener.subscribe_images([*FRONT_OUT.values(), *REAR_OUT.values()])
    node = launch(DOMAIN, f"checkpoint:={CHECKPOINT}", f"image_topic:={FRONT}", f"compressed_image_topic:={REAR}",
                  "steps:=0")
    camera = None
    try:
        camera = Camera(DOMAIN)
        node.wait_line(ACTIVE_LINE)
        listener.wait_matched([*FRONT_OUT.values(), *REAR_OUT.values()])
        yield node, camera, listener
    finally:
        if camera is not None:
            camera.close()
        node.kill()
        listener.close()


def test_launched_node_configures_and_activates_itself(stack):
    node, _, _ = stack
    assert lifecycle_get(DOMAIN, NODE) == "active [3]", node.tail()


def test_launched_node_applies_the_shipped_fast_dds_profile_itself(stack):
    node, _, _ = stack
    # launched without FASTRTPS_DEFAULT_PROFILES_FILE (ros_tier.ros_env), as a user would
    assert node.find(ros_tier.PROFILE_LINE), node.tail()


@pytest.mark.parametrize("encoding, topic, outputs, stamp", [
    ("rgb8", FRONT, FRONT_OUT, (1101, 7)),
    ("bgr8", FRONT, FRONT_OUT, (1102, 8)),
    ("jpeg", REAR, REAR_OUT, (1103, 9)),
])
def test_a_1080p_frame_comes_back_as_masks_and_overlay_with_its_header_and_size(stack, encoding, topic, outputs,
                                                                                  stamp):
    node, camera, listener = stack
    camera.wait_subscribed(topic, "compressed" if encoding == "jpeg" else "image")
    frame_id = f"{topic.split('/')[1]}_optical_{encoding}"
    answers = serve(camera, listener, topic, list(outputs.values()), encoding=encoding, width=1920, height=1080,
                    frame_id=frame_id, sec=stamp[0], nanosec=stamp[1])
    expected_encoding = {"class_mask": "mono8", "color_mask": "rgb8", "overlay": "rgb8"}  # color_encoding rgb8
    for name, topic_out in outputs.items():
        got = answers[topic_out]
        assert (got.width, got.height, got.frame_id, got.stamp) == (1920, 1080, frame_id, stamp), (name, got)
        assert got.encoding == expected_encoding[name], (name, got)
        assert got.step * got.height == got.size == 1920 * 1080 * (1 if name == "class_mask" else 3), (name, got)


def test_label_info_reaches_a_late_joining_subscriber_with_a_frame_id(stack):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import LabelInfo

    node, _, listener = stack
    # joins long after the node published its class map (once, at configure): only a
    # transient-local publisher can still deliver it
    topic = "/front/segmentation/label_info"
    listener.subscribe(topic, LabelInfo, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                                    durability=DurabilityPolicy.TRANSIENT_LOCAL))
    info = listener.first(topic, lambda msg: True, ros_tier.ANSWER_TIMEOUT)
    assert info is not None, f"no LabelInfo on {topic} for a late joiner\n{node.tail()}"
    names = [c.class_name for c in info.class_map]
    assert len(names) >= 2 and all(names), names
    assert [c.class_id for c in info.class_map] == list(range(len(names)))
    assert info.header.frame_id, "LabelInfo's header.frame_id is empty (issue 32, item 6)"


BAD_FRAMES = {  # reason counted in /diagnostics -> (what the camera sends, a piece of the warning)
    "short_data": (dict(encoding="rgb8", width=64, height=32, data_bytes=1000), r"data holds 1000 bytes"),
    "unsupported_encoding": (dict(raw_encoding="tier_unknown", width=64, height=32, step=192, data_bytes=6144),
                             r"encoding 'tier_unknown' is not supported"),
    "zero_size": (dict(raw_encoding="rgb8", width=0, height=0, step=0, data_bytes=0), r"0x0"),
    "too_large": (dict(raw_encoding="rgb8", width=100000, height=100000, step=300000, data_bytes=4096),
                  r"100000x100000"),
}


def test_bad_frames_are_each_counted_and_warned_and_good_frames_are_served_after_them(stack):
    from diagnostic_msgs.msg import DiagnosticArray

    node, camera, listener = stack
    listener.subscribe("/diagnostics", DiagnosticArray, keep=ros_tier.diagnostics_keep)
    status_name = f"segment_node: {FRONT}"
    camera.wait_subscribed(FRONT)

    def count(reason: str) -> int:
        counts = [int(d[status_name]["values"].get(f"bad_input.{reason}", 0))
                  for d in listener.got("/diagnostics") if status_name in d]
        return max(counts, default=0)

    missing = []
    for index, (reason, (frame, warning)) in enumerate(BAD_FRAMES.items()):
        wait = 3.0
        # sent again until /diagnostics counts it (best effort may lose a frame)
        for _attempt in range(6):
            camera.publish(FRONT, frame_id="front_bad", sec=2000 + index, **frame)
            if listener.wait(lambda r=reason: count(r) >= 1, wait):
                break
            wait *= 2
        if count(reason) < 1:
            missing.append(f"{reason}: not counted as bad_input.{reason} in /diagnostics")
            continue
        if not node.find(rf"{FRONT}: frame skipped: .*{warning}", since=0):
            missing.append(f"{reason}: counted, but no warning matching {warning!r} in the node's log")
    last = listener.got("/diagnostics")[-1].get(status_name, {})
    assert not missing, "\n".join(missing) + f"\nlast diagnostics: {last}\n{node.tail()}"
    answers = serve(camera, listener, FRONT, list(FRONT_OUT.values()), encoding="rgb8", width=640, height=480,
                    frame_id="front_good", sec=2100)
    assert all(a.width == 640 and a.height == 480 for a in answers.values())


def test_sigint_to_ros2_launch_ends_it_and_the_node_cleanly_within_5_s(stack):
    node, _, _ = stack
    # SIGINT to the launch process alone (as `kill -INT`); launch hands it on to the node.
    # Ctrl-C in a terminal (SIGINT to the whole process group) is test_rclpy_names.py's last test.
    node.send_signal(signal.SIGINT)
    ros_tier.assert_stopped_cleanly(node, "SIGINT", launched=True)

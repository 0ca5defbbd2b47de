"""Names and parameters under a real ROS 2: `namespace:=` with a `/**` parameter file moves
every input and output of the launched node; `--ros-args -r` remappings move those of a node
started with `ros2 run`; `ros2 param set` takes a valid value on the next frame and refuses
an out-of-range value, a wrong type and a configure-time parameter with a reason while the
node keeps serving; `ros2 param describe` shows the bounds of every bounded parameter; and
Ctrl-C in the launch's terminal (SIGINT to its process group) ends it cleanly. Two nodes
serve the whole module; the Ctrl-C test comes last."""
from __future__ import annotations

import os
import re
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

import ros_tier
from ros_tier import ACTIVE_LINE, CHECKPOINT, OUTPUTS, Camera, Listener, launch, ros2, run_node, serve

ros_tier.require_ros()

DOMAIN = ros_tier.domain_for(2)
NS = "/tier_ns"
NS_NODE = f"{NS}/segment_node"
NS_INPUTS = {f"{NS}/front/image_raw": "image", f"{NS}/rear/image_raw/compressed": "compressed"}
NS_OUT = {camera: {name: f"{NS}/{camera}/seg/{name}" for name in OUTPUTS} for camera in ("front", "rear")}
# the ros2 run node: its namespace, its camera remapped elsewhere, and one output remapped on its own
REMAP_NS, REMAPPED_INPUT = "/robot", "/remapped/cam/image_raw"
REMAPPED_OUT = {"class_mask": "/remapped/cam/segmentation/class_mask",
                "color_mask": "/remapped/cam/segmentation/color_mask", "overlay": "/elsewhere/overlay"}
# always absolute, whatever the namespace: ROS's own topics and the aggregated /diagnostics
GLOBAL_TOPICS = {"/rosout", "/parameter_events", "/diagnostics", "/clock"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    params = tmp_path_factory.mktemp("params") / "segment.yaml"
    # the key /** applies the file whatever the node's namespace; the checkpoint comes only from
    # here, so a node that activates has read the file under its namespace
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "checkpoint": str(CHECKPOINT), "image_topics": ["front/image_raw"],
        "compressed_image_topics": ["rear/image_raw/compressed"], "output_namespace": "seg", "steps": 0}}}))
    listener = Listener(DOMAIN)
    listener.subscribe_images([t for outputs in NS_OUT.values() for t in outputs.values()]
                              + list(REMAPPED_OUT.values()))
    launched = launch(DOMAIN, f"namespace:={NS}", f"params_file:={params}", name="ros2 launch namespace:=")
    remapped = run_node(DOMAIN, "-p", f"checkpoint:={CHECKPOINT}", "-p", "steps:=0", "-r", f"__ns:={REMAP_NS}",
                        "-r", f"camera/image_raw:={REMAPPED_INPUT}",
                        "-r", "/remapped/cam/segmentation/overlay:=/elsewhere/overlay", name="ros2 run -r")
    camera = None
    try:
        camera = Camera(DOMAIN)
        launched.wait_line(ACTIVE_LINE)
        remapped.wait_line(ACTIVE_LINE)
        yield launched, remapped, camera, listener
    finally:
        if camera is not None:
            camera.close()
        launched.kill()
        remapped.kill()
        listener.close()


def node_topics(listener: Listener, name: str, namespace: str) -> tuple[set[str], set[str]]:
    """(published, subscribed) topic names of a node, from the ROS graph."""
    from rclpy._rclpy_pybind11 import NodeNameNonExistentError

    node = listener.node
    try:
        published = {t for t, _ in node.get_publisher_names_and_types_by_node(name, namespace)}
        subscribed = {t for t, _ in node.get_subscriber_names_and_types_by_node(name, namespace)}
    except NodeNameNonExistentError:  # not discovered yet
        return set(), set()
    return published, subscribed


def test_namespace_and_a_slash_star_params_file_move_every_input_and_output(stack):
    launched, _, camera, listener = stack
    topics: list = []

    def graph_complete() -> bool:
        topics[:] = node_topics(listener, "segment_node", NS)
        outputs = {t for o in NS_OUT.values() for t in o.values()}
        return set(NS_INPUTS) <= topics[1] and outputs <= topics[0]

    assert listener.wait(graph_complete, ros_tier.START_TIMEOUT), (topics, launched.tail())
    published, subscribed = topics
    outside = sorted(t for t in published | subscribed if t not in GLOBAL_TOPICS and not t.startswith(NS + "/"))
    assert not outside, f"topics of {NS_NODE} outside {NS}: {outside}"
    assert subscribed - GLOBAL_TOPICS == set(NS_INPUTS)
    assert {f"{NS}/front/seg/label_info", f"{NS}/rear/seg/label_info"} <= published
    for (topic, kind), camera_name in zip(NS_INPUTS.items(), ("front", "rear")):
        camera.wait_subscribed(topic, kind)
        answers = serve(camera, listener, topic, list(NS_OUT[camera_name].values()),
                        encoding="jpeg" if kind == "compressed" else "rgb8", width=320, height=240,
                        frame_id=camera_name, sec=3000 + len(camera_name))
        assert {(a.width, a.height, a.frame_id) for a in answers.values()} == {(320, 240, camera_name)}


def test_remappings_move_the_input_and_the_outputs_that_follow_it(stack):
    _, remapped, camera, listener = stack
    topics: list = []

    def graph_complete() -> bool:
        topics[:] = node_topics(listener, "segment_node", REMAP_NS)
        return REMAPPED_INPUT in topics[1] and set(REMAPPED_OUT.values()) <= topics[0]

    assert listener.wait(graph_complete, ros_tier.START_TIMEOUT), (topics, remapped.tail())
    published, subscribed = topics
    assert subscribed - GLOBAL_TOPICS == {REMAPPED_INPUT}
    stray = sorted(t for t in published - GLOBAL_TOPICS
                   if not t.startswith(("/remapped/cam/segmentation/", "/elsewhere/", f"{REMAP_NS}/segment_node/")))
    assert not stray, f"outputs that did not follow the remapped camera: {stray}"
    assert "/remapped/cam/segmentation/overlay" not in published
    camera.wait_subscribed(REMAPPED_INPUT)
    answers = serve(camera, listener, REMAPPED_INPUT, list(REMAPPED_OUT.values()), encoding="rgb8", width=320,
                    height=240, frame_id="remapped", sec=3100)
    assert {a.frame_id for a in answers.values()} == {"remapped"}


def param_set(name: str, value: str) -> str:
    result = ros2(DOMAIN, "param", "set", NS_NODE, name, value)
    return result.text.strip()


def test_a_valid_ros2_param_set_takes_effect_on_the_next_frame(stack):
    launched, _, camera, listener = stack
    topic, outputs = f"{NS}/front/image_raw", NS_OUT["front"]
    camera.wait_subscribed(topic)
    before = serve(camera, listener, topic, list(outputs.values()), encoding="rgb8", width=320, height=240,
                   frame_id="front", sec=3200)
    assert before[outputs["color_mask"]].encoding == "rgb8"
    answer = param_set("color_encoding", "bgr8")
    assert answer.startswith("Set parameter successful"), answer
    after = serve(camera, listener, topic, list(outputs.values()), encoding="rgb8", width=320, height=240,
                  frame_id="front", sec=3201)
    assert after[outputs["color_mask"]].encoding == "bgr8", launched.tail()
    assert after[outputs["overlay"]].encoding == "bgr8"
    assert param_set("color_encoding", "rgb8").startswith("Set parameter successful")


REFUSED = [  # (parameter, value, what the reason says)
    ("steps", "1000", r"out of range|steps"),  # over the declared range
    ("overlay_alpha", "1.5", r"out of range|overlay_alpha"),
    ("steps", "many", r"[Ww]rong parameter type|type"),  # a string for an integer
    ("max_batch", "2", r"unconfigured|cannot change|configure"),  # read only at configure
]


def test_ros2_param_set_refuses_bad_values_with_a_reason_and_the_node_keeps_serving(stack):
    launched, _, camera, listener = stack
    problems = []
    # the four refusals are independent: asked at once (each ros2 verb spends seconds starting and discovering)
    with ThreadPoolExecutor(len(REFUSED)) as pool:
        answers = list(pool.map(lambda refused: param_set(refused[0], refused[1]), REFUSED))
    for (name, value, reason), answer in zip(REFUSED, answers):
        if not (answer.startswith("Setting parameter failed: ")
                and re.search(reason, answer.removeprefix("Setting parameter failed: "))):
            problems.append(f"ros2 param set {name} {value}: {answer!r}")
    assert not problems, "\n".join(problems)
    topic, outputs = f"{NS}/front/image_raw", NS_OUT["front"]
    camera.wait_subscribed(topic)
    serve(camera, listener, topic, list(outputs.values()), encoding="rgb8", width=320, height=240, frame_id="front",
          sec=3300)


BOUNDED = ("seed", "max_batch", "max_pixels", "input_width", "input_height", "diagnostics_period", "log_period",
           "warn_period", "steps", "strength", "num_samples", "overlay_alpha")


def test_ros2_param_describe_shows_the_bounds_of_every_bounded_parameter(stack):
    launched, _, _, _ = stack
    described = ros2(DOMAIN, "param", "describe", NS_NODE, *BOUNDED).out
    blocks = {block.splitlines()[0].strip(): block for block in described.split("Parameter name: ")[1:]}
    assert set(blocks) == set(BOUNDED), described
    unbounded = [name for name, block in blocks.items() if "Min value:" not in block or "Max value:" not in block]
    assert not unbounded, f"ros2 param describe shows no range for {unbounded}\n{described}"


def test_ctrl_c_in_the_launch_terminal_ends_launch_and_node_cleanly_within_5_s(stack):
    launched, _, _, _ = stack
    # Ctrl-C in a terminal: SIGINT to the whole foreground process group, so the node gets it
    # from the terminal and again from launch
    os.killpg(launched.pid, signal.SIGINT)
    ros_tier.assert_stopped_cleanly(launched, "Ctrl-C", launched=True)

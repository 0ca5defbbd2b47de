"""The managed-node states both transports share (cicld_ros.segmentation.lifecycle): what each transition
does to the core (checkpoint, topics, threads, GPU memory), which transitions each state
refuses, and the same steps driven through the DDS node in its own process (--no-autostart,
SIGUSR1 / SIGUSR2)."""
from __future__ import annotations

import logging
import signal

import numpy as np
import pytest
import torch

from cicld_ros.messages.records import DIAGNOSTICS, IMAGE, Header, Image, Time
from cicld_ros.segmentation.core import SegmentationNode
from cicld_ros.segmentation.lifecycle import ConfigureError, ManagedNode, State, TransitionError
from cicld_ros.segmentation.params import NodeParams, with_changes
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
from cicld_ros.transports.dds.transport import DdsTransport
from test_node_cli import START_TIMEOUT, NodeProcess, node_domain, node_params, write_params
from test_node_core import MemoryTransport
from waiting import wait_for

LOG = logging.getLogger("test_lifecycle")
MASK = "/front/segmentation/class_mask"


class ReleasingTransport(MemoryTransport):
    """Records what the core's cleanup hands back, as rclpy's destroy_publisher would."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list = []

    def release(self, entity) -> None:
        self.released.append(entity)


def frame(second: int) -> Image:
    rgb = np.random.default_rng(second).integers(0, 255, (32, 64, 3), dtype=np.uint8)
    return Image(Header(Time(second, 0), "front"), 32, 64, "rgb8", 0, 64 * 3, rgb)


def managed(checkpoint_path) -> tuple[ManagedNode, ReleasingTransport]:
    transport = ReleasingTransport()
    params = {"checkpoint": str(checkpoint_path), "image_topics": ["/front/image_raw"], "steps": 1}
    node = ManagedNode(lambda: SegmentationNode(with_changes(NodeParams(), params), transport, LOG), LOG)
    return node, transport


def send_until_published(transport: ReleasingTransport, second: int) -> bool:
    masks = transport.publishers[MASK].messages

    def answered() -> bool:
        transport.callbacks["/front/image_raw"](frame(second))
        return any(m.header.stamp.sec == second for m in masks)
    return wait_for(answered, 60, poll=0.1)


def test_each_transition_does_its_part_and_the_cycle_repeats(checkpoint, tmp_path):
    node, transport = managed(tmp_path / "later.safetensors")
    assert node.state is State.UNCONFIGURED and not transport.publishers  # nothing loaded, no topic yet
    with pytest.raises(ConfigureError, match="still unconfigured: .*does not exist"):
        node.configure()
    assert node.state is State.UNCONFIGURED and node.core is None

    (tmp_path / "later.safetensors").write_bytes(checkpoint.read_bytes())
    node.configure()  # the checkpoint is read now, not when the ManagedNode was made
    assert node.state is State.INACTIVE and node.core.model is not None
    transport.callbacks["/front/image_raw"](frame(1))  # inactive: ignored, not even counted
    assert node.core.figures()["/front/image_raw"]["frames_in"] == 0

    for cycle in range(2):  # activate / deactivate twice: the threads and slots start afresh
        node.activate()
        assert node.state is State.ACTIVE
        assert send_until_published(transport, 10 + cycle), f"cycle {cycle}: no mask while active"
        node.deactivate()
        assert node.state is State.INACTIVE and not node.core._engines and not node.core._threads
    assert 1 not in [m.header.stamp.sec for m in transport.publishers[MASK].messages]

    core = node.core
    node.cleanup()
    assert node.state is State.UNCONFIGURED and node.core is None and core.model is None
    made = {id(p) for p in transport.publishers.values()} | {id(s) for s in transport.subscriptions.values()}
    assert {id(e) for e in transport.released} == made  # every publisher and subscription handed back


@pytest.mark.parametrize("state, transition", [(State.UNCONFIGURED, "activate"), (State.UNCONFIGURED, "cleanup"),
                                               (State.INACTIVE, "configure"), (State.INACTIVE, "deactivate"),
                                               (State.ACTIVE, "configure"), (State.ACTIVE, "cleanup")])
def test_a_transition_the_state_does_not_allow_changes_nothing(checkpoint, state, transition):
    node, _ = managed(checkpoint)
    for step in {State.UNCONFIGURED: [], State.INACTIVE: ["configure"], State.ACTIVE: ["configure", "activate"]}[state]:
        getattr(node, step)()
    with pytest.raises(TransitionError, match=f"cannot {transition} while {state.value}"):
        getattr(node, transition)()
    assert node.state is state
    node.shutdown()
    assert node.state is State.FINALIZED and node.core is None
    with pytest.raises(TransitionError, match="while finalized .*nothing"):
        node.configure()


def test_deactivate_hands_cached_gpu_memory_back_on_cuda(checkpoint, monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    node, _ = managed(checkpoint)
    node.configure()
    node.activate()
    node.core.device = torch.device("cpu")
    node.deactivate()
    assert not emptied  # nothing to hand back on the CPU
    node.activate()
    node.core.device = torch.device("cuda")  # as on a GPU machine; only the release path is exercised
    node.deactivate()
    assert emptied == [True]


@pytest.mark.parametrize("steps, expected", [([], "configure"), (["up"], "activate"), (["up", "up"], "deactivate"),
                                             (["up", "up", "down"], "cleanup")])
def test_steps_up_and_down_are_the_next_transition(checkpoint, steps, expected):
    node, _ = managed(checkpoint)
    for step in steps:
        node.step_up() if step == "up" else node.step_down()
    before = node.state
    (node.step_down if expected in ("deactivate", "cleanup") else node.step_up)()
    from cicld_ros.segmentation.lifecycle import TRANSITIONS
    assert (before, node.state) == TRANSITIONS[expected]
    node.shutdown()


def test_the_dds_node_goes_through_every_state_on_signals(checkpoint, tmp_path):
    """--no-autostart: unconfigured without a checkpoint on disk; SIGUSR1 configures (a failed
    configure is a warning), then activates; SIGUSR2 deactivates, then cleans up."""
    ensure_cyclonedds_uri()
    domain = node_domain(40)
    model = tmp_path / "model.safetensors"  # written only after the node started
    params = tmp_path / "params.yaml"
    write_params(params, node_params(model, image_topics=["/front/image_raw"]))
    node = NodeProcess("--params-file", str(params), "--domain-id", str(domain), "--no-autostart")
    with DdsTransport(domain) as transport:
        masks, statuses = [], []
        reader = transport.subscribe(MASK, IMAGE, masks.append, reliable=True, depth=100, keep_all=True)
        camera = transport.publisher("/front/image_raw", IMAGE, reliable=True, depth=5)
        transport.subscribe("/diagnostics", DIAGNOSTICS, lambda msg: statuses.extend(msg.status), reliable=True,
                            depth=10)

        def reported(active: str) -> bool:
            """A /diagnostics status of the camera arrived since the last look, saying active or not."""
            seen = [dict((v.key, v.value) for v in status.values).get("active") for status in statuses]
            statuses.clear()
            return active in seen
        node.expect(r"lifecycle: unconfigured \(--no-autostart\)", START_TIMEOUT)

        node.process.send_signal(signal.SIGUSR1)
        assert "does not exist" in node.expect(r"\[WARNING\].*lifecycle: configure failed, still unconfigured")
        model.write_bytes(checkpoint.read_bytes())
        node.process.send_signal(signal.SIGUSR1)
        node.expect(r"lifecycle: configure: unconfigured -> inactive", START_TIMEOUT)
        # configure made the mask writer and the camera reader
        assert wait_for(lambda: reader.publication_count() > 0 and camera.subscription_count() > 0, 60)
        camera.publish(frame(1))  # inactive: never segmented, not later either
        # the node has handled it (not only received it: its callback may run later on a busy
        # machine) once it says so; only then may activate come
        node.expect(r"/front/image_raw: frame ignored: the node is not active", START_TIMEOUT)
        # inactive, /diagnostics does not go silent: it says inactive (issue 32, 3)
        assert wait_for(lambda: reported("false"), 60, poll=0.2)

        node.process.send_signal(signal.SIGUSR1)
        node.expect(r"lifecycle: activate: inactive -> active")

        def answered(second: int) -> bool:
            camera.publish(frame(second))
            return any(m.header.stamp.sec == second for m in masks)
        assert wait_for(lambda: answered(2), 120, poll=0.2), "\n".join(node.lines[-30:])
        assert 1 not in [m.header.stamp.sec for m in masks]
        assert wait_for(lambda: reported("true"), 60, poll=0.2)

        node.process.send_signal(signal.SIGUSR2)
        node.expect(r"lifecycle: deactivate: active -> inactive")
        node.process.send_signal(signal.SIGUSR2)
        node.expect(r"lifecycle: cleanup: inactive -> unconfigured")
        node.process.send_signal(signal.SIGUSR2)
        node.expect(r"\[WARNING\].*lifecycle: already unconfigured: no step down")
        node.process.send_signal(signal.SIGUSR1)  # and configured again from the file
        node.expect(r"lifecycle: configure: unconfigured -> inactive", START_TIMEOUT)
        log = node.stop()
    assert "lifecycle: cleanup: inactive -> unconfigured" in log.split("configure: unconfigured -> inactive")[-1] \
        and "shutdown: unconfigured -> finalized" in log


def test_the_rclpy_node_reads_autostart_before_ros_and_keeps_ros_args_out():
    """segment_node's own options are parsed before rclpy is imported (rclpy cannot be here),
    with every --ros-args block removed as rclpy's remove_ros_args would."""
    from cicld_ros.transports.rclpy.rclpy_node import parse_node_args, without_ros_args

    argv = ["segment_node", "--no-autostart", "--ros-args", "-p", "steps:=2", "--params-file", "f.yaml", "--",
            "--ros-args", "-r", "__node:=x"]
    assert without_ros_args(argv) == ["segment_node", "--no-autostart"]
    assert parse_node_args(without_ros_args(argv)).autostart is False
    assert parse_node_args(["segment_node"]).autostart is True
    from cicld_ros.node import parse_args
    assert parse_args(["--no-autostart"]).autostart is False and parse_args([]).autostart is True

"""
Run the CICLD segmentation node.

    python -m cicld_ros.node --transport dds --params-file config/segment.yaml
        --set checkpoint=model.safetensors

``--transport dds`` needs no ROS install: the node speaks the ROS 2 wire protocol over Cyclone DDS
(topics rt/<name>, ROS 2 type names, CDR), so ROS 2 nodes on the same domain see its topics. It
reads parameter files and names as ROS 2 does and takes the same ``--ros-args`` for them:
``-r __ns:=/front``, ``-r __node:=name``, ``-r from:=to``, ``-p name:=value`` and ``--params-file``
(cicld_ros.ros_rules.ros_names, cicld_ros.ros_rules.ros_params). With ``--transport rclpy`` every
``--ros-args ... [--]`` block goes to rclpy untouched. ``--transport rclpy`` is the same node as a
ROS 2 node (what ``ros2 run cicld_ros segment_node`` starts). In DDS mode, SIGHUP re-reads the
parameter file, applies the --set overrides on top again, and applies the run-time parameters that
changed; it logs each change (old -> new), warns about parameters that need a restart, and refuses
a file with unknown parameters or invalid values (nothing changes). A SIGHUP while the node starts
is applied once it is ready; without --params-file it is logged and ignored.

Lifecycle (the ROS 2 managed-node states, cicld_ros.segmentation.lifecycle): by default the node
configures (loads the checkpoint, creates its topics) and activates (segments) at once.
With --no-autostart it waits unconfigured; SIGUSR1 takes one step up (configure, then
activate), SIGUSR2 one step down (deactivate: stop segmenting and free the GPU memory of
the engines; then cleanup: free the model and the topics). Each transition is logged as
"lifecycle: <transition>: <from> -> <to>"; one the state does not allow, or a configure
that fails (a missing checkpoint), is logged as a warning and changes nothing.
"""
# Only the standard library is imported at the top: SIGHUP is caught before torch loads
# (seconds), and until then the default action would end the process with status 129.
from __future__ import annotations

import argparse
import logging
import select
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

NODE_NAME = "segment_node"  # cicld_ros.segmentation.params.NODE_NAME, without importing torch here
log = logging.getLogger(NODE_NAME)


class Signals:
    """
    SIGHUP, SIGINT and SIGTERM as bytes on a socket that the main loop waits on.

    SIGHUP from the start, SIGINT/SIGTERM once running (signal.set_wakeup_fd). The handlers do
    nothing else, so a signal can neither raise inside nor deadlock whatever the main thread is
    doing when it arrives.
    """

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        for name in ("SIGHUP", "SIGUSR1", "SIGUSR2"):  # their default action would end the process
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), lambda *_: None)

    def catch_stop(self) -> None:
        # not before: until the node runs, Ctrl-C and SIGTERM stop start-up the usual way
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)

    def wait(self, timeout: float | None) -> list[int]:
        """Return the signals received since the last call, waiting up to ``timeout`` s for one."""
        select.select([self._read], [], [], timeout)
        try:
            return list(self._read.recv(4096))
        except BlockingIOError:
            return []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_ros.node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("dds", "rclpy"), default="dds")
    parser.add_argument(
        "--params-file",
        dest="params_files",
        type=Path,
        action="append",
        default=[],
        help="ROS 2 parameter file (e.g. config/segment.yaml); repeatable, later files win per "
        "parameter, as with ros2 run (e.g. add config/painting.yaml for the LiDAR painting)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter, e.g. --set steps=4 (repeatable; kept over the file on reload)",
    )
    parser.add_argument(
        "--domain-id",
        type=int,
        default=None,
        help="DDS domain, 0..232 (default: $ROS_DOMAIN_ID or 0)",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds"
    )
    parser.add_argument(
        "--autostart",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="configure and activate at start (default); --no-autostart waits unconfigured for "
        "SIGUSR1 (step up: configure, activate) and SIGUSR2 (step down: deactivate, cleanup)",
    )
    return parser.parse_args(argv)


def run_dds(args: argparse.Namespace, signals: Signals, ros_args: list[str] = ()) -> int:
    from cicld_core.cli_types import fail

    from .ros_rules.ros_names import NodeNames, parse_ros_args
    from .transports.dds.dds_start import DdsStartError, domain_id, open_transport

    # --ros-args: the node's name, namespace and remappings, -p values and --params-file, as rcl
    # reads them
    try:
        ros = parse_ros_args(list(ros_args), NODE_NAME)
        names = NodeNames.from_rules(NODE_NAME, ros.remaps)
    except ValueError as error:
        return fail(error)
    args.params_files = [*args.params_files, *ros.params_files]
    try:  # the DDS settings first: they are checked in a moment, the parameters import torch
        transport = open_transport(domain_id(args.domain_id), names)
    except DdsStartError as error:
        return fail(error)
    with transport:
        from .segmentation.lifecycle import ConfigureError, ManagedNode, TransitionError
        from .segmentation.params import parse_sets

        try:
            overrides = ros.params | parse_sets(args.sets)  # --set wins over -p
        except ValueError as error:
            return fail(error)
        node_fqn = names.fully_qualified_name
        managed = ManagedNode(
            lambda: make_core(args.params_files, overrides, transport, node_fqn), log
        )
        if args.autostart:
            try:
                managed.configure()
            except ConfigureError as error:
                return fail(error.reason)
            managed.activate()
        else:
            log.info(
                "lifecycle: unconfigured (--no-autostart): SIGUSR1 configures, SIGUSR1 again "
                "activates; "
                "SIGUSR2 steps back"
            )
        signals.catch_stop()
        starting = True  # signals waiting in the socket arrived during start-up
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            received = signals.wait(0.0 if starting else timeout)
            if signal.SIGINT in received or signal.SIGTERM in received:
                break
            for signum, step in ((getattr(signal, "SIGUSR1", None), managed.step_up),
                                 (getattr(signal, "SIGUSR2", None), managed.step_down)):
                if signum is not None and signum in received:
                    try:
                        step()
                    except TransitionError as error:
                        log.warning(f"lifecycle: {error}")
                    except (
                        Exception
                    ) as error:  # noqa: BLE001 - a transition must never end the node
                        log.warning(
                            f"lifecycle: {step.__name__} failed, state {managed.state.value}: "
                            f"{error!r}"
                        )
            if hasattr(signal, "SIGHUP") and signal.SIGHUP in received:
                if managed.core is None:
                    log.warning(
                        "SIGHUP ignored: the node is not configured; configure reads the "
                        "parameters"
                    )
                else:
                    hangup(managed.core, args.params_files, overrides, starting, node_fqn)
            starting = False
            if deadline is not None and time.monotonic() >= deadline:
                break
        managed.shutdown()
    return 0


def make_core(
    params_files: list[Path], overrides: dict[str, Any], transport, node_fqn: str = "/segment_node"
):
    """
    Return the node as configure builds it.

    Defaults, then the files (read as ROS 2 reads them for the node ``node_fqn``, their painting
    section by cicld_ros.segmentation.painting_params), then the -p / --set overrides.
    """
    from .segmentation.core import SegmentationNode
    from .segmentation.painting_params import read_node_files
    from .segmentation.params import NodeParams, with_changes

    values, painting = read_node_files(params_files, node_fqn, overrides)
    return SegmentationNode(with_changes(NodeParams(), values), transport, log, painting=painting)


def hangup(node, params_files: list[Path], overrides: dict[str, Any], during_start: bool,
           node_fqn: str = "/segment_node") -> None:
    when = " during start-up" if during_start else ""
    params_file = ", ".join(map(str, params_files))  # as the log names them
    if not params_files:
        log.warning(
            f"SIGHUP{when} ignored: the node was started without --params-file, so there is no "
            "file "
            f"to re-read"
        )
        return
    if during_start:
        log.info(f"SIGHUP during start-up: re-reading {params_file} now that the node is ready")
    try:
        reload(node, params_files, overrides, node_fqn)
    except Exception as error:  # noqa: BLE001 - a reload must never end the node
        log.warning(f"reload of {params_file} failed, parameters unchanged: {error!r}")


def reload(
    node, params_files: list[Path], overrides: dict[str, Any], node_fqn: str = "/segment_node"
) -> None:
    """
    Re-read the file with the --set overrides on top, as at start-up.

    Apply the run-time parameters that changed, warn about the others (they need a restart).
    """
    from .segmentation.painting_params import read_node_files
    from .segmentation.params import FIELDS, RUNTIME_PARAMS, NodeParams, with_changes

    params_file = ", ".join(map(str, params_files))  # as the log names them
    try:
        values, painting = read_node_files(params_files, node_fqn, overrides)
        wanted = with_changes(NodeParams(), values)
    except ValueError as error:
        log.warning(f"reload of {params_file} refused, parameters unchanged: {error}")
        return
    current = node.params
    differ = [name for name in FIELDS if getattr(wanted, name) != getattr(current, name)]
    changes = {name: getattr(wanted, name) for name in differ if name in RUNTIME_PARAMS}
    if changes:
        try:
            node.set_params(changes)
        except ValueError as error:
            log.warning(f"reload of {params_file} refused, parameters unchanged: {error}")
            return
    fixed = [name for name in differ if name not in RUNTIME_PARAMS]
    if painting != node.painter.params:
        log.warning(
            f"reload of {params_file}: the painting section changed; it is read at configure only "
            f"(SIGUSR2 twice, then SIGUSR1 twice, or a restart)"
        )
    if fixed:
        log.warning(f"reload of {params_file}: " + ", ".join(
            f"{name} {getattr(current, name)!r} -> {getattr(wanted, name)!r}" for name in fixed)
            + " not applied: only a restart changes these")
    applied = ", ".join(
        f"{name} {getattr(current, name)!r} -> {value!r}" for name, value in changes.items()
    )
    kept = f" (--set kept over the file: {', '.join(sorted(overrides))})" if overrides else ""
    log.info(f"reloaded {params_file}: {applied or 'no run-time parameter changed'}{kept}")


def run_rclpy(args: argparse.Namespace, ros_args: list[str] = ()) -> int:
    from cicld_core.cli_types import fail

    if args.sets or args.duration or args.domain_id is not None:
        return fail("with --transport rclpy, set parameters the ROS way: --ros-args -p steps:=4 "
                    "(and ROS_DOMAIN_ID for the domain)")
    try:
        import rclpy  # noqa: F401
    except ImportError as error:
        return fail(
            f"--transport rclpy needs ROS 2, but rclpy is not importable ({error}): source your "
            "ROS 2 "
            "install first (source /opt/ros/<distro>/setup.bash), or use --transport dds, which "
            "needs no ROS"
        )
    from .transports.rclpy.rclpy_node import main as rclpy_main

    signal.set_wakeup_fd(-1)  # rclpy handles SIGINT itself
    if hasattr(signal, "SIGHUP"):  # parameters change with ros2 param set here
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return rclpy_main(rclpy_argv(args, ros_args))


def rclpy_argv(args: argparse.Namespace, ros_args: list[str]) -> list[str]:
    """
    segment_node's command line.

    Its own options, the --params-file given here as a ROS argument, then the user's --ros-args
    blocks untouched (rclpy reads them all).
    """
    files = [a for f in args.params_files for a in ("--params-file", str(f))]
    return (sys.argv[:1] + ([] if args.autostart else ["--no-autostart"])
            + (["--ros-args", *files, "--"] if files else []) + list(ros_args))


def main(argv: list[str] | None = None) -> int:
    signals = Signals()  # first of all (see the imports)
    from .ros_rules.ros_names import split_ros_args

    own, ros_args = split_ros_args(sys.argv[1:] if argv is None else argv)
    args = parse_args(own)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
    try:
        return (
            run_rclpy(args, ros_args)
            if args.transport == "rclpy"
            else run_dds(args, signals, ros_args)
        )
    except KeyboardInterrupt:  # Ctrl-C while the model loads
        return 130


if __name__ == "__main__":
    sys.exit(main())

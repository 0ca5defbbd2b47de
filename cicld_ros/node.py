"""Run the CICLD segmentation node.

    python -m cicld_ros.node --transport dds --params-file config/segment.yaml --set checkpoint=model.safetensors

``--transport dds`` needs no ROS install: the node speaks the ROS 2 wire protocol over
Cyclone DDS (topics rt/<name>, ROS 2 type names, CDR), so ROS 2 nodes on the same
domain see its topics. ``--transport rclpy`` is the same node as a ROS 2 node (what
``ros2 run cicld_ros segment_node`` starts). In DDS mode, SIGHUP re-reads the parameter
file and applies the parameters that may change at run time.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .params import RUNTIME_PARAMS, load_params, read_params_file

log = logging.getLogger("segment_node")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cicld_ros.node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=("dds", "rclpy"), default="dds")
    parser.add_argument("--params-file", type=Path, help="ROS 2 parameter file (e.g. config/segment.yaml)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter, e.g. --set steps=4 (repeatable)")
    parser.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: $ROS_DOMAIN_ID or 0)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    return parser.parse_args(argv)


def run_dds(args: argparse.Namespace) -> int:
    import os

    from .core import SegmentationNode, StartupError
    from .dds.config import ensure_cyclonedds_uri
    from .dds.transport import DdsTransport

    try:
        params = load_params(args.params_file, args.sets)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    ensure_cyclonedds_uri()
    domain = args.domain_id if args.domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0"))
    with DdsTransport(domain) as transport:
        try:
            node = SegmentationNode(params, transport, log)
        except StartupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        if args.params_file and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: reload(node, args))
        node.start()
        stop.wait(args.duration)
        node.stop()
    return 0


def reload(node, args: argparse.Namespace) -> None:
    """Apply the run-time parameters of the re-read parameter file (others need a restart)."""
    try:
        values = read_params_file(args.params_file)
        changes = {k: v for k, v in values.items() if k in RUNTIME_PARAMS}
        node.set_params(changes)
        log.info(f"reloaded {args.params_file}: {', '.join(sorted(changes))}")
    except ValueError as error:
        log.warning(f"reload of {args.params_file} refused, parameters unchanged: {error}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
    if args.transport == "rclpy":
        from .rclpy_node import main as rclpy_main

        if args.sets or args.duration or args.domain_id is not None:
            print("error: with --transport rclpy, set parameters the ROS way: --ros-args -p steps:=4 "
                  "(and ROS_DOMAIN_ID for the domain)", file=sys.stderr)
            return 2

        return rclpy_main(sys.argv[:1] + (["--ros-args", "--params-file", str(args.params_file)]
                                           if args.params_file else []))
    return run_dds(args)


if __name__ == "__main__":
    sys.exit(main())

"""A LiDAR with its camera's CameraInfo in its own process: publish a generated scan over
Cyclone DDS until the node answers each cloud with its painted cloud, then exit.

    python test/helpers/dds_lidar.py --domain 7 --topic /cam0/points --info-topic /cam0/camera_info \
        --answer-topic /cam0/segmentation/painted_points --size 2048x1024 --beams 64 --stamps 1000,1001 \
        [--nan-points 100] [--bad-inputs 999.5]

The scan is the procedural generator's (seed 8, frame 0, benchmark version 2), the points
in the LiDAR frame with their intensity; the first --nan-points points are NaN (no return).
The process waits until its writers and its reader matched the node, then for each stamp
sends the CameraInfo and the cloud, again every --resend s, until a painted cloud with
that stamp comes back (exit 1 after --answer-timeout s). With --bad-inputs T it then sends
a CameraInfo with zero focal length, a cloud without x/y/z and a cloud stamped T (which no
mask matches), and once more the first stamp's cloud, which must still be answered.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import numpy as np

from cicld_core.synth import LidarSpec, generate_frame
from cicld_ros.messages.pointcloud import CameraInfo, PointCloud2, PointField, build_cloud
from cicld_ros.messages.records import CAMERA_INFO, POINTCLOUD2, Header, Time
from cicld_ros.transports.dds.config import ensure_cyclonedds_uri
from cicld_ros.transports.dds.transport import DdsTransport


def scan(width: int, height: int, beams: int, nan_points: int = 0):
    """The generated scan: points (N, 3) float32, intensity (N,), CameraInfo fields, 4x4 extrinsic."""
    sensors = generate_frame(8, 0, (width, height), "target", "val", version=2, lidar=LidarSpec(beams=beams)).sensors
    points = sensors.lidar.points.astype(np.float32)
    points[:nan_points] = np.nan
    return points, sensors.lidar.intensity, sensors.camera_info, sensors.lidar_to_camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--info-topic", required=True)
    parser.add_argument("--answer-topic", required=True)
    parser.add_argument("--size", default="2048x1024")
    parser.add_argument("--beams", type=int, default=64)
    parser.add_argument("--stamps", default="1000", help="comma-separated header stamps (s) of the clouds")
    parser.add_argument("--nan-points", type=int, default=0)
    parser.add_argument("--bad-inputs", type=float, default=None, metavar="T")
    parser.add_argument("--frame-id", default="lidar")
    parser.add_argument("--wait-match", type=float, default=60.0)
    parser.add_argument("--resend", type=float, default=2.0)
    parser.add_argument("--answer-timeout", type=float, default=120.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    points, intensity, info_fields, _ = scan(width, height, args.beams, args.nan_points)
    stamps = [float(s) for s in args.stamps.split(",")]
    ensure_cyclonedds_uri()

    answered: set[tuple[int, int]] = set()
    arrived = threading.Condition()

    def on_answer(msg: PointCloud2) -> None:
        with arrived:
            answered.add(msg.header.stamp.key())
            arrived.notify_all()

    def cloud(seconds: float) -> PointCloud2:
        return build_cloud(Header(Time.from_seconds(seconds), args.frame_id), points, None, intensity)

    with DdsTransport(args.domain) as transport:
        clouds = transport.publisher(args.topic, POINTCLOUD2, reliable=False, depth=1)
        infos = transport.publisher(args.info_topic, CAMERA_INFO, reliable=False, depth=1)
        answers = transport.subscribe(args.answer_topic, POINTCLOUD2, on_answer, reliable=True, depth=100,
                                      keep_all=True)
        deadline = time.monotonic() + args.wait_match
        while not (clouds.subscription_count() and infos.subscription_count() and answers.publication_count()):
            if time.monotonic() > deadline:
                print(f"the node did not match {args.topic}, {args.info_topic} and {args.answer_topic} within "
                      f"{args.wait_match:g} s", flush=True)
                sys.exit(2)
            time.sleep(0.05)

        def until_answered(seconds: float) -> None:
            key, deadline = Time.from_seconds(seconds).key(), time.monotonic() + args.answer_timeout
            while True:
                infos.publish(CameraInfo.from_dict(info_fields, Header(Time.from_seconds(seconds), "camera")))
                clouds.publish(cloud(seconds))
                with arrived:
                    if arrived.wait_for(lambda: key in answered, args.resend):
                        return
                if time.monotonic() > deadline:
                    print(f"the cloud stamped {seconds} was not answered on {args.answer_topic} within "
                          f"{args.answer_timeout:g} s", flush=True)
                    sys.exit(1)

        for seconds in stamps:
            until_answered(seconds)
        if args.bad_inputs is not None:
            infos.publish(CameraInfo.from_dict(dict(info_fields, k=[0.0] * 9)))
            clouds.publish(PointCloud2(Header(Time.from_seconds(stamps[0]), args.frame_id), 1, 2,
                                       [PointField("intensity", 0, 7)], False, 4, 8, bytes(8), True))
            clouds.publish(cloud(args.bad_inputs))
            answered.discard(Time.from_seconds(stamps[0]).key())
            until_answered(stamps[0])  # the node still paints
        print(f"all {len(stamps)} clouds answered", flush=True)


if __name__ == "__main__":
    main()

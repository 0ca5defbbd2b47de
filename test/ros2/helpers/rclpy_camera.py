"""A camera in its own rclpy process, as a driver would run: best effort, sensor-data QoS.

Driven by JSON lines on stdin, one answer line each on stdout ("ok {...}" or "error {...}"):

    {"id": 1, "op": "publish", "topic": "/front/image_raw", "encoding": "rgb8", "width": 1920,
     "height": 1080, "frame_id": "front", "sec": 100, "nanosec": 5}
        a sensor_msgs/Image of a street-like test card; "encoding": "jpeg" or "png" publishes a
        sensor_msgs/CompressedImage instead. For bad frames: "data_bytes" cuts or sets the
        data's length, "step" overrides step, "raw_encoding" sends that encoding string with
        data_bytes of zeros (an unknown encoding, 0x0, a huge size with little data).
    {"id": 2, "op": "wait_subscribed", "topic": "...", "kind": "image"|"compressed", "timeout": 60}
        answers {"count": N} once the publisher matched a subscription (or at the timeout, N = 0)

Ends when stdin closes. Prints "ready" once rclpy is up.
"""
from __future__ import annotations

import json
import sys
import time
import traceback

import cv2
import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image


def test_card(width: int, height: int, seed: int) -> np.ndarray:
    """Sky, buildings, road and a car-sized block that moves with ``seed`` (RGB)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[: height // 3] = (120, 160, 220)
    rgb[height // 3: height // 2] = (110, 100, 95)
    rgb[height // 2:] = (90, 90, 92)
    x = (seed * 37) % max(1, width - width // 5)
    rgb[height // 2: height // 2 + height // 6, x: x + width // 5] = (30, 40, 140)
    return rgb


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("tier_camera")
    publishers: dict[tuple[str, str], object] = {}

    def publisher(topic: str, kind: str):
        key = (topic, kind)
        if key not in publishers:
            publishers[key] = node.create_publisher(CompressedImage if kind == "compressed" else Image, topic,
                                                    qos_profile_sensor_data)
        return publishers[key]

    def publish(command: dict) -> dict:
        encoding = command.get("encoding", "rgb8")
        width, height = int(command.get("width", 64)), int(command.get("height", 32))
        sec, nanosec = int(command.get("sec", 0)), int(command.get("nanosec", 0))
        if encoding in ("jpeg", "png"):
            msg = CompressedImage()
            ok, data = cv2.imencode("." + ("jpg" if encoding == "jpeg" else "png"),
                                    test_card(width, height, sec)[..., ::-1])
            assert ok
            msg.format, msg.data = encoding, data.tobytes()
            kind = "compressed"
        else:
            msg, kind = Image(), "image"
            msg.width, msg.height = width, height
            if "raw_encoding" in command:
                msg.encoding = command["raw_encoding"]
                msg.step = int(command.get("step", width * 3))
                msg.data = bytes(int(command.get("data_bytes", 0)))
            else:
                rgb = test_card(width, height, sec)
                pixels = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "mono8": rgb[..., :1]}[encoding]
                data = np.ascontiguousarray(pixels).tobytes()
                if "data_bytes" in command:
                    data = data[: int(command["data_bytes"])]
                msg.encoding, msg.step = encoding, int(command.get("step", width * pixels.shape[2]))
                msg.data = data
        msg.header.frame_id = command.get("frame_id", "camera")
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        publisher(command["topic"], kind).publish(msg)
        return {}

    def wait_subscribed(command: dict) -> dict:
        pub = publisher(command["topic"], command.get("kind", "image"))
        deadline = time.monotonic() + float(command.get("timeout", 60))
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        return {"count": pub.get_subscription_count()}

    print("ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        answer = {"id": command.get("id")}
        try:
            answer |= {"publish": publish, "wait_subscribed": wait_subscribed}[command["op"]](command)
            print("ok " + json.dumps(answer), flush=True)
        except Exception as error:  # noqa: BLE001 - said to the test, which fails with it
            answer["error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
            print("error " + json.dumps(answer), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""
Read a camera drive from a rosbag2 (MCAP or sqlite3, written by ROS 2 or by us).

Picks the camera topic (sensor_msgs/Image or CompressedImage) and the ground-truth topic
(a mono8 Image topic) by type, or by name when told; pairs them by header.stamp. A bag
without a camera topic, an unreadable or truncated bag, or a named topic that is absent
stops with a message that lists what the bag holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from rosbags.rosbag2 import Reader

from ..messages import cdr
from ..messages.records import CompressedImage, Image

IMAGE_TYPES = {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
GROUND_TRUTH_HINTS = ("ground_truth", "groundtruth", "label", "semantic", "gt")


class BagError(RuntimeError):
    """The bag cannot be used for replay: unreadable, truncated, or without the needed topics."""


@dataclass
class Frame:
    image: Image | CompressedImage
    ground_truth: Image | None
    bag_time_ns: int


def describe(reader: Reader) -> str:
    return (
        ", ".join(f"{c.topic} ({c.msgtype}, {c.msgcount})" for c in reader.connections)
        or "no topics"
    )


def open_bag(path: Path) -> Reader:
    if not Path(path).exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises several kinds for a bad bag
        raise BagError(f"bag {path} cannot be opened: {error}") from None
    return reader


def pick_topics(
    reader: Reader, path: Path, image_topic: str | None, gt_topic: str | None
) -> tuple[str, str | None]:
    topics = {c.topic: c.msgtype for c in reader.connections}
    for name in (image_topic, gt_topic):
        if name and name not in topics:
            raise BagError(f"bag {path} has no topic {name}; it holds: {describe(reader)}")
    ground_truth_like = [t for t, kind in topics.items() if kind == "sensor_msgs/msg/Image"
                         and any(h in t.lower() for h in GROUND_TRUTH_HINTS)]
    gt_topic = gt_topic or (ground_truth_like[0] if ground_truth_like else None)
    if image_topic is None:
        cameras = [t for t, kind in topics.items() if kind in IMAGE_TYPES and t != gt_topic]
        if not cameras:
            raise BagError(
                f"bag {path} has no camera topic (sensor_msgs/Image or CompressedImage); "
                f"it holds: {describe(reader)}"
            )
        if len(cameras) > 1:
            raise BagError(
                f"bag {path} has several camera topics ({', '.join(cameras)}); pick one with "
                "--image-topic"
            )
        image_topic = cameras[0]
    elif topics[image_topic] not in IMAGE_TYPES:
        raise BagError(f"{image_topic} in {path} is {topics[image_topic]}, not a camera image")
    return image_topic, gt_topic


def decode(msgtype: str, raw) -> Image | CompressedImage:
    if msgtype == "sensor_msgs/msg/CompressedImage":
        return cdr.decode_compressed_image(raw)
    return cdr.decode_image(raw)


def no_frames(path: Path, image_topic: str) -> BagError:
    """Every replay mode stops with this when there is nothing to score, rather than report NaN."""
    return BagError(f"bag {path} holds no frames on {image_topic}: nothing to replay")


def read_frames(path: Path, image_topic: str | None = None, gt_topic: str | None = None,
                ) -> tuple[str, str | None, int, Iterator[Frame]]:
    """
    (camera topic, ground-truth topic or None, frame count, frames in bag order).

    BagError when the camera topic holds no message.
    """
    reader = open_bag(path)
    image_topic, gt_topic = pick_topics(reader, path, image_topic, gt_topic)
    connections = [c for c in reader.connections if c.topic in (image_topic, gt_topic)]
    count = sum(c.msgcount for c in connections if c.topic == image_topic)
    if count == 0:
        reader.close()
        raise no_frames(path, image_topic)

    def frames() -> Iterator[Frame]:
        waiting_images: dict[tuple[int, int], tuple[Image | CompressedImage, int]] = {}
        waiting_truths: dict[tuple[int, int], Image] = {}
        try:
            for connection, timestamp, raw in reader.messages(connections=connections):
                msg = decode(connection.msgtype, raw)
                key = msg.header.stamp.key()
                if connection.topic == image_topic:
                    if gt_topic is None:
                        yield Frame(msg, None, timestamp)
                    elif key in waiting_truths:
                        yield Frame(msg, waiting_truths.pop(key), timestamp)
                    else:
                        waiting_images[key] = (msg, timestamp)
                elif key in waiting_images:
                    image, image_time = waiting_images.pop(key)
                    yield Frame(image, msg, image_time)
                else:
                    waiting_truths[key] = msg
        except cdr.CdrError as error:
            raise BagError(f"bag {path}: a message cannot be decoded ({error})") from None
        except (
            Exception
        ) as error:  # noqa: BLE001 - a truncated file surfaces as various rosbags errors
            raise BagError(f"bag {path} is truncated or damaged: {error}") from None
        finally:
            reader.close()
        for image, image_time in waiting_images.values():  # images whose ground truth never came
            yield Frame(image, None, image_time)

    return image_topic, gt_topic, count, frames()

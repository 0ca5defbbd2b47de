"""What a shape is: its class (a Cityscapes trainId) and its material (what the renderer
colours and textures; several materials per class, and some shared between classes)."""
from __future__ import annotations

from enum import IntEnum

from ..labels import IGNORE_INDEX, TRAIN_ID_BY_NAME

ROAD = TRAIN_ID_BY_NAME["road"]
SIDEWALK = TRAIN_ID_BY_NAME["sidewalk"]
BUILDING = TRAIN_ID_BY_NAME["building"]
WALL = TRAIN_ID_BY_NAME["wall"]
FENCE = TRAIN_ID_BY_NAME["fence"]
POLE = TRAIN_ID_BY_NAME["pole"]
TRAFFIC_LIGHT = TRAIN_ID_BY_NAME["traffic light"]
TRAFFIC_SIGN = TRAIN_ID_BY_NAME["traffic sign"]
VEGETATION = TRAIN_ID_BY_NAME["vegetation"]
TERRAIN = TRAIN_ID_BY_NAME["terrain"]
SKY = TRAIN_ID_BY_NAME["sky"]
PERSON = TRAIN_ID_BY_NAME["person"]
RIDER = TRAIN_ID_BY_NAME["rider"]
TRAIN = TRAIN_ID_BY_NAME["train"]
MOTORCYCLE = TRAIN_ID_BY_NAME["motorcycle"]
BICYCLE = TRAIN_ID_BY_NAME["bicycle"]
EGO_VEHICLE = IGNORE_INDEX  # the recording car's bonnet is ignored, as in Cityscapes

# Classes whose objects get instance ids ("things"); the rest are "stuff".
INSTANCE_CLASSES = frozenset(TRAIN_ID_BY_NAME[n] for n in ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"))


class Mat(IntEnum):
    """Surface materials: what the renderer colours and textures. Several per class."""
    SKY = 0
    ROAD = 1
    MARKING = 2
    RAIL = 3
    SIDEWALK = 4
    CURB = 5
    BUILDING = 6
    WINDOW = 7
    WALL = 8
    FENCE = 9
    FENCE_POST = 10
    POLE = 11
    LIGHT_BOX = 12
    LAMP_RED = 13
    LAMP_AMBER = 14
    LAMP_GREEN = 15
    SIGN = 16
    SIGN_BORDER = 17
    FOLIAGE = 18
    TRUNK = 19
    TERRAIN = 20
    SKIN = 21
    HAIR = 22
    TOP = 23
    BOTTOM = 24
    CAR_PAINT = 25
    GLASS = 26
    TYRE = 27
    TAIL_LIGHT = 28
    HEAD_LIGHT = 29
    CARGO = 30
    BUS_PAINT = 31
    TRAIN_PAINT = 32
    MOTO_PAINT = 33
    BIKE_FRAME = 34
    HOOD = 35
    FAR_BUILDING = 36

"""The Cityscapes label system and the maps from GTA5 and Synthia ids onto it.

The table follows cityscapesScripts ``helpers/labels.py``: 34 labelIds (0..33), of
which 19 are train classes (trainIds 0..18); every other id maps to the ignore
value 255. GTA5 labels are Cityscapes labelIds; Synthia RAND-CITYSCAPES has its own
23 ids. Evaluation protocols select a subset of the 19 train classes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = 255
NUM_TRAIN_CLASSES = 19


@dataclass(frozen=True)
class Label:
    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


CITYSCAPES_LABELS: tuple[Label, ...] = (
    Label("unlabeled", 0, 255, "void", 0, False, True, (0, 0, 0)),
    Label("ego vehicle", 1, 255, "void", 0, False, True, (0, 0, 0)),
    Label("rectification border", 2, 255, "void", 0, False, True, (0, 0, 0)),
    Label("out of roi", 3, 255, "void", 0, False, True, (0, 0, 0)),
    Label("static", 4, 255, "void", 0, False, True, (0, 0, 0)),
    Label("dynamic", 5, 255, "void", 0, False, True, (111, 74, 0)),
    Label("ground", 6, 255, "void", 0, False, True, (81, 0, 81)),
    Label("road", 7, 0, "flat", 1, False, False, (128, 64, 128)),
    Label("sidewalk", 8, 1, "flat", 1, False, False, (244, 35, 232)),
    Label("parking", 9, 255, "flat", 1, False, True, (250, 170, 160)),
    Label("rail track", 10, 255, "flat", 1, False, True, (230, 150, 140)),
    Label("building", 11, 2, "construction", 2, False, False, (70, 70, 70)),
    Label("wall", 12, 3, "construction", 2, False, False, (102, 102, 156)),
    Label("fence", 13, 4, "construction", 2, False, False, (190, 153, 153)),
    Label("guard rail", 14, 255, "construction", 2, False, True, (180, 165, 180)),
    Label("bridge", 15, 255, "construction", 2, False, True, (150, 100, 100)),
    Label("tunnel", 16, 255, "construction", 2, False, True, (150, 120, 90)),
    Label("pole", 17, 5, "object", 3, False, False, (153, 153, 153)),
    Label("polegroup", 18, 255, "object", 3, False, True, (153, 153, 153)),
    Label("traffic light", 19, 6, "object", 3, False, False, (250, 170, 30)),
    Label("traffic sign", 20, 7, "object", 3, False, False, (220, 220, 0)),
    Label("vegetation", 21, 8, "nature", 4, False, False, (107, 142, 35)),
    Label("terrain", 22, 9, "nature", 4, False, False, (152, 251, 152)),
    Label("sky", 23, 10, "sky", 5, False, False, (70, 130, 180)),
    Label("person", 24, 11, "human", 6, True, False, (220, 20, 60)),
    Label("rider", 25, 12, "human", 6, True, False, (255, 0, 0)),
    Label("car", 26, 13, "vehicle", 7, True, False, (0, 0, 142)),
    Label("truck", 27, 14, "vehicle", 7, True, False, (0, 0, 70)),
    Label("bus", 28, 15, "vehicle", 7, True, False, (0, 60, 100)),
    Label("caravan", 29, 255, "vehicle", 7, True, True, (0, 0, 90)),
    Label("trailer", 30, 255, "vehicle", 7, True, True, (0, 0, 110)),
    Label("train", 31, 16, "vehicle", 7, True, False, (0, 80, 100)),
    Label("motorcycle", 32, 17, "vehicle", 7, True, False, (0, 0, 230)),
    Label("bicycle", 33, 18, "vehicle", 7, True, False, (119, 11, 32)),
)
# cityscapesScripts also lists "license plate" with id -1: it never appears in label
# images (ids are uint8), so it has no place in the id lookup tables.

TRAIN_LABELS: tuple[Label, ...] = tuple(
    sorted((l for l in CITYSCAPES_LABELS if l.train_id != IGNORE_INDEX), key=lambda l: l.train_id)
)
CLASS_NAMES: tuple[str, ...] = tuple(l.name for l in TRAIN_LABELS)
TRAIN_ID_BY_NAME: dict[str, int] = {l.name: l.train_id for l in TRAIN_LABELS}
LABEL_ID_BY_NAME: dict[str, int] = {l.name: l.id for l in CITYSCAPES_LABELS}
CITYSCAPES_ID_SET: frozenset[int] = frozenset(l.id for l in CITYSCAPES_LABELS)

# Colour of each trainId, index 255 (ignore) is black.
PALETTE = np.zeros((256, 3), dtype=np.uint8)
for _label in TRAIN_LABELS:
    PALETTE[_label.train_id] = _label.color

# Colour of each labelId, as in gtFine_color.png and the GTA5 label palette.
LABEL_ID_PALETTE = np.zeros((256, 3), dtype=np.uint8)
for _label in CITYSCAPES_LABELS:
    LABEL_ID_PALETTE[_label.id] = _label.color

# GTA5 labels are Cityscapes labelIds, so the Cityscapes map serves both.
CITYSCAPES_ID_TO_TRAIN_ID: dict[int, int] = {
    l.id: l.train_id for l in CITYSCAPES_LABELS if l.train_id != IGNORE_INDEX
}
GTA5_ID_TO_TRAIN_ID: dict[int, int] = dict(CITYSCAPES_ID_TO_TRAIN_ID)
GTA5_ID_SET: frozenset[int] = CITYSCAPES_ID_SET

# Synthia RAND-CITYSCAPES class ids (R channel of GT/LABELS), from the dataset's README.
SYNTHIA_CLASS_NAMES: dict[int, str] = {
    0: "void", 1: "sky", 2: "building", 3: "road", 4: "sidewalk", 5: "fence",
    6: "vegetation", 7: "pole", 8: "car", 9: "traffic sign", 10: "pedestrian",
    11: "bicycle", 12: "motorcycle", 13: "parking-slot", 14: "road-work",
    15: "traffic light", 16: "terrain", 17: "rider", 18: "truck", 19: "bus",
    20: "train", 21: "wall", 22: "lanemarking",
}
SYNTHIA_ID_SET: frozenset[int] = frozenset(SYNTHIA_CLASS_NAMES)
# The standard 16-class map (DAFormer, DACS): terrain, truck and train are left out.
SYNTHIA_ID_TO_TRAIN_ID: dict[int, int] = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 10,
    10: 11, 17: 12, 8: 13, 19: 15, 12: 17, 11: 18,
}
# trainId -> Synthia id, for writing Synthia-style labels; terrain, truck and train use
# Synthia's own ids for them (which map to ignore, as in the real dataset).
TRAIN_ID_TO_SYNTHIA_ID: dict[int, int] = {
    **{t: s for s, t in SYNTHIA_ID_TO_TRAIN_ID.items()}, 9: 16, 14: 18, 16: 20,
}

# Evaluation protocols: the trainIds each one scores.
PROTOCOLS: dict[int, tuple[int, ...]] = {
    19: tuple(range(NUM_TRAIN_CLASSES)),
    16: tuple(t for t in range(NUM_TRAIN_CLASSES) if t not in (9, 14, 16)),
    13: tuple(t for t in range(NUM_TRAIN_CLASSES) if t not in (3, 4, 5, 9, 14, 16)),
}


# CamVid (SegNet's 11-class version): its own class indices, 11 = unlabelled.
CAMVID_PROTOCOL = 11  # the protocol number evaluation takes for "merge into CamVid's 11 classes"
CAMVID_CLASS_NAMES: tuple[str, ...] = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)
CAMVID_IGNORE_ID = 11
CAMVID_ID_SET: frozenset[int] = frozenset(range(len(CAMVID_CLASS_NAMES) + 1))
# The merge of the 19 train classes into CamVid's 11, for scoring a Cityscapes-class model on
# CamVid. CamVid has no terrain: its 11-class version folds the original release's
# VegetationMisc (grass, verges) into Tree, so terrain counts as Tree.
TRAIN_ID_TO_CAMVID: tuple[int, ...] = (
    3, 4, 1, 1, 7, 2, 6, 6, 5, 5, 0, 9, 10, 8, 8, 8, 8, 10, 10,
)
# The trainId a CamVid label becomes, so CamVid labels can train the 19-class model (the oracle)
# and flow through the trainId pipeline; each merges back to its own CamVid class, so scoring
# after the merge sees CamVid's labels exactly (never scored as Cityscapes ids).
CAMVID_TO_TRAIN_ID: tuple[int, ...] = (10, 2, 5, 0, 1, 8, 7, 4, 13, 11, 12)
assert all(TRAIN_ID_TO_CAMVID[t] == c for c, t in enumerate(CAMVID_TO_TRAIN_ID))
ALL_PROTOCOLS: tuple[int, ...] = (*PROTOCOLS, CAMVID_PROTOCOL)

# The original CamVid release (Brostow et al.) labels 32 classes, each a colour listed by name in
# its label_colors.txt. SegNet's 11-class version merges them as below; Void is unlabelled.
# Source: MathWorks' "Semantic Segmentation Using Deep Learning" example, camvidPixelLabelIDs
# ("group them into 11 classes following the original SegNet training methodology"). Other
# public merges differ in a few names (Animal as Tree or void, RoadShoulder as Road, TrafficCone
# as SignSymbol, MotorcycleScooter as Car), so a frame of either layout can differ there.
CAMVID_ORIGINAL_MERGE: dict[str, tuple[str, ...]] = {
    "Sky": ("Sky",),
    "Building": ("Building", "Wall", "Bridge", "Tunnel", "Archway"),
    "Pole": ("Column_Pole", "TrafficCone"),
    "Road": ("Road", "LaneMkgsDriv", "LaneMkgsNonDriv"),
    "Pavement": ("Sidewalk", "ParkingBlock", "RoadShoulder"),
    "Tree": ("Tree", "VegetationMisc"),
    "SignSymbol": ("SignSymbol", "Misc_Text", "TrafficLight"),
    "Fence": ("Fence",),
    "Car": ("Car", "SUVPickupTruck", "Truck_Bus", "Train", "OtherMoving"),
    "Pedestrian": ("Pedestrian", "Child", "CartLuggagePram", "Animal"),
    "Bicyclist": ("Bicyclist", "MotorcycleScooter"),
}
CAMVID_ORIGINAL_VOID = "Void"
# original class name -> CamVid class index (CAMVID_IGNORE_ID for Void)
CAMVID_ORIGINAL_TO_CAMVID: dict[str, int] = {
    **{name: CAMVID_CLASS_NAMES.index(merged) for merged, names in CAMVID_ORIGINAL_MERGE.items() for name in names},
    CAMVID_ORIGINAL_VOID: CAMVID_IGNORE_ID,
}
assert tuple(CAMVID_ORIGINAL_MERGE) == CAMVID_CLASS_NAMES and len(CAMVID_ORIGINAL_TO_CAMVID) == 32


def camvid_to_train_ids(camvid: np.ndarray) -> np.ndarray:
    """CamVid class indices (11 = unlabelled) -> representative trainIds (255 ignore)."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[:len(CAMVID_TO_TRAIN_ID)] = CAMVID_TO_TRAIN_ID
    return lut[camvid]


def train_ids_to_camvid(train_ids: np.ndarray) -> np.ndarray:
    """A 19-class prediction merged into CamVid's classes (255 stays 255)."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[:NUM_TRAIN_CLASSES] = TRAIN_ID_TO_CAMVID
    return lut[train_ids]


def protocol_classes(protocol: int) -> tuple[int, ...]:
    """The trainIds scored by the 19-, 16- or 13-class protocol."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}: use one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def make_lut(id_to_train_id: dict[int, int]) -> np.ndarray:
    """A 65536-entry lookup table id -> trainId (255 where unmapped), for uint8 or uint16 ids."""
    lut = np.full(65536, IGNORE_INDEX, dtype=np.uint8)
    for src, dst in id_to_train_id.items():
        lut[src] = dst
    return lut


CITYSCAPES_LUT = make_lut(CITYSCAPES_ID_TO_TRAIN_ID)
SYNTHIA_LUT = make_lut(SYNTHIA_ID_TO_TRAIN_ID)


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Inverse map trainId -> Cityscapes labelId (ignore -> 0 'unlabeled')."""
    lut = np.zeros(256, dtype=np.uint8)
    for label in TRAIN_LABELS:
        lut[label.train_id] = label.id
    return lut[train_ids]


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """(H, W) trainIds -> (H, W, 3) RGB uint8 with the Cityscapes palette; ignore is black."""
    train_ids = np.asarray(train_ids)
    if train_ids.ndim != 2:
        raise ValueError(f"colorize expects a (H, W) trainId mask, got shape {train_ids.shape}")
    return PALETTE[train_ids.astype(np.uint8, copy=False)]


def overlay(image_rgb: np.ndarray, train_ids: np.ndarray, alpha: float = 0.5,
            colour: np.ndarray | None = None) -> np.ndarray:
    """Blend the colour mask over an RGB image; ignore pixels keep the image unchanged. The one overlay
    of predict, replay reports and the node; ``colour`` is ``colorize(train_ids)`` when the caller has it."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay alpha must be in [0, 1], got {alpha}")
    if image_rgb.shape[:2] != train_ids.shape:
        raise ValueError(
            f"overlay: image is {image_rgb.shape[:2]} but mask is {train_ids.shape}; they must match"
        )
    colour = (colorize(train_ids) if colour is None else colour).astype(np.float32)
    blended = (1.0 - alpha) * image_rgb.astype(np.float32) + alpha * colour
    blended[train_ids == IGNORE_INDEX] = image_rgb[train_ids == IGNORE_INDEX]
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)

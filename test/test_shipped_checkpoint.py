"""The checkpoint in the repository: it loads, says how it was made, and reaches the
mIoU the README states on the generator's validation drive."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cicld_core.data import CityscapesDataset
from cicld_core.evaluation import eval_transform, evaluate_model
from cicld_core.metrics import ConfusionMatrix
from cicld_core.model import checkpoint_input_size, load_model, segment_rgb
from cicld_core.model.checkpoint import read_header
from cicld_core.synth import generate_frame, write_frame
from test_node_core import image_msg, make_node

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints/cicld_synth.safetensors"
README_MIOU = 21.6  # docs/training.md, "The shipped checkpoint" (and the README's headline numbers): the 100-frame validation drive of benchmarks/uda_table.py --prepare
# The README rounds to 0.1, so the value lies within 0.05 of it. Another CPU moves it only by
# argmax flips of pixels within float32 rounding of a tie (and by the few JPEG values OpenCV's
# SIMD level changes in the frames, see test_synth.opencv_baseline): 21.5762 under
# ATEN_CPU_CAPABILITY default / avx2 / avx512 at 1 and 2 threads, 21.576 on frames made by
# OpenCV's baseline; 0.02 is 100 times that. The strength or step changes the sweep in the
# README measured move it by more (K = 0: 21.93, strength 0.25: 21.81).
MIOU_TOLERANCE = 0.05 + 0.02


def test_shipped_checkpoint_loads_with_its_provenance():
    model, metadata = load_model(SHIPPED)
    assert "train/uda.py" in metadata["provenance"]["command"]
    assert "config/uda/synth_cicld.yaml" in metadata["provenance"]["command"]
    assert metadata["provenance"]["iteration"] == 600
    assert model.config.num_classes == 19


def test_shipped_checkpoint_reaches_the_stated_miou(tmp_path):
    # the validation drive of benchmarks/uda_table.py --prepare: seed 3, 100 frames of 256x128
    for index in range(100):
        write_frame(tmp_path, "cityscapes", "val", index, generate_frame(3, index, (256, 128), "target", "val"))
    model, _ = load_model(SHIPPED)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        dataset = CityscapesDataset(tmp_path, split="val", transform=eval_transform(model.config))
        metric = evaluate_model(model, dataset, steps=2, strength=0.5, seed=0, progress=False)
    finally:
        torch.set_num_threads(threads)  # later tests keep the thread count pytest started with
    assert metric.summary(19)["miou"] == pytest.approx(README_MIOU, abs=MIOU_TOLERANCE)


def test_shipped_checkpoint_records_the_size_it_was_validated_at():
    # the drive above is 256x128: the size its mIoU means, which the node's input_width/height -1 follow
    assert checkpoint_input_size(read_header(SHIPPED)) == (256, 128)


def test_the_default_node_runs_a_full_size_camera_at_the_checkpoint_s_size():
    """A 2048x1024 camera with the default parameters: the model sees the frame at the checkpoint's
    256x128, the masks come back at 2048x1024, and the score stays that of the 256x128 drive."""
    frames = [generate_frame(3, index, (2048, 1024), "target", "val") for index in range(10)]
    small = [generate_frame(3, index, (256, 128), "target", "val") for index in range(10)]
    node, transport = make_node(SHIPPED)  # every size parameter at its default
    assert (node.params.input_width, node.params.input_height) == (-1, -1) and node.input_size == (256, 128)
    model, camera, native = node.model, ConfusionMatrix(19), ConfusionMatrix(19)
    for index, (frame, low) in enumerate(zip(frames, small)):
        transport.callbacks["/front/image_raw"](image_msg(frame.image, "rgb8", stamp=(index, 0)))
        assert node.process(node.frames.take_all(0.1)) == 1
        msg = transport.publishers["/front/segmentation/class_mask"].messages[-1]
        assert (msg.height, msg.width) == (1024, 2048)
        mask = np.frombuffer(np.asarray(msg.data).tobytes(), np.uint8).reshape(1024, 2048)
        # exactly the 256x128 segmentation of the area-resized frame, scaled back by nearest neighbour
        resized = cv2.resize(frame.image, (256, 128), interpolation=cv2.INTER_AREA)
        direct = segment_rgb(model, resized, node.params.sampling()).train_ids[0].numpy()
        np.testing.assert_array_equal(mask, cv2.resize(direct, (2048, 1024), interpolation=cv2.INTER_NEAREST))
        camera.update(mask, frame.train_ids)
        native.update(segment_rgb(model, low.image, node.params.sampling()).train_ids[0].numpy(), low.train_ids)
    # no worse than the same drive rendered at 256x128 (run at its native 2048x1024 the model scored 9.5 against
    # 21.3 in the demo); here it scores higher (24.3 against 20.9 when written): the area-resized camera frame
    # is cleaner than a frame rendered at 256x128, which has the target style's noise at that size
    assert camera.summary(19)["miou"] > native.summary(19)["miou"] - 1.0
    # 0 still means native: the model then sees the frame at its own size
    node, _ = make_node(SHIPPED, input_width=0, input_height=0)
    assert node.input_size is None

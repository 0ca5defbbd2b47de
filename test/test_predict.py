"""predict: every good image is segmented, every bad one skipped with one warning line (never
a traceback), huge images refused from their header before decoding, and its own outputs
never segmented again."""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cicld_core.predict import main


def write_image(path: Path, height: int = 24, width: int = 40, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says width x height and whose pixel data is garbage: decoding it
    fails, so being refused for its size proves the size was read before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"garbage" * 10)
                     + chunk(b"IEND", b""))
    return path


def predict(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*args])
    out = capsys.readouterr()
    return code, out.out, out.err


def outputs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*_trainIds.png"))


def test_truncated_tiny_and_empty_images_are_skipped_and_the_rest_segmented(checkpoint, tmp_path, capsys):
    frames = tmp_path / "frames"
    write_image(frames / "a_good.png")
    good_jpeg = write_image(frames / "b_good.jpg", seed=1)
    data = write_image(frames / "c_truncated.png", seed=2).read_bytes()
    (frames / "c_truncated.png").write_bytes(data[: len(data) // 2])
    (frames / "d_truncated.jpg").write_bytes(good_jpeg.read_bytes()[:300])
    write_image(frames / "e_tiny.png", height=4, width=4)
    (frames / "f_empty.png").write_bytes(b"")
    (frames / "g_not_an_image.jpg").write_text("hello")
    out = tmp_path / "out"
    code, stdout, stderr = predict(capsys, "--checkpoint", str(checkpoint), "--input", str(frames),
                                   "--output", str(out), "--steps", "1")
    assert code == 1  # something was skipped
    assert outputs(out) == ["a_good_trainIds.png", "b_good_trainIds.png"]
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 5 and "Traceback" not in stderr
    for name in ("c_truncated", "d_truncated", "e_tiny", "f_empty", "g_not_an_image"):
        assert sum(name in line for line in warnings) == 1
    assert "smaller than the 8x8" in next(line for line in warnings if "e_tiny" in line)
    assert "wrote 2 of 7 images" in stdout and "skipped 5" in stdout


def test_images_above_max_pixels_are_refused_from_the_header(checkpoint, tmp_path, capsys):
    frames = tmp_path / "frames"
    write_image(frames / "a_small.png")
    huge = png_header_only(frames / "b_huge.png", 24000, 24000)
    write_image(frames / "c_over_a_small_limit.png", height=30, width=40)
    out = tmp_path / "out"
    code, stdout, stderr = predict(capsys, "--checkpoint", str(checkpoint), "--input", str(frames),
                                   "--output", str(out), "--steps", "0", "--max-pixels", "1000")
    assert code == 1 and outputs(out) == ["a_small_trainIds.png"]
    assert "b_huge.png is 24000x24000 = 576000000 pixels, more than the limit of 1000" in stderr
    assert "c_over_a_small_limit.png is 40x30 = 1200 pixels" in stderr  # a real image, over the limit

    # the default limit is the node's 4096x4096
    code, stdout, stderr = predict(capsys, "--checkpoint", str(checkpoint), "--input", str(huge),
                                   "--output", str(out), "--steps", "0")
    assert code == 1 and "more than the limit of 16777216" in stderr and "wrote 0 of 1 images" in stdout


def test_an_output_folder_inside_the_input_is_not_segmented_again(checkpoint, tmp_path, capsys):
    frames = tmp_path / "frames"
    write_image(frames / "cam0" / "f0.png")
    out = frames / "predictions"
    for _ in range(2):  # the second run finds the first one's results inside --input
        code, stdout, _ = predict(capsys, "--checkpoint", str(checkpoint), "--input", str(frames),
                                  "--output", str(out), "--steps", "0")
        assert code == 0
    assert outputs(out) == ["cam0/f0_trainIds.png"]
    assert "wrote 1 of 1 images" in stdout
    with pytest.raises(SystemExit) as stopped:
        main(["--checkpoint", str(checkpoint), "--input", str(frames), "--output", str(frames)])
    assert stopped.value.code == 2 and "must not be the --input folder" in capsys.readouterr().err


@pytest.mark.parametrize("options,message", [
    (["--steps", "1000"], r"steps must be a whole number in \[0, 100\]"),
    (["--strength", "2"], r"strength must be in \(0, 1\]"),
    (["--steps", "50", "--strength", "0.01"], "steps / strength must be at most 1000"),  # the model's T
    (["--samples", "0"], r"--samples must be a whole number in \[1, 64\]"),
    (["--seed", "99999999999999999999"], "seed must be a whole number"),
    (["--max-pixels", "0"], "--max-pixels: must be at least 64"),
])
def test_sampling_options_are_checked_before_any_image(checkpoint, tmp_path, capsys, options, message):
    write_image(tmp_path / "frames" / "f.png")
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(main(["--checkpoint", str(checkpoint), "--input", str(tmp_path / "frames"),
                               "--output", str(tmp_path / "out"), *options]))
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in err and re.search(message, err)
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert not (tmp_path / "out").exists()


def test_predict_runs_the_model_at_the_checkpoints_size_by_default(tmp_path, capsys):
    """As the node, evaluate and replay: the size the checkpoint records unless --input-size says
    otherwise; the masks always come back at the image's own size."""
    import torch

    from cicld_core.model import CICLD, ModelConfig, save_model
    from tiny import TINY

    torch.manual_seed(0)
    checkpoint = tmp_path / "sized.safetensors"
    save_model(checkpoint, CICLD(ModelConfig(**TINY)), input_size=(32, 16))
    image = write_image(tmp_path / "in" / "frame.png", height=48, width=96, seed=3)
    masks = {}
    for name, size in (("default", []), ("explicit", ["--input-size", "32x16"]), ("native", ["--input-size", "native"])):
        code, _, err = predict(capsys, "--checkpoint", str(checkpoint), "--input", str(image),
                               "--output", str(tmp_path / name), "--steps", "1", *size)
        assert code == 0, err
        masks[name] = cv2.imread(str(tmp_path / name / "frame_trainIds.png"), cv2.IMREAD_UNCHANGED)
        assert masks[name].shape == (48, 96)
    assert np.array_equal(masks["default"], masks["explicit"])
    assert not np.array_equal(masks["default"], masks["native"])

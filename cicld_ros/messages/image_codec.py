"""
sensor_msgs images <-> RGB arrays, with every way an input can be malformed named.

``check`` validates a message from its header fields alone (for a CompressedImage: the
PNG/JPEG header and chunk checksums), touching no pixels, so the node can refuse a frame
the moment it arrives, before it takes a camera's latest-frame slot or any decode time.
``decode`` turns an Image or CompressedImage into an (H, W, 3) RGB uint8 array; both raise
``InputError`` whose ``reason`` is a short counter key (for diagnostics) and whose text
names the problem. ``mono8_image`` / ``colour_image`` build the outputs, stamped with
the input's header.
"""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

from cicld_core.image_header import PNG_SIGNATURE, encoded_image_size
from cicld_core.model import MIN_IMAGE_SIZE

from .records import CompressedImage, Header, Image

# cv_bridge's conversions to RGB (ros-perception/vision_opencv humble, cv_bridge/src/cv_bridge.cpp,
# getConversionCode): yuv422 is UYVY, yuv422_yuy2 YUYV (2 bytes a pixel); OpenCV names a Bayer
# pattern by its second row, so bayer_rggb8 is COLOR_BayerBG2RGB
YUV_CODES = {"yuv422": cv2.COLOR_YUV2RGB_UYVY, "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUY2}
BAYER_CODES = {"bayer_rggb8": cv2.COLOR_BayerBG2RGB, "bayer_bggr8": cv2.COLOR_BayerRG2RGB,
               "bayer_gbrg8": cv2.COLOR_BayerGR2RGB, "bayer_grbg8": cv2.COLOR_BayerGB2RGB}
CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 1,
            **dict.fromkeys(YUV_CODES, 2), **dict.fromkeys(BAYER_CODES, 1)}
BYTES_PER_CHANNEL = {"mono16": 2}
OUTPUT_COLOUR_ENCODINGS = ("rgb8", "bgr8")
MIN_SIDE = MIN_IMAGE_SIZE  # the model's smallest input: smaller frames are malformed, not errors


class InputError(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def as_bytes_view(data) -> memoryview:
    view = memoryview(data if not isinstance(data, np.ndarray) else np.ascontiguousarray(data))
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def check_size(height: int, width: int, max_pixels: int) -> None:
    if height <= 0 or width <= 0:
        raise InputError("zero_size", f"image is {width}x{height}: nothing to segment")
    if height < MIN_SIDE or width < MIN_SIDE:
        raise InputError("too_small", f"image is {width}x{height}; the model needs at least "
                                      f"{MIN_SIDE}x{MIN_SIDE} pixels")
    if height * width > max_pixels:
        raise InputError(
            "too_large",
            f"image is {width}x{height} = {height * width} pixels, over the "
            f"max_pixels limit of {max_pixels}",
        )


def check_raw(msg: Image, max_pixels: int) -> tuple[int, int]:
    """(channels, bytes per channel) of a well-formed Image, else InputError."""
    encoding = msg.encoding.lower()
    if encoding not in CHANNELS:
        raise InputError(
            "unsupported_encoding",
            f"encoding {msg.encoding[:40]!r} is not supported; "
            f"use one of {', '.join(CHANNELS)}",
        )
    check_size(msg.height, msg.width, max_pixels)
    if encoding in YUV_CODES and msg.width % 2:
        raise InputError(
            "odd_width",
            f"{encoding} packs two pixels in four bytes: width {msg.width} must be even",
        )
    channels, depth = CHANNELS[encoding], BYTES_PER_CHANNEL.get(encoding, 1)
    row_bytes = msg.width * channels * depth
    if msg.step < row_bytes:
        raise InputError(
            "bad_step", f"step {msg.step} is less than width x bytes per pixel = {row_bytes}"
        )
    size = len(as_bytes_view(msg.data))
    if size < msg.step * msg.height:
        raise InputError("short_data", f"data holds {size} bytes, less than step x height = "
                                       f"{msg.step * msg.height}")
    return channels, depth


def png_chunks_intact(data: memoryview) -> bool:
    """
    Every chunk's checksum holds and IEND ends the file.

    A truncated or damaged PNG is refused here instead of in libpng, which prints a line to stderr
    for each one.
    """
    position = len(PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if (
            end > len(data)
            or zlib.crc32(data[position + 4:end - 4])
            != struct.unpack_from(">I", data, end - 4)[0]
        ):
            return False
        if kind == b"IEND":
            return True
        position = end
    return False


def check_compressed(msg: CompressedImage, max_pixels: int) -> None:
    data = as_bytes_view(msg.data)
    if len(data) == 0:
        raise InputError("zero_size", "compressed image holds no bytes")
    size = encoded_image_size(data)
    is_png = bytes(data[:8]) == PNG_SIGNATURE
    if size is None or (is_png and not png_chunks_intact(data)):
        if is_png or bytes(data[:2]) == b"\xff\xd8":
            raise InputError(
                "corrupt_compressed",
                f"compressed image ({msg.format[:40] or 'unknown format'}, "
                f"{len(data)} bytes) has a damaged or truncated header",
            )
        raise InputError(
            "unsupported_format",
            f"compressed image ({msg.format[:40] or 'unknown format'}, "
            f"{len(data)} bytes) is neither PNG nor JPEG",
        )
    width, height = size
    check_size(height, width, max_pixels)


def check(msg: Image | CompressedImage, max_pixels: int) -> None:
    """Raise InputError unless ``msg`` looks decodable, judged from its header without decoding."""
    if isinstance(msg, CompressedImage):
        check_compressed(msg, max_pixels)
    else:
        check_raw(msg, max_pixels)


def decode_raw(msg: Image, max_pixels: int) -> np.ndarray:
    channels, depth = check_raw(msg, max_pixels)
    row_bytes = msg.width * channels * depth
    rows = np.frombuffer(as_bytes_view(msg.data), np.uint8, count=msg.step * msg.height).reshape(
        msg.height, msg.step
    )
    pixels = rows[:, :row_bytes]
    if depth == 2:
        dtype = ">u2" if msg.is_bigendian else "<u2"
        grey = np.ascontiguousarray(pixels).view(dtype).reshape(msg.height, msg.width)
        return np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, axis=2)
    pixels = pixels.reshape(msg.height, msg.width, channels)
    encoding = msg.encoding.lower()
    if encoding == "rgb8":
        return pixels
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding in YUV_CODES or encoding in BAYER_CODES:
        code = YUV_CODES.get(encoding, BAYER_CODES.get(encoding))
        return cv2.cvtColor(
            np.ascontiguousarray(pixels if encoding in YUV_CODES else pixels[..., 0]), code
        )
    code = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB}[
        encoding
    ]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def decode_compressed(msg: CompressedImage, max_pixels: int) -> np.ndarray:
    check_compressed(msg, max_pixels)  # the header's size, before the decoder allocates for it
    data = np.frombuffer(as_bytes_view(msg.data), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(
            "corrupt_compressed",
            f"compressed image ({msg.format[:40] or 'unknown format'}, "
            f"{data.size} bytes) could not be decoded",
        )
    check_size(image.shape[0], image.shape[1], max_pixels)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode(msg: Image | CompressedImage, max_pixels: int) -> np.ndarray:
    """RGB uint8 (H, W, 3), or InputError."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg, max_pixels)
    return decode_raw(msg, max_pixels)


def mono8_image(header: Header, values: np.ndarray) -> Image:
    values = np.ascontiguousarray(values, dtype=np.uint8)
    height, width = values.shape
    return Image(
        header=header, height=height, width=width, encoding="mono8", step=width, data=values
    )


def mono8_values(msg: Image) -> np.ndarray:
    """
    Return the (H, W) uint8 values of a mono8 Image (a class mask, ground truth).

    mono8_image's inverse.
    """
    if msg.encoding.lower() != "mono8":
        raise InputError(
            "unsupported_encoding", f"expected a mono8 image, got encoding {msg.encoding[:40]!r}"
        )
    if msg.step < msg.width:
        raise InputError("bad_step", f"step {msg.step} is less than the width {msg.width}")
    size = len(as_bytes_view(msg.data))
    if size < msg.step * msg.height:
        raise InputError(
            "short_data",
            f"data holds {size} bytes, less than step x height = {msg.step * msg.height}",
        )
    rows = np.frombuffer(as_bytes_view(msg.data), np.uint8, count=msg.step * msg.height).reshape(
        msg.height, msg.step
    )
    return rows[:, :msg.width]


def colour_image(header: Header, rgb: np.ndarray, encoding: str) -> Image:
    if encoding not in OUTPUT_COLOUR_ENCODINGS:
        raise ValueError(
            f"colour encoding must be one of {OUTPUT_COLOUR_ENCODINGS}, got {encoding!r}"
        )
    pixels = rgb if encoding == "rgb8" else rgb[..., ::-1]
    height, width = rgb.shape[:2]
    return Image(header=header, height=height, width=width, encoding=encoding, step=width * 3,
                 data=np.ascontiguousarray(pixels))

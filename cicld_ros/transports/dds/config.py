"""Cyclone DDS settings that work on these machines, and ROS 2 topic naming."""
from __future__ import annotations

import os
import re

# A best-effort camera frame is fragmented into many datagrams that arrive in one burst:
# the reader's socket must hold nearly a whole frame, or fragments overflow and the frame is
# lost without any status (measured on loopback: a 2048x1024 rgb8 frame, 6.3 MB, arrived
# 6 of 6 with an 8 MiB buffer and 0 of 6 with 6 MiB or Cyclone's default 2 MiB; a 4000x3000
# one, 36 MB, needed 32 MiB). "max" asks for up to 64 MiB and takes what the kernel grants
# (net.core.rmem_max, doubled by Linux); "min" would stop Cyclone from starting at all on
# a machine whose rmem_max is lower ("Non specific error").
RECEIVE_BUFFER_XML = '<Internal><SocketReceiveBufferSize max="64MiB"/></Internal>'
WANTED_RECEIVE_BUFFER = 8 * 2**20  # holds a 2048x1024 (Cityscapes) or 1920x1080 rgb8 frame
SUGGESTED_RMEM_MAX = 64 * 2**20

# Loopback only, no multicast (measured here; docs/design.md section 4). Users on a real
# network set CYCLONEDDS_URI themselves and this is left alone.
LOOPBACK_XML = (
    '<CycloneDDS><Domain Id="any"><General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
    "<AllowMulticast>false</AllowMulticast></General>"
    "<Discovery><Peers><Peer address=\"127.0.0.1\"/></Peers>"
    "<ParticipantIndex>auto</ParticipantIndex>"
    "<MaxAutoParticipantIndex>20</MaxAutoParticipantIndex></Discovery>"
    f"{RECEIVE_BUFFER_XML}</Domain></CycloneDDS>"
)
TOPIC_NAME = re.compile(r"^/?[A-Za-z_~{][A-Za-z0-9_/{}~]*$")


def ensure_cyclonedds_uri() -> None:
    """Use the loopback configuration unless the user configured Cyclone already."""
    os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK_XML)


def receive_buffer_advice(
    obtained: int | None, rmem_max: int | None, uri: str | None
) -> str | None:
    """
    Return one line saying why large frames will be lost and what to change.

    None when the socket receive buffer Cyclone obtained holds a full-size frame (or is unknown).
    """
    if obtained is None or obtained >= WANTED_RECEIVE_BUFFER:
        return None
    fixes = []
    kernel_caps_it = rmem_max is not None and 2 * rmem_max < WANTED_RECEIVE_BUFFER
    if uri and "SocketReceiveBufferSize" not in _uri_text(uri):
        fixes.append(f"add {RECEIVE_BUFFER_XML} to the <Domain> of your CYCLONEDDS_URI")
    elif uri and uri != LOOPBACK_XML and not kernel_caps_it:
        fixes.append('set <SocketReceiveBufferSize max="64MiB"/> in your CYCLONEDDS_URI')
    if kernel_caps_it:
        fixes.append(f"raise the kernel's cap (net.core.rmem_max = {rmem_max}): "
                     f"sudo sysctl -w net.core.rmem_max={SUGGESTED_RMEM_MAX}")
    return (
        f"Cyclone DDS got a {obtained / 2**20:.1f} MiB socket receive buffer: best-effort camera "
        "frames larger "
        f"than about {obtained / 1e6:.0f} MB (1920x1080 rgb8 is 6.2 MB) will be lost; "
        + ("; ".join(fixes) if fixes else "see docs/node.md on CYCLONEDDS_URI")
    )


def _uri_text(uri: str) -> str:
    """
    Return the XML a CYCLONEDDS_URI holds.

    Inline, or in the file(s) it names (comma-separated).
    """
    texts = []
    for part in uri.split(","):
        part = part.strip()
        if part.startswith("<") or not part:
            texts.append(part)
            continue
        path = os.path.expandvars(part.removeprefix("file://"))
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                texts.append(file.read())
        except OSError:
            texts.append("")
    return "\n".join(texts)


def ros_topic_to_dds(name: str) -> str:
    """'/cam/image' or 'cam/image' -> 'rt/cam/image', as rmw_cyclonedds names topics."""
    if not name or not TOPIC_NAME.match(name) or "//" in name or name.endswith("/"):
        raise ValueError(f"invalid ROS topic name {name!r}")
    return "rt/" + name.lstrip("/")

"""Cyclone DDS settings that work on these machines, and ROS 2 topic naming."""
from __future__ import annotations

import os
import re

# Loopback only, no multicast (measured here; DESIGN.md section 4). Users on a real
# network set CYCLONEDDS_URI themselves and this is left alone.
LOOPBACK_XML = (
    '<CycloneDDS><Domain Id="any"><General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
    "<AllowMulticast>false</AllowMulticast></General><Discovery><Peers><Peer address=\"127.0.0.1\"/></Peers>"
    "<ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>20</MaxAutoParticipantIndex></Discovery>"
    "</Domain></CycloneDDS>"
)
TOPIC_NAME = re.compile(r"^/?[A-Za-z_~{][A-Za-z0-9_/{}~]*$")


def ensure_cyclonedds_uri() -> None:
    """Use the loopback configuration unless the user configured Cyclone already."""
    os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK_XML)


def ros_topic_to_dds(name: str) -> str:
    """'/cam/image' or 'cam/image' -> 'rt/cam/image', as rmw_cyclonedds names topics."""
    if not name or not TOPIC_NAME.match(name) or "//" in name or name.endswith("/"):
        raise ValueError(f"invalid ROS topic name {name!r}")
    return "rt/" + name.lstrip("/")

"""
Starting a DDS participant for the node and the replay tools.

With one clear message for each way it can fail (a domain out of range, a bad ROS_DOMAIN_ID, a bad
CYCLONEDDS_URI) instead of Cyclone's "Non specific error".
"""
from __future__ import annotations

import os
from typing import Mapping

# RTPS puts domain d on UDP ports 7400 + 250 d + ...; above 232 they pass 65535 (Cyclone:
# "resulting port numbers ... are out of range"), which is why ROS 2 documents 0..232.
MAX_DOMAIN_ID = 232


class DdsStartError(RuntimeError):
    """No DDS participant can be created with these settings."""


def domain_id(given: int | None, environ: Mapping[str, str] = os.environ) -> int:
    """--domain-id, else $ROS_DOMAIN_ID, else 0; checked against the range ROS 2 allows."""
    if given is None:
        text = environ.get("ROS_DOMAIN_ID", "").strip()
        if not text:
            return 0
        try:
            given = int(text)
        except ValueError:
            raise DdsStartError(
                f"ROS_DOMAIN_ID={text!r} is not a number: set it to a whole number in "
                f"0..{MAX_DOMAIN_ID}, or unset it for domain 0"
            ) from None
        source = f"ROS_DOMAIN_ID={text}"
    else:
        source = f"--domain-id {given}"
    if not 0 <= given <= MAX_DOMAIN_ID:
        raise DdsStartError(f"{source} is out of range: ROS 2 DDS domains are 0..{MAX_DOMAIN_ID}")
    return given


def open_transport(domain: int, names=None):
    """
    Return a DdsTransport on ``domain``.

    It uses the loopback configuration unless CYCLONEDDS_URI is set, and resolves topic names with
    ``names`` (cicld_ros.ros_rules.ros_names.NodeNames) when given.
    """
    from cyclonedds.core import DDSException

    from .config import LOOPBACK_XML, ensure_cyclonedds_uri
    from .transport import DdsTransport

    ensure_cyclonedds_uri()
    try:
        return DdsTransport(domain, names=names)
    except DDSException as error:
        uri = os.environ.get("CYCLONEDDS_URI", "")
        if uri != LOOPBACK_XML:
            shown = uri if len(uri) <= 200 else uri[:200] + "..."
            raise DdsStartError(
                f"Cyclone DDS cannot start on domain {domain} with CYCLONEDDS_URI={shown!r}: the "
                "configuration is invalid (Cyclone names the problem above; a "
                "SocketReceiveBufferSize "
                f"min= above what the kernel grants, twice net.core.rmem_max, is one cause: "
                f"use max=). Fix it, or run 'unset CYCLONEDDS_URI' to use the built-in loopback "
                f"configuration"
            ) from None
        raise DdsStartError(f"Cyclone DDS cannot start on domain {domain}: {error}") from None

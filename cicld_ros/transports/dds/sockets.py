"""
The UDP sockets of a Cyclone DDS participant, as Linux shows them in /proc.

The receive buffer Cyclone obtained and the datagrams the kernel dropped because it was full.

Cyclone reports neither. A best-effort sample whose fragments overflow the socket's
receive buffer vanishes without SAMPLE_LOST (Cyclone does not raise that status for
network losses: eclipse-cyclonedds, ros2/demos#642), so the kernel's per-socket drop
counter is the only evidence. Elsewhere than Linux these read as unknown (None).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

PROC_UDP = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def open_socket_inodes() -> dict[int, int]:
    """Return inode -> file descriptor of every socket this process has open."""
    sockets = {}
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return sockets
    for name in names:
        try:
            link = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed since listdir
            continue
        if link.startswith("socket:["):
            sockets[int(link[8:-1])] = int(name)
    return sockets


def udp_drops() -> dict[int, int]:
    """Return inode -> datagrams dropped, for every UDP socket in this network namespace."""
    drops = {}
    for table in PROC_UDP:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            columns = line.split()
            if len(columns) >= 13:
                drops[int(columns[9])] = int(columns[12])
    return drops


def receive_buffer(fd: int) -> int | None:
    try:
        # a duplicate: closing it leaves Cyclone's open
        with socket.socket(fileno=os.dup(fd)) as sock:
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError:
        return None


def kernel_rmem_max() -> int | None:
    try:
        return int(Path("/proc/sys/net/core/rmem_max").read_text())
    except (OSError, ValueError):
        return None


class ParticipantSockets:
    """
    Return the UDP sockets that appeared while a participant was created.

    All of this process's when it opened none: Cyclone shares one set per domain within a process.
    """

    def __init__(self, before: dict[int, int]) -> None:
        udp = udp_drops()
        opened = open_socket_inodes()
        mine = {inode: fd for inode, fd in opened.items() if inode in udp and inode not in before}
        self.fds = mine or {inode: fd for inode, fd in opened.items() if inode in udp}
        self._baseline = {inode: udp.get(inode, 0) for inode in self.fds}
        sizes = [size for size in map(receive_buffer, self.fds.values()) if size is not None]
        # Cyclone sets the same size on every receiving socket; its sending one keeps the default
        self.receive_buffer_bytes: int | None = max(sizes) if sizes else None

    def drops(self) -> int:
        """Datagrams the kernel dropped on these sockets since the participant started."""
        udp = udp_drops()
        return sum(max(0, udp.get(inode, base) - base) for inode, base in self._baseline.items())

"""The Blender renderer of the scene generator: ``python -m cicld_core.synth --renderer blender``.

It renders the street layout in metres the generator draws (``street.sample_layout``, the
same draws for a given seed, split, index, style and version) as a 3D scene, path-traced
by Cycles on the CPU, with labels from the object-index pass, depth from the Z pass and the
LiDAR sampled from both, written through the same dataset writers as the 2D renderer.

Blender's Python module (``bpy``, GPL) is an optional extra: ``pip install "bpy==4.5.*"``
or ``pip install .[render]``. Only ``cycles.py`` and ``materials.py`` import it (and
``worker.py`` through them); the scene description (``world.py``, ``geometry.py``,
``looks.py``) and the sensors (``sensors.py``) are numpy and load without it.
"""
from __future__ import annotations

import importlib.util

BPY_REQUIREMENT = "bpy==4.5.*"
MISSING_BPY = (f"the Blender renderer needs Blender's Python module, an optional extra: "
               f"pip install \"{BPY_REQUIREMENT}\" (or pip install .[render] in the repository); "
               f"it is a 373 MB wheel for Python 3.11 only, and pins numpy below 2")


def bpy_missing() -> str | None:
    """None when bpy is installed, else the message saying how to get it. Looks without
    importing: Blender puts its own folders on sys.path, and worker processes started
    after that would find Blender's inner ``bpy`` package instead of the module."""
    try:
        found = importlib.util.find_spec("bpy") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else f"{MISSING_BPY} (no module named 'bpy')"

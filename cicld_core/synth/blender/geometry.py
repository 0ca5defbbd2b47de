"""Meshes as numpy arrays, for the Blender renderer's scene description (no bpy here).

Coordinates are Blender's world axes in metres: X right, Y forward (the street's depth),
Z up, the origin on the road below the camera. A ``Mesh`` collects polygons with a
material name and a linear RGB colour per face; ``blender/build.py`` turns it into one
bpy mesh with a few bulk ``foreach_set`` calls.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Mesh:
    """Polygons of one object: vertices, faces of any size, a material and colour per face."""
    vertices: list[np.ndarray] = field(default_factory=list)
    faces: list[np.ndarray] = field(default_factory=list)  # (F, k) vertex indices, already offset
    materials: list[tuple[str, int]] = field(default_factory=list)  # (material name, face count)
    colours: list[np.ndarray] = field(default_factory=list)  # (F, 3) linear RGB
    count: int = 0
    # where what is added now goes: rotated by yaw (radians, counter-clockwise seen from
    # above) about the origin, then moved by offset; see ``placed``
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0

    def add(self, verts: np.ndarray, faces: np.ndarray, material: str, colour) -> None:
        verts = np.asarray(verts, np.float64).reshape(-1, 3)
        if self.yaw:
            verts = rotate_z(verts, self.yaw)
        if any(self.offset):
            verts = verts + np.asarray(self.offset, float)
        faces = np.asarray(faces, np.int64)
        if faces.ndim == 1:
            faces = faces[None]
        self.vertices.append(verts)
        self.faces.append(faces + self.count)
        self.materials.append((material, len(faces)))
        self.colours.append(np.broadcast_to(np.asarray(colour, np.float32), (len(faces), 3)))
        self.count += len(verts)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
        """(vertices (N, 3) float32, loop vertex indices, loop starts, material names,
        material slot per face, colour per face (F, 3))."""
        verts = np.concatenate(self.vertices).astype(np.float32)
        loops = np.concatenate([f.ravel() for f in self.faces]).astype(np.int32)
        totals = np.concatenate([np.full(len(f), f.shape[1]) for f in self.faces]).astype(np.int32)
        starts = np.concatenate([[0], np.cumsum(totals)[:-1]]).astype(np.int32)
        names = sorted({m for m, _ in self.materials})
        slot = np.concatenate([np.full(n, names.index(m)) for m, n in self.materials]).astype(np.int32)
        colours = np.concatenate(self.colours).astype(np.float32)
        return verts, loops, starts, names, slot, colours

    @property
    def empty(self) -> bool:
        return self.count == 0


@contextmanager
def placed(mesh: Mesh, offset, yaw: float = 0.0) -> Iterator[Mesh]:
    """Build a part in its own coordinates: what is added inside lands rotated and moved."""
    saved = mesh.offset, mesh.yaw
    mesh.offset, mesh.yaw = (float(offset[0]), float(offset[1]), float(offset[2])), float(yaw)
    try:
        yield mesh
    finally:
        mesh.offset, mesh.yaw = saved


# ---- primitives: (vertices, faces) ---------------------------------------------------------

BOX_FACES = np.array([[0, 3, 2, 1], [4, 5, 6, 7], [0, 1, 5, 4], [1, 2, 6, 5], [2, 3, 7, 6], [3, 0, 4, 7]])


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box, faces wound outward."""
    verts = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                      [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], float)
    return verts, BOX_FACES


def centred_box(size, centre=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    sx, sy, sz = (s / 2 for s in size)
    cx, cy, cz = centre
    return box(cx - sx, cx + sx, cy - sy, cy + sy, cz - sz, cz + sz)


def frame_of(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``axis`` and to each other."""
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def tube(p0, p1, r0: float, r1: float, sides: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """The side of a frustum from p0 (radius r0) to p1 (radius r1): vertices are the ring
    at p0 then the ring at p1; faces are quads."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    u, v = frame_of(p1 - p0)
    t = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
    verts = np.concatenate([p0 + r0 * ring, p1 + r1 * ring])
    i = np.arange(sides)
    j = (i + 1) % sides
    return verts, np.stack([i, j, j + sides, i + sides], 1)


def add_tube(mesh: Mesh, p0, p1, r0: float, r1: float, material: str, colour, sides: int = 6, caps: bool = True) -> None:
    """Poles, limbs, branches, trunks, wheels, cones (r1 = 0): a frustum with n-gon caps."""
    verts, faces = tube(p0, p1, r0, r1, sides)
    mesh.add(verts, faces, material, colour)
    if caps:
        base = np.arange(sides)
        mesh.add(verts, np.stack([base[::-1], base + sides]), material, colour)


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    p = (1 + 5 ** 0.5) / 2
    verts = np.array([[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p], [0, -1, -p], [0, 1, -p],
                      [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]], float)
    faces = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                      [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                      [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    return verts / np.linalg.norm(verts, axis=1, keepdims=True), faces


def _subdivide(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1)
    uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    mids = verts[uniq[:, 0]] + verts[uniq[:, 1]]
    mids /= np.linalg.norm(mids, axis=1, keepdims=True)
    n, f = len(verts), len(faces)
    a, b, c = (inverse[k * f:(k + 1) * f] + n for k in range(3))
    v0, v1, v2 = faces.T
    new = np.concatenate([np.stack([v0, a, c], 1), np.stack([v1, b, a], 1), np.stack([v2, c, b], 1), np.stack([a, b, c], 1)])
    return np.concatenate([verts, mids]), new


_SPHERES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def unit_sphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    if subdivisions not in _SPHERES:
        verts, faces = _icosahedron()
        for _ in range(subdivisions):
            verts, faces = _subdivide(verts, faces)
        _SPHERES[subdivisions] = (verts, faces)
    return _SPHERES[subdivisions]


def blob(rng: np.random.Generator, centre, radii, wobble: float = 0.2, subdivisions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A lumpy ellipsoid (tree crowns, bushes, heads): a sphere with a smooth random radius."""
    verts, faces = unit_sphere(subdivisions)
    # a few random low-frequency waves over the sphere give lumps, not spikes
    k = rng.normal(0, 1, (4, 3))
    phase = rng.uniform(0, 2 * np.pi, 4)
    bumps = np.sin(verts @ (k.T * 2.5) + phase).mean(1)
    r = 1.0 + wobble * bumps
    return verts * r[:, None] * np.asarray(radii, float) + np.asarray(centre, float), faces


def add_plate(mesh: Mesh, outline_xz: np.ndarray, y_front: float, thickness: float, front: str, front_colour,
              back: str, back_colour) -> None:
    """A flat plate facing -Y (toward the camera): a convex outline in the x-z plane,
    extruded backward by ``thickness``; its front face in one material, the back and rim in another."""
    outline_xz = np.asarray(outline_xz, float)
    n = len(outline_xz)
    front_v = np.stack([outline_xz[:, 0], np.full(n, y_front), outline_xz[:, 1]], 1)
    back_v = front_v + [0.0, thickness, 0.0]
    verts = np.concatenate([front_v, back_v])
    i = np.arange(n)
    j = (i + 1) % n
    mesh.add(verts, np.stack([i, j, j + n, i + n], 1), back, back_colour)
    mesh.add(verts, (i[::-1] + n)[None], back, back_colour)
    mesh.add(verts, i[None], front, front_colour)


def rotate_z(verts: np.ndarray, yaw: float, origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Rotate about the vertical axis through ``origin`` (yaw in radians, counter-clockwise from above)."""
    c, s = np.cos(yaw), np.sin(yaw)
    o = np.asarray(origin, float)
    d = np.asarray(verts, float) - o
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1], d[:, 2]], 1) + o


def ribbon(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A strip of quads between two polylines of equal length (ground bands, kerb faces)."""
    n = len(left)
    verts = np.concatenate([left, right])
    i = np.arange(n - 1)
    return verts, np.stack([i, i + n, i + n + 1, i + 1], 1)

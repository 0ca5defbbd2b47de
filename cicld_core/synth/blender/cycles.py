"""One frame through Blender: the scene description (``world.py``) built with bpy's data
API, lit by a Nishita sky and a sun, path-traced by Cycles on the CPU, and read back as an
8-bit image, an object-index map and a Z-depth map. Imports bpy (the optional extra;
Blender is GPL, so bpy is imported only in this package's bpy modules).

Labels come from the object-index pass: every object has its own ``pass_index``, and
Cycles writes that pass (like the Z pass) from the first sample's first hit only, never
filtered, so each pixel names exactly one object. The film uses a 1-pixel box filter, so
that hit lies inside the pixel. Depth is the Z pass: distance along the optical axis.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .quiet import quiet_output

with quiet_output(stderr=True):  # Blender's start-up notes go nowhere; a failed import still raises
    import bpy

from .materials import SMOOTH, apply_looks, materials  # noqa: E402 - after bpy's quiet import
from .world import World

DATA_SLOT = "data"  # the EXR the compositor writes: R object index, G depth
NO_SURFACE_DEPTH = 1e9  # Cycles writes 1e10 where a ray hits nothing


@dataclass(frozen=True)
class RenderSettings:
    samples: int = 8
    threads: int = 1
    denoise: bool = True


@dataclass
class Passes:
    image: np.ndarray  # (H, W, 3) uint8 sRGB, as displayed (AgX view)
    index: np.ndarray  # (H, W) int32 object index, 0 = nothing (sky)
    depth: np.ndarray  # (H, W) float32 metres along the optical axis, inf where nothing


class Session:
    """A Blender scene reused frame after frame: settings, compositor and materials are made
    once; each frame replaces the objects."""

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings
        self.tmp = Path(tempfile.mkdtemp(prefix="cicld_blender_"))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = self.scene = bpy.context.scene
        scene.render.engine = "CYCLES"
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.samples = settings.samples
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = settings.denoise and has_denoiser()
        if cycles.use_denoising:
            cycles.denoiser = "OPENIMAGEDENOISE"
            cycles.denoising_input_passes = "RGB_ALBEDO_NORMAL"
            cycles.denoising_prefilter = "FAST"
        cycles.max_bounces, cycles.diffuse_bounces, cycles.glossy_bounces = 3, 1, 1
        # indirect light past the first bounce from ambient occlusion: a quarter fewer CPU seconds
        # per frame at 4 samples, and side by side no difference a viewer notices
        cycles.use_fast_gi = True
        cycles.fast_gi_method = "REPLACE"
        cycles.ao_bounces_render = 1
        cycles.transmission_bounces, cycles.transparent_max_bounces, cycles.volume_bounces = 1, 2, 0
        cycles.caustics_reflective = cycles.caustics_refractive = False
        cycles.sample_clamp_indirect = 5.0
        cycles.use_auto_tile = False
        cycles.use_light_tree = False  # the sun and the sky are the only lights
        cycles.pixel_filter_type = "BOX"
        cycles.filter_width = 1.0
        scene.render.threads_mode = "FIXED"
        scene.render.threads = max(1, settings.threads)
        scene.render.resolution_percentage = 100
        scene.render.use_persistent_data = True  # keeps shaders and device set-up between frames
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGB"
        scene.render.image_settings.color_depth = "8"
        scene.render.dither_intensity = 0.0
        scene.view_settings.view_transform = "AgX"
        scene.view_settings.look = "None"
        scene.view_settings.use_white_balance = True
        layer = scene.view_layers[0]
        layer.use_pass_object_index = True
        layer.use_pass_z = True
        self._compositor()
        self.camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        self.sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
        scene.collection.objects.link(self.sun)
        self._world()
        self.frame_objects: list = []
        materials()

    def _compositor(self) -> None:
        scene = self.scene
        scene.use_nodes = True
        tree = scene.node_tree
        for node in list(tree.nodes):
            tree.nodes.remove(node)
        layers = tree.nodes.new("CompositorNodeRLayers")
        composite = tree.nodes.new("CompositorNodeComposite")
        tree.links.new(layers.outputs["Image"], composite.inputs["Image"])
        pack = tree.nodes.new("CompositorNodeCombineColor")
        tree.links.new(layers.outputs["IndexOB"], pack.inputs[0])
        tree.links.new(layers.outputs["Depth"], pack.inputs[1])
        data = tree.nodes.new("CompositorNodeOutputFile")
        data.base_path = str(self.tmp)
        data.format.file_format = "OPEN_EXR"
        data.format.color_depth = "32"
        data.format.exr_codec = "NONE"
        data.file_slots[0].path = DATA_SLOT
        tree.links.new(pack.outputs[0], data.inputs[0])

    def _world(self) -> None:
        world = bpy.data.worlds.new("sky")
        self.scene.world = world
        world.use_nodes = True
        world.cycles.sampling_method = "MANUAL"
        world.cycles.sample_map_resolution = 128  # the sky's importance map: 1024 cost a second a frame
        nodes, links = world.node_tree.nodes, world.node_tree.links
        for node in list(nodes):
            nodes.remove(node)
        sky = nodes.new("ShaderNodeTexSky")
        sky.sky_type = "NISHITA"
        sky.sun_disc = False
        clear = nodes.new("ShaderNodeBackground")
        links.new(sky.outputs[0], clear.inputs["Color"])
        grey = nodes.new("ShaderNodeBackground")
        mix = nodes.new("ShaderNodeMixShader")
        links.new(clear.outputs[0], mix.inputs[1])
        links.new(grey.outputs[0], mix.inputs[2])
        out = nodes.new("ShaderNodeOutputWorld")
        links.new(mix.outputs[0], out.inputs["Surface"])
        self.sky, self.clear, self.grey, self.mix = sky, clear, grey, mix

    # ---- one frame ---------------------------------------------------------------------

    def clear_frame(self) -> None:
        meshes = [o.data for o in self.frame_objects]
        bpy.data.batch_remove(self.frame_objects + meshes)
        self.frame_objects = []

    def build(self, world: World, size: tuple[int, int]) -> list[tuple[int, int]]:
        """The frame's objects, camera and light at ``size`` (width, height); returns
        (trainId, instance) per object index (index 0: nothing, the sky)."""
        self.clear_frame()
        render = self.scene.render
        render.resolution_x, render.resolution_y = size
        mats = materials()
        apply_looks(world.looks)
        table = [(255, 0)]
        collection = self.scene.collection
        for k, thing in enumerate(world.things, start=1):
            verts, loops, starts, names, slot, colours = thing.mesh.arrays()
            mesh = bpy.data.meshes.new(f"m{k}")
            mesh.vertices.add(len(verts))
            mesh.vertices.foreach_set("co", verts.ravel())
            mesh.loops.add(len(loops))
            mesh.loops.foreach_set("vertex_index", loops)
            mesh.polygons.add(len(starts))
            mesh.polygons.foreach_set("loop_start", starts)
            mesh.polygons.foreach_set("material_index", slot)
            smooth = np.array([names[s] in SMOOTH for s in range(len(names))])[slot]
            mesh.polygons.foreach_set("use_smooth", smooth)
            for name in names:
                mesh.materials.append(mats[name])
            attr = mesh.attributes.new("col", "FLOAT_VECTOR", "FACE")
            attr.data.foreach_set("vector", colours.ravel())
            mesh.update()
            obj = bpy.data.objects.new(f"o{k}", mesh)
            obj.pass_index = k
            collection.objects.link(obj)
            self.frame_objects.append(obj)
            table.append((thing.train_id, thing.instance))
        self._camera(world)
        self._light(world)
        return table

    def _camera(self, world: World) -> None:
        pose, cam = world.pose, self.camera.data
        render = self.scene.render
        w, h = render.resolution_x, render.resolution_y
        cam.sensor_fit = "HORIZONTAL"
        cam.sensor_width = 36.0
        cam.lens = pose.focal_frac * 36.0
        cam.clip_start, cam.clip_end = 0.1, 3000.0
        # lens shift in units of the width: the principal point at (cx, cy) fractions of the frame
        cam.shift_x = 0.5 - pose.cx_frac
        cam.shift_y = (pose.cy_frac - 0.5) * h / w
        self.camera.location = (0.0, 0.0, pose.height_m)
        self.camera.rotation_euler = (np.radians(90.0 - pose.pitch_deg), 0.0, 0.0)

    def _light(self, world: World) -> None:
        looks = world.looks
        elevation, azimuth = np.radians(looks.sun_elevation_deg), np.radians(looks.sun_azimuth_deg)
        self.sky.sun_elevation = elevation
        self.sky.sun_rotation = azimuth
        self.sky.air_density = 1.0 + 2.0 * looks.overcast
        self.sky.dust_density = 1.0 + 4.0 * looks.overcast + (3.0 if looks.fog_m else 0.0)
        self.clear.inputs["Strength"].default_value = 0.25
        grey = 0.55 + 0.3 * np.sin(elevation)
        self.grey.inputs["Color"].default_value = (grey, grey, grey * 1.03, 1.0)
        self.grey.inputs["Strength"].default_value = 0.9
        self.mix.inputs[0].default_value = 0.85 * looks.overcast
        sun = self.sun.data
        sun.energy = 4.0 * (1.0 - 0.95 * looks.overcast)
        sun.angle = np.radians(0.6 + 20.0 * looks.overcast)
        sun.color = (1.0, 0.85 + 0.15 * np.sin(elevation), 0.7 + 0.3 * np.sin(elevation))
        # a sun lamp shines along its -Z: tilt it down from the zenith, then turn it
        self.sun.rotation_euler = (np.pi / 2 - elevation, 0.0, azimuth)
        view = self.scene.view_settings
        view.exposure = looks.exposure + 0.6 * looks.overcast
        view.white_balance_temperature = looks.white_balance_k
        view.white_balance_tint = looks.tint

    def render(self, seed: int) -> Passes:
        """Render the frame ``build`` made, with Cycles' sampling seed ``seed``."""
        render = self.scene.render
        self.scene.cycles.seed = seed % (2 ** 31)
        for old in self.tmp.glob("*"):
            old.unlink()
        image_path = self.tmp / "image.png"
        render.filepath = str(image_path)
        with quiet_output():
            bpy.ops.render.render(write_still=True)
        image = _read_png(image_path)
        data_path = next(self.tmp.glob(f"{DATA_SLOT}*.exr"))
        data = bpy.data.images.load(str(data_path))
        try:
            data.colorspace_settings.name = "Non-Color"
            w, h = data.size
            pixels = np.empty(w * h * 4, np.float32)
            data.pixels.foreach_get(pixels)
        finally:
            bpy.data.images.remove(data)
        pixels = pixels.reshape(h, w, 4)[::-1]  # Blender's rows run bottom-up
        index = np.rint(pixels[..., 0]).astype(np.int32)
        depth = pixels[..., 1].astype(np.float32)
        depth[depth >= NO_SURFACE_DEPTH] = np.inf
        return Passes(image, index, depth)

    def close(self) -> None:
        """Remove the frame's objects and the temporary folder; a second call does nothing."""
        if not self.tmp.exists():
            return
        self.clear_frame()
        for path in self.tmp.glob("*"):
            path.unlink()
        os.rmdir(self.tmp)


def has_denoiser() -> bool:
    """Whether this Blender build has OpenImageDenoise (the PyPI wheels do, on x86-64)."""
    import _cycles  # noqa: PLC0415 - Cycles' own module, present once bpy is imported

    return bool(getattr(_cycles, "with_openimagedenoise", False))


def _read_png(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError(f"Blender wrote no readable image at {path}")
    return np.ascontiguousarray(bgr[..., ::-1])

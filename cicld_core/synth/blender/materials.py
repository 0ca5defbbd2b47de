"""Physically based materials as Cycles node trees (imports bpy: the renderer's optional
extra, Blender being GPL). Built once per process; the per-frame settings (texture scale,
wetness) are Value nodes every frame updates. Each material multiplies its base colour
by the face attribute ``col``, the per-object colour the scene description picked, and
reads texture coordinates in metres (every object's transform is the identity)."""
from __future__ import annotations

from .looks import Looks
from .quiet import quiet_output

with quiet_output(stderr=True):  # Blender's start-up notes (audio without numpy 1) are not ours
    import bpy

MATERIAL_NAMES = (
    "asphalt", "marking", "paving", "kerb", "concrete", "grass", "plaster", "brick", "roof", "glass", "frame", "door",
    "wood", "metal", "housing", "rubber", "paint", "cloth", "skin", "hair", "leaves", "needles", "bark", "sign",
    "lamp", "lamp_on", "lamp_off", "head_light", "tail_light",
)
SMOOTH = frozenset({"leaves", "needles", "skin", "hair", "bark", "rubber"})
EMISSION = {"lamp": 6.0, "lamp_on": 40.0, "lamp_off": 0.0, "head_light": 4.0, "tail_light": 6.0}
# roughness, metallic, specular, and a procedural texture: (kind, scale, strength, bump). Bump
# maps evaluate their texture three more times per shading point: only foliage, bark and
# grass keep one (it doubled the time per sample when every material had one)
SURFACES = {
    "asphalt": (0.85, 0.0, 0.4, ("noise", 9.0, 0.35, 0.0)),
    "marking": (0.55, 0.0, 0.5, ("noise", 4.0, 0.25, 0.0)),
    "paving": (0.8, 0.0, 0.4, ("brick", 3.0, 0.3, 0.0)),
    "kerb": (0.75, 0.0, 0.4, ("noise", 6.0, 0.2, 0.0)),
    "concrete": (0.8, 0.0, 0.4, ("noise", 4.0, 0.25, 0.0)),
    "grass": (0.9, 0.0, 0.3, ("noise", 5.0, 0.5, 0.5)),
    "plaster": (0.85, 0.0, 0.4, ("noise", 2.0, 0.15, 0.0)),
    "brick": (0.85, 0.0, 0.35, ("brick", 4.0, 0.35, 0.0)),
    "roof": (0.7, 0.0, 0.4, ("wave", 3.0, 0.3, 0.0)),
    "glass": (0.04, 0.0, 0.9, None),
    "frame": (0.5, 0.0, 0.5, None),
    "door": (0.6, 0.0, 0.4, ("wave", 2.0, 0.15, 0.0)),
    "wood": (0.8, 0.0, 0.3, ("wave", 6.0, 0.3, 0.0)),
    "metal": (0.4, 0.8, 0.5, ("noise", 8.0, 0.15, 0.0)),
    "housing": (0.5, 0.2, 0.4, None),
    "rubber": (0.8, 0.0, 0.3, None),
    "paint": (0.25, 0.3, 0.6, None),
    "cloth": (0.9, 0.0, 0.3, ("noise", 20.0, 0.2, 0.0)),
    "skin": (0.55, 0.0, 0.4, None),
    "hair": (0.6, 0.0, 0.5, ("wave", 40.0, 0.3, 0.0)),
    "leaves": (0.7, 0.0, 0.35, ("voronoi", 6.0, 0.6, 0.8)),
    "needles": (0.75, 0.0, 0.3, ("voronoi", 9.0, 0.5, 0.8)),
    "bark": (0.9, 0.0, 0.3, ("wave", 5.0, 0.4, 0.6)),
    "sign": (0.35, 0.0, 0.6, ("noise", 3.0, 0.05, 0.0)),
    "lamp": (0.3, 0.0, 0.5, None), "lamp_on": (0.2, 0.0, 0.5, None), "lamp_off": (0.3, 0.0, 0.5, None),
    "head_light": (0.2, 0.0, 0.5, None), "tail_light": (0.2, 0.0, 0.5, None),
}


def _value(nodes, name: str, value: float):
    node = nodes.new("ShaderNodeValue")
    node.name = node.label = name
    node.outputs[0].default_value = value
    return node


def _math(tree, op: str, a, b=None):
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = op
    for socket, value in ((node.inputs[0], a), (node.inputs[1], b)):
        if value is None:
            continue
        if isinstance(value, (int, float)):
            socket.default_value = value
        else:
            tree.links.new(value, socket)
    return node.outputs[0]


def _multiply_colours(tree, a, b):
    node = tree.nodes.new("ShaderNodeMix")
    node.data_type = "RGBA"
    node.blend_type = "MULTIPLY"
    node.inputs["Factor"].default_value = 1.0
    tree.links.new(a, node.inputs["A"])
    tree.links.new(b, node.inputs["B"])
    return node.outputs["Result"]


def make_material(name: str) -> bpy.types.Material:
    mat = bpy.data.materials.new(f"cicld_{name}")
    mat.use_nodes = True
    tree = mat.node_tree
    nodes, links = tree.nodes, tree.links
    for node in list(nodes):
        nodes.remove(node)
    out = nodes.new("ShaderNodeOutputMaterial")
    colour = nodes.new("ShaderNodeAttribute")
    colour.attribute_type = "GEOMETRY"
    colour.attribute_name = "col"
    if name in EMISSION:
        # lamps glow but light nothing: as lights, every emissive triangle would join the
        # light tree and slow each sample down
        mat.cycles.emission_sampling = "NONE"
        emit = nodes.new("ShaderNodeEmission")
        links.new(colour.outputs["Color"], emit.inputs["Color"])
        emit.inputs["Strength"].default_value = EMISSION[name]
        if name == "lamp_off":
            bsdf = nodes.new("ShaderNodeBsdfPrincipled")
            links.new(colour.outputs["Color"], bsdf.inputs["Base Color"])
            links.new(bsdf.outputs[0], out.inputs["Surface"])
        else:
            links.new(emit.outputs[0], out.inputs["Surface"])
        return mat
    roughness, metallic, specular, texture = SURFACES[name]
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Metallic"].default_value = metallic
    bsdf.inputs["Specular IOR Level"].default_value = specular
    base = colour.outputs["Color"]
    scale = _value(nodes, "texture_scale", 1.0)
    wet = _value(nodes, "wet", 0.0)
    if texture is not None:
        kind, tex_scale, strength, bump = texture
        coords = nodes.new("ShaderNodeTexCoord")
        node = {"noise": "ShaderNodeTexNoise", "brick": "ShaderNodeTexBrick", "wave": "ShaderNodeTexWave",
                "voronoi": "ShaderNodeTexVoronoi"}[kind]
        tex = nodes.new(node)
        links.new(coords.outputs["Object"], tex.inputs["Vector"])
        links.new(_math(tree, "MULTIPLY", scale.outputs[0], tex_scale), tex.inputs["Scale"])
        if kind == "noise":
            tex.inputs["Detail"].default_value = 2.0
            value = tex.outputs["Fac"]
        elif kind == "brick":
            tex.inputs["Color1"].default_value = (1.0, 1.0, 1.0, 1.0)
            tex.inputs["Color2"].default_value = (0.8, 0.8, 0.8, 1.0)
            tex.inputs["Mortar"].default_value = (0.55, 0.55, 0.55, 1.0)
            tex.inputs["Mortar Size"].default_value = 0.015
            value = tex.outputs["Color"]
        elif kind == "wave":
            tex.inputs["Distortion"].default_value = 6.0
            tex.inputs["Detail"].default_value = 1.0
            value = tex.outputs["Fac"]
        else:
            value = tex.outputs["Distance"]
        # colour variation around 1: (1 - strength/2) + strength * value
        if kind == "brick":
            base = _multiply_colours(tree, base, value)
        else:
            varied = _math(tree, "MULTIPLY_ADD", value, strength)
            varied.node.inputs[2].default_value = 1.0 - strength / 2
            tint = nodes.new("ShaderNodeCombineColor")
            for k in range(3):
                links.new(varied, tint.inputs[k])
            base = _multiply_colours(tree, base, tint.outputs[0])
        if bump > 0:
            b = nodes.new("ShaderNodeBump")
            b.inputs["Strength"].default_value = bump
            b.inputs["Distance"].default_value = 0.02
            links.new(value if kind != "brick" else tex.outputs["Fac"], b.inputs["Height"])
            links.new(b.outputs["Normal"], bsdf.inputs["Normal"])
    if name in ("asphalt", "paving", "marking", "kerb"):
        # a wet road: darker and glossy where puddles gather (low spots of a coarse noise)
        puddles = nodes.new("ShaderNodeTexNoise")
        coords = nodes.new("ShaderNodeTexCoord")
        links.new(coords.outputs["Object"], puddles.inputs["Vector"])
        puddles.inputs["Scale"].default_value = 0.35
        mask = _math(tree, "MULTIPLY", _math(tree, "GREATER_THAN", puddles.outputs["Fac"], 0.45), wet.outputs[0])
        wetness = _math(tree, "MAXIMUM", mask, _math(tree, "MULTIPLY", wet.outputs[0], 0.5))
        rough = _math(tree, "MULTIPLY_ADD", wetness, -roughness + 0.05)
        rough.node.inputs[2].default_value = roughness
        links.new(rough, bsdf.inputs["Roughness"])
        dark = _math(tree, "MULTIPLY_ADD", wetness, -0.45)
        dark.node.inputs[2].default_value = 1.0
        shade = nodes.new("ShaderNodeCombineColor")
        for k in range(3):
            links.new(dark, shade.inputs[k])
        base = _multiply_colours(tree, base, shade.outputs[0])
    links.new(base, bsdf.inputs["Base Color"])
    links.new(bsdf.outputs[0], out.inputs["Surface"])
    return mat


def materials() -> dict[str, bpy.types.Material]:
    """Every material of the renderer, made on first use in this Blender session."""
    found = {name: bpy.data.materials.get(f"cicld_{name}") for name in MATERIAL_NAMES}
    return {name: mat if mat is not None else make_material(name) for name, mat in found.items()}


def apply_looks(looks: Looks) -> None:
    """The frame's texture scale and wetness, set on every material."""
    for name, mat in materials().items():
        nodes = mat.node_tree.nodes
        if "texture_scale" in nodes:
            nodes["texture_scale"].outputs[0].default_value = looks.texture_scale
            nodes["wet"].outputs[0].default_value = looks.wet

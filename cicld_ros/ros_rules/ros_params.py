r"""
ROS 2's rules for parameter files and parameter types.

Re-stated so that the DDS mode reads a file exactly as a node under ROS does (one set of rules for
both transports).

Three rules, each from the upstream source named:

* **Scalars** (ros2/rcl, ``rcl_yaml_param_parser/src/parse.c``, ``get_value``, humble and
  rolling): a quoted scalar is a string; an unquoted one is a bool when it is one of
  y/Y/yes/Yes/YES/true/True/TRUE/on/On/ON (or the n/no/false/off set), else an integer
  when ``strtoll(value, 0)`` reads all of it, else a double when ``strtod`` does, else a
  string. So ``compile: off`` is the bool false, ``010`` is 8 and ``1e3`` a double, where
  PyYAML would say string, 8 and string.
* **Which section applies to a node** (ros2/rclpy, ``rclpy/src/rclpy/node.cpp``,
  ``_populate_node_parameters_from_rcl_params``, humble and jazzy): each node name in the
  file (nested keys joined with ``/``, a leading ``/`` added) becomes a regular expression,
  ``/*`` -> ``(/\w+)`` (so ``/**`` -> ``(/\w+)*``), that must match the node's fully
  qualified name. ``segment_node:`` therefore matches only ``/segment_node``, never
  ``/front/segment_node``; ``/**:`` matches every node. Later sections win per parameter.
* **Types** (ros2/rclpy, ``rclpy/parameter.py`` ``Parameter.Type.from_parameter_value``
  and ``rclpy/node.py`` ``_apply_descriptor``, humble and jazzy): a parameter's type is
  fixed by its declared default, and a value of another type is refused
  (``InvalidParameterTypeException`` at declaration): an integer for a double parameter,
  a bool for a string, ``[0, 0, 0]`` for a double array.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

TRUE_WORDS = frozenset("Y y yes Yes YES true True TRUE on On ON".split())
FALSE_WORDS = frozenset("N n no No NO false False FALSE off Off OFF".split())
SPECIAL_FLOATS = frozenset(
    ".nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF".split()
)
# what strtoll(value, &end, 0) reads whole: optional space and sign, then hex, octal or decimal
# digits
STRTOLL = re.compile(r"\s*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
# what strtod reads whole (decimal and hex floats, inf, infinity, nan), without Python's extras
# (1_0)
STRTOD = re.compile(
    r"\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
    r"([pP][+-]?\d+)?|inf(inity)?|nan)",
    re.IGNORECASE,
)
INT64 = (-2**63, 2**63 - 1)


def rcl_scalar(text: str) -> bool | int | float | str:
    """Return an unquoted scalar typed as rcl's get_value types it."""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    if STRTOLL.fullmatch(text):
        digits = text.strip()
        sign, digits = (-1 if digits[0] == "-" else 1), digits.lstrip("+-")
        if digits[:2] in ("0x", "0X"):
            value = int(digits, 16)
        elif len(digits) > 1 and digits[0] == "0":
            value = int(digits, 8)
        else:
            value = int(digits)
        # out of range: strtoll sets ERANGE and rcl tries strtod
        if INT64[0] <= sign * value <= INT64[1]:
            return sign * value
    if text in SPECIAL_FLOATS:
        # rcl skips to the letters, then applies the sign
        value = float(text.lstrip("+-.").lower())
        return -value if text.startswith("-") else value
    if STRTOD.fullmatch(text):
        body = text.strip()
        value = (
            float.fromhex(body)
            if "x" in body.lower() and "inf" not in body.lower()
            else float(body)
        )
        # overflow: strtod sets ERANGE, rcl keeps a string
        if not math.isinf(value) or "inf" in body.lower():
            return value
    return text


class RclLoader(yaml.SafeLoader):
    """PyYAML with rcl's scalar typing: no implicit resolvers, every scalar typed by rcl_scalar."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # rcl reads keys as names, never as values (a key y: is "y")
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and not key_node.style:
                key_node.style = "'"
        return super().construct_mapping(node, deep)


RclLoader.yaml_implicit_resolvers = {}  # every plain scalar arrives as a string node; typed below


def _construct_scalar(loader: RclLoader, node: yaml.ScalarNode) -> Any:
    text = loader.construct_scalar(node)
    return text if node.style in ("'", '"') else rcl_scalar(text)


RclLoader.add_constructor("tag:yaml.org,2002:str", _construct_scalar)


def load_rcl_yaml(text: str) -> Any:
    """Return a YAML document with each scalar typed as rcl types it (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=RclLoader)  # noqa: S506 - RclLoader is a SafeLoader


def node_sections(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """
    (node name, ros__parameters) for every section of a parameter file, in file order.

    A node name is its nested keys joined with '/', with a leading '/' (as rclpy adds it).
    """
    sections = []

    def walk(mapping: dict[str, Any], path: list[str]) -> None:
        for key, value in mapping.items():
            if key == "ros__parameters" and path and isinstance(value, dict):
                name = "/".join(path)
                sections.append((name if name.startswith("/") else "/" + name, value))
            elif isinstance(value, dict):
                walk(value, [*path, str(key)])

    walk(document, [])
    return sections


def matches_node(section_name: str, node_fqn: str) -> bool:
    r"""Whether a section applies to the node: rclpy's regular expression, /* -> (/\w+)."""
    return re.fullmatch(section_name.replace("/*", r"(/\w+)"), node_fqn, re.ASCII) is not None


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """
    Return nested parameter mappings as the dotted names rcl gives them.

    For example painting.camera.image_topic.
    """
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, name + ".")
        else:
            flat[name] = value
    return flat


def read_node_parameters(path: str | Path, node_fqn: str) -> dict[str, Any]:
    """
    Return the parameters a ROS 2 parameter file gives the node ``node_fqn``.

    Dotted names, typed as rcl types them; later sections win. ValueError names the problem and the
    fix.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"parameter file {path} not found")
    try:
        document = load_rcl_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"parameter file {path} is not valid YAML: {error}") from None
    except UnicodeDecodeError:
        raise ValueError(f"parameter file {path} is not UTF-8 text") from None
    if not isinstance(document, dict):
        raise ValueError(
            f"parameter file {path} holds a {type(document).__name__}, not a mapping of "
            f"'/**: ros__parameters:'"
        )
    sections = node_sections(document)
    if not sections:
        raise ValueError(f"parameter file {path} has no '<node>: ros__parameters:' section")
    values: dict[str, Any] = {}
    for name, parameters in sections:
        if matches_node(name, node_fqn):
            values |= flatten(parameters)
    if not any(matches_node(name, node_fqn) for name, _ in sections):
        names = ", ".join(name for name, _ in sections)
        raise ValueError(
            f"parameter file {path}: no section applies to the node {node_fqn} (sections: "
            f"{names}); "
            f"ROS 2 matches the key against the node's full name, so use '/**:' (any node) or "
            f"'{node_fqn}:'"
        )
    return values


# -- rclpy's parameter types -------------------------------------------------------------------

def ros_type(value: Any) -> str:
    """Return rclpy's Parameter.Type name for a value (Parameter.Type.from_parameter_value)."""
    if value is None:
        return "NOT_SET"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (list, tuple)):
        for kind, name in ((bytes, "BYTE_ARRAY"), (bool, "BOOL_ARRAY"), (int, "INTEGER_ARRAY"),
                           (float, "DOUBLE_ARRAY"), (str, "STRING_ARRAY")):
            if all(isinstance(v, kind) for v in value):
                return name
        return "MIXED_ARRAY"  # rclpy raises TypeError; rcl refuses such a sequence while parsing
    return type(value).__name__


FIXES = {
    "DOUBLE": "write it with a decimal point, e.g. 1.0",
    "DOUBLE_ARRAY": "write every number with a decimal point, e.g. [0.0, 0.0, 0.0]",
    "STRING": 'quote it: ROS reads on/off/yes/no/y/n/true/false as booleans and digits as '
              'numbers, e.g. "off"',
    "STRING_ARRAY": 'quote each item, e.g. ["camera/image_raw"]',
}


def type_fix(default: Any) -> str:
    """How to write a value for a parameter declared with ``default``."""
    expected = ros_type(default)
    return FIXES.get(expected, f"give a {expected.lower().replace('_', ' ')}")


def type_problem(name: str, value: Any, default: Any) -> str | None:
    """Why rclpy would refuse ``value`` for a parameter declared with ``default``, or None."""
    expected, given = ros_type(default), ros_type(value)
    if expected == given:
        return None
    article = "an" if expected[0] in "AEIOU" else "a"
    return f"{name} is {article} {expected} parameter, got {given} {value!r}: {type_fix(default)}"

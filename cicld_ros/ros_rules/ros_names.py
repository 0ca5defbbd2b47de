"""
ROS 2 topic names as rcl resolves them, and the ``--ros-args`` the DDS mode understands.

So a relative name, a namespace and a remapping mean the same in both transports.

Re-stated from ros2/rcl (humble; unchanged in rolling):

* ``rcl/src/rcl/validate_topic_name.c``: a name is tokens of letters, digits and ``_``
  split by ``/``, a token not starting with a digit, ``~`` only first, no trailing ``/``;
  ``{node}``, ``{ns}`` / ``{namespace}`` are substitutions.
* ``rcl/src/rcl/expand_topic_name.c``: ``~`` is the node's full name, a relative name is
  put under the node's namespace, an absolute one is kept.
* ``rcl/src/rcl/remap.c`` (``rcl_remap_first_match``): the first rule (``[node:]from:=to``,
  a node prefix only for that node) whose expanded ``from`` equals the expanded name
  replaces it with its expanded ``to``; ``__ns:=`` and ``__node:=`` set the namespace and
  the node name.

Under rclpy none of this runs here: rcl resolves the names the node hands it
(``Node.resolve_topic_name`` says what they became).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ros_params import load_rcl_yaml

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SUBSTITUTIONS = ("{node}", "{ns}", "{namespace}")


def topic_name_problem(name: str) -> str | None:
    """Why rcl would refuse ``name`` as a topic name (relative, absolute or ~), or None."""
    if not isinstance(name, str) or not name:
        return "a topic name cannot be empty"
    body = name
    for substitution in SUBSTITUTIONS:
        body = body.replace(substitution, "x")
    if "{" in body or "}" in body:
        return f"{name!r}: the only substitutions are {', '.join(SUBSTITUTIONS)}"
    if body.endswith("/") and body != "/":
        return f"{name!r} ends with '/'"
    if "~" in body[1:]:
        return f"{name!r}: '~' may only come first (the node's private namespace, '~/name')"
    tokens = body.removeprefix("~").removeprefix("/").split("/") if body not in ("~", "/") else []
    if body.startswith("~") and body not in ("~",) and not body.startswith("~/"):
        return f"{name!r}: '~' must be followed by '/'"
    for token in tokens:
        if not TOKEN.fullmatch(token):
            return (
                f"{name!r}: each part between '/' must be letters, digits and _, not start with a "
                "digit"
                + (" and not be empty ('//')" if not token else "")
            )
    return None


def check_topic_name(name: str) -> str:
    problem = topic_name_problem(name)
    if problem:
        raise ValueError(f"invalid ROS topic name: {problem}")
    return name


def expand(name: str, node_name: str, namespace: str) -> str:
    """Return the fully qualified name of ``name`` for the node ``namespace``/``node_name``."""
    check_topic_name(name)
    for substitution, value in (
        ("{node}", node_name),
        ("{ns}", namespace),
        ("{namespace}", namespace),
    ):
        name = name.replace(substitution, value)
    base = namespace.rstrip("/")
    if name.startswith("~"):
        return f"{base}/{node_name}{name[1:]}"
    if name.startswith("/"):
        return name
    return f"{base}/{name}"


@dataclass(frozen=True)
class Remap:
    """One ``[node:]from:=to`` rule."""

    match: str
    replacement: str
    node: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Remap":
        if ":=" not in text:
            raise ValueError(f"remapping {text!r} must be from:=to (or node:from:=to)")
        left, replacement = text.split(":=", 1)
        node, _, match = left.rpartition(":") if ":" in left else (None, "", left)
        if not match or not replacement:
            raise ValueError(f"remapping {text!r} must be from:=to (or node:from:=to)")
        return cls(match, replacement, node or None)


@dataclass(frozen=True)
class NodeNames:
    """The node's name and namespace, and its remapping rules: what resolves its topic names."""

    node_name: str
    namespace: str = "/"
    remaps: tuple[Remap, ...] = ()

    @classmethod
    def from_rules(cls, node_name: str, remaps: list[Remap]) -> "NodeNames":
        """
        ``__node`` and ``__ns`` rules set the name and namespace; the others remap topics.

        The first for this node wins, as in rcl.
        """
        name = next(
            (r.replacement for r in remaps if r.match == "__node" and r.node in (None, node_name)),
            node_name,
        )
        namespace = next(
            (r.replacement for r in remaps if r.match == "__ns" and r.node in (None, node_name)),
            "/",
        )
        if not TOKEN.fullmatch(name):
            raise ValueError(
                f"node name {name!r} (__node:=) must be letters, digits and _, not starting with "
                "a digit"
            )
        if not namespace.startswith("/") or topic_name_problem(namespace):
            raise ValueError(
                f"namespace {namespace!r} (__ns:=) must be an absolute name such as /front"
            )
        topics = tuple(r for r in remaps if r.match not in ("__node", "__ns"))
        for rule in topics:
            check_topic_name(rule.match)
            check_topic_name(rule.replacement)
        return cls(name, namespace, topics)

    @property
    def fully_qualified_name(self) -> str:
        return f"{self.namespace.rstrip('/')}/{self.node_name}"

    def resolve(self, topic: str) -> str:
        """Return the topic's expanded name after the first matching remapping rule."""
        expanded = expand(topic, self.node_name, self.namespace)
        for rule in self.remaps:
            if rule.node not in (None, self.node_name):
                continue
            if expand(rule.match, self.node_name, self.namespace) == expanded:
                return expand(rule.replacement, self.node_name, self.namespace)
        return expanded


@dataclass
class RosArgs:
    """What the DDS mode takes from ``--ros-args ... [--]``: remappings, parameters and files."""

    remaps: list[Remap] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    params_files: list[Path] = field(default_factory=list)


FLAGS_WITH_VALUE = {"-r": "remap", "--remap": "remap", "-p": "param", "--param": "param",
                    "--params-file": "params_file"}


def split_ros_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """
    Split ``argv`` into the program's own arguments and its ``--ros-args`` blocks.

    Return (the program's own arguments, every ``--ros-args ... [--]`` block with its markers).
    """
    own, ros, inside = [], [], False
    for arg in argv:
        if arg == "--ros-args":
            inside = True
            ros.append(arg)
        elif inside and arg == "--":
            inside = False
            ros.append(arg)
        elif inside:
            ros.append(arg)
        else:
            own.append(arg)
    return own, ros


def parse_ros_args(ros_args: list[str], node_name: str) -> RosArgs:
    """
    Return the remappings (-r), parameters (-p) and --params-file of the blocks.

    Read as rcl reads them (-p values typed as rcl types them); ValueError for what the DDS mode
    does not take.
    """
    parsed = RosArgs()
    args = [a for a in ros_args if a not in ("--ros-args", "--")]
    index = 0
    while index < len(args):
        flag = args[index]
        if flag not in FLAGS_WITH_VALUE:
            raise ValueError(
                f"--ros-args {flag}: the DDS mode takes -r/--remap, -p/--param and --params-file "
                f"(use --transport rclpy for the others)"
            )
        if index + 1 >= len(args):
            raise ValueError(f"--ros-args {flag} needs a value")
        value, kind = args[index + 1], FLAGS_WITH_VALUE[flag]
        if kind == "remap":
            parsed.remaps.append(Remap.parse(value))
        elif kind == "params_file":
            parsed.params_files.append(Path(value))
        else:
            if ":=" not in value:
                raise ValueError(f"--ros-args {flag} {value!r} must be name:=value")
            name, text = value.split(":=", 1)
            node, _, name = name.rpartition(":") if ":" in name else (None, "", name)
            if node in (None, "", node_name):
                # rcl parses -p values with its YAML rules
                parsed.params[name] = load_rcl_yaml(text)
        index += 2
    return parsed

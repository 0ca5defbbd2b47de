"""The packages' import graph has no circle (an import anywhere in a module counts, a function's
lazy one too; only ``if TYPE_CHECKING:`` blocks are left out, as they never run), cicld_ros's rooms
import only downwards (docs/layout.md), and every module imports on its own in a fresh interpreter
(those that need a ROS install are named and skipped)."""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cicld_core", "cicld_ros")
NEEDS_ROS = {"cicld_ros.transports.rclpy.rclpy_lifecycle_node"}  # imports rclpy at module level, by design
# the Blender renderer's bpy modules, importable where the optional extra is installed (pip install .[render])
NEEDS_BPY = {"cicld_core.synth.blender.cycles", "cicld_core.synth.blender.materials"}
HAVE_BPY = importlib.util.find_spec("bpy") is not None
# cicld_ros's rooms, bottom up (docs/layout.md): a room's modules import their own room, rooms of
# lower layers and cicld_core, never a room of their layer or above, nor the commands at the top
# (cicld_ros.node, .demo, .bag, .replay_eval: modules outside every room)
ROOM_LAYERS = (
    ("cicld_ros.messages", "cicld_ros.ros_rules"),
    # the node without a transport and the DDS transport side by side: neither imports the other
    ("cicld_ros.transports.dds", "cicld_ros.segmentation"),
    ("cicld_ros.transports.rclpy", "cicld_ros.bags"),
    ("cicld_ros.replay",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (``from . import x`` resolved to the module x when it is one)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in MODULES and c != name}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_circle():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    assert graph["cicld_ros.segmentation.core"] and graph["cicld_core.model"], "the scan found no imports"
    assert cycles(graph) == []


def room_of(name: str) -> str | None:
    """The room of cicld_ros holding module ``name``, or None (a command, or not cicld_ros)."""
    return next((room for layer in ROOM_LAYERS for room in layer if name == room or name.startswith(room + ".")),
                None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a room module into a room of its own layer or above, or into a command."""
    layer = {room: i for i, rooms in enumerate(ROOM_LAYERS) for room in rooms}
    found = []
    for name in sorted(graph):
        here = room_of(name)
        if here is None:
            continue  # a command (or cicld_core) may import any room
        for target in sorted(graph[name]):
            there = room_of(target)
            if target.startswith("cicld_ros") and there is None:
                found.append(f"{name} imports the command {target}")
            elif there is not None and there != here and layer[there] >= layer[here]:
                found.append(f"{name} ({here}) imports {target} ({there}), not a room below it")
    return found


def test_the_rooms_of_cicld_ros_import_only_downwards():
    graph = {name: imported_modules(name, path) for name, path in MODULES.items()}
    rooms = {room for layer in ROOM_LAYERS for room in layer}
    assert all(name in MODULES for name in rooms), "a room of ROOM_LAYERS is no package"
    outside = sorted(n for n in MODULES if n.startswith("cicld_ros.") and room_of(n) is None)
    assert outside == ["cicld_ros.bag", "cicld_ros.demo", "cicld_ros.node", "cicld_ros.replay_eval",
                       "cicld_ros.transports"], f"a module outside every room: {outside}"
    assert upward_imports(graph) == []
    room_graph = {room: {room_of(t) for n, ts in graph.items() if room_of(n) == room for t in ts} - {room, None}
                  for room in rooms}
    assert cycles(room_graph) == []


def test_the_room_check_finds_an_upward_import():
    graph = {"cicld_ros.messages.records": {"cicld_ros.segmentation.core"},
             "cicld_ros.bags.bag": {"cicld_ros.transports.rclpy.rclpy_node", "cicld_ros.messages.cdr"},
             "cicld_ros.replay.replay_eval": {"cicld_ros.node", "cicld_ros.bags.bag"},
             "cicld_ros.demo": {"cicld_ros.replay.replay_eval"}}
    assert upward_imports(graph) == [
        "cicld_ros.bags.bag (cicld_ros.bags) imports cicld_ros.transports.rclpy.rclpy_node "
        "(cicld_ros.transports.rclpy), not a room below it",
        "cicld_ros.messages.records (cicld_ros.messages) imports cicld_ros.segmentation.core "
        "(cicld_ros.segmentation), not a room below it",
        "cicld_ros.replay.replay_eval imports the command cicld_ros.node"]


def test_the_cycle_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_on_its_own():
    names = sorted(set(MODULES) - NEEDS_ROS - (set() if HAVE_BPY else NEEDS_BPY))
    code = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(name)\n    except Exception as error:\n"
            "        failed.append(f'{name}: {error!r}')\nprint('\\n'.join(failed))")
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", done.stdout

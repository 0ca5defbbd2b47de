"""The repository root is an ament_python package that colcon and pip can both install; its
package.xml declares exactly what the code imports; nothing in it points outside it."""
import ast
import configparser
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import runpy

import setuptools

ROOT = pathlib.Path(__file__).resolve().parents[1]


# top-level import -> its rosdep key (the ROS packages keep their names)
ROSDEP_KEYS = {"rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "sensor_msgs": "sensor_msgs",
               "diagnostic_msgs": "diagnostic_msgs", "vision_msgs": "vision_msgs", "launch": "launch", "launch_ros": "launch_ros",
               "ament_index_python": "ament_index_python", "numpy": "python3-numpy", "cv2": "python3-opencv",
               "yaml": "python3-yaml", "tqdm": "python3-tqdm", "PIL": "python3-pil",
               "matplotlib": "python3-matplotlib"}
# imports with no rosdep key on every distro: pip installs them (setup.py's install_requires)
PIP_ONLY = {"torch": "torch", "diffusers": "diffusers", "safetensors": "safetensors", "rosbags": "rosbags",
            "cyclonedds": "cyclonedds"}
# imported only where an optional feature is used, with a message when missing (bpy and its
# _cycles: the Blender renderer, setup.py's extra "render")
OPTIONAL = {"timm", "onnx", "onnxruntime", "onnxscript", "bpy", "_cycles"}


def absolute_imports(path: pathlib.Path) -> list[str]:
    """The modules a file imports by absolute name (``from . import x`` left out)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported by what colcon installs (cicld_ros, cicld_core, the launch file)."""
    found: dict[str, set[str]] = {}
    files = [*(ROOT / "cicld_ros").rglob("*.py"), *(ROOT / "cicld_core").rglob("*.py"), *(ROOT / "launch").glob("*.py")]
    for path in files:
        for name in absolute_imports(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("cicld_core", "cicld_ros", "__future__"):
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_package_xml_format_3_with_the_ros_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "cicld_ros"
    assert {e.text for e in root.findall("test_depend")} == {"ament_flake8", "ament_pep257", "python3-pytest"}
    assert root.find("export/build_type").text == "ament_python"


def test_package_xml_declares_exactly_what_the_code_imports(monkeypatch):
    imports = third_party_imports()
    assert {"rclpy", "rcl_interfaces", "ament_index_python", "matplotlib"} <= set(imports)  # the scan sees them
    unknown = set(imports) - set(ROSDEP_KEYS) - set(PIP_ONLY) - OPTIONAL
    assert not unknown, f"imported but neither a rosdep key nor a pip requirement: {unknown}"
    declared = {e.text for e in ET.parse(ROOT / "package.xml").getroot().findall("exec_depend")}
    wanted = {ROSDEP_KEYS[name] for name in imports if name in ROSDEP_KEYS}
    assert declared == wanted, f"missing {wanted - declared}, not imported {declared - wanted}"
    requirements = " ".join(_setup_kwargs(monkeypatch)["install_requires"])
    for name in set(imports) & set(PIP_ONLY):
        assert PIP_ONLY[name] in requirements, f"{name} is imported but not in setup.py"


# how files cite a section of the README or of a docs page: README, "Quick start" / docs/node.md, "The ROS 2 node"
CITATION = r'(README|docs/[a-z0-9_]+\.md), "([A-Z][^"]+)"'


def headings_of(page: pathlib.Path) -> list[str]:
    return [line.lstrip("#").strip() for line in page.read_text().splitlines() if re.match(r"#{1,3} ", line)]


def test_files_point_to_readme_and_docs_sections_that_exist():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    cited = [(name, page, section) for name in tracked if not name.endswith(".md") and _is_text(ROOT / name)
             for page, section in re.findall(CITATION, (ROOT / name).read_text())]
    assert any(name == "package.xml" for name, _, _ in cited)
    for name, page, section in cited:
        path = ROOT / ("README.md" if page == "README" else page)
        assert path.is_file(), f"{name} cites {page}, which does not exist"
        section = " ".join(section.replace("#", " ").split())  # a citation may wrap over comment lines
        assert any(h.startswith(section) for h in headings_of(path)), \
            f"{name} cites {page} section {section!r}: not found"


def _is_text(path: pathlib.Path) -> bool:
    try:
        return path.is_file() and b"\0" not in path.read_bytes()[:4096] and bool(path.read_text())
    except UnicodeDecodeError:
        return False


def test_nothing_in_the_repository_points_outside_it():
    outside = ["../" + "shared", "DESIGN" + ".md"]  # split so this file does not match itself
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [name for name in tracked if _is_text(ROOT / name)]
    assert "README.md" in texts and "docs/design.md" in texts
    for name in texts:
        if name == ".ci/run":  # the one file allowed to (it finds the shared data sets of the CI machine)
            continue
        text = (ROOT / name).read_text()
        for pattern in outside:
            assert pattern not in text, f"{name} points outside the repository: {pattern}"
    readme = (ROOT / "README.md").read_text()
    assert "docs/design.md" in readme


def _setup_kwargs(monkeypatch) -> dict:
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.chdir(ROOT)  # the data_files globs are relative, as under colcon
    runpy.run_path(str(ROOT / "setup.py"))
    return captured


def test_setup_installs_both_packages_and_ament_data_files(monkeypatch):
    dist = _setup_kwargs(monkeypatch)
    assert dist["name"] == "cicld_ros"
    assert {"cicld_core", "cicld_core.data", "cicld_core.synth", "cicld_ros"} <= set(dist["packages"])
    data = dict(dist["data_files"])
    assert data["share/ament_index/resource_index/packages"] == ["resource/cicld_ros"]
    assert (ROOT / "resource/cicld_ros").is_file()
    assert data["share/cicld_ros"] == ["package.xml"]
    assert "share/cicld_ros/launch" in data and "share/cicld_ros/config" in data
    assert "pytest" in " ".join(dist["extras_require"]["test"])
    assert dist["extras_require"]["render"] == ["bpy==4.5.*"]  # the Blender renderer, optional (GPL)
    # torch stays a range so a CUDA build the user installed first is kept.
    torch_req = [r for r in dist["install_requires"] if r.startswith("torch")]
    assert torch_req and "==" not in torch_req[0]


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/cicld_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/cicld_ros"


def test_cicld_core_never_imports_ros():
    ros_modules = {"rclpy", "rosbags", "cyclonedds", "sensor_msgs", "std_msgs", "cv_bridge", "rcl_interfaces",
                   "launch", "launch_ros", "ament_index_python", "cicld_ros"}
    for path in (ROOT / "cicld_core").rglob("*.py"):
        for name in absolute_imports(path):
            assert name.split(".")[0] not in ros_modules, f"{path} imports {name}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash test.sh" in readme and "bash demo.sh" in readme
    assert "bash test.sh" in (ROOT / ".ci/run").read_text()

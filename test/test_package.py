"""The repository root is an ament_python package that colcon and pip can both install."""
import ast
import configparser
import pathlib
import xml.etree.ElementTree as ET

import runpy

import setuptools

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_package_xml_format_3_with_the_ros_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "cicld_ros"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "std_msgs", "cv_bridge", "sensor_msgs_py",
            "diagnostic_msgs", "launch", "launch_ros"} <= exec_deps
    assert {e.text for e in root.findall("test_depend")} >= {"python3-pytest", "launch_testing"}
    assert root.find("export/build_type").text == "ament_python"


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
    # torch stays a range so a CUDA build the user installed first is kept.
    torch_req = [r for r in dist["install_requires"] if r.startswith("torch")]
    assert torch_req and "==" not in torch_req[0]


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/cicld_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/cicld_ros"


def test_cicld_core_never_imports_ros():
    ros_modules = {"rclpy", "rosbags", "cyclonedds", "sensor_msgs", "std_msgs", "cv_bridge",
                   "launch", "launch_ros", "cicld_ros"}
    for path in (ROOT / "cicld_core").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in ros_modules, f"{path} imports {name}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash test.sh" in readme and "bash demo.sh" in readme
    assert "bash test.sh" in (ROOT / ".ci/run").read_text()

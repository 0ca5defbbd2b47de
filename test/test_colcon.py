"""Real colcon from PyPI builds the package in a temporary workspace, as on a ROS 2 machine.

1. With the project venv's colcon (scripts/setup_env.sh installs it): ``colcon build
   --packages-select cicld_ros`` makes the install tree ``ros2 run`` / ``ros2 launch`` use,
   and every module imports from that tree.
2. The README's install steps under PEP 668: a venv made with --system-site-packages (the
   ROS 2 Python packages, numpy and yaml of the system stay visible), colcon pip-installed
   into it, colcon run from it; the installed segment_node runs on that venv's Python.

No ROS 2 install is possible here, so rclpy itself is never imported: the node answers
``--help`` before importing it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ["setup.py", "setup.cfg", "package.xml", "README.md", "resource", "launch", "config", "cicld_core",
                 "cicld_ros"]
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"

try:
    import colcon_core  # noqa: F401
    COLCON = Path(sys.executable).parent / "colcon"
except ImportError:
    COLCON = None


def colcon_pins() -> list[str]:
    """The pinned colcon requirements of scripts/setup_env.sh."""
    found = re.search(r'^colcon_spec="([^"]+)"', (REPO / "scripts/setup_env.sh").read_text(), re.MULTILINE)
    assert found, "scripts/setup_env.sh has no colcon_spec line"
    return found.group(1).split()


def workspace(root: Path) -> Path:
    """A colcon workspace with the package in src/cicld_ros: its files git tracks or would (not the ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *PACKAGE_FILES],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    source = root / "src/cicld_ros"
    for name in (name for name in listed if (REPO / name).is_file()):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    return root


def colcon_build(colcon: list[str], ws: Path, env: dict[str, str]) -> Path:
    done = subprocess.run([*colcon, "build", "--packages-select", "cicld_ros", "--base-paths", "src"], cwd=ws,
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return ws / "install/cicld_ros"


def check_install_tree(prefix: Path) -> Path:
    """What ros2 run / ros2 launch look for; returns the installed site-packages."""
    node = prefix / "lib/cicld_ros/segment_node"
    assert node.is_file() and os.access(node, os.X_OK)
    for name in ("share/cicld_ros/package.xml", "share/cicld_ros/launch/segment.launch.py",
                 "share/cicld_ros/config/segment.yaml", "share/ament_index/resource_index/packages/cicld_ros"):
        assert (prefix / name).is_file(), name
    site = prefix / "lib" / PY / "site-packages"
    for module in ("cicld_ros/segmentation/lifecycle.py", "cicld_ros/transports/rclpy/rclpy_node.py",
                   "cicld_ros/transports/rclpy/launch_args.py", "cicld_core/model/engine.py"):
        assert (site / module).is_file(), module
    return site


def run_installed_node(prefix: Path, site: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(prefix / "lib/cicld_ros/segment_node"), "--help"], capture_output=True, text=True,
                          timeout=120, env=env | {"PYTHONPATH": str(site)}, cwd=prefix)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--no-autostart" in done.stdout and "lifecycle" in done.stdout
    return done.stdout


@pytest.mark.skipif(COLCON is None, reason="colcon is not importable: run scripts/setup_env.sh, which installs it")
def test_colcon_builds_the_package_and_its_modules_import_from_the_install_tree(tmp_path):
    ws = workspace(tmp_path / "ws")
    prefix = colcon_build([str(COLCON)], ws, dict(os.environ))
    site = check_install_tree(prefix)
    assert (prefix / "lib/cicld_ros/segment_node").read_text().startswith(f"#!{sys.executable}"[:-1])
    run_installed_node(prefix, site, dict(os.environ))
    modules = ["cicld_ros.segmentation.lifecycle", "cicld_ros.transports.rclpy.rclpy_node", "cicld_ros.node",
               "cicld_ros.segmentation.core", "cicld_ros.bags.bag", "cicld_ros.bags.bag_reader",
               "cicld_ros.transports.rclpy.launch_args", "cicld_core.model.engine"]
    code = ("import importlib, sys; mods = [importlib.import_module(m) for m in sys.argv[1:]]; "
            "print('\\n'.join(m.__file__ for m in mods))")
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=os.environ | {"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(path.startswith(str(site)) for path in done.stdout.split()), done.stdout  # not the checkout


def base_python() -> str:
    """The interpreter this venv was made from: the stand-in for a ROS 2 machine's system Python."""
    return getattr(sys, "_base_executable", sys.executable)


@pytest.mark.skipif(COLCON is None, reason="colcon is not importable: run scripts/setup_env.sh, which installs it")
def test_the_readme_steps_under_pep_668_a_system_site_packages_venv_with_colcon(tmp_path):
    ros_venv = tmp_path / "cicld-venv"
    created = subprocess.run([base_python(), "-m", "venv", "--system-site-packages", str(ros_venv)],
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    python = ros_venv / "bin/python"
    assert "include-system-site-packages = true" in (ros_venv / "pyvenv.cfg").read_text()
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", *colcon_pins()], capture_output=True,
                               text=True, timeout=600)
    unreachable = ("No matching distribution", "Could not find a version", "Failed to establish a new connection")
    if installed.returncode != 0 and any(text in installed.stderr for text in unreachable):
        pytest.skip(f"colcon cannot be installed from PyPI here: {installed.stderr[-500:]}")
    assert installed.returncode == 0, installed.stderr[-3000:]

    ws = workspace(tmp_path / "ws")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    prefix = colcon_build([str(python), "-m", "colcon"], ws, env)
    site = check_install_tree(prefix)
    shebang = (prefix / "lib/cicld_ros/segment_node").read_text().splitlines()[0]
    assert shebang.startswith(f"#!{ros_venv}/bin/python"), shebang  # ros2 run starts the venv's Python
    run_installed_node(prefix, site, env)
    # the system's numpy and yaml (python3-numpy, python3-yaml on Ubuntu) are seen from the venv
    done = subprocess.run([str(python), "-c", "import numpy, yaml, cicld_ros.transports.rclpy.launch_args, "
                                              "cicld_ros.transports.rclpy.rclpy_node"],
                          capture_output=True, text=True, timeout=120, env=env | {"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr[-3000:]


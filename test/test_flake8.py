"""ament_flake8 on the ROS package (cicld_ros, launch, setup.py), as ``colcon test`` runs it.

cicld_core, train, benchmarks and test are not part of the ROS package's lint scope. Without a
ROS 2 install (no ament_flake8) the test is skipped.
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / "cicld_ros"), str(ROOT / "launch"), str(ROOT / "setup.py")]
# ament_flake8's settings with the two this repository's style differs in (setup.cfg says which)
CONFIG = ["--config", str(ROOT / "setup.cfg")]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    ament_flake8 = pytest.importorskip(
        "ament_flake8.main", reason="ament_flake8 comes with ROS 2 (ros-<distro>-ament-flake8)")
    rc, errors = ament_flake8.main_with_errors(argv=CONFIG + PATHS)
    assert rc == 0, f"Found {len(errors)} code style errors / warnings:\n" + "\n".join(errors)

"""ament_pep257 on the ROS package (cicld_ros, launch, setup.py), as ``colcon test`` runs it.

cicld_core, train, benchmarks and test are not part of the ROS package's lint scope. Without a
ROS 2 install (no ament_pep257) the test is skipped.
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = [str(ROOT / "cicld_ros"), str(ROOT / "launch"), str(ROOT / "setup.py")]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(capsys):
    ament_pep257 = pytest.importorskip(
        "ament_pep257.main", reason="ament_pep257 comes with ROS 2 (ros-<distro>-ament-pep257)")
    rc = ament_pep257.main(argv=PATHS)
    errors = capsys.readouterr().err.splitlines()  # one line per finding, then the count
    assert rc == 0, "Found docstring style errors:\n" + "\n".join(errors)

"""Print the requirements a setup.py declares (install_requires plus the named extras), one per
line, without installing the package: scripts/setup_jazzy.sh installs them into the ROS 2 venv,
where the package itself comes from a colcon workspace."""
import sys
from pathlib import Path
from unittest import mock

import setuptools


def requirements(setup_py: Path, extras: list[str]) -> list[str]:
    with mock.patch.object(setuptools, "setup") as setup:
        code = compile(setup_py.read_text(), str(setup_py), "exec")
        exec(code, {"__name__": "__main__", "__file__": str(setup_py)})
    declared = setup.call_args.kwargs
    found = list(declared.get("install_requires", []))
    for extra in extras:
        found += declared.get("extras_require", {})[extra]
    return found


if __name__ == "__main__":
    print("\n".join(requirements(Path(sys.argv[1]), sys.argv[2:])))

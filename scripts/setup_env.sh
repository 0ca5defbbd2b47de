#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs the
# package with its test extras. Sourced by demo.sh and test.sh; safe to run repeatedly:
# it reinstalls only when setup.py changed.
#
#   CICLD_PYTHON      interpreter to build the venv from (default: python3)
#   CICLD_TORCH_SPEC  torch requirement installed first (default: torch==2.13.0, the CPU
#                     wheel; on a GPU machine install your CUDA build into .venv first,
#                     or set e.g. CICLD_TORCH_SPEC="torch==2.13.0" with your index)
#   CICLD_VENV        venv folder (default: <repo>/.venv)
#   CICLD_RENDER=1    also install the Blender renderer's optional extra (setup.py's RENDER_REQUIRES,
#                     bpy, GPL, 373 MB, Python 3.11 only) without its declared dependencies: it pins
#                     numpy<2, which would change the 2D generator's frames (docs/data.md, "The Blender renderer")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CICLD_VENV:-$repo/.venv}"
python="${CICLD_PYTHON:-python3}"
torch_spec="${CICLD_TORCH_SPEC:-torch==2.13.0}"
# colcon from PyPI, as a ROS 2 machine's venv gets it (docs/install.md, "On a ROS 2 machine"); the tests build the
# package with it (test/test_colcon.py reads these pins)
colcon_spec="colcon-core==0.21.3 colcon-common-extensions==0.3.0"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.10+ or set CICLD_PYTHON" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.cicld-installed"
render="${CICLD_RENDER:-0}"
want="$( (cat "$repo/setup.py" "$repo/scripts/setup_env.sh"; echo "render=$render") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Quiet but not silent: pip's progress would flood CI logs, its errors still show.
  if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "[setup] installing $torch_spec"
    "$venv/bin/python" -m pip install -q "$torch_spec"
  fi
  echo "[setup] installing cicld_ros with test extras (pip install -e .[test])"
  "$venv/bin/python" -m pip install -q -e "$repo[test]"
  echo "[setup] installing colcon ($colcon_spec)"
  # shellcheck disable=SC2086 # one requirement per word
  "$venv/bin/python" -m pip install -q $colcon_spec
  if [ "$render" = "1" ]; then
    render_spec="$(sed -n 's/^RENDER_REQUIRES = \["\(.*\)"\]$/\1/p' "$repo/setup.py")"
    echo "[setup] installing the Blender renderer's extra ($render_spec, without its numpy<2 pin)"
    "$venv/bin/python" -m pip install -q --no-deps "$render_spec"
  fi
  echo "$want" > "$stamp"
fi

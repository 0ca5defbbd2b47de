#!/usr/bin/env bash
# Builds (first run only) a real ROS 2 Jazzy in a venv without an apt ROS install, installs the
# project's dependencies into it, colcon-builds this package into a workspace and writes an env
# file that puts all of it on the path. Sourced by .ci/run and scripts/test_ros2.sh; safe to run
# repeatedly.
#
#   CICLD_JAZZY_SRC   folder with build_jazzy_venv.sh and the Jazzy sources it needs
#                     (required on first use; a ROS 2 Jazzy recipe kept outside this repository)
#   CICLD_CACHE       where the venv is kept between clones (default: ~/.cache/cicld); its name
#                     carries a hash of CICLD_JAZZY_SRC's content, so a changed recipe builds anew
#   CICLD_ROS_WS      colcon workspace for this clone (default: <repo>/.ros2_ws, git-ignored)
#
# Afterwards: source "$ros_env" gives PATH, AMENT_PREFIX_PATH, LD_LIBRARY_PATH, PYTHONPATH,
# RMW_IMPLEMENTATION and ROS_AUTOMATIC_DISCOVERY_RANGE as a ROS 2 Jazzy shell has them.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${CICLD_JAZZY_SRC:?set CICLD_JAZZY_SRC to the folder holding build_jazzy_venv.sh}"
src="$(cd "$src" && pwd)"
cache="${CICLD_CACHE:-$HOME/.cache/cicld}"
key="$(cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
jazzy_venv="$cache/jazzy-$key"
ros_ws="${CICLD_ROS_WS:-$repo/.ros2_ws}"
ros_env="$ros_ws/env.sh"
# the same pins as scripts/setup_env.sh; pytest < 9: launch_testing's pytest plugin does not load in 9
torch_spec="${CICLD_TORCH_SPEC:-torch==2.13.0}"
colcon_spec="colcon-core==0.21.3 colcon-common-extensions==0.3.0"

if [ ! -f "$jazzy_venv/.cicld-ready" ]; then
  echo "[jazzy] building ROS 2 Jazzy into $jazzy_venv (first run on this machine: several minutes)"
  rm -rf "$jazzy_venv"
  mkdir -p "$cache"
  started=$SECONDS
  bash "$src/build_jazzy_venv.sh" "$jazzy_venv" > "$cache/jazzy-$key.log" 2>&1 \
    || { tail -30 "$cache/jazzy-$key.log" >&2; echo "error: the Jazzy build failed (log: $cache/jazzy-$key.log)" >&2; exit 1; }
  touch "$jazzy_venv/.cicld-ready"
  echo "[jazzy] built in $((SECONDS - started)) s"
fi
deps_stamp="$jazzy_venv/.cicld-deps"
want="$(cat "$repo/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$deps_stamp" 2>/dev/null)" != "$want" ]; then
  echo "[jazzy] installing the project's dependencies and colcon into the Jazzy venv"
  if ! "$jazzy_venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    "$jazzy_venv/bin/python" -m pip install -q "$torch_spec"
  fi
  # the dependencies only: the package itself comes from the colcon workspace of each clone
  requirements="$("$jazzy_venv/bin/python" "$repo/scripts/requirements_of.py" "$repo/setup.py" test)"
  # shellcheck disable=SC2086 # one requirement per line
  "$jazzy_venv/bin/python" -m pip install -q $requirements "pytest<9" $colcon_spec
  echo "$want" > "$deps_stamp"
fi

export PATH="$jazzy_venv/bin:$PATH" AMENT_PREFIX_PATH="$jazzy_venv" CMAKE_PREFIX_PATH="$jazzy_venv"
export LD_LIBRARY_PATH="$jazzy_venv/lib:${LD_LIBRARY_PATH:-}"
echo "[jazzy] colcon build of cicld_ros into $ros_ws"
mkdir -p "$ros_ws/src"
ln -sfn "$repo" "$ros_ws/src/cicld_ros"
(cd "$ros_ws" && colcon build --symlink-install --packages-select cicld_ros --base-paths src \
   > "$ros_ws/colcon_build.log" 2>&1) \
  || { tail -30 "$ros_ws/colcon_build.log" >&2; echo "error: colcon build failed (log: $ros_ws/colcon_build.log)" >&2; exit 1; }
cat > "$ros_env" <<EOF
# written by scripts/setup_jazzy.sh: a ROS 2 Jazzy shell with cicld_ros built into it
export PATH="$jazzy_venv/bin:\$PATH" AMENT_PREFIX_PATH="$jazzy_venv" CMAKE_PREFIX_PATH="$jazzy_venv"
export LD_LIBRARY_PATH="$jazzy_venv/lib:\${LD_LIBRARY_PATH:-}"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export CICLD_JAZZY_VENV="$jazzy_venv"
source "$ros_ws/install/setup.bash"
EOF
echo "[jazzy] ready: source $ros_env"

#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the main job. Extra arguments go to the demo
# (see `bash demo.sh --help`).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$repo/scripts/setup_env.sh"
cd "$repo"
exec "$venv/bin/python" -m cicld_ros.demo "$@"

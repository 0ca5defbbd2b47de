#!/usr/bin/env bash
# Sets up .venv (first run only) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$repo/scripts/setup_env.sh"
cd "$repo"
exec "$venv/bin/python" -m pytest -q test "$@"

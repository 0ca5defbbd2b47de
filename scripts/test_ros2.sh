#!/usr/bin/env bash
# The real-ROS test tier (test/ros2, issue 32): a ROS 2 Jazzy venv (scripts/setup_jazzy.sh builds
# it once per machine and colcon-builds this clone into .ros2_ws), then pytest on test/ros2 there
# with CICLD_REQUIRE_ROS=1, so a missing ROS fails instead of skipping. It fails as well when the
# tier ran no test or skipped one: CI must not pass by running nothing. Extra arguments go to pytest.
#
#   CICLD_JAZZY_SRC   the folder with build_jazzy_venv.sh (needed the first time on a machine;
#                     .ci/run sets it); see scripts/setup_jazzy.sh for CICLD_CACHE and CICLD_ROS_WS
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source "$repo/scripts/setup_jazzy.sh"
# colcon's setup.bash reads unset variables (COLCON_TRACE): not under set -u
set +u
# shellcheck disable=SC1090 # written by setup_jazzy.sh
source "$ros_env"
set -u
report="$(mktemp -d)/ros2_tier.xml"
started=$SECONDS
status=0
# launch_testing's pytest plugins come with the Jazzy venv and are not needed here (and do not
# load under pytest 9); ros2 verbs use no daemon (the tier passes --no-daemon), nothing stays up
# the ament linters run here too: only this venv has ament_flake8 and ament_pep257 (colcon test runs them)
CICLD_REQUIRE_ROS=1 python -m pytest -q -rfEs test/ros2 test/test_flake8.py test/test_pep257.py -p no:launch_testing -p no:launch_pytest -p no:launch_ros \
  --junitxml="$report" "$@" || status=$?
python - "$report" "$status" <<'PY'
import sys
import xml.etree.ElementTree as ET

report, status = sys.argv[1], int(sys.argv[2])
try:
    suite = ET.parse(report).getroot()
except (OSError, ET.ParseError) as error:
    sys.exit(f"[ros2 tier] no test report ({error}): the tier did not run")
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
if tests == 0:
    sys.exit("[ros2 tier] FAILED: no test ran")
if skipped:
    sys.exit(f"[ros2 tier] FAILED: {skipped} of {tests} tests skipped; in CI every test of the tier must run")
if status == 0:
    print(f"[ros2 tier] {tests} tests ran, none skipped")
PY
echo "[ros2 tier] $((SECONDS - started)) s"
exit "$status"

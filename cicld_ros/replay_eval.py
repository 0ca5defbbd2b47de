"""
The command's old name ``python -m cicld_ros.replay_eval``, kept.

The code is cicld_ros/replay/replay_eval.py.
"""
import sys

from .replay.replay_eval import main

if __name__ == "__main__":
    sys.exit(main())

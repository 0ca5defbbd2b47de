"""``python -m cicld_ros.bag``: the command's old name, kept; the code is cicld_ros/bags/bag.py."""
import sys

from .bags.bag import main

if __name__ == "__main__":
    sys.exit(main())

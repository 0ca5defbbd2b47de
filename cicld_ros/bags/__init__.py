"""
rosbag2 files.

Writing a drive with camera, ground truth and LiDAR (bag.py, the ``python -m cicld_ros.bag``
command; bag_lidar.py) and reading one back (bag_reader.py).
"""

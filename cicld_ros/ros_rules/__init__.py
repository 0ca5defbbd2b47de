"""
ROS 2's rules re-stated without ROS, so both transports follow one set.

Topic names, remapping and ``--ros-args`` as rcl resolves them (ros_names.py), parameter files and
parameter types as rcl and rclpy read them (ros_params.py). Imports nothing else of cicld_ros.
"""

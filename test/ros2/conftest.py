"""The real-ROS tier (issue 32): the node under a real ROS 2 (rclpy, Fast DDS, ros2 launch and
the ros2 verbs), each module with its own ROS domain and its own node processes.

Every module calls ros_tier.require_ros() first: without ROS 2 (the project venv, `bash
test.sh`) it skips and says why; with CICLD_REQUIRE_ROS=1 (scripts/test_ros2.sh, CI) that is a
failure, so the tier cannot pass by running nothing. Run it: bash scripts/test_ros2.sh.
"""

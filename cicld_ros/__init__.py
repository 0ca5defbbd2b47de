"""CICLD ROS 2: the segmentation node and its transports (rclpy and ROS-free DDS)."""

__version__ = "0.1.0"

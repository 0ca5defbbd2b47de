"""
The node's two transports.

``dds`` (ROS-free, Cyclone DDS speaking the ROS 2 wire protocol; the core is handed one) and
``rclpy`` (a ROS 2 lifecycle node that wraps the core).
"""

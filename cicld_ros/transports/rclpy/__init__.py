"""
The rclpy transport.

The ``segment_node`` command (rclpy_node.py), its lifecycle node class (rclpy_lifecycle_node.py,
the only module that imports rclpy when imported), the adapter pieces (rclpy_adapter.py) and the
launch file's arguments (launch_args.py).
"""

"""
The messages the node reads and writes, without any transport.

Plain records of the ROS 2 messages (records.py, pointcloud.py), their CDR bytes (cdr.py, what DDS
carries and rosbag2 stores), their rclpy objects (rclpy_messages.py, rclpy imported only inside),
images to and from arrays (image_codec.py), and the one registry of message kinds both transports
read (message_kinds.py). Imports nothing else of cicld_ros.
"""

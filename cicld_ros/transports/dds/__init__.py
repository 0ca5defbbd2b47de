"""
The node's ROS-free transport.

The ROS 2 wire protocol (rt/ topics, ROS 2 type names, XCDR1 CDR) over Cyclone DDS, with a fast
path that writes CDR bytes directly.
"""

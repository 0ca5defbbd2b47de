"""The node's ROS-free transport: the ROS 2 wire protocol (rt/ topics, ROS 2 type names,
XCDR1 CDR) over Cyclone DDS, with a fast path that writes CDR bytes directly."""

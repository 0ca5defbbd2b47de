"""
The segmentation node without a transport.

The core that turns camera frames into outputs (core.py, node_outputs.py, latest_frames.py), its
point cloud painting stage (cloud_painter.py, painting_params.py), its parameters (params.py),
managed states (lifecycle.py) and diagnostics (diagnostics.py). A transport is handed to it: it
imports neither transport (only the topic-name check of transports/dds/config.py, which loads no
DDS).
"""

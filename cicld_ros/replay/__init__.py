"""
Driving the node or the model with a bag and scoring it.

Replay evaluation (replay_eval.py, the ``python -m cicld_ros.replay_eval`` command;
replay_points.py for the point scores), the node in its own process (node_process.py) and the
painting half of the demo (painting_demo.py).
"""

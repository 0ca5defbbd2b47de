"""CICLD core: model, training, data and metrics. Never imports ROS."""

__version__ = "0.1.0"

"""ros2 launch cicld_ros segment.launch.py [checkpoint:=...] [image_topic:=...] [steps:=K] ...

Starts the CICLD segmentation node with config/segment.yaml (or params_file:=...), and
applies only the launch arguments you give on top of it.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from cicld_ros.launch_args import LAUNCH_ARGUMENTS, parameter_overrides


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, default)
              for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    params_file = values["params_file"] or os.path.join(
        get_package_share_directory("cicld_ros"), "config", "segment.yaml")
    return [Node(
        package="cicld_ros", executable="segment_node", name="segment_node", namespace=values["namespace"],
        parameters=[params_file, parameter_overrides(values)], output="screen", emulate_tty=True,
    )]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, (default, description) in LAUNCH_ARGUMENTS.items()]
        + [OpaqueFunction(function=launch_setup)]
    )

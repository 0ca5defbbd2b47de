"""
Launch the CICLD segmentation node.

    ros2 launch cicld_ros segment.launch.py [checkpoint:=...] [image_topic:=...]
        [namespace:=...] [steps:=K] [autostart:=false] ...

Starts the CICLD segmentation node, a lifecycle node, with config/segment.yaml (or
params_file:=...), and applies only the launch arguments you give on top of it. With
autostart:=true (the default) the node configures and activates itself, so it segments
after this one command; with autostart:=false it waits unconfigured for
``ros2 lifecycle set /segment_node configure`` and ``activate`` (or a lifecycle manager).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import LifecycleNode

from cicld_ros.transports.rclpy.launch_args import (
    LAUNCH_ARGUMENTS,
    node_arguments,
    parameter_overrides,
    params_file_path,
)


def launch_setup(context, *args, **kwargs):
    values = {name: context.launch_configurations.get(name, default)
              for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    # a params_file:= that is not a file stops the launch here, naming it (launch_ros would only
    # warn)
    params_file = params_file_path(
        values, os.path.join(get_package_share_directory("cicld_ros"), "config", "segment.yaml")
    )
    return [
        LifecycleNode(
            package="cicld_ros",
            executable="segment_node",
            name="segment_node",
            namespace=values["namespace"],
            parameters=[params_file, parameter_overrides(values)],
            arguments=node_arguments(values),
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, (default, description) in LAUNCH_ARGUMENTS.items()]
        + [OpaqueFunction(function=launch_setup)]
    )

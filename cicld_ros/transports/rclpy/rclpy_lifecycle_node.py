"""
The ROS 2 lifecycle node class (rclpy.lifecycle.LifecycleNode).

At the top level, as ROS 2 perception nodes keep theirs. It imports rclpy when it is imported:
cicld_ros.transports.rclpy.rclpy_node imports it only once ROS is there (``segment_node --help``
answers without ROS).
"""
from __future__ import annotations

from typing import Callable

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from ...ros_rules.ros_params import type_fix
from ...segmentation.core import SegmentationNode, StartupError
from ...segmentation.lifecycle import ManagedNode
from ...segmentation.painting_params import declared_painting
from ...segmentation.params import NODE_NAME
from .rclpy_adapter import (
    ParameterChanges,
    RclpyTransport,
    declare_parameters,
    read_parameters,
    run_transition,
)


class SegmentLifecycleNode(LifecycleNode):
    """
    The segmentation node as a ROS 2 managed node.

    Each transition callback runs the shared state machine
    (cicld_ros.segmentation.lifecycle.ManagedNode), so rclpy and DDS mode go through the same
    states.
    """

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.parameter_problems = declare_parameters(self)
        self.managed = ManagedNode(self._make_core, self.get_logger())
        post_set = getattr(self, "add_post_set_parameters_callback", None)  # Jazzy on
        self.changes = ParameterChanges(
            self.managed, self.parameter_problems, apply_in_check=post_set is None
        )
        self.add_on_set_parameters_callback(self._on_set)
        if post_set is not None:
            post_set(lambda parameters: self.changes.apply({p.name: p.value for p in parameters}))
        for problem in self.parameter_problems.values():
            self.get_logger().error(f"parameter {problem}")

    def _make_core(self) -> SegmentationNode:
        if self.parameter_problems:
            raise StartupError(
                "parameters of the wrong type (set them right with ros2 param set, or fix the "
                "parameter file and restart): " + "; ".join(self.parameter_problems.values())
            )
        return SegmentationNode(read_parameters(self), RclpyTransport(self), log=self.get_logger(),
                                clock=lambda: self.get_clock().now().nanoseconds * 1e-9,
                                painting=declared_painting(self._declared))

    def _declared(self, name: str, default):
        """
        Return a painting parameter's value, declared at the first configure.

        Configure reads it.
        """
        if not self.has_parameter(name):
            try:
                self.declare_parameter(name, default, ParameterDescriptor())
            except InvalidParameterTypeException as error:
                raise ValueError(f"{error} ({type_fix(default)})") from None
        return self.get_parameter(name).value

    def _on_set(self, parameters) -> SetParametersResult:
        problem = self.changes.check({p.name: p.value for p in parameters})
        return SetParametersResult(successful=problem is None, reason=problem or "")

    def _run(self, name: str, transition: Callable[[], None]) -> TransitionCallbackReturn:
        return getattr(
            TransitionCallbackReturn, run_transition(name, transition, self.get_logger())
        )

    def on_configure(self, state) -> TransitionCallbackReturn:
        return self._run("configure", self.managed.configure)

    def on_activate(self, state) -> TransitionCallbackReturn:
        return self._run("activate", self.managed.activate)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        return self._run("deactivate", self.managed.deactivate)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        return self._run("cleanup", self.managed.cleanup)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        return self._run("shutdown", self.managed.shutdown)

    def on_error(self, state) -> TransitionCallbackReturn:
        self.managed.reset()  # a callback raised: free everything, back to unconfigured
        return TransitionCallbackReturn.SUCCESS

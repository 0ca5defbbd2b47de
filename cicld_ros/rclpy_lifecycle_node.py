"""The ROS 2 lifecycle node class (rclpy.lifecycle.LifecycleNode), at the top level as ROS 2
perception nodes keep theirs. It imports rclpy when it is imported: cicld_ros.rclpy_node imports
it only once ROS is there (``segment_node --help`` answers without ROS)."""
from __future__ import annotations

from typing import Callable

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from .core import SegmentationNode
from .lifecycle import ManagedNode, TransitionError
from .painting_params import declared_painting
from .params import FIELDS, NODE_NAME, configured_change_problem
from .rclpy_node import RclpyTransport, declare_parameters, read_parameters


class SegmentLifecycleNode(LifecycleNode):
    """The segmentation node as a ROS 2 managed node: each transition callback runs the shared
    state machine (cicld_ros.lifecycle.ManagedNode), so rclpy and DDS mode go through the same states."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        declare_parameters(self)
        self.managed = ManagedNode(self._make_core, self.get_logger())
        self.add_on_set_parameters_callback(self._on_set)

    def _make_core(self) -> SegmentationNode:
        return SegmentationNode(read_parameters(self), RclpyTransport(self), log=self.get_logger(),
                                clock=lambda: self.get_clock().now().nanoseconds * 1e-9,
                                painting=declared_painting(self._declared))

    def _declared(self, name: str, default):
        """A painting parameter's value, declared at the first configure (configure reads it)."""
        if not self.has_parameter(name):
            self.declare_parameter(name, default, ParameterDescriptor())
        return self.get_parameter(name).value

    def _on_set(self, parameters) -> SetParametersResult:
        if self.managed.core is None:  # unconfigured: configure reads (and checks) them
            return SetParametersResult(successful=True)
        problem = configured_change_problem(p.name for p in parameters)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        try:
            self.managed.core.set_params({p.name: p.value for p in parameters if p.name in FIELDS})
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _run(self, transition: Callable[[], None]) -> TransitionCallbackReturn:
        try:
            transition()
        except TransitionError as error:
            self.get_logger().error(str(error))
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state) -> TransitionCallbackReturn:
        return self._run(self.managed.configure)

    def on_activate(self, state) -> TransitionCallbackReturn:
        return self._run(self.managed.activate)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        return self._run(self.managed.deactivate)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        return self._run(self.managed.cleanup)

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        return self._run(self.managed.shutdown)

    def on_error(self, state) -> TransitionCallbackReturn:
        self.managed.reset()  # a callback raised: free everything, back to unconfigured
        return TransitionCallbackReturn.SUCCESS

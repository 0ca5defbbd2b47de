"""
The ROS 2 adapter pieces the lifecycle node is made of.

The lifecycle node is cicld_ros.transports.rclpy.rclpy_lifecycle_node; its pieces are the core's
transport under rclpy, the parameters declared and read, transitions run and parameter changes
checked. rclpy and the message packages are imported where used, so this imports without ROS.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

from ...messages import message_kinds as kinds

# .params (and through it torch) is imported where used, so `segment_node --help` answers at once


class RclpyTransport:
    """
    The core's transport under rclpy.

    Each message kind's rclpy class and conversions come from the registry
    (cicld_ros.messages.message_kinds); a kind not there is refused with an error.
    """

    def __init__(self, node: Any) -> None:
        self.node = node

    @property
    def node_name(self) -> str:
        """Return the node's full name: its namespace and a __node remapping applied."""
        return self.node.get_fully_qualified_name()

    def resolve(self, topic: str) -> str:
        """
        Return what rcl makes of ``topic`` for this node.

        Namespace, ~ and remappings (rclpy's Node.resolve_topic_name, humble and jazzy).
        """
        try:
            return self.node.resolve_topic_name(topic)
        except (
            Exception
        ) as error:  # noqa: BLE001 - rclpy raises its own error types for an invalid name
            raise ValueError(str(error)) from None

    def publisher(
        self,
        topic: str,
        kind: str,
        reliable: bool = True,
        depth: int = 5,
        transient_local: bool = False,
    ):
        # before rclpy: an unknown kind is an error anywhere
        message_kind = kinds.message_kind(kind)
        qos = qos_profile(reliable, depth, transient_local)
        ros_publisher = self.node.create_publisher(message_kind.rclpy_class(), topic, qos)
        to_rclpy = message_kind.to_rclpy

        class Publisher:
            ros = ros_publisher

            def publish(self, record: Any) -> None:
                ros_publisher.publish(to_rclpy(record))

            def subscription_count(self) -> int:
                return ros_publisher.get_subscription_count()

        return Publisher()

    def subscribe(
        self,
        topic: str,
        kind: str,
        callback: Callable[[Any], None],
        reliable: bool = False,
        depth: int = 1,
        transient_local: bool = False,
    ):
        """
        Subscribe with the node's input QoS (input_reliability, input_durability, input_depth).

        By default sensor data, best effort, as camera and LiDAR drivers publish; a best-effort
        reader also matches their reliable writers.
        """
        message_kind = kinds.message_kind(kind)
        from_rclpy = message_kind.from_rclpy
        return self.node.create_subscription(
            message_kind.rclpy_class(),
            topic,
            lambda msg: callback(from_rclpy(msg)),
            qos_profile(reliable, depth, transient_local),
        )

    def release(self, entity: Any) -> None:
        """Destroy a publisher or subscription made here (the core's cleanup)."""
        if hasattr(entity, "ros"):
            self.node.destroy_publisher(entity.ros)
        else:
            self.node.destroy_subscription(entity)


def qos_profile(reliable: bool, depth: int, transient_local: bool):
    """Return rclpy's QoSProfile of the transports' reliable / depth / transient_local."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE
        ),
    )


def declare_parameters(node: Any) -> dict[str, str]:
    """
    Declare every NodeParams field as a ROS parameter, each writable.

    The run-time ones may change at any time, the others while the node is unconfigured (the
    set-parameters callback refuses them once configured). A value from a parameter file or -p
    of the wrong type or outside the declared range (rclpy raises at declaration) does not end
    the node with a traceback: the parameter is declared with its default and the problem, with
    its fix, is returned by name; configure refuses to run until the parameter is set right.
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    from ...ros_rules.ros_params import type_fix
    from ...segmentation.params import FIELDS, RANGES, ros_default

    problems = {}
    for name, field in FIELDS.items():
        default = ros_default(name)
        descriptor = parameter_descriptor(name, field.metadata["description"])
        try:
            node.declare_parameter(name, default, descriptor)
            continue
        except InvalidParameterTypeException as error:
            problems[name] = f"{error} ({type_fix(default)})"
        except InvalidParameterValueException:
            problems[name] = f"{name} must be {RANGES[name][2]}"
        node.declare_parameter(
            name,
            default,
            parameter_descriptor(name, field.metadata["description"]),
            ignore_override=True,
        )
    return problems


def parameter_descriptor(name: str, description: str):
    """
    Return the descriptor of a node parameter.

    Its description, its range or its allowed values.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    from ...segmentation.params import CHOICES, RANGES

    descriptor = ParameterDescriptor(description=description)
    if name in RANGES:
        low, high, allowed = RANGES[name]
        if isinstance(low, float):
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=low, to_value=high, step=0.0)
            ]
        else:
            descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=1)]
        descriptor.additional_constraints = allowed
    elif name in CHOICES:
        descriptor.additional_constraints = "one of " + ", ".join(CHOICES[name])
    return descriptor


def read_parameters(node: Any):
    """
    Return the parameters' current values as NodeParams (ValueError names a bad one).

    Read at each configure.
    """
    from ...segmentation.params import FIELDS, NodeParams, with_changes

    return with_changes(NodeParams(), {name: node.get_parameter(name).value for name in FIELDS})


TRANSITION_RESULTS = ("SUCCESS", "FAILURE", "ERROR")  # rclpy's TransitionCallbackReturn, by name


def run_transition(name: str, transition: Callable[[], None], log: Any) -> str:
    """
    Run one lifecycle transition for rclpy and say how it went.

    SUCCESS; FAILURE when it was refused or configure could not build the node (the state stays);
    ERROR for anything else (rclpy's error processing then resets the node). Every failure is
    logged with its cause here, because rclpy's LifecycleNode swallows an exception from a
    transition callback and logs nothing (rclpy/lifecycle/node.py, __execute_callback, humble and
    jazzy: "TODO: log sth").
    """
    from ...segmentation.lifecycle import TransitionError

    try:
        transition()
    except TransitionError as error:
        log.error(f"lifecycle: {name} failed: {error}")
        return "FAILURE"
    except (
        Exception
    ) as error:  # noqa: BLE001 - rclpy would swallow it; said here with its traceback
        log.error(
            f"lifecycle: {name} failed with {type(error).__name__}: "
            f"{error}\n{traceback.format_exc()}"
        )
        return "ERROR"
    return "SUCCESS"


class ParameterChanges:
    """
    ros2 param set on the node, both rclpy generations.

    ``check`` (the set-parameters callback) only validates; ``apply`` runs once rclpy has committed
    the set, from the post-set callback where rclpy has one (Jazzy:
    add_post_set_parameters_callback), so a callback after ours that refuses the set (rclpy calls
    them in turn and stops at the first refusal) never leaves the core changed while ROS kept the
    old values. Humble has no post-set callback: there ``check`` applies too, as the last thing it
    does.
    """

    def __init__(self, managed: Any, problems: dict[str, str], apply_in_check: bool) -> None:
        self.managed, self.problems, self.apply_in_check = managed, problems, apply_in_check

    def check(self, changes: dict[str, Any]) -> str | None:
        """Why the set is refused, or None (and, on Humble, the set applied)."""
        from ...segmentation.params import FIELDS, configured_change_problem

        core, wanted = self.managed.core, None
        if core is not None:  # unconfigured, configure reads (and checks) them
            problem = configured_change_problem(changes)
            if problem:
                return problem
            try:
                wanted = core.checked_params({n: v for n, v in changes.items() if n in FIELDS})
            except ValueError as error:
                return str(error)
        if self.apply_in_check:
            self._commit(changes, wanted)
        return None

    def apply(self, changes: dict[str, Any]) -> None:
        """Apply a set that rclpy has committed (the post-set callback)."""
        from ...segmentation.params import FIELDS

        core = self.managed.core
        self._commit(
            changes,
            (
                core.checked_params({n: v for n, v in changes.items() if n in FIELDS})
                if core is not None
                else None
            ),
        )

    def _commit(self, changes: dict[str, Any], wanted: Any) -> None:
        for name in changes:  # a parameter set right no longer blocks configure
            self.problems.pop(name, None)
        if wanted is not None:
            self.managed.core.use_params(wanted)

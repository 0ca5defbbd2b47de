"""
The node's managed life cycle, shared by both transports (the ROS 2 lifecycle states).

    unconfigured --configure--> inactive --activate--> active
    active --deactivate--> inactive --cleanup--> unconfigured
    any of them --shutdown--> finalized

configure reads the parameters, loads the checkpoint and creates the publishers and
subscriptions (a SegmentationNode); activate starts segmenting; deactivate stops it and
releases the GPU memory the engines held (the weights stay, so activating again is quick);
cleanup frees everything, weights included. The rclpy adapter calls these from its
LifecycleNode callbacks (rcl keeps its own copy of the state and offers the lifecycle
services); the DDS node calls them at start (--autostart) and on SIGUSR1 / SIGUSR2.
"""
from __future__ import annotations

import enum
import logging
from typing import Callable

from .core import SegmentationNode, StartupError


class State(str, enum.Enum):
    UNCONFIGURED = "unconfigured"
    INACTIVE = "inactive"
    ACTIVE = "active"
    FINALIZED = "finalized"


class TransitionError(RuntimeError):
    """A transition that the current state does not allow, or a configure that failed."""


class ConfigureError(TransitionError):
    """
    configure could not build the node.

    ``reason`` is what stopped it (a missing checkpoint...).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"configure failed, still unconfigured: {reason}")
        self.reason = reason


# transition -> (the state it starts from, the state it ends in)
TRANSITIONS: dict[str, tuple[State, State]] = {
    "configure": (State.UNCONFIGURED, State.INACTIVE),
    "activate": (State.INACTIVE, State.ACTIVE),
    "deactivate": (State.ACTIVE, State.INACTIVE),
    "cleanup": (State.INACTIVE, State.UNCONFIGURED),
}


class ManagedNode:
    """
    The segmentation node behind the lifecycle states.

    ``make_core`` builds it at configure (reading the parameters then, so a configure after a
    cleanup sees the current ones).
    """

    def __init__(self, make_core: Callable[[], SegmentationNode], log: logging.Logger) -> None:
        self.make_core, self.log = make_core, log
        self.state = State.UNCONFIGURED
        self.core: SegmentationNode | None = None

    def _check(self, transition: str) -> State:
        start, end = TRANSITIONS[transition]
        if self.state is not start:
            allowed = [name for name, (begin, _) in TRANSITIONS.items() if begin is self.state] + [
                "shutdown"
            ]
            raise TransitionError(
                f"cannot {transition} while {self.state.value} (from {self.state.value}: "
                f"{', '.join(allowed) if self.state is not State.FINALIZED else 'nothing'})"
            )
        return end

    def _moved(self, transition: str, end: State) -> None:
        self.log.info(f"lifecycle: {transition}: {self.state.value} -> {end.value}")
        self.state = end

    def configure(self) -> None:
        """
        Load the checkpoint and create the topics.

        TransitionError (state unchanged) when it cannot.
        """
        end = self._check("configure")
        try:
            self.core = self.make_core()
        except (StartupError, ValueError) as error:
            raise ConfigureError(str(error)) from None
        except (
            Exception
        ) as error:  # noqa: BLE001 - CUDA out of memory, rclpy's parameter type errors...
            # named with its type: rclpy would otherwise swallow it (rclpy/lifecycle/node.py)
            raise ConfigureError(f"{type(error).__name__}: {error}") from error
        # /diagnostics from configure on, saying inactive until activate
        self.core.start_reporting()
        self._moved("configure", end)

    def activate(self) -> None:
        end = self._check("activate")
        self.core.start()
        self._moved("activate", end)

    def deactivate(self) -> None:
        end = self._check("deactivate")
        self.core.stop()
        self.core.release_gpu()
        self._moved("deactivate", end)

    def cleanup(self) -> None:
        end = self._check("cleanup")
        self.core.close()
        self.core = None
        self._moved("cleanup", end)

    def shutdown(self) -> None:
        """From any state: stop, free everything, end in finalized."""
        if self.state is State.ACTIVE:
            self.deactivate()
        if self.state is State.INACTIVE:
            self.cleanup()
        if self.state is not State.FINALIZED:
            self._moved("shutdown", State.FINALIZED)

    def reset(self) -> None:
        """After a failed transition (rclpy's error processing): free everything, unconfigured."""
        if self.core is not None:
            self.core.close()
            self.core = None
        self.state = State.UNCONFIGURED
        self.log.warning("lifecycle: reset to unconfigured after an error")

    def step_up(self) -> None:
        """One step towards active (the DDS node's SIGUSR1): configure or activate."""
        {State.UNCONFIGURED: self.configure, State.INACTIVE: self.activate}.get(
            self.state, self._refuse("up")
        )()

    def step_down(self) -> None:
        """One step towards unconfigured (the DDS node's SIGUSR2): deactivate or clean up."""
        {State.ACTIVE: self.deactivate, State.INACTIVE: self.cleanup}.get(
            self.state, self._refuse("down")
        )()

    def _refuse(self, direction: str) -> Callable[[], None]:
        def refuse() -> None:
            raise TransitionError(f"already {self.state.value}: no step {direction} from here")
        return refuse

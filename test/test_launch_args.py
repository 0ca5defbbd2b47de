"""Every combination of launch arguments gives parameter values launch_ros accepts and the
node accepts, and the launch file starts a lifecycle node that autostarts by default.

launch_ros cannot be installed here (no ROS 2; the PyPI "launch" is an unrelated 2017
package), so ``launch_ros_evaluate`` restates the two functions a Node action's
``parameters`` dict goes through, read from ros2/launch_ros (rolling branch, also in
humble and jazzy):
launch_ros/launch_ros/utilities/normalize_parameters.py (``normalize_parameter_dict``,
``_normalize_parameter_array_value``) and
launch_ros/launch_ros/utilities/evaluate_parameters.py (``evaluate_parameter_dict``).
Our values are plain Python values (no substitutions), which is the path restated.
"""
from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import yaml

from cicld_ros.launch_args import LAUNCH_ARGUMENTS, node_arguments, parameter_overrides
from cicld_ros.params import FIELDS, NodeParams, with_changes

REPO = Path(__file__).resolve().parents[1]
SCALARS = (float, int, str, bool)


def allowed_sequence(sequence: Sequence) -> bool:
    """evaluate_parameters.py's check_sequence_type_is_allowed: non-empty, one type of bool/int/float/str."""
    if not sequence or type(sequence[0]) not in SCALARS:
        return False
    return all(isinstance(item, type(sequence[0])) for item in sequence)


def launch_ros_evaluate(parameters: dict) -> dict:
    """What launch_ros makes of a parameters dict; TypeError where launch_ros raises one."""
    evaluated = {}
    for name, value in parameters.items():
        if isinstance(value, Mapping):
            raise TypeError("nested dicts are flattened by launch_ros; none expected here")
        if isinstance(value, str):  # normalized to yaml.dump(value), evaluated with yaml.safe_load
            loaded = yaml.safe_load(yaml.dump(value))
            if type(loaded) not in SCALARS + (bytes,) and not (isinstance(loaded, Sequence) and allowed_sequence(loaded)):
                raise TypeError(f"{name}: {loaded!r}")
            evaluated[name] = loaded
        elif isinstance(value, (float, bool, int, bytes)):  # kept as they are
            evaluated[name] = value
        elif isinstance(value, Sequence):
            for item in value:
                if not isinstance(item, SCALARS):
                    raise TypeError(f"Expected 'subvalue' to be one of {SCALARS}, got {item!r}")
            kinds = {type(item) for item in value}
            if kinds == {int, float}:  # all numbers: floats
                items = [float(item) for item in value]
            elif kinds == {str} or len(kinds) > 1:  # each item through yaml, as strings
                items = [yaml.safe_load(yaml.dump(item)) for item in value]
            else:
                items = list(value)
            if not items:  # an empty tuple reaches ensure_argument_type as a "singular" value
                raise TypeError(f"Expected 'value' to be one of [float, int, str, bool, bytes], but got '{tuple()}'")
            if not allowed_sequence(items):
                raise TypeError("Expected a non-empty sequence, with items of uniform type.")
            evaluated[name] = tuple(items)
        else:
            raise TypeError(f"Unexpected type for parameter value {value!r}")
    return evaluated


def test_the_restated_rules_refuse_what_launch_ros_refuses():
    with pytest.raises(TypeError, match="but got '\\(\\)'"):  # the error the issue reported
        launch_ros_evaluate({"image_topics": []})
    with pytest.raises(TypeError):
        launch_ros_evaluate({"x": None})
    with pytest.raises(TypeError):
        launch_ros_evaluate({"x": [[1]]})
    assert launch_ros_evaluate({"t": [""], "s": "1", "n": 4, "f": [1, 2.5]}) == {"t": ("",), "s": "1", "n": 4,
                                                                               "f": (1.0, 2.5)}


CHOICES = {
    "params_file": ["", "/tmp/params.yaml"],
    "checkpoint": ["", "/models/best.safetensors"],
    "image_topic": ["", "/front/image_raw"],
    "compressed_image_topic": ["", "/rear/image_raw/compressed"],
    "steps": ["", "0", "4"],
    "device": ["", "cuda:0"],
    "namespace": ["", "car"],
    "use_sim_time": ["false", "true", "True", "1"],
    "autostart": ["true", "false"],
}


def test_every_combination_gives_values_launch_ros_and_the_node_accept():
    assert set(CHOICES) == set(LAUNCH_ARGUMENTS)
    file_params = yaml.safe_load((REPO / "config/segment.yaml").read_text())["segment_node"]["ros__parameters"]
    combinations = 0
    for chosen in itertools.product(*CHOICES.values()):
        values = dict(zip(CHOICES, chosen))
        evaluated = launch_ros_evaluate(parameter_overrides(values))
        node_values = {k: list(v) if isinstance(v, tuple) else v for k, v in evaluated.items() if k in FIELDS}
        params = with_changes(NodeParams(), file_params | node_values)  # what the node then reads
        cameras = params.image_topics + params.compressed_image_topics
        if values["compressed_image_topic"] and not values["image_topic"]:
            assert cameras == ["/rear/image_raw/compressed"], values
        if values["image_topic"]:
            assert "/front/image_raw" in cameras and "/camera/image_raw" not in cameras, values
        assert node_arguments(values) == ([] if values["autostart"] == "true" else ["--no-autostart"])
        combinations += 1
    assert combinations == 1536


@pytest.mark.parametrize("name, value", [("use_sim_time", "maybe"), ("autostart", "yes please")])
def test_a_flag_that_is_neither_true_nor_false_is_named(name, value):
    with pytest.raises(ValueError, match=f"{name}:={value!r} must be true or false"):
        parameter_overrides({name: value}) if name == "use_sim_time" else node_arguments({name: value})


def test_the_launch_file_starts_a_lifecycle_node_with_the_node_arguments():
    tree = ast.parse((REPO / "launch/segment.launch.py").read_text())
    calls = {node.func.id: node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name)}
    assert "LifecycleNode" in calls and "Node" not in calls
    keywords = {k.arg: ast.unparse(k.value) for k in calls["LifecycleNode"].keywords}
    assert keywords["arguments"] == "node_arguments(values)"
    assert keywords["parameters"] == "[params_file, parameter_overrides(values)]"
    assert keywords["executable"] == "'segment_node'" and "namespace" in keywords and "name" in keywords

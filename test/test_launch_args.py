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

from cicld_ros.segmentation.params import FIELDS, NodeParams, read_params_file, with_changes
from cicld_ros.transports.rclpy.launch_args import (LAUNCH_ARGUMENTS, node_arguments, parameter_overrides,
                                                    params_file_path)

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
    "use_sim_time": ["", "false", "true", "True", "1"],
    "autostart": ["true", "false"],
}


def test_every_combination_gives_values_launch_ros_and_the_node_accept():
    assert set(CHOICES) == set(LAUNCH_ARGUMENTS)
    combinations = 0
    for chosen in itertools.product(*CHOICES.values()):
        values = dict(zip(CHOICES, chosen))
        node_fqn = f"/{values['namespace']}/segment_node" if values["namespace"] else "/segment_node"
        file_params = read_params_file(REPO / "config/segment.yaml", node_fqn)  # as rclpy finds the section
        evaluated = launch_ros_evaluate(parameter_overrides(values))
        node_values = {k: list(v) if isinstance(v, tuple) else v for k, v in evaluated.items() if k in FIELDS}
        params = with_changes(NodeParams(), file_params | node_values)  # what the node then reads
        cameras = params.image_topics + params.compressed_image_topics
        if values["compressed_image_topic"] and not values["image_topic"]:
            assert cameras == ["/rear/image_raw/compressed"], values
        if values["image_topic"]:
            assert "/front/image_raw" in cameras and "camera/image_raw" not in cameras, values
        assert node_arguments(values) == ([] if values["autostart"] == "true" else ["--no-autostart"])
        combinations += 1
    assert combinations == 1920


def launch_ros_params_file_order(params_file: str, overrides: dict) -> list[dict]:
    """The --params-file arguments launch_ros hands the node, in order, for
    ``parameters=[params_file, overrides]``: the file, then the dict written to a file of its
    own under '/**' (launch_ros/actions/node.py, _create_params_file_from_dict and
    _perform_substitutions, humble and jazzy). rcl reads them in order and a later file wins
    per parameter (rcl/src/rcl/arguments.c, rcl_arguments_get_param_overrides)."""
    return [yaml.safe_load(Path(params_file).read_text()), {"/**": {"ros__parameters": overrides}}] if overrides \
        else [yaml.safe_load(Path(params_file).read_text())]


def use_sim_time_the_node_gets(params_file: str, values: dict[str, str]) -> bool:
    merged: dict = {}
    for document in launch_ros_params_file_order(params_file, launch_ros_evaluate(parameter_overrides(values))):
        for section in document.values():
            merged |= section["ros__parameters"]
    return merged.get("use_sim_time", False)  # rclpy declares it false when nothing sets it


def test_use_sim_time_from_the_params_file_survives_unless_the_launch_argument_is_given(tmp_path):
    """Defect 6 of issue 27: the launch file passed use_sim_time:=false whenever it was not given,
    and the dict comes after params_file, so a file's use_sim_time: true was always overridden."""
    params = tmp_path / "sim.yaml"
    params.write_text('/**:\n  ros__parameters:\n    use_sim_time: true\n    checkpoint: "m.safetensors"\n')
    assert use_sim_time_the_node_gets(str(params), {}) is True
    assert use_sim_time_the_node_gets(str(params), {"use_sim_time": ""}) is True
    assert use_sim_time_the_node_gets(str(params), {"use_sim_time": "false"}) is False
    assert parameter_overrides({"use_sim_time": "true"}) == {"use_sim_time": True}
    assert "use_sim_time" not in parameter_overrides({})


def test_a_params_file_that_is_not_a_file_stops_the_launch_naming_it(tmp_path):
    """Defect 7 of issue 27: launch_ros only warns 'Parameter file path is not a file' and starts
    the node on its defaults (launch_ros/actions/node.py, humble and jazzy); the launch file
    checks it and fails with the path."""
    with pytest.raises(ValueError, match=r"params_file:=/no/such/params.yaml is not a file"):
        params_file_path({"params_file": "/no/such/params.yaml"}, "/share/config/segment.yaml")
    with pytest.raises(ValueError, match="is not a file"):
        params_file_path({"params_file": str(tmp_path)}, "/share/config/segment.yaml")  # a directory
    given = tmp_path / "p.yaml"
    given.write_text("/**:\n  ros__parameters: {steps: 2}\n")
    assert params_file_path({"params_file": str(given)}, "/share/config/segment.yaml") == str(given)
    assert params_file_path({"params_file": ""}, "/share/config/segment.yaml") == "/share/config/segment.yaml"
    tree = ast.parse((REPO / "launch/segment.launch.py").read_text())
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "params_file_path" for n in ast.walk(tree))


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

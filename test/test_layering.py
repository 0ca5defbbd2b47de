"""The layers stay layered: a command's argument helpers load neither OpenCV nor the scene
generator, and the model package loads no command-line code (each in a fresh interpreter,
so what another test imported first cannot hide an import)."""
from __future__ import annotations

import subprocess
import sys

import pytest


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_cli_types_imports_without_opencv():
    # None in sys.modules makes `import cv2` raise ImportError, as on a machine without OpenCV
    result = run_python("import sys; sys.modules['cv2'] = None\n"
                        "import cicld_core.cli_types as c\n"
                        "assert c.frame_size('1024x512') == (1024, 512)\n"
                        "assert not any(m.startswith('cicld_core.synth') for m in sys.modules), 'synth loaded'")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("package", ["cicld_core.model", "cicld_core.model.export_onnx"])
def test_model_loads_no_command_line_code(package):
    result = run_python(f"import sys, {package}\n"
                        "loaded = sorted(m for m in sys.modules if m in ('cicld_core.cli_types', "
                        "'cicld_core.sampling_arguments') or m.startswith('cicld_core.synth'))\n"
                        "print(' '.join(loaded))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"{package} loads command-line or generator code: {result.stdout}"

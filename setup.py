"""
ament_python package `cicld_ros`.

Installs `cicld_core` (model, training, data; no ROS) and `cicld_ros` (the node and its
transports). Works with `colcon build` on a ROS 2 machine and with `pip install -e .` on a machine
without ROS.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "cicld_ros"

# The one place the Python dependencies are declared. torch is a range on purpose:
# the project's set-up script installs the pinned CPU wheel (torch==2.13.0) first, GPU
# users install their CUDA build first; either satisfies this and nothing more is pulled.
INSTALL_REQUIRES = [
    "torch>=2.1",
    "diffusers>=0.30,<0.43",
    "numpy>=1.26",
    "opencv-python-headless>=4.8",
    "pillow>=10.0",
    "pyyaml>=6.0",
    "tqdm>=4.66",
    "safetensors>=0.4",
    "matplotlib>=3.8",
    # The DDS transport touches cyclonedds internals; keep it to the tested major.
    "cyclonedds>=0.10.5,<12",
    "rosbags>=0.10,<0.12",
]
# ONNX export (python -m cicld_core.export_onnx); the tests check it, so they need it.
ONNX_REQUIRES = ["onnx>=1.16", "onnxruntime>=1.18", "onnxscript>=0.2"]
TEST_REQUIRES = ["pytest>=8.0"] + ONNX_REQUIRES
# The Blender renderer (python -m cicld_core.synth --renderer blender): Blender 4.5 LTS as a
# Python module, GPL, imported only by cicld_core/synth/blender. One 373 MB wheel for
# CPython 3.11; it requires numpy<2.
RENDER_REQUIRES = ["bpy==4.5.*"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["cicld_core", "cicld_core.*", "cicld_ros", "cicld_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/uda", glob("config/uda/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "onnx": ONNX_REQUIRES, "render": RENDER_REQUIRES},
    zip_safe=True,
    maintainer="CICLD ROS 2 maintainers",
    maintainer_email="cicld-ros@example.com",
    description="CICLD latent-diffusion domain-adaptive semantic segmentation as a ROS 2 node",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["segment_node = cicld_ros.transports.rclpy.rclpy_node:main"]
    },
)

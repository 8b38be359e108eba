"""ament_python package setup (also pip-installable for the ROS-free CLI)."""
import glob
import os

from setuptools import find_packages
from setuptools import setup

PACKAGE = 'jetauto_perception'

NODES = [
    'yolov5_node',
    'face_mesh_node',
    'hands_node',
    'pose_node',
    'camera_node',
    'visualizer_node',
    'keypoint_node',
    'depth_node',
    'face_detection_node',
    'segmentation_node',
]
#: Executables that host several of the NODES in one process (launch: single_process:=true).
CONTAINERS = ['perception_container']


def data(pattern):
    return [f for f in glob.glob(pattern) if os.path.isfile(f)]


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE + '.models': ['models.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', data('launch/*.py')),
        ('share/' + PACKAGE + '/config', data('config/*.yaml')),
        ('share/' + PACKAGE + '/rviz', data('rviz/*.rviz')),
    ],
    python_requires='>=3.8',
    # ROS installs (colcon) take numpy/OpenCV/YAML from rosdep (package.xml); pip users pick
    # the extras they need.
    install_requires=['numpy', 'pyyaml', 'scipy', 'tqdm'],  # scipy: the tracker's assignment
    extras_require={
        'cpu': ['opencv-python-headless<5', 'onnxruntime'],
        'mediapipe': ['mediapipe>=1.2,<2'],
        # TensorRT comes with JetPack; onnx + onnxconverter-common make the FP16 ONNX that
        # TensorRT 11 (no FP16 builder flag) builds FP16 engines from.
        'cuda': ['pycuda', 'onnx', 'onnxconverter-common'],
        'eval': ['pycocotools', 'motmetrics'],
        # `jetauto-perception quantize` (ONNX Runtime's quantizer needs onnx and sympy)
        'quantize': ['onnx', 'sympy', 'onnxruntime', 'pycocotools'],
        'test': ['pytest', 'pycocotools', 'motmetrics', 'onnx', 'sympy',
                 'flake8', 'flake8-import-order', 'flake8-quotes',
                 'flake8-builtins', 'flake8-comprehensions', 'pydocstyle', 'vermin', 'mypy',
                 'isort'],
    },
    zip_safe=True,
    maintainer='jetauto_perception maintainers',
    maintainer_email='jetauto-perception@example.com',
    description='JetAuto perception: YOLOv5, heatmap keypoints, MediaPipe, on TensorRT or ONNX '
                'Runtime, as ROS 2 nodes and a ROS-free CLI',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'jetauto-perception = jetauto_perception.cli:main',
        ] + ['%s = %s.nodes.%s:main' % (node, PACKAGE, node) for node in NODES + CONTAINERS],
    },
)

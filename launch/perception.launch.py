"""
The JetAuto perception pipeline: camera -> detector / keypoints / MediaPipe -> visualizer.

    ros2 launch jetauto_perception perception.launch.py source:=/dev/video0 rviz:=true

Every node runs from its own executable (or, with ``single_process:=true``, all in one
``perception_container`` process, each still its own ROS node) with its parameters from
``params_file`` (config/perception.yaml by default) and explicit remaps onto the topics below
(relative names: ``namespace`` prefixes them all). ``source`` and ``backend`` override the file
when given. The model nodes are managed (lifecycle) nodes that configure and activate themselves
(``autostart: true`` in params_file). ``ros2 launch jetauto_perception perception.launch.py
--show-args`` lists the arguments.
"""
from __future__ import annotations

import math
import os
import pathlib
import tempfile
from typing import List, Tuple

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = 'jetauto_perception'
#: share/jetauto_perception when installed, the repository root in a source checkout.
SHARE = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_PARAMS = str(SHARE / 'config' / 'perception.yaml')
RVIZ_CONFIG = SHARE / 'rviz' / 'perception.rviz'
#: camera_node's default frame_id, and the fixed frame of rviz/perception.rviz.
CAMERA_FRAME = 'camera_optical_frame'

#: The topics the nodes talk over (relative: the namespace applies).
IMAGE = 'camera/image_raw'
CAMERA_INFO = 'camera/camera_info'
DETECTIONS = 'detections'
KEYPOINTS = 'keypoints'
FACE_MESH = 'mediapipe/face_mesh'
HANDS = 'mediapipe/hands'
POSE = 'mediapipe/pose'
FACE_DETECTION = 'mediapipe/face_detection'
SELFIE_MASK = 'mediapipe/selfie_mask'
DETECTIONS_3D = 'detections_3d'
KEYPOINTS_3D = 'keypoints_3d'
#: Placeholders in depth_node's remaps, replaced by the depth_topic / depth_camera_info_topic
#: launch arguments (ros2_astra_camera with depth_registration:=true publishes the registered
#: depth on /camera/depth/image_raw; registered depth has the colour camera's intrinsics).
DEPTH_IMAGE_ARG, DEPTH_INFO_ARG = '$depth_topic', '$depth_camera_info_topic'

Remaps = List[Tuple[str, str]]

#: The MediaPipe keypoint topics depth_node places in 3D (on <topic>_3d) when their node is on.
MEDIAPIPE_KEYPOINTS = [('enable_face_mesh', FACE_MESH), ('enable_hands', HANDS),
                       ('enable_pose', POSE), ('enable_face_detection', FACE_DETECTION)]


def results(topic: str) -> Remaps:
    """Remaps of a result topic and its latched LabelInfo."""
    return [(topic, topic), (topic + '/label_info', topic + '/label_info')]


#: (executable, the launch argument that enables it, remaps, takes the backend argument)
NODES: List[Tuple[str, str, Remaps, bool]] = [
    ('camera_node', 'enable_camera',
     [('camera/image_raw', IMAGE), ('camera/camera_info', CAMERA_INFO)], False),
    ('yolov5_node', 'enable_detector',
     [('camera/image_raw', IMAGE)] + results(DETECTIONS), True),
    ('keypoint_node', 'enable_keypoints',
     [('camera/image_raw', IMAGE), ('detections', DETECTIONS)] + results(KEYPOINTS), True),
    ('face_mesh_node', 'enable_face_mesh',
     [('camera/image_raw', IMAGE)] + results(FACE_MESH), False),
    ('hands_node', 'enable_hands', [('camera/image_raw', IMAGE)] + results(HANDS), False),
    ('pose_node', 'enable_pose', [('camera/image_raw', IMAGE)] + results(POSE), False),
    ('face_detection_node', 'enable_face_detection',
     [('camera/image_raw', IMAGE)] + results(FACE_DETECTION), False),
    ('segmentation_node', 'enable_segmentation',
     [('camera/image_raw', IMAGE), (SELFIE_MASK, SELFIE_MASK)], False),
    ('visualizer_node', 'enable_visualizer',
     [('camera/image_raw', IMAGE), ('camera/camera_info', CAMERA_INFO)]
     + results(DETECTIONS) + results(KEYPOINTS) + results(FACE_MESH) + results(HANDS)
     + results(POSE) + results(FACE_DETECTION) + [(SELFIE_MASK, SELFIE_MASK)]
     + [(DETECTIONS_3D, DETECTIONS_3D), (KEYPOINTS_3D, KEYPOINTS_3D)], False),
    ('depth_node', 'enable_depth',
     [('depth/image_raw', DEPTH_IMAGE_ARG), ('camera/camera_info', DEPTH_INFO_ARG),
      ('detections', DETECTIONS), ('keypoints', KEYPOINTS), ('detections_3d', DETECTIONS_3D),
      ('keypoints_3d', KEYPOINTS_3D)]
     + [(t, t) for _, topic in MEDIAPIPE_KEYPOINTS for t in (topic, topic + '_3d')], False),
]

ARGUMENTS = [
    ('source', '', 'Camera / stream / video file / image folder / GStreamer pipeline for '
                   'camera_node (0, /dev/video0, csi://0, rtsp://..., file.mp4, folder/); '
                   '"" = the value in params_file'),
    ('enable_camera', 'true', 'Start camera_node (false: another driver publishes '
                              'camera/image_raw)'),
    ('enable_detector', 'true', 'Start yolov5_node (detections)'),
    ('enable_keypoints', 'false', 'Start keypoint_node (keypoints: COCO-17 of the detected '
                                  'people)'),
    ('enable_face_mesh', 'false', 'Start face_mesh_node (mediapipe/face_mesh)'),
    ('enable_hands', 'false', 'Start hands_node (mediapipe/hands)'),
    ('enable_pose', 'false', 'Start pose_node (mediapipe/pose)'),
    ('enable_face_detection', 'false', 'Start face_detection_node (mediapipe/face_detection)'),
    ('enable_segmentation', 'false', 'Start segmentation_node (mediapipe/selfie_mask)'),
    ('enable_depth', 'false', 'Start depth_node (detections_3d, keypoints_3d: 3D from a depth '
                              'image registered to the colour camera)'),
    ('depth_topic', '/camera/depth/image_raw',
     'Registered depth image for depth_node (16UC1 mm / 32FC1 m; the default is the Orbbec '
     "Astra driver's with depth_registration:=true)"),
    ('depth_camera_info_topic', CAMERA_INFO,
     'CameraInfo of the colour camera the depth is registered to (the Astra driver: '
     '/camera/color/camera_info)'),
    ('enable_visualizer', 'true', 'Start visualizer_node (annotated image and markers)'),
    ('rviz', 'false', 'Start rviz2 with rviz/perception.rviz'),
    ('camera_tf', 'auto', 'Publish a static transform camera_link -> the camera frame '
                          '(camera_node frame_id), so rviz2 has its fixed frame without a robot '
                          'description: true, false, or auto = with rviz (false when the robot '
                          'publishes it)'),
    ('params_file', DEFAULT_PARAMS, 'YAML with the parameters of every node'),
    ('namespace', '', 'Namespace of every node and topic'),
    ('backend', '', 'Inference backend of the model nodes: onnxruntime or tensorrt ("" = the '
                    'value in params_file)'),
    ('single_process', 'true', 'Run the selected nodes in one process (perception_container): '
                               'frames captured or received once and handed in-process'),
]


def is_true(context: LaunchContext, name: str) -> bool:
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value not in ('true', 'false', '1', '0', 'yes', 'no', 'on', 'off'):
        raise ValueError("launch argument %s:='%s' must be true or false" % (name, value))
    return value in ('true', '1', 'yes', 'on')


def camera_frame(params_file: str) -> str:
    """Return camera_node's ``frame_id`` in ``params_file`` (its default when absent)."""
    import yaml
    with open(params_file) as f:
        data = yaml.safe_load(f) or {}
    for key in ('/**/camera_node', 'camera_node', '/**'):
        frame = ((data.get(key) or {}).get('ros__parameters') or {}).get('frame_id')
        if frame:
            return str(frame)
    return CAMERA_FRAME


def camera_tf(frame: str, namespace: str) -> Node:
    """Return a static transform camera_link -> ``frame`` (optical: z forward, x right, y down)."""
    return Node(package='tf2_ros', executable='static_transform_publisher', name='camera_tf',
                namespace=namespace, output='screen',
                arguments=['--roll', str(-math.pi / 2), '--yaw', str(-math.pi / 2),
                           '--frame-id', 'camera_link', '--child-frame-id', frame])


def rviz_config(namespace: str, frame: str = CAMERA_FRAME) -> str:
    """Return the rviz file, its topics moved into ``namespace`` and its fixed frame ``frame``."""
    if not namespace and frame == CAMERA_FRAME:
        return str(RVIZ_CONFIG)
    text = RVIZ_CONFIG.read_text().replace('Fixed Frame: %s' % CAMERA_FRAME,
                                           'Fixed Frame: %s' % frame)
    if namespace:
        text = text.replace('/visualizer_node/', '/%s/visualizer_node/' % namespace.strip('/'))
    handle, path = tempfile.mkstemp(prefix='perception_', suffix='.rviz')
    with os.fdopen(handle, 'w') as f:
        f.write(text)
    return path


def container(settings: list, namespace: str, params_file: str) -> Node:
    """
    Run the selected nodes in one perception_container process (each keeps its name).

    ``settings``: (executable, remaps, parameter overrides) per node. Each node's remaps are
    targeted at it (``node:from:=to``); the overrides go to every node, which only read those
    they declare.
    """
    remaps: Remaps = []
    overrides: dict = {}
    for executable, node_remaps, node_overrides in settings:
        remaps += [('%s:%s' % (executable, source_topic), target)
                   for source_topic, target in node_remaps]
        overrides.update(node_overrides)
    # no name=: it would rename every node of the process
    return Node(package=PACKAGE, executable='perception_container', namespace=namespace,
                arguments=['--nodes', ','.join(entry[0] for entry in settings)],
                parameters=[params_file] + ([overrides] if overrides else []),
                remappings=remaps, output='screen', emulate_tty=True)


def launch_nodes(context: LaunchContext) -> list:
    """Build the enabled nodes once the launch arguments are known."""
    namespace = LaunchConfiguration('namespace').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    source = LaunchConfiguration('source').perform(context)
    backend = LaunchConfiguration('backend').perform(context)
    if not os.path.isfile(params_file):
        raise FileNotFoundError('params_file %s not found' % params_file)
    actions: list = []
    selected = [entry for entry in NODES if is_true(context, entry[1])]
    settings = []
    for executable, flag, remaps, takes_backend in selected:
        overrides = {}
        if executable == 'camera_node' and source:
            overrides['source'] = ParameterValue(source, value_type=str)
        if takes_backend and backend:
            overrides['backend'] = backend
        if executable == 'depth_node':
            arguments = {DEPTH_IMAGE_ARG: LaunchConfiguration('depth_topic').perform(context),
                         DEPTH_INFO_ARG: LaunchConfiguration(
                             'depth_camera_info_topic').perform(context)}
            remaps = [(source_topic, arguments.get(target, target))
                      for source_topic, target in remaps]
            overrides['use_keypoints'] = is_true(context, 'enable_keypoints')
            overrides['mediapipe_topics'] = ParameterValue(','.join(
                topic for flag, topic in MEDIAPIPE_KEYPOINTS if is_true(context, flag)),
                value_type=str)
        settings.append((executable, remaps, overrides))
    single_process = is_true(context, 'single_process')
    if settings and single_process:
        actions.append(container(settings, namespace, params_file))
    for executable, remaps, overrides in [] if single_process else settings:
        actions.append(Node(package=PACKAGE, executable=executable, name=executable,
                            namespace=namespace,
                            parameters=[params_file] + ([overrides] if overrides else []),
                            remappings=remaps, output='screen', emulate_tty=True))
    rviz = is_true(context, 'rviz')
    frame = camera_frame(params_file)
    if rviz:
        actions.append(Node(package='rviz2', executable='rviz2', name='rviz2',
                            namespace=namespace,
                            arguments=['-d', rviz_config(namespace, frame)], output='screen'))
    tf_wanted = LaunchConfiguration('camera_tf').perform(context).strip().lower()
    if rviz if tf_wanted == 'auto' else is_true(context, 'camera_tf'):
        actions.append(camera_tf(frame, namespace))
    names = [entry[0] for entry in selected]
    notes = [LogInfo(msg='perception: starting %s%s' % (
        ', '.join(names) or 'nothing',
        ' in one process' if single_process and names else ''))]
    if 'keypoint_node' in names and 'yolov5_node' not in names:
        notes.append(LogInfo(msg='perception: keypoint_node takes its person boxes from '
                                 'detections: enable_detector:=true (or set use_detections: '
                                 'false in params_file for whole-frame keypoints)'))
    return notes + actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [OpaqueFunction(function=launch_nodes)])

"""
perception.launch.py's arguments: which nodes start, with which parameters, remaps, rviz.

The launch file's OpaqueFunction is evaluated in a real launch context (no process runs), and
the launch_ros Nodes it returns are expanded as ``ros2 launch`` would. Runs wherever ROS 2 is
sourced; skips elsewhere (test_perception_launch.py runs the file for real).
"""
import ast
import importlib.util
import os
import re

from conftest import REPO, require_ros

require_ros()

from launch import LaunchContext  # noqa: E402,I100
from launch.actions import DeclareLaunchArgument  # noqa: E402
from launch_ros.actions import Node  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

LAUNCH_FILE = REPO / 'launch' / 'perception.launch.py'


def load_launch_module():
    spec = importlib.util.spec_from_file_location('perception_launch', str(LAUNCH_FILE))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAUNCH = load_launch_module()
LAUNCH_DEFAULTS = {name: default for name, default, _ in LAUNCH.ARGUMENTS}


def setup_nodes():
    text = (REPO / 'setup.py').read_text()
    return ast.literal_eval(re.search(r'^NODES = (\[.*?\])', text, re.S | re.M).group(1))


def launch(**arguments):
    """
    The expanded nodes for these launch arguments: {executable: Node}.

    Separate processes unless ``single_process`` is given: the per-node wiring (remaps,
    parameter overrides) is the same in both modes, and one Node per executable shows it.
    """
    arguments.setdefault('single_process', 'false')
    context = LaunchContext()
    description = LAUNCH.generate_launch_description()
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            context.launch_configurations[entity.name] = arguments.pop(
                entity.name, entity.default_value[0].perform(context))
    assert not arguments, 'unknown launch arguments %s' % arguments
    nodes = {}
    for action in LAUNCH.launch_nodes(context):
        if isinstance(action, Node):
            action._perform_substitutions(context)
            nodes[action.node_executable] = action
    return nodes


def parameters(node):
    """Merged parameter values of an expanded Node (its params files in order)."""
    values = {}
    # launch_ros keeps the expanded --params-file list private; read it to see the overrides.
    for path, is_file in node._Node__expanded_parameter_arguments:
        assert is_file
        with open(path) as f:
            data = yaml.safe_load(f)
        for key, section in data.items():
            if key in ('/**', '/**/' + node.node_executable, node.node_name):
                values.update(section['ros__parameters'])
    return values


def remaps(node):
    return dict(node._Node__expanded_remappings or [])


def test_every_node_of_the_launch_file_is_an_installed_executable():
    assert {executable for executable, _, _, _ in LAUNCH.NODES} <= set(setup_nodes())


def test_defaults_start_camera_detector_and_visualizer():
    nodes = launch()
    assert sorted(nodes) == ['camera_node', 'visualizer_node', 'yolov5_node']
    for name, node in nodes.items():
        assert node.node_package == 'jetauto_perception'
        assert node.node_name == '/' + name
    assert parameters(nodes['camera_node'])['source'] == '0'  # the params file's
    assert parameters(nodes['yolov5_node'])['backend'] == 'onnxruntime'
    assert remaps(nodes['yolov5_node'])['camera/image_raw'] == 'camera/image_raw'
    assert remaps(nodes['visualizer_node'])['mediapipe/hands/label_info'] \
        == 'mediapipe/hands/label_info'


def test_keypoints_take_the_detectors_boxes_and_the_backend():
    nodes = launch(enable_keypoints='true', backend='tensorrt')
    assert sorted(nodes) == ['camera_node', 'keypoint_node', 'visualizer_node', 'yolov5_node']
    assert remaps(nodes['keypoint_node'])['detections'] == 'detections'
    assert remaps(nodes['keypoint_node'])['keypoints/label_info'] == 'keypoints/label_info'
    assert parameters(nodes['keypoint_node'])['backend'] == 'tensorrt'
    assert parameters(nodes['keypoint_node'])['input_size'] == [256, 192]


def test_arguments_override_the_params_file_and_enable_nodes():
    nodes = launch(source='/data/run.mp4', backend='tensorrt', enable_hands='true',
                   enable_pose='True', enable_detector='false', namespace='robot1')
    assert sorted(nodes) == ['camera_node', 'hands_node', 'pose_node', 'visualizer_node']
    assert parameters(nodes['camera_node'])['source'] == '/data/run.mp4'
    assert parameters(nodes['camera_node'])['fps'] == 30.0
    assert all(node.expanded_node_namespace == '/robot1' for node in nodes.values())
    assert 'backend' not in parameters(nodes['hands_node'])
    assert launch(backend='tensorrt')['yolov5_node'] is not None
    assert parameters(launch(backend='tensorrt')['yolov5_node'])['backend'] == 'tensorrt'


def test_face_detection_and_segmentation_toggles():
    nodes = launch(enable_face_detection='true', enable_segmentation='true',
                   enable_detector='false')
    assert sorted(nodes) == ['camera_node', 'face_detection_node', 'segmentation_node',
                             'visualizer_node']
    assert remaps(nodes['face_detection_node'])['mediapipe/face_detection/label_info'] \
        == 'mediapipe/face_detection/label_info'
    assert remaps(nodes['segmentation_node'])['mediapipe/selfie_mask'] == 'mediapipe/selfie_mask'
    assert remaps(nodes['visualizer_node'])['mediapipe/selfie_mask'] == 'mediapipe/selfie_mask'
    assert parameters(nodes['face_detection_node'])['min_suppression_threshold'] == 0.3
    assert parameters(nodes['segmentation_node'])['model_path'] == 'selfie_segmenter.tflite'
    visualizer = parameters(nodes['visualizer_node'])
    assert 'mediapipe/face_detection' in visualizer['keypoint_topics'].split(',')
    assert visualizer['mask_topics'] == 'mediapipe/selfie_mask'


def test_a_numeric_source_stays_a_string():
    assert parameters(launch(source='1')['camera_node'])['source'] == '1'


def test_rviz_uses_the_installed_config_moved_into_the_namespace():
    nodes = launch(rviz='true')
    rviz = nodes['rviz2']
    arguments = [str(a) for a in rviz._Node__arguments]
    assert arguments[0] == '-d' and arguments[1] == str(LAUNCH.RVIZ_CONFIG)
    assert os.path.isfile(arguments[1])
    text = open(arguments[1]).read()
    assert '/visualizer_node/image' in text and '/visualizer_node/markers' in text
    rviz = launch(rviz='true', namespace='robot1')['rviz2']
    moved = str(rviz._Node__arguments[1])
    assert '/robot1/visualizer_node/image' in open(moved).read()
    os.unlink(moved)


def test_camera_tf_gives_rviz_its_fixed_frame_without_a_robot_description(tmp_path):
    # auto: with rviz only (the robot's own description publishes the frame otherwise)
    assert 'static_transform_publisher' not in launch()
    tf = launch(rviz='true')['static_transform_publisher']
    arguments = [str(a) for a in tf._Node__arguments]
    child = arguments[arguments.index('--child-frame-id') + 1]
    assert child == 'camera_optical_frame' == parameters(launch()['camera_node'])['frame_id']
    assert arguments[arguments.index('--frame-id') + 1] == 'camera_link'
    assert 'static_transform_publisher' not in launch(rviz='true', camera_tf='false')
    assert 'static_transform_publisher' in launch(camera_tf='true')
    # another frame_id in the params file: the transform and rviz's fixed frame follow it
    params = yaml.safe_load(open(LAUNCH.DEFAULT_PARAMS))
    params['/**/camera_node']['ros__parameters']['frame_id'] = 'front_camera_optical'
    other = tmp_path / 'params.yaml'
    other.write_text(yaml.safe_dump(params))
    nodes = launch(rviz='true', params_file=str(other))
    arguments = [str(a) for a in nodes['static_transform_publisher']._Node__arguments]
    assert arguments[arguments.index('--child-frame-id') + 1] == 'front_camera_optical'
    config = str(nodes['rviz2']._Node__arguments[1])
    assert 'Fixed Frame: front_camera_optical' in open(config).read()
    os.unlink(config)


def test_bad_flags_and_params_file_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match='enable_hands'):
        launch(enable_hands='maybe')
    with pytest.raises(FileNotFoundError, match='params_file'):
        launch(params_file=str(tmp_path / 'none.yaml'))


def test_depth_node_takes_the_depth_topics_and_keypoints():
    nodes = launch(enable_depth='true', enable_keypoints='true',
                   depth_topic='/cam/aligned_depth/image_raw')
    assert 'depth_node' in nodes
    topics = remaps(nodes['depth_node'])
    assert topics['depth/image_raw'] == '/cam/aligned_depth/image_raw'
    assert topics['camera/camera_info'] == 'camera/camera_info'
    assert topics['detections'] == 'detections' and topics['keypoints'] == 'keypoints'
    assert parameters(nodes['depth_node'])['use_keypoints'] is True
    default = launch(enable_depth='true')
    assert remaps(default['depth_node'])['depth/image_raw'] == '/camera/depth/image_raw'
    assert parameters(default['depth_node'])['use_keypoints'] is False
    assert remaps(default['visualizer_node'])['detections_3d'] == 'detections_3d'


def test_depth_node_places_the_enabled_mediapipe_keypoints():
    nodes = launch(enable_depth='true', enable_pose='true', enable_hands='true')
    assert parameters(nodes['depth_node'])['mediapipe_topics'] == 'mediapipe/hands,mediapipe/pose'
    topics = remaps(nodes['depth_node'])
    assert topics['mediapipe/pose'] == 'mediapipe/pose'
    assert topics['mediapipe/pose_3d'] == 'mediapipe/pose_3d'
    every = launch(enable_depth='true', enable_face_mesh='true', enable_face_detection='true',
                   enable_hands='true', enable_pose='true')
    assert parameters(every['depth_node'])['mediapipe_topics'].split(',') == [
        'mediapipe/face_mesh', 'mediapipe/hands', 'mediapipe/pose', 'mediapipe/face_detection']
    assert parameters(launch(enable_depth='true')['depth_node'])['mediapipe_topics'] == ''


def test_by_default_the_nodes_run_in_one_container():
    nodes = launch(single_process=LAUNCH_DEFAULTS['single_process'])
    assert list(nodes) == ['perception_container']
    assert LAUNCH_DEFAULTS['single_process'] == 'true'


def test_single_process_runs_the_selected_nodes_in_one_container():
    nodes = launch(single_process='true', enable_keypoints='true', enable_depth='true',
                   depth_topic='/cam/aligned_depth/image_raw', source='video.mp4',
                   backend='tensorrt')
    assert sorted(nodes) == ['perception_container']
    container = nodes['perception_container']
    arguments = [str(a[0].perform(LaunchContext())) if isinstance(a, list) else str(a)
                 for a in container._Node__arguments]
    assert arguments[:2] == ['--nodes', 'camera_node,yolov5_node,keypoint_node,'
                                        'visualizer_node,depth_node']
    topics = remaps(container)  # each node's remaps, targeted at that node
    assert topics['depth_node:depth/image_raw'] == '/cam/aligned_depth/image_raw'
    assert topics['keypoint_node:detections'] == 'detections'
    assert topics['visualizer_node:camera/image_raw'] == 'camera/image_raw'
    values = parameters(container)
    assert values['source'] == 'video.mp4' and values['backend'] == 'tensorrt'
    assert values['use_keypoints'] is True

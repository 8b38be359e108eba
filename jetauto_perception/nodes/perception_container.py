"""
``perception_container``: several perception nodes in one process (``single_process:=true``).

    ros2 run jetauto_perception perception_container --nodes camera_node,yolov5_node,pose_node \
        --ros-args --params-file config/perception.yaml

Each node stays a separate ROS node (its own name, parameters, topics, lifecycle and
/diagnostics); the ``--ros-args`` apply to all of them. What changes is the data path: the frames
are captured (an in-process ``camera_node``) or received and decoded (one ``camera/image_raw``
subscription of the ``perception_container`` node) once, and handed to each active model node
as a shared :class:`~jetauto_perception.nodes.frames.Frame`; with ``yolov5_node`` and
``keypoint_node`` both here, the detector hands each frame and its detections straight to the
keypoint node. One interpreter, one copy of numpy, OpenCV and the inference runtimes, on a
MultiThreadedExecutor (the models run in their nodes' worker threads).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, Dict, List, Optional, Tuple

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import Image

from . import base
from .base import ERROR_THROTTLE_S, IMAGE_QOS, ImageInferenceNode, StartupError
from .conversions import image_to_bgr
from .frames import Frame
from .runtime import init, spin_until_shutdown
from ..errors import ImageFormatError

#: node name -> (module under jetauto_perception.nodes, class), in start-up order
NODE_CLASSES: Dict[str, Tuple[str, str]] = {
    'yolov5_node': ('yolov5_node', 'YoloV5Node'),
    'keypoint_node': ('keypoint_node', 'KeypointNode'),
    'face_mesh_node': ('mediapipe_nodes', 'FaceMeshNode'),
    'hands_node': ('mediapipe_nodes', 'HandsNode'),
    'pose_node': ('mediapipe_nodes', 'PoseNode'),
    'face_detection_node': ('mediapipe_nodes', 'FaceDetectionNode'),
    'segmentation_node': ('mediapipe_nodes', 'SegmentationNode'),
    'visualizer_node': ('visualizer_node', 'VisualizerNode'),
    'depth_node': ('depth_node', 'DepthNode'),
    'camera_node': ('camera_node', 'CameraNode'),
}


class FrameHub:
    """Hands every frame to the active model nodes that take frames from it."""

    def __init__(self, consumers: List[ImageInferenceNode]) -> None:
        self.consumers = consumers

    def dispatch(self, frame: Frame) -> None:
        for node in self.consumers:
            if node.state == 'active':
                node.on_image(frame)


class ImageReceiver(Node):
    """The one ``camera/image_raw`` subscription when the camera is in another process."""

    def __init__(self, hub: FrameHub) -> None:
        super().__init__('perception_container')
        self.hub = hub
        self.subscription = self.create_subscription(Image, 'camera/image_raw', self.on_image,
                                                     IMAGE_QOS)

    def on_image(self, msg: Image) -> None:
        try:
            image = image_to_bgr(msg)
        except ImageFormatError as exc:
            self.get_logger().error('skipping a bad image message on %s: %s'
                                    % (self.subscription.topic_name, exc),
                                    throttle_duration_sec=ERROR_THROTTLE_S)
            return
        self.hub.dispatch(Frame(msg.header, image))


def create_nodes(names: List[str]) -> Dict[str, Node]:
    """Build the named nodes (model nodes without image subscriptions) in start-up order."""
    nodes: Dict[str, Node] = {}
    base.SHARED_PROCESS = True
    try:
        for name in NODE_CLASSES:
            if name not in names:
                continue
            module, class_name = NODE_CLASSES[name]
            node_class = getattr(importlib.import_module('jetauto_perception.nodes.' + module),
                                 class_name)
            in_process = issubclass(node_class, ImageInferenceNode)
            nodes[name] = node_class(in_process=True) if in_process else node_class()
    except BaseException:
        for node in nodes.values():
            node.destroy_node()
        raise
    return nodes


def connect(nodes: Dict[str, Node]) -> List[Node]:
    """Wire the in-process data path; returns extra nodes to spin (the image receiver)."""
    models = [n for n in nodes.values() if isinstance(n, ImageInferenceNode)]
    detector, keypoints = nodes.get('yolov5_node'), nodes.get('keypoint_node')
    if keypoints is not None and getattr(keypoints, 'use_detections', False):
        models.remove(keypoints)
        if detector is None:
            keypoints.get_logger().warning(
                'in one process keypoint_node takes its person boxes from yolov5_node in the '
                'same process: start both (or set use_detections: false)')
        else:
            def hand_over(frame: Any, detections: Any) -> None:
                if keypoints.state == 'active':
                    keypoints.on_image(frame)
                    keypoints.on_detections(detections)
            detector.result_listeners.append(hand_over)
    hub = FrameHub(models)
    camera = nodes.get('camera_node')
    if camera is not None:
        camera.frame_listeners.append(hub.dispatch)
        return []
    return [ImageReceiver(hub)] if models else []


def main(args: Optional[List[str]] = None) -> None:
    argv = sys.argv if args is None else args
    parser = argparse.ArgumentParser(prog='perception_container', description=__doc__.split(
        '\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nodes', default='camera_node,yolov5_node,visualizer_node',
                        help='comma-separated nodes to run: %s' % ', '.join(NODE_CLASSES))
    options = parser.parse_args(remove_ros_args(argv)[1:])
    names = [n.strip() for n in options.nodes.split(',') if n.strip()]
    unknown = [n for n in names if n not in NODE_CLASSES]
    if unknown:
        parser.error('unknown nodes %s (use %s)' % (', '.join(unknown), ', '.join(NODE_CLASSES)))
    init(argv)
    try:
        nodes = create_nodes(names)
    except StartupError as exc:
        rclpy.logging.get_logger('perception_container').fatal('cannot start: %s' % exc)
        rclpy.try_shutdown()
        sys.exit(1)
    everything = connect(nodes) + list(nodes.values())
    camera = nodes.get('camera_node')
    executor = MultiThreadedExecutor(num_threads=len(everything) + 2)  # callbacks never queue
    spin_until_shutdown(everything, executor,
                        done=lambda: camera is not None and camera.exit_code is not None)
    sys.exit((camera.exit_code or 0) if camera is not None else 0)


if __name__ == '__main__':
    main()

"""
jetauto_perception: ROS 2 perception for the Hiwonder JetAuto (YOLOv5, keypoints, MediaPipe).

The ``core`` sub-package is ROS-free and does all the work; ``nodes`` holds thin rclpy nodes.
"""

__version__ = '0.1.0'

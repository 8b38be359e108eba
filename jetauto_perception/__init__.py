"""
jetauto_perception: ROS 2 perception for the Hiwonder JetAuto (YOLOv5, keypoints, MediaPipe).

Sub-packages follow the pipeline (source → pre-process → engine → decode → message): ``sources``,
``engines``, ``detection``, ``keypoints``, ``landmarks``, ``drawing``, ``evaluation``,
``quantization`` and ``models`` are ROS-free; ``nodes`` holds the thin rclpy nodes and
``commands`` the ``jetauto-perception`` CLI that run them.
"""

__version__ = '0.1.0'

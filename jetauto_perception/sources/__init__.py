"""
Where frames come from, before any model: cameras, streams, videos, image folders and messages.

Owns live capture with pacing and reconnection (``capture``), offline files (``files``), camera
calibration files (``camera_info``) and sensor_msgs/Image buffers <-> BGR arrays
(``image_codec``, no ROS import).
"""

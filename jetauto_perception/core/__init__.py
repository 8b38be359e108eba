"""
ROS-free core: pre-processing, inference engines, decoders and plain-data results.

Nothing in this package imports rclpy or any ROS message package, so it runs and is tested
anywhere (Python 3.8+).
"""

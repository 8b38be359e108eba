"""Thin rclpy nodes: parameters, message conversion, a call into the ROS-free packages, publish."""

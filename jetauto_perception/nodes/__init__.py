"""Thin rclpy nodes: parameters, message conversion, a call into ``core``, publishing."""

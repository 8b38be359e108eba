"""
Pictures of results: boxes, skeletons and landmarks drawn on images, and rviz marker geometry.

``draw`` draws one result kind on a BGR image; ``visualization`` combines every kind for the
visualizer and the demo and computes where markers go on the image plane.
"""

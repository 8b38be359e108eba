"""
3D from an aligned depth image (ROS-free): where the detected objects and keypoints are.

Owns depth decoding and checks (:mod:`.depth`: ``16UC1`` millimetres or ``32FC1`` metres,
0 / NaN = no depth, size against the colour image) and the localizer (:mod:`.localize`: an
object's robust depth, its 3D centre and size in the camera's optical frame, 3D keypoints).
``depth_node`` and ``jetauto-perception localize`` use it.
"""

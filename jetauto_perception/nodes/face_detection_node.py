"""``face_detection_node``: camera/image_raw -> mediapipe/face_detection (box + 6 keypoints)."""
from __future__ import annotations

from .mediapipe_nodes import face_detection_main as main
from .mediapipe_nodes import FaceDetectionNode

__all__ = ['FaceDetectionNode', 'main']

if __name__ == '__main__':
    main()

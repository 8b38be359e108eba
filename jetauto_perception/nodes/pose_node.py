"""``pose_node``: camera/image_raw -> mediapipe/pose (33 body landmarks per person)."""
from __future__ import annotations

from .mediapipe_nodes import pose_main as main
from .mediapipe_nodes import PoseNode

__all__ = ['PoseNode', 'main']

if __name__ == '__main__':
    main()

"""``hands_node``: camera/image_raw -> mediapipe/hands (21 joints + handedness per hand)."""
from __future__ import annotations

from .mediapipe_nodes import hands_main as main
from .mediapipe_nodes import HandsNode

__all__ = ['HandsNode', 'main']

if __name__ == '__main__':
    main()

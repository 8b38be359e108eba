"""``segmentation_node``: camera/image_raw -> mediapipe/selfie_mask (person mask, mono8)."""
from __future__ import annotations

from .mediapipe_nodes import segmentation_main as main
from .mediapipe_nodes import SegmentationNode

__all__ = ['SegmentationNode', 'main']

if __name__ == '__main__':
    main()

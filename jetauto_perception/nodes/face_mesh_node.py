"""``face_mesh_node``: camera/image_raw -> mediapipe/face_mesh (478 face landmarks per face)."""
from __future__ import annotations

from .mediapipe_nodes import face_mesh_main as main
from .mediapipe_nodes import FaceMeshNode

__all__ = ['FaceMeshNode', 'main']

if __name__ == '__main__':
    main()

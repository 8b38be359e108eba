"""
Top-down heatmap human keypoints: person boxes → crops → engine → heatmap decode → COCO-17 points.

Owns the COCO-17 layout (``coco17``), the affine crop (``crop``), heatmap decoding on the CPU
(``heatmap_decode``) and in CUDA (``cuda_pose``), and the estimator that runs them (``estimator``).
"""

"""Accuracy: detection mAP (``detection_map``) and keypoint OKS / AP (``keypoint_oks``)."""

"""
Object detection with YOLOv5: image → letterbox → engine → decode → NMS → boxes in source pixels.

Owns the detector's pre-processing (``letterbox``), its output decoding and class-aware NMS
(``yolov5``, ``nms``), the GPU variants of both (``cuda_yolo``) and the plain-data result
(``detections``) every later stage reads.
"""

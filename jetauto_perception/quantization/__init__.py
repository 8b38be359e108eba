"""
Reduced-precision models: calibration data prepared with the nodes' own pre-processing.

``calibration`` turns images into the detector's input batches for TensorRT's INT8 calibrator.
"""

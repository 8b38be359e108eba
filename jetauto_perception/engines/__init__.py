"""
Inference engines: the model-agnostic interface and its backends.

Owns how a model file becomes something that maps named numpy inputs to named outputs:
``base`` (the interface and engine options), ``factory`` (picks a backend), ONNX Runtime and
TensorRT + pycuda backends, and the shared CUDA context (``cuda_context``). Knows nothing about
what the models detect.
"""

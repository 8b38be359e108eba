"""
How TensorRT 8.5 → 11 builds an engine of a given precision: network typing, builder flags.

Plain Python (no TensorRT import), so every version branch is tested where TensorRT is absent;
``tensorrt_engine.build_engine`` carries the plan out. The rules, from NVIDIA's docs:

* TensorRT 11 removed weak typing: no ``BuilderFlag.FP16``/``INT8``, no calibrators, every
  network strongly typed; FP16 comes from an FP16 ONNX (NVIDIA prescribes ModelOpt AutoCast with
  ``keep_io_types=True``; onnxconverter-common's float16 conversion does the same without torch),
  INT8 from Q/DQ nodes.
  https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-python-api-patterns.html
  https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-c-api-reference.html
* Explicit quantization (a Q/DQ ONNX) goes with strong typing where the version has it
  (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, TensorRT 10): "Precision-control build
  flags are not required and should not be specified".
  https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/quantized-types-explicit-quantization.html
* TensorRT 8.5/8.6 build a Q/DQ network weakly typed and need ``BuilderFlag.INT8`` for any
  quantized layer (plus ``FP16`` so the layers left in float may run in FP16): TensorRT 8.6
  developer guide, "Explicit Versus Implicit Quantization".
  https://docs.nvidia.com/deeplearning/tensorrt/archives/tensorrt-861/developer-guide/index.html
* Implicit quantization (``IInt8EntropyCalibrator2``) is deprecated from TensorRT 10.1 and gone
  in 11: kept for < 10.1 only, and only when calibration images or a cache are given.
  https://docs.nvidia.com/deeplearning/tensorrt/api/c_api/deprecated.html
  https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/python-api/infer/Int8/Calibrator.html
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Tuple

from ..errors import ModelError

QUANTIZE_HINT = ('quantize the model first: `jetauto-perception quantize --onnx MODEL.onnx '
                 '--output MODEL.int8.onnx --calib DIR_OR_VIDEO`, and give that file')


@dataclass
class BuildPlan:
    """What to do for one build."""

    #: The engine's precision (``int8`` for a Q/DQ model whatever was asked).
    precision: str
    strongly_typed: bool
    #: ``trt.BuilderFlag`` member names to set.
    builder_flags: List[str] = field(default_factory=list)
    #: Convert the ONNX file to FP16 (inputs/outputs kept FP32) before parsing.
    fp16_onnx: bool = False
    #: Use TensorRT's implicit INT8 calibrator.
    calibrator: bool = False
    notes: List[str] = field(default_factory=list)

    @property
    def cache_tag(self) -> str:
        """How the engine was quantized, for the engine-cache name."""
        if self.precision != 'int8':
            return ''
        return 'calib' if self.calibrator else 'qdq'


def version_tuple(version: str) -> Tuple[int, int]:
    """``'10.3.0.26'`` → ``(10, 3)``."""
    parts = (version.split('.') + ['0'])[:2]
    return int(parts[0]), int(''.join(c for c in parts[1] if c.isdigit()) or 0)


def plan_build(version: Tuple[int, int], precision: str, qdq_model: bool,
               calibration_given: bool = False, has_strong_typing: bool = True) -> BuildPlan:
    """
    Plan the build of ``precision`` on TensorRT ``version`` (``qdq_model``: a Q/DQ ONNX).

    ``calibration_given``: calibration images or a calibration cache exist (implicit INT8);
    ``has_strong_typing``: this TensorRT has ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``.
    Raises :class:`ModelError` with the fix when the version cannot build it.
    """
    if version < (8, 5):
        raise ModelError('TensorRT %d.%d is too old: 8.5 or newer is needed (JetPack 5.1+)'
                         % version)
    weak_typing = version < (11, 0)
    if qdq_model:
        notes = []
        if precision != 'int8':
            notes.append('the model has Q/DQ nodes: building an INT8 engine (precision %s '
                         'ignored)' % precision)
        if has_strong_typing or not weak_typing:
            notes.append("strongly typed: layers without Q/DQ run in the ONNX file's float "
                         'type')
            return BuildPlan('int8', True, notes=notes)
        return BuildPlan('int8', False, ['INT8', 'FP16'], notes=notes)
    if precision == 'int8':
        if version >= (10, 1):
            raise ModelError('TensorRT %d.%d builds INT8 only from a Q/DQ model (implicit '
                             'calibration is deprecated from 10.1 and removed in 11): %s'
                             % (version + (QUANTIZE_HINT,)))
        if not calibration_given:
            raise ModelError('precision int8 needs a Q/DQ model (%s), or, on this TensorRT '
                             '%d.%d only, calibration images for its deprecated implicit '
                             'calibration (`build-engine --precision int8 --calib-images DIR`)'
                             % ((QUANTIZE_HINT,) + version))
        return BuildPlan('int8', False, ['INT8', 'FP16'], calibrator=True,
                         notes=['implicit INT8 calibration (deprecated from TensorRT 10.1)'])
    if precision == 'fp16':
        if weak_typing:
            return BuildPlan('fp16', False, ['FP16'])
        return BuildPlan('fp16', True, fp16_onnx=True,
                         notes=['TensorRT 11 has no FP16 flag: building from an FP16 copy of '
                                'the ONNX (inputs and outputs kept FP32)'])
    return BuildPlan('fp32', not weak_typing)

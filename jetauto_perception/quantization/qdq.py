"""
Explicit INT8 quantization: a float ONNX model in, a TensorRT-buildable Q/DQ ONNX model out.

ONNX Runtime's quantizer (``onnxruntime.quantization``) does the graph work; this module decides
what it is given:

* only ``Conv`` inputs are quantized (activation + per-channel weight), so the YOLOv5 decode and
  the model outputs stay float (quantizing the decode gives 0 detections: box pixels and scores
  would share one scale);
* symmetric int8 everywhere (zero point 0), the bias kept float (no int32 bias
  ``DequantizeLinear``, which TensorRT does not take), opset >= 13 (per-channel axes);
* each activation's clipping threshold comes from one ORT histogram pass over the calibration
  batches, by a rule chosen per tensor (:data:`CLIP_RULES`), given to the quantizer as explicit
  scales (``TensorQuantOverrides``);
* layers can be put back to float afterwards (:func:`keep_in_float`), which is how the per-layer
  sensitivity is measured and how the most sensitive layers are kept in float.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import io
import os
import tempfile
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence,
                    Set)

import numpy as np

from ..errors import BackendUnavailableError, ModelError

MIN_OPSET = 13
QUANTIZED_OPS = ('Conv',)
INT8_MAX = 127
#: Clipping rules for an activation's symmetric range, computed from its ``|x|`` histogram.
CLIP_RULES = ('max', 'p99.999', 'p99.99', 'mse')
#: The metadata the package reads from a model (YOLOv5's class names and stride among them).
HISTOGRAM_BINS = 2048


def onnx_module() -> Any:
    """Import ``onnx`` (and check ``onnxruntime.quantization`` imports) or say how to install."""
    try:
        import onnx
        import onnxruntime.quantization  # noqa: F401  (needs onnx and sympy)
    except ImportError as exc:
        raise BackendUnavailableError(
            'quantization needs onnx, sympy and onnxruntime (%s): '
            '`pip install "jetauto_perception[quantize]"` or `pip install onnx sympy '
            'onnxruntime`' % exc) from None
    return onnx


def default_opset(model: Any) -> int:
    """Return the model's ``ai.onnx`` opset version."""
    for entry in model.opset_import:
        if entry.domain in ('', 'ai.onnx'):
            return int(entry.version)
    return 0


def load_float_model(path: str) -> Any:
    """
    Load a float ONNX model ready for quantization: opset >= 13, every node named, shapes known.

    Per-channel ``QuantizeLinear``/``DequantizeLinear`` (their ``axis``) exist from opset 13;
    older models (the shared YOLOv5n export is opset 12, the pose model 8) are converted with
    ``onnx.version_converter``.
    """
    onnx = onnx_module()
    try:
        model = onnx.load(path)
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ModelError("cannot read ONNX model '%s' (%s)" % (path, exc)) from None
    if default_opset(model) < MIN_OPSET:
        from onnx import version_converter
        try:
            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception:  # e.g. a BatchNormalization the converter has no adapter for
            try:
                model = version_converter.convert_version(_basic_optimized(path), MIN_OPSET)
            except Exception as exc:  # the converter raises plain RuntimeError/ValueError
                raise ModelError("cannot convert '%s' from opset %d to %d for per-channel "
                                 'quantization (%s): re-export it with opset >= 13'
                                 % (path, default_opset(model), MIN_OPSET, exc)) from None
            _drop_initializer_inputs(model)
    used = {node.name for node in model.graph.node if node.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = '%s_%d' % (node.op_type, index)
            while name in used:
                name += '_'
            node.name = name
            used.add(name)
    return onnx.shape_inference.infer_shapes(model)


def _basic_optimized(path: str) -> Any:
    """
    Apply ONNX Runtime's basic (ONNX-standard) graph rewrites, for the opset converter.

    Folding BatchNormalization into Conv removes the node the opset converter cannot move from
    opset 8 (the shared pose model's); older-IR style (initializers listed as inputs) is what
    the converter expects of such a model.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper
    with tempfile.TemporaryDirectory(prefix='jetauto-quant-') as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, 'optimized.onnx')
        ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        model = onnx.load(options.optimized_model_filepath)
    opset = default_opset(model)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid('', opset))
    inputs = {i.name for i in model.graph.input}
    for init in model.graph.initializer:
        if init.name not in inputs:
            model.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type,
                                                                   list(init.dims)))
    return model


def _drop_initializer_inputs(model: Any) -> None:
    constants = {init.name for init in model.graph.initializer}
    for entry in [i for i in model.graph.input if i.name in constants]:
        model.graph.input.remove(entry)


def quantizable_nodes(model: Any) -> Dict[str, str]:
    """``{node name: activation input}`` of the nodes to quantize (Conv with a constant weight)."""
    constants = {init.name for init in model.graph.initializer}
    nodes = {}
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS and len(node.input) >= 2 \
                and node.input[1] in constants and node.input[0] not in constants:
            nodes[node.name] = node.input[0]
    return nodes


def output_layers(model: Any) -> List[str]:
    """
    Find the Conv layers whose outputs reach a model output through no other Conv (the head).

    YOLOv5's decode reads their outputs as box offsets and scores, the heatmap model's last Conv
    gives the heatmaps: int8 on their inputs shows directly in box pixels and keypoint peaks.
    """
    consumers: Dict[str, List[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in model.graph.output}
    reaches: Dict[str, bool] = {}

    def reaches_output(node: Any) -> bool:
        if node.name not in reaches:
            reaches[node.name] = False
            reaches[node.name] = any(
                out in outputs or any(after.op_type not in QUANTIZED_OPS and reaches_output(after)
                                      for after in consumers.get(out, []))
                for out in node.output)
        return reaches[node.name]

    return [node.name for node in model.graph.node
            if node.op_type in QUANTIZED_OPS and reaches_output(node)]


@dataclass
class AbsHistogram:
    """Histogram of ``|x|`` of one tensor over the calibration set (ORT's collector)."""

    counts: np.ndarray
    edges: np.ndarray

    @property
    def amax(self) -> float:
        nonzero = np.nonzero(self.counts)[0]
        return float(self.edges[nonzero[-1] + 1]) if nonzero.size else 0.0

    def percentile(self, percent: float) -> float:
        """Return the ``|x|`` below which ``percent`` % of the values fall (bin upper edge)."""
        cumulative = np.cumsum(self.counts, dtype=np.float64)
        if cumulative[-1] == 0:
            return 0.0
        index = int(np.searchsorted(cumulative, cumulative[-1] * percent / 100.0))
        return float(self.edges[min(index, len(self.counts) - 1) + 1])

    def mse_threshold(self, candidates: int = 512) -> float:
        """
        Find the threshold of least expected int8 error: rounding noise inside, clipping outside.

        Error model per candidate ``t`` (step ``t / 127``): ``step² / 12`` for every value below
        ``t``, ``(|x| - t)²`` for every value above it, on the bin centres.
        """
        amax = self.amax
        if amax <= 0:
            return 0.0
        centres = (self.edges[:-1] + self.edges[1:]) / 2.0
        counts = self.counts.astype(np.float64)
        thresholds = np.linspace(amax / candidates, amax, candidates)
        inside = centres[None, :] <= thresholds[:, None]
        noise = (thresholds / INT8_MAX) ** 2 / 12.0 * (inside * counts).sum(1)
        clipped = (np.where(inside, 0.0, (centres[None, :] - thresholds[:, None]) ** 2)
                   * counts).sum(1)
        return float(thresholds[int(np.argmin(noise + clipped))])

    def threshold(self, rule: str) -> float:
        """Return the clipping threshold of ``rule`` (one of :data:`CLIP_RULES`)."""
        if rule == 'max':
            return self.amax
        if rule == 'mse':
            return self.mse_threshold()
        if rule.startswith('p'):
            return self.percentile(float(rule[1:]))
        raise ValueError("unknown clipping rule '%s': use one of %s"
                         % (rule, ', '.join(CLIP_RULES)))


class _BatchReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over in-memory batches."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self._feeds = iter([{input_name: batch} for batch in batches])

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        return next(self._feeds, None)


def _reader(input_name: str, batches: Iterable[np.ndarray]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(_BatchReader, CalibrationDataReader):
        pass
    return Reader(input_name, batches)


def _chunks(items: Iterable[np.ndarray], size: int) -> Iterator[List[np.ndarray]]:
    chunk: List[np.ndarray] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def collect_histograms(model: Any, batches: Iterable[np.ndarray],
                       tensors: Sequence[str], bins: int = HISTOGRAM_BINS,
                       progress: Optional[Callable[[int], None]] = None
                       ) -> Dict[str, AbsHistogram]:
    """
    ``|x|`` histograms of ``tensors`` over the calibration ``batches`` (one ORT pass).

    ORT's percentile calibrator collects them; it is fed a few batches at a time because it keeps
    every intermediate output of one ``collect_data`` call in memory.
    """
    onnx = onnx_module()
    from onnxruntime.quantization import CalibrationMethod, create_calibrator
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix='jetauto-quant-') as tmp:
        path = os.path.join(tmp, 'float.onnx')
        onnx.save(model, path)
        calibrator = create_calibrator(
            path, list(QUANTIZED_OPS), augmented_model_path=os.path.join(tmp, 'augmented.onnx'),
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={'symmetric': True, 'num_bins': bins})
        done = 0
        for chunk in _chunks(batches, 4):
            with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per call
                calibrator.collect_data(_reader(input_name, chunk))
            done += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if done == 0:
            raise ModelError('no calibration data: give --calib images or a video')
        histograms = calibrator.collector.histogram_dict
    missing = [t for t in tensors if t not in histograms]
    if missing:
        raise ModelError('calibration collected no data for %s' % missing[:5])
    return {t: AbsHistogram(np.asarray(histograms[t][0]), np.asarray(histograms[t][1],
                                                                     np.float64))
            for t in tensors}


def thresholds_for(histograms: Mapping[str, AbsHistogram],
                   rules: Mapping[str, str]) -> Dict[str, float]:
    """``{tensor: threshold}`` with the rule ``rules[tensor]`` (``rules['*']`` as default)."""
    return {tensor: histogram.threshold(rules.get(tensor, rules.get('*', 'max')))
            for tensor, histogram in histograms.items()}


def quantize_model(model: Any, thresholds: Mapping[str, float],
                   calibration_batch: np.ndarray,
                   nodes_to_exclude: Sequence[str] = ()) -> Any:
    """
    Quantize ``model``'s Conv layers to Q/DQ with the given activation thresholds.

    Weights per output channel, symmetric; activations symmetric with ``scale = t / 127``,
    zero point 0. ORT still runs its own calibration pass, on ``calibration_batch`` only: every
    activation range it would use is overridden.
    """
    onnx = onnx_module()
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    overrides = {tensor: [{'scale': np.array(max(t, 1e-8) / INT8_MAX, np.float32),
                           'zero_point': np.array(0, np.int8)}]
                 for tensor, t in thresholds.items()}
    with tempfile.TemporaryDirectory(prefix='jetauto-quant-') as tmp:
        source = os.path.join(tmp, 'float.onnx')
        target = os.path.join(tmp, 'qdq.onnx')
        onnx.save(model, source)
        quantize_static(
            source, target, _reader(model.graph.input[0].name, [calibration_batch]),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=list(nodes_to_exclude),
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={'ActivationSymmetric': True, 'WeightSymmetric': True,
                           'QuantizeBias': False, 'TensorQuantOverrides': overrides,
                           'OpTypesToExcludeOutputQuantization': list(QUANTIZED_OPS),
                           'DedicatedQDQPair': True})
        quantized = onnx.load(target)
    _float_for_other_consumers(quantized, set(nodes_to_exclude))
    copy_metadata(model, quantized)
    return quantized


def _float_for_other_consumers(model: Any, excluded: Set[str]) -> None:
    """
    Give every consumer of a quantized activation but the quantized Convs the float tensor back.

    ONNX Runtime hands the dequantized tensor to every consumer of a quantized activation (the
    residual ``Add`` and the ``Concat`` of YOLOv5, an excluded Conv that shares its input with
    a quantized one); only the quantized Conv layers are meant to read int8, so the others read
    the float tensor as in the float model.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    float_of = {}
    for node in graph.node:
        if node.op_type == 'DequantizeLinear':
            source = producer.get(node.input[0])
            if source is not None and source.op_type == 'QuantizeLinear':
                float_of[node.output[0]] = source.input[0]
    for node in graph.node:
        if (node.op_type in QUANTIZED_OPS and node.name not in excluded) \
                or node.op_type in ('QuantizeLinear', 'DequantizeLinear'):
            continue
        for index, name in enumerate(node.input):
            if name in float_of:
                node.input[index] = float_of[name]
    _prune(model)


def copy_metadata(source: Any, target: Any) -> None:
    """Copy the model metadata (class names, stride, ...) from ``source`` to ``target``."""
    existing = {entry.key: entry for entry in target.metadata_props}
    for entry in source.metadata_props:
        if entry.key in existing:
            existing[entry.key].value = entry.value
        else:
            target.metadata_props.add(key=entry.key, value=entry.value)


def keep_in_float(quantized: Any, float_model: Any, node_names: Iterable[str]) -> Any:
    """
    Copy ``quantized`` with the layers ``node_names`` back in float (no Q/DQ on their inputs).

    Each named node takes its inputs from ``float_model`` again (its float weight is added back);
    Q/DQ nodes and quantized weights no longer used are removed.
    """
    onnx = onnx_module()
    names = set(node_names)
    model = onnx.ModelProto()
    model.CopyFrom(quantized)
    float_nodes = {node.name: node for node in float_model.graph.node}
    float_inits = {init.name: init for init in float_model.graph.initializer}
    have = {init.name for init in model.graph.initializer}
    for node in model.graph.node:
        if node.name not in names:
            continue
        original = float_nodes.get(node.name)
        if original is None:
            raise ModelError("layer '%s' is not in the float model" % node.name)
        del node.input[:]
        node.input.extend(original.input)
        for name in original.input:
            if name in float_inits and name not in have:
                model.graph.initializer.append(float_inits[name])
                have.add(name)
    _prune(model)
    return model


def _prune(model: Any) -> None:
    """Remove nodes whose outputs nothing uses, then unused initializers."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {name for node in graph.node for name in node.input}
        dead = [node for node in graph.node if not any(o in used for o in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def quantized_layers(model: Any) -> List[str]:
    """Names of the nodes whose inputs come through ``DequantizeLinear``."""
    produced_by_dq = {out for node in model.graph.node if node.op_type == 'DequantizeLinear'
                      for out in node.output}
    return [node.name for node in model.graph.node
            if node.op_type not in ('QuantizeLinear', 'DequantizeLinear')
            and any(name in produced_by_dq for name in node.input)]


def tensorrt_problems(model: Any) -> List[str]:
    """
    List what in a Q/DQ model would keep TensorRT from building it as intended (empty: none).

    Checks: opset >= 13; int8 Q/DQ with zero point 0 (TensorRT takes symmetric quantization
    only); no int32 (bias) ``DequantizeLinear``; every Q/DQ node leads to a Conv (none on the
    decode after the last Conv or on an output).
    """
    onnx = onnx_module()
    from onnx import numpy_helper
    problems = []
    if default_opset(model) < MIN_OPSET:
        problems.append('opset %d < %d' % (default_opset(model), MIN_OPSET))
    graph = model.graph
    constants = {init.name: init for init in graph.initializer}
    consumers: Dict[str, List[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    leads_to_conv: Dict[str, bool] = {}

    def reaches_conv(node: Any) -> bool:
        if node.name not in leads_to_conv:
            leads_to_conv[node.name] = False  # cycles cannot occur; this guards recursion
            leads_to_conv[node.name] = any(
                after.op_type in QUANTIZED_OPS or reaches_conv(after)
                for out in node.output for after in consumers.get(out, []))
        return leads_to_conv[node.name]

    for node in graph.node:
        if node.op_type not in ('QuantizeLinear', 'DequantizeLinear'):
            continue
        if len(node.input) > 2 and node.input[2] in constants:
            zero = numpy_helper.to_array(constants[node.input[2]])
            if zero.dtype != np.int8:
                problems.append('%s: zero point of type %s, not int8' % (node.name, zero.dtype))
            elif np.any(zero != 0):
                problems.append('%s: zero point not 0 (asymmetric)' % node.name)
        elif node.op_type == 'QuantizeLinear':
            problems.append('%s: no int8 zero point (QuantizeLinear defaults to uint8)'
                            % node.name)
        if node.op_type == 'DequantizeLinear' and node.input[0] in constants:
            kind = constants[node.input[0]].data_type
            if kind != onnx.TensorProto.INT8:
                problems.append('%s: dequantizes a %s constant (e.g. an int32 bias)'
                                % (node.name, onnx.TensorProto.DataType.Name(kind)))
        if any(out in outputs for out in node.output):
            problems.append('%s: a model output is quantized' % node.name)
        elif not reaches_conv(node):
            problems.append('%s: Q/DQ after the last Conv (on the decode)' % node.name)
    return problems

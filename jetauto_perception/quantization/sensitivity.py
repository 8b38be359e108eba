"""
Per-layer quantization sensitivity and the per-tensor choice of clipping rule.

A layer's sensitivity is the model's output error when only that layer is quantized (every other
layer in float), measured on a few calibration inputs against the float model's outputs. The
same measurement, made once per clipping rule, picks each activation's rule; the layers whose
error stays the largest are kept in float.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .qdq import keep_in_float, quantizable_nodes


def session(model: Any, threads: int = 0) -> Any:
    """Open an ONNX Runtime CPU session of an in-memory model."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads > 0:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                providers=['CPUExecutionProvider'])


class OutputError:
    """
    How far a model's outputs are from the float model's, on fixed inputs (0 = identical).

    Heatmap models: per output channel (one keypoint each) the noise-to-signal ratio
    ``sum((q - f)²) / sum(f²)``, averaged over channels. YOLOv5 (``detection=True``): the rows are
    weighted by their float confidence (objectness × best class score), and each row's error is
    scale-free, so a few pixels on a small box count as much as on a big one: centre shift over
    the box diagonal, relative width and height change, and the relative change of its
    confidence. A ratio over raw outputs would be dominated by box pixels (hundreds) and miss
    the localisation errors that mAP50-95 punishes.
    """

    def __init__(self, float_model: Any, batches: Sequence[np.ndarray], channel_axis: int = 1,
                 detection: bool = False, threads: int = 0) -> None:
        self.batches = list(batches)
        self.channel_axis = channel_axis
        self.detection = detection
        self.threads = threads
        self.input_name = float_model.graph.input[0].name
        self.reference = self._run(float_model)
        self.runs = 0

    def _run(self, model: Any) -> List[List[np.ndarray]]:
        sess = session(model, self.threads)
        return [sess.run(None, {self.input_name: batch}) for batch in self.batches]

    @staticmethod
    def detection_error(ref: np.ndarray, out: np.ndarray) -> Tuple[float, float]:
        """``(weighted error sum, weight sum)`` of YOLOv5 rows ``(..., 5 + classes)``."""
        ref = ref.reshape(-1, ref.shape[-1]).astype(np.float64)
        out = out.reshape(-1, out.shape[-1]).astype(np.float64)
        conf_ref = ref[:, 4] * ref[:, 5:].max(axis=1)
        conf_out = out[:, 4] * out[:, 5:].max(axis=1)
        size = np.maximum(ref[:, 2:4], 1.0)
        centre = np.square(out[:, :2] - ref[:, :2]).sum(1) / np.square(size).sum(1)
        extent = np.square(np.log(np.maximum(out[:, 2:4], 1e-3) / size)).sum(1)
        score = np.square((conf_out - conf_ref) / np.maximum(conf_ref, 1e-6))
        return float((conf_ref * (centre + extent + score)).sum()), float(conf_ref.sum())

    def __call__(self, model: Any) -> float:
        self.runs += 1
        if self.detection:
            total = weight = 0.0
            for reference, outputs in zip(self.reference, self._run(model)):
                error, mass = self.detection_error(reference[0], outputs[0])
                total += error
                weight += mass
            return total / max(weight, 1e-12)
        signal: List[np.ndarray] = []
        noise: List[np.ndarray] = []
        for reference, outputs in zip(self.reference, self._run(model)):
            for index, (ref, out) in enumerate(zip(reference, outputs)):
                axes = tuple(a for a in range(ref.ndim) if a != self.channel_axis % ref.ndim)
                energy = np.square(ref, dtype=np.float64).sum(axis=axes)
                error = np.square(out.astype(np.float64) - ref).sum(axis=axes)
                if len(signal) <= index:
                    signal.append(np.zeros_like(energy))
                    noise.append(np.zeros_like(error))
                signal[index] += energy
                noise[index] += error
        return float(np.mean(np.concatenate([n / np.maximum(s, 1e-12)
                                             for n, s in zip(noise, signal)])))


@dataclass
class SensitivityResult:
    """Per layer and rule, the output error with only that layer quantized with that rule."""

    errors: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def best_rules(self, activations: Mapping[str, str]) -> Dict[str, str]:
        """
        ``{activation tensor: rule}`` with the least summed error over the layers it feeds.

        ``activations`` is ``{layer: activation input}``.
        """
        totals: Dict[str, Dict[str, float]] = {}
        for layer, tensor in activations.items():
            for rule, error in self.errors.get(layer, {}).items():
                totals.setdefault(tensor, {}).setdefault(rule, 0.0)
                totals[tensor][rule] += error
        return {tensor: min(by_rule, key=lambda r: by_rule[r])
                for tensor, by_rule in totals.items()}

    def ranking(self, rule_of_layer: Mapping[str, str]) -> List[str]:
        """Layers from the most to the least sensitive, each with its chosen rule."""
        return sorted(self.errors, key=lambda layer: -self.errors[layer][rule_of_layer[layer]])


def measure_sensitivity(float_model: Any, quantized_by_rule: Mapping[str, Any],
                        error: OutputError, layers: Optional[Sequence[str]] = None,
                        progress: Optional[Callable[[int], None]] = None) -> SensitivityResult:
    """
    Quantize one layer at a time (from each rule's fully quantized model) and measure.

    ``quantized_by_rule`` maps a rule name to the model quantized everywhere with that rule.
    """
    all_layers = list(layers if layers is not None else quantizable_nodes(float_model))
    result = SensitivityResult()
    for layer in all_layers:
        others = [name for name in all_layers if name != layer]
        result.errors[layer] = {}
        for rule, quantized in quantized_by_rule.items():
            result.errors[layer][rule] = error(keep_in_float(quantized, float_model, others))
            if progress is not None:
                progress(1)
    return result


def greedy_float_layers(quantized: Any, float_model: Any, ranking: Sequence[str], count: int,
                        error: OutputError, candidates: int = 8,
                        progress: Optional[Callable[[int], None]] = None) -> List[str]:
    """
    Choose ``count`` layers to keep in float, one at a time, by the whole model's error.

    Isolated sensitivities do not add up (a layer's error depends on what is quantized around
    it), so each step tries the ``candidates`` most sensitive layers not yet chosen on the
    current model and keeps the one whose return to float lowers the output error most.
    """
    chosen: List[str] = []
    for _ in range(count):
        trials = {}
        for layer in [name for name in ranking if name not in chosen][:candidates]:
            trials[layer] = error(keep_in_float(quantized, float_model, chosen + [layer]))
            if progress is not None:
                progress(1)
        if not trials:
            break
        chosen.append(min(trials, key=lambda name: trials[name]))
    return chosen

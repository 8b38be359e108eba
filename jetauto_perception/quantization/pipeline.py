"""
The quantization recipe, from calibration inputs to the final Q/DQ model.

Histograms → one Q/DQ model per clipping rule → per-layer sensitivity → per-tensor rule → the
most sensitive layers back in float.

Every intermediate model is kept as a :class:`Variant` with its output error, so the report can
say what each choice bought.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .qdq import (CLIP_RULES, collect_histograms, keep_in_float, output_layers,
                  quantizable_nodes, quantize_model, thresholds_for)
from .sensitivity import (greedy_float_layers, measure_sensitivity, OutputError,
                          SensitivityResult)
from ..errors import ModelError

LOG = logging.getLogger(__name__)
KINDS = ('yolov5', 'heatmap')

Progress = Callable[[str, int], None]


def model_kind(model: Any) -> str:
    """``yolov5`` (one ``(N, rows, 5 + classes)`` output) or ``heatmap`` (``(N, K, h, w)``)."""
    dims = [len(o.type.tensor_type.shape.dim) for o in model.graph.output]
    if len(model.graph.input) == 1 and dims and dims[0] == 3:
        return 'yolov5'
    if len(model.graph.input) == 1 and dims and dims[0] == 4:
        return 'heatmap'
    raise ModelError('cannot tell the model kind (outputs of rank %s): give --kind yolov5 or '
                     'heatmap' % dims)


def input_hw(model: Any) -> tuple:
    """Return the fixed ``(H, W)`` of the model's image input."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or not (dims[2].dim_value > 0 and dims[3].dim_value > 0):
        raise ModelError('quantization needs a fixed (N, 3, H, W) input; this model has %s'
                         % [d.dim_value or d.dim_param for d in dims])
    return int(dims[2].dim_value), int(dims[3].dim_value)


@dataclass
class QuantizeOptions:
    """How to quantize: candidate rules, layers kept in float, sensitivity inputs, threads."""

    #: Clipping rules to choose from per tensor (one rule = that rule everywhere).
    rules: Sequence[str] = CLIP_RULES
    #: How many more layers to keep in float, chosen by sensitivity (greedy, whole-model error).
    keep_float: int = 1
    #: Keep the output Convs (the detection head / the heatmap layer) in float.
    float_head: bool = True
    #: Calibration inputs the output error (sensitivity) is measured on.
    sensitivity_inputs: int = 4
    threads: int = 0

    def validate(self) -> None:
        unknown = [r for r in self.rules if r not in CLIP_RULES]
        if unknown or not self.rules:
            raise ValueError('unknown clipping rules %s: use some of %s'
                             % (unknown, ', '.join(CLIP_RULES)))
        if self.keep_float < 0 or self.sensitivity_inputs < 1:
            raise ValueError('keep_float must be >= 0 and sensitivity_inputs >= 1')


@dataclass
class Variant:
    """One quantized model along the recipe, with its output error on the sensitivity inputs."""

    name: str
    model: Any
    output_error: float
    float_layers: List[str] = field(default_factory=list)


@dataclass
class QuantizationResult:
    """The final model, the variants on the way, and the choices made."""

    model: Any
    variants: List[Variant]
    rules: Dict[str, str]
    float_layers: List[str]
    sensitivity: Optional[SensitivityResult]
    calibration_inputs: int
    layers: Dict[str, str]


def quantize(float_model: Any, batches: Sequence[np.ndarray], kind: str,
             options: Optional[QuantizeOptions] = None,
             progress: Optional[Progress] = None) -> QuantizationResult:
    """Run the recipe on ``float_model`` (from :func:`qdq.load_float_model`) and its inputs."""
    options = options or QuantizeOptions()
    options.validate()
    batches = list(batches)
    if not batches:
        raise ModelError('no calibration inputs: give --calib with images or a video')
    head = output_layers(float_model) if options.float_head else []
    layers = {name: tensor for name, tensor in quantizable_nodes(float_model).items()
              if name not in head}
    if not layers:
        raise ModelError('the model has no Conv layer to quantize')

    def step(name: str, count: int = 1) -> None:
        if progress is not None:
            progress(name, count)

    histograms = collect_histograms(float_model, batches, sorted(set(layers.values())),
                                    progress=lambda n: step('calibrate', n))
    by_rule = {}
    for rule in options.rules:
        by_rule[rule] = quantize_model(float_model, thresholds_for(histograms, {'*': rule}),
                                       batches[0], head)
        step('quantize')
    spread = np.linspace(0, len(batches) - 1, min(options.sensitivity_inputs, len(batches)))
    error = OutputError(float_model, [batches[int(i)] for i in spread.round()],
                        detection=kind == 'yolov5', threads=options.threads)
    variants = [Variant('%s, %s' % ('all but the head' if head else 'all layers', rule), model,
                        error(model), list(head))
                for rule, model in by_rule.items()]
    sensitivity = None
    rules = {tensor: options.rules[0] for tensor in histograms}
    final = by_rule[options.rules[0]]
    float_layers: List[str] = list(head)
    if len(options.rules) > 1 or options.keep_float > 0:
        sensitivity = measure_sensitivity(float_model, by_rule, error, list(layers),
                                          progress=lambda n: step('sensitivity', n))
        if len(options.rules) > 1:
            rules = sensitivity.best_rules(layers)
            final = quantize_model(float_model,
                                   {t: histograms[t].threshold(rules[t]) for t in histograms},
                                   batches[0], head)
            step('quantize')
            variants.append(Variant('%s, rule per tensor' % variants[0].name.split(',')[0],
                                    final, error(final), list(head)))
        ranking = sensitivity.ranking({layer: rules[t] for layer, t in layers.items()})
        chosen = greedy_float_layers(final, float_model, ranking, options.keep_float,
                                     error, progress=lambda n: step('keep float', n))
        if chosen:
            final = keep_in_float(final, float_model, chosen)
            float_layers += chosen
            variants.append(Variant('+ %d most sensitive layer%s in float'
                                    % (len(chosen), 's' if len(chosen) > 1 else ''),
                                    final, error(final), list(float_layers)))
    return QuantizationResult(final, variants, rules, float_layers, sensitivity, len(batches),
                              layers)

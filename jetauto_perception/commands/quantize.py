"""
``jetauto-perception quantize``: float ONNX -> INT8 Q/DQ ONNX, calibrated, with a report.

The Q/DQ file runs as is on ONNX Runtime (CPU/CUDA) and TensorRT (>= 8.5) builds an INT8 engine
from it with no calibrator (explicit quantization). Calibration inputs go through the nodes' own
pre-processing: letterbox for YOLOv5, the person crop for the heatmap model (person boxes from
YOLOv5n, or whole frames). The report compares FP32 and every step of the recipe on accuracy
(``--eval-images/--eval-labels`` or ``--coco-kpts``), size and CPU latency.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..errors import ModelError, SourceError
from ..models.manifest import resolve_model
from ..quantization.calibration import calibration_frames, letterboxed, person_crops
from ..quantization.qdq import (CLIP_RULES, load_float_model, onnx_module, quantized_layers,
                                tensorrt_problems)
from ..quantization.report import (cpu_latency, detection_accuracy, file_size_mb,
                                   keypoint_accuracy, Report, ReportRow)

LOG = logging.getLogger(__name__)
SLOWER_ON_CPU = ('INT8 is slower than FP32 on this CPU (ONNX Runtime int8 kernels need VNNI to '
                 "gain); the speed-up of the Q/DQ model is TensorRT's, on the robot: build it "
                 'with `jetauto-perception build-engine --onnx MODEL.int8.onnx --precision int8` '
                 'and compare with `eval --backend tensorrt`.')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--onnx', required=True,
                        help='float ONNX model path or manifest name (e.g. yolov5n.onnx)')
    parser.add_argument('--output', required=True, help='Q/DQ ONNX file to write')
    parser.add_argument('--calib', action='append', required=True, metavar='DIR|VIDEO|IMAGE',
                        help='calibration images: a folder, a video (frames spread over it) or '
                             'an image; repeat for several. Not the evaluation images')
    parser.add_argument('--calib-max', type=int, default=64,
                        help='calibration frames in all, shared between the --calib sources '
                             '(default: 64; 0 = all); the heatmap model gets up to 4 person '
                             'crops of each')
    parser.add_argument('--kind', choices=('auto', 'yolov5', 'heatmap'), default='auto',
                        help='model kind, for the pre-processing (default: from the outputs)')
    parser.add_argument('--rules', default=','.join(CLIP_RULES),
                        help='clipping rules chosen per activation by sensitivity '
                             '(default: %s; one rule = that rule everywhere)'
                             % ','.join(CLIP_RULES))
    parser.add_argument('--keep-float', type=int, default=1,
                        help='keep this many more layers in float, the most sensitive ones '
                             '(default: 1)')
    parser.add_argument('--int8-head', action='store_true',
                        help='quantize the output Convs too (the detection head, the heatmap '
                             'layer); by default they stay float')
    parser.add_argument('--sensitivity-images', type=int, default=4,
                        help='calibration inputs the per-layer output error is measured on '
                             '(default: 4)')
    parser.add_argument('--person-model', default='yolov5n.onnx',
                        help='heatmap models: the detector whose person boxes are cropped for '
                             "calibration ('' = whole frames; default: yolov5n.onnx)")
    parser.add_argument('--eval-images', default='', help='YOLOv5: labelled images for mAP')
    parser.add_argument('--eval-labels', default='', help='YOLOv5: their YOLO txt labels')
    parser.add_argument('--eval-max', type=int, default=0,
                        help='evaluate the first N images only (default: all)')
    parser.add_argument('--coco-kpts', default='',
                        help='heatmap models: a COCO person-keypoints json (images beside it) '
                             'for mean OKS')
    parser.add_argument('--variants', action='store_true',
                        help='also evaluate every intermediate model of the recipe (what each '
                             'choice bought), not only FP32 and the result')
    parser.add_argument('--latency-runs', type=int, default=20,
                        help='CPU latency: timed runs per model (default: 20; 0 = skip)')
    parser.add_argument('--threads', type=int, default=0,
                        help='ONNX Runtime CPU threads (default: its own choice)')
    parser.add_argument('--report', default='',
                        help='also write the report here (.md, or .json for JSON)')


class _Bars:
    """One tqdm bar per recipe stage, on stderr."""

    def __init__(self, totals: Dict[str, int]) -> None:
        self.totals = totals
        self.bars: Dict[str, Any] = {}

    def __call__(self, stage: str, count: int) -> None:
        from tqdm import tqdm
        if stage not in self.bars:
            for bar in self.bars.values():
                bar.close()
            self.bars[stage] = tqdm(total=self.totals.get(stage), desc=stage, unit='step',
                                    leave=False, disable=None)  # None: off without a tty
        self.bars[stage].update(count)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _person_boxes(model: str, threads: int) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    if not model:
        return None
    from ..detection.yolov5 import YoloV5Detector
    from ..engines.base import EngineConfig
    detector = YoloV5Detector.from_model(resolve_model(model), EngineConfig(num_threads=threads),
                                         classes={0})
    return lambda frame: detector.detect(frame).boxes


def calibration_inputs(args: argparse.Namespace, kind: str, hw: tuple) -> List[np.ndarray]:
    frames = calibration_frames(args.calib, args.calib_max)
    if kind == 'yolov5':
        return list(letterboxed(frames, hw))
    return list(person_crops(frames, hw, _person_boxes(args.person_model, args.threads)))


def run(args: argparse.Namespace) -> int:
    from ..quantization.pipeline import input_hw, model_kind, quantize, QuantizeOptions
    onnx = onnx_module()
    source = resolve_model(args.onnx)
    if os.path.abspath(source) == os.path.abspath(args.output):
        raise ModelError('--output must not overwrite the float model --onnx')
    if bool(args.eval_images) != bool(args.eval_labels):
        raise SourceError('give both --eval-images and --eval-labels')
    float_model = load_float_model(source)
    kind = model_kind(float_model) if args.kind == 'auto' else args.kind
    hw = input_hw(float_model)
    inputs = calibration_inputs(args, kind, hw)
    if not inputs:
        raise SourceError('no calibration frames in %s' % args.calib)
    options = QuantizeOptions(rules=[r.strip() for r in args.rules.split(',') if r.strip()],
                              keep_float=args.keep_float, float_head=not args.int8_head,
                              sensitivity_inputs=args.sensitivity_images, threads=args.threads)
    try:
        options.validate()
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    print('quantizing %s (%s, input %dx%d) on %d calibration inputs from %s'
          % (source, kind, hw[0], hw[1], len(inputs), ', '.join(args.calib)))
    layers = sum(1 for n in float_model.graph.node if n.op_type == 'Conv')
    bars = _Bars({'calibrate': len(inputs), 'sensitivity': layers * len(options.rules),
                  'keep float': 8 * options.keep_float})
    try:
        result = quantize(float_model, inputs, kind, options, bars)
    finally:
        bars.close()
    problems = tensorrt_problems(result.model)
    if problems:
        raise ModelError('the quantized model would not build as intended on TensorRT: %s'
                         % '; '.join(problems[:5]))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    onnx.save(result.model, args.output)
    print('wrote %s (%d Conv layers int8, %d in float: %s)'
          % (args.output, len(quantized_layers(result.model)),
             len(result.float_layers), ', '.join(result.float_layers) or 'none'))
    report = build_report(args, kind, source, float_model, result, inputs[0])
    print(report.to_markdown())
    if args.report:
        report.write(args.report)
        print('report: %s' % args.report)
    return 0


def build_report(args: argparse.Namespace, kind: str, source: str, float_model: Any,
                 result: Any, sample: np.ndarray) -> Report:
    """Evaluate FP32, the result and (``--variants``) every step; size and CPU latency."""
    onnx = onnx_module()
    rows = [ReportRow('FP32', source, file_size_mb(source), 0.0),
            ReportRow('INT8 Q/DQ (result)', args.output, file_size_mb(args.output),
                      result.variants[-1].output_error, float_layers=result.float_layers)]
    with tempfile.TemporaryDirectory(prefix='jetauto-quant-') as tmp:
        if args.variants:
            for index, variant in enumerate(result.variants[:-1]):
                path = os.path.join(tmp, 'variant%d.onnx' % index)
                onnx.save(variant.model, path)
                rows.insert(-1, ReportRow('INT8 ' + variant.name, path, file_size_mb(path),
                                          variant.output_error,
                                          float_layers=variant.float_layers))
        for row in rows:
            if kind == 'yolov5' and args.eval_images:
                row.map50_95, row.map50 = detection_accuracy(
                    row.path, args.eval_images, args.eval_labels, args.eval_max, args.threads)
            elif kind == 'heatmap' and args.coco_kpts:
                row.mean_oks = keypoint_accuracy(row.path, args.coco_kpts, args.threads)
        if args.latency_runs > 0:
            for row, ms in zip(rows, cpu_latency([r.path for r in rows], sample,
                                                 args.latency_runs, args.threads)):
                row.cpu_ms = ms
    for row in rows:
        if row.path.startswith(tempfile.gettempdir()):
            row.path = ''
    report = Report(kind, rows, settings={
        'calibration inputs': result.calibration_inputs, 'calibration': ' '.join(args.calib),
        'rules': ','.join(args.rules.split(',')), 'keep float': args.keep_float,
        'head': 'int8' if args.int8_head else 'float',
        'sensitivity inputs': args.sensitivity_images})
    for rule in result.rules.values():
        report.rules[rule] = report.rules.get(rule, 0) + 1
    if result.sensitivity is not None:
        rule_of = {layer: result.rules[t] for layer, t in result.layers.items()}
        report.sensitivity = [
            {'layer': layer, 'rule': rule_of[layer],
             'error': result.sensitivity.errors[layer][rule_of[layer]]}
            for layer in result.sensitivity.ranking(rule_of)[:max(args.keep_float, 5)]]
    if kind == 'yolov5' and args.eval_images:
        report.settings['eval'] = 'conf %g, IoU %g, multi-label, %s' % (
            0.001, 0.6, args.eval_images)
    fp32, int8 = rows[0].cpu_ms, rows[-1].cpu_ms
    if fp32 and int8 and int8 > fp32:
        report.notes.append(SLOWER_ON_CPU)
    return report

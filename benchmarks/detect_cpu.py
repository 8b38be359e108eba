#!/usr/bin/env python3
"""
CPU benchmark of the YOLOv5n detector at 640: per-stage times and overhead over raw inference.

For each image, the raw ONNX Runtime call (``session.run`` on a ready blob) and the full
``YoloV5Detector.detect`` (letterbox + inference + decode/NMS + mapping to source pixels) are
timed alternately in the same loop, so both see the same machine load. The ratio
end-to-end / raw is the pipeline's overhead (goal: <= 1.05).

Usage: python benchmarks/detect_cpu.py [--repeat 30] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import time

import cv2
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402,I100,I202  (the script's own folder)

from jetauto_perception.detection.yolov5 import YoloV5Detector  # noqa: E402
from jetauto_perception.models.manifest import resolve_model  # noqa: E402

SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--repeat', type=int, default=30)
    parser.add_argument('--markdown', default='')
    args = parser.parse_args()
    detector = YoloV5Detector.from_model(resolve_model('yolov5n.onnx'))
    engine = detector.engine
    names = ['bus.jpg', 'zidane.jpg']
    images = [cv2.imread(str(SHARED / 'data' / 'images' / n)) for n in names]
    coco = sorted((SHARED / 'data' / 'coco128' / 'images').glob('*.jpg'))[:4]
    images += [cv2.imread(str(p)) for p in coco]
    names += [p.name for p in coco]
    rows = []
    all_raw, all_e2e = [], []
    stage_sums = {'pre': [], 'infer': [], 'post': []}
    for name, image in zip(names, images):
        blob, _ = detector.preprocess(image)
        blob = blob.copy()
        feed = {detector.input_name: blob}
        for _ in range(3):  # warm-up
            engine.infer(feed)
            detector.detect(image)
        raw, e2e = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            engine.infer(feed)
            raw.append(time.perf_counter() - start)
            start = time.perf_counter()
            detector.detect(image)
            e2e.append(time.perf_counter() - start)
            for key in stage_sums:
                stage_sums[key].append(detector.timings.ms[key])
        raw_ms, e2e_ms = statistics.median(raw) * 1e3, statistics.median(e2e) * 1e3
        all_raw += raw
        all_e2e += e2e
        rows.append((name, image.shape[1], image.shape[0], raw_ms, e2e_ms, e2e_ms / raw_ms))
    med = {k: statistics.median(v) for k, v in stage_sums.items()}
    total_ratio = statistics.median(all_e2e) / statistics.median(all_raw)
    lines = [
        '## YOLOv5n detector on CPU (benchmarks/detect_cpu.py)',
        '',
        'Machine: %s, %d cores, Python %s, onnxruntime %s, OpenCV %s, numpy %s; %s.'
        % (cpu_model(), os.cpu_count() or 0, platform.python_version(),
           __import__('onnxruntime').__version__, cv2.__version__, np.__version__,
           datetime.date.today().isoformat()),
        'Model yolov5n.onnx, 640x640, conf 0.25, IoU 0.45; medians of %d alternating runs '
        'per image.' % args.repeat,
        '',
        '| image | size | raw ORT inference ms | end-to-end ms | ratio |',
        '|---|---|---|---|---|',
    ]
    for name, w, h, raw_ms, e2e_ms, ratio in rows:
        lines.append('| %s | %dx%d | %.1f | %.1f | %.3f |' % (name, w, h, raw_ms, e2e_ms, ratio))
    lines += [
        '',
        'Per-stage medians over all images: pre-process %.2f ms, inference %.1f ms, '
        'decode + NMS %.2f ms.' % (med['pre'], med['infer'], med['post']),
        '',
        '**End-to-end / raw inference over all runs: %.3f** (goal <= 1.05).' % total_ratio,
        '',
    ]
    text = '\n'.join(lines)
    print(text)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""
Detection mAP with pycocotools against YOLO-format labels (one ``class cx cy w h`` txt each).

Used by the accuracy test of the detector and by ``jetauto-perception eval``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
import io
import logging
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..detection.detections import Detections
from ..errors import PerceptionError, SourceError
from ..sources.files import read_image
from ..timing import StageStats

LOG = logging.getLogger(__name__)


@dataclass
class MapResult:
    map50_95: float
    map50: float
    images: int
    ground_truth_boxes: int
    detections: int
    summary: str


def yolo_labels_to_coco(image_sizes: Dict[str, Tuple[int, int]], labels_dir: str,
                        class_names: Sequence[str] = ()) -> dict:
    """
    COCO ground-truth dict from YOLO txt labels. ``image_sizes[name] = (width, height)``.

    An image without a txt file has no objects. Image ids are 1..N in sorted name order;
    category id = YOLO class index.
    """
    images, annotations = [], []
    categories = set()
    for image_id, name in enumerate(sorted(image_sizes), start=1):
        width, height = image_sizes[name]
        images.append({'id': image_id, 'file_name': name, 'width': width, 'height': height})
        txt = os.path.join(labels_dir, os.path.splitext(name)[0] + '.txt')
        if not os.path.isfile(txt):
            continue
        with open(txt) as f:
            for line_no, line in enumerate(f, start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 5:
                    raise PerceptionError('%s:%d: expected "class cx cy w h"' % (txt, line_no))
                cls = int(float(parts[0]))
                cx, cy, w, h = (float(v) for v in parts[1:5])
                bw, bh = w * width, h * height
                annotations.append({
                    'id': len(annotations) + 1, 'image_id': image_id, 'category_id': cls,
                    'bbox': [cx * width - bw / 2, cy * height - bh / 2, bw, bh],
                    'area': bw * bh, 'iscrowd': 0})
                categories.add(cls)
    max_class = max(list(categories) + [len(class_names) - 1, 0])
    cats = [{'id': c, 'name': class_names[c] if c < len(class_names) else str(c)}
            for c in range(max_class + 1)]
    return {'images': images, 'annotations': annotations, 'categories': cats}


def detections_to_coco(ground_truth: dict,
                       results: Iterable[Tuple[str, Detections]]) -> List[dict]:
    """COCO result records for ``(image name, Detections)`` pairs (boxes in source pixels)."""
    ids = {img['file_name']: img['id'] for img in ground_truth['images']}
    records = []
    for name, detections in results:
        for det in detections:
            x1, y1, x2, y2 = det.bbox
            records.append({'image_id': ids[name], 'category_id': det.class_id,
                            'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': det.score})
    return records


def evaluate_map(ground_truth: dict, records: List[dict]) -> MapResult:
    """Run pycocotools' COCOeval (bbox) over all images: mAP@0.5:0.95 and mAP@0.5."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise PerceptionError('mAP evaluation needs pycocotools: '
                              'pip install pycocotools') from None
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        gt = COCO()
        gt.dataset = ground_truth
        gt.createIndex()
        if not records:
            return MapResult(0.0, 0.0, len(ground_truth['images']),
                             len(ground_truth['annotations']), 0, 'no detections')
        dt = gt.loadRes(records)
        evaluator = COCOeval(gt, dt, 'bbox')
        evaluator.params.imgIds = [img['id'] for img in ground_truth['images']]
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    return MapResult(float(evaluator.stats[0]), float(evaluator.stats[1]),
                     len(ground_truth['images']), len(ground_truth['annotations']),
                     len(records), summary.getvalue())


def evaluate_detector(detector: Any, image_paths: Sequence[str], labels_dir: str,
                      stats: Optional[StageStats] = None,
                      progress: Optional[Callable[[], None]] = None) -> MapResult:
    """
    Run ``detector`` (a ``YoloV5Detector``) over ``image_paths`` and score it against the labels.

    Unreadable images are skipped with a warning; ``stats`` collects the detector's stage times.
    """
    sizes: Dict[str, Tuple[int, int]] = {}
    results: List[Tuple[str, Detections]] = []
    for path in image_paths:
        name = os.path.basename(path)
        try:
            image = read_image(path)
        except SourceError as exc:
            LOG.warning('skipping %s', exc)
            continue
        sizes[name] = (int(image.shape[1]), int(image.shape[0]))
        results.append((name, detector.detect(image)))
        if stats is not None:
            stats.add(detector.timings)
        if progress is not None:
            progress()
    ground_truth = yolo_labels_to_coco(sizes, labels_dir, detector.class_names)
    return evaluate_map(ground_truth, detections_to_coco(ground_truth, results))

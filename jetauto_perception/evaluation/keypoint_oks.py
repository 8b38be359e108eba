"""
COCO person-keypoint evaluation: annotation files, object keypoint similarity and keypoint AP.

OKS is computed exactly as ``pycocotools`` does; keypoint AP calls pycocotools itself.
(The per-person OKS is written out because pycocotools only computes it inside ``COCOeval``,
per image against every detection, with no public call for one matched pair.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..errors import SourceError
from ..keypoints.coco17 import COCO_OKS_SIGMAS


def object_keypoint_similarity(predicted: np.ndarray, ground_truth: np.ndarray, area: float,
                               sigmas: np.ndarray = COCO_OKS_SIGMAS) -> float:
    """
    OKS of one predicted pose against one labelled pose, as ``pycocotools`` computes it.

    ``predicted`` is ``(K, 2+)`` (x, y, ...), ``ground_truth`` ``(K, 3)`` (x, y, visibility) and
    ``area`` the annotation's segment area. Only labelled keypoints (visibility > 0) count; a
    pose with none labelled has no defined OKS and raises ``ValueError``.
    """
    pred = np.asarray(predicted, dtype=np.float64)[:, :2]
    gt = np.asarray(ground_truth, dtype=np.float64).reshape(-1, 3)
    labelled = gt[:, 2] > 0
    if not labelled.any():
        raise ValueError('the ground-truth pose has no labelled keypoint: OKS is undefined')
    variances = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    squared = ((pred - gt[:, :2]) ** 2).sum(axis=1)
    exponent = squared / variances / (area + np.spacing(1)) / 2.0
    return float(np.exp(-exponent)[labelled].mean())


@dataclass
class PersonAnnotation:
    """One labelled person of a COCO keypoints file (``bbox`` converted to xyxy)."""

    annotation_id: int
    image_id: int
    bbox_xyxy: Tuple[float, float, float, float]
    keypoints: np.ndarray  # (17, 3) x, y, visibility
    area: float
    num_keypoints: int
    iscrowd: bool


@dataclass
class CocoKeypointSet:
    """A COCO person-keypoints annotation file: images by file name and their people."""

    path: str
    images: Dict[int, str]  # image id -> file name
    people: Dict[int, List[PersonAnnotation]] = field(default_factory=dict)  # by image id

    def image_id(self, file_name: str) -> int:
        for image_id, name in self.images.items():
            if name == file_name:
                return image_id
        raise KeyError(file_name)

    def labelled_people(self, image_id: int) -> List[PersonAnnotation]:
        """
        People of one image that OKS can be computed for (not crowd, ≥ 1 labelled keypoint).

        COCO's own evaluation ignores the others (``num_keypoints == 0`` or ``iscrowd``).
        """
        return [p for p in self.people.get(image_id, [])
                if p.num_keypoints > 0 and not p.iscrowd]


def load_coco_keypoints(path: str) -> CocoKeypointSet:
    """Read a COCO person-keypoints json (images + annotations of category person)."""
    if not os.path.isfile(path):
        raise SourceError("COCO keypoints file not found: '%s'" % path)
    try:
        with open(path) as f:
            data = json.load(f)
        images = {int(im['id']): str(im['file_name']) for im in data['images']}
        dataset = CocoKeypointSet(path, images)
        for ann in data['annotations']:
            if 'keypoints' not in ann:
                continue
            x, y, w, h = (float(v) for v in ann['bbox'])
            keypoints = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            person = PersonAnnotation(
                annotation_id=int(ann['id']), image_id=int(ann['image_id']),
                bbox_xyxy=(x, y, x + w, y + h), keypoints=keypoints,
                area=float(ann.get('area', w * h)),
                num_keypoints=int(ann.get('num_keypoints', int((keypoints[:, 2] > 0).sum()))),
                iscrowd=bool(ann.get('iscrowd', 0)))
            dataset.people.setdefault(person.image_id, []).append(person)
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError("'%s' is not a COCO keypoints file (%s: %s)"
                          % (path, type(exc).__name__, exc)) from None
    return dataset


def matched_oks(dataset: CocoKeypointSet, image_id: int, keypoints: np.ndarray,
                sigmas: np.ndarray = COCO_OKS_SIGMAS) -> List[float]:
    """
    For each labelled person of an image, the best OKS over the predicted poses (0 if none).

    ``keypoints`` is ``(N, K, 2+)``: the predictions of any boxes (ground truth or detected).
    """
    people = dataset.labelled_people(image_id)
    preds = np.asarray(keypoints, dtype=np.float64).reshape(-1, len(sigmas),
                                                            np.shape(keypoints)[-1])
    return [max([object_keypoint_similarity(p, person.keypoints, person.area, sigmas)
                 for p in preds] or [0.0]) for person in people]


def coco_keypoint_results(dataset: CocoKeypointSet,
                          records: Sequence[Dict[str, object]]) -> List[Dict[str, object]]:
    """CLI records ``{"image", "instances": [{"score", "keypoints"}]}`` → COCO result entries."""
    results: List[Dict[str, object]] = []
    for record in records:
        image_id = dataset.image_id(str(record['image']))
        for instance in record['instances']:  # type: ignore[attr-defined]
            points = np.asarray(instance['keypoints'], dtype=np.float64).reshape(-1, 3)
            results.append({'image_id': image_id, 'category_id': 1,
                            'keypoints': [round(float(v), 3) for v in points.reshape(-1)],
                            'score': float(instance['score'])})
    return results


def keypoint_average_precision(dataset: CocoKeypointSet,
                               records: Sequence[Dict[str, object]]) -> Dict[str, float]:
    """
    COCO keypoint AP (pycocotools' ``COCOeval``, iouType ``keypoints``) of CLI records.

    Returns ``{'AP', 'AP50', 'AP75', 'AR'}``. Only the images in ``records`` are evaluated.
    Needs ``pycocotools`` (``pip install pycocotools``).
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = coco_keypoint_results(dataset, records)
    if not results:
        return {'AP': 0.0, 'AP50': 0.0, 'AP75': 0.0, 'AR': 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints progress lines
        ground_truth = COCO(dataset.path)
        detections = ground_truth.loadRes(results)
        evaluator = COCOeval(ground_truth, detections, 'keypoints')
        evaluator.params.imgIds = sorted({int(r['image_id']) for r in results}  # type: ignore
                                         | {dataset.image_id(str(r['image'])) for r in records})
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    return {'AP': float(stats[0]), 'AP50': float(stats[1]), 'AP75': float(stats[2]),
            'AR': float(stats[5])}

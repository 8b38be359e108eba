"""The tracker: identities through motion, occlusion and resets; MOT format; TUD-Campus figures."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, shared_path
from jetauto_perception.tracking.byte_tracker import ByteTracker, TrackerConfig
from jetauto_perception.tracking.mot_format import format_rows, read_mot

#: What `jetauto-perception track` reached on TUD-Campus (benchmarks/RESULTS.md).
TUD_MOTA, TUD_IDF1 = 0.713, 0.837


def box(cx, cy, w=40.0, h=100.0):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def step(tracker, boxes, scores, stamp, class_ids=None):
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    class_ids = np.zeros(len(boxes), np.int64) if class_ids is None else np.array(class_ids)
    return tracker.update(boxes, np.array(scores, np.float64), class_ids, stamp)


def test_two_walkers_keep_their_ids_and_ids_are_new_after_reset():
    tracker = ByteTracker()
    first = step(tracker, [box(100, 200), box(400, 200)], [0.9, 0.9], 0.0)
    assert sorted(first) == [1, 2]
    for k in range(1, 20):
        ids = step(tracker, [box(100 + 8 * k, 200), box(400 - 8 * k, 210)], [0.9, 0.8], k / 30)
        assert list(ids) == list(first)
    # the stamp goes back (a looping video): tracks restart with ids never used before
    again = step(tracker, [box(100, 200)], [0.9], 0.0)
    assert again[0] not in (1, 2) and again[0] > 2


def test_time_step_comes_from_the_stamps():
    """A fast walker seen at 10 Hz with a frame missing is still the same track."""
    tracker = ByteTracker()
    ids = [step(tracker, [box(100 + 30 * k, 200)], [0.9], k / 10.0)[0] for k in range(5)]
    # one frame dropped: 0.2 s later, 60 px further (more than a box width from the last box)
    ids.append(step(tracker, [box(100 + 30 * 6, 200)], [0.9], 0.6)[0])
    assert len(set(ids)) == 1 and ids[0] > 0


def test_low_score_box_continues_a_track_but_does_not_start_one():
    tracker = ByteTracker(TrackerConfig(high_threshold=0.5, low_threshold=0.1))
    track = step(tracker, [box(200, 200)], [0.9], 0.0)[0]
    step(tracker, [box(202, 200)], [0.9], 1 / 30)
    assert step(tracker, [box(204, 200), box(500, 200)], [0.2, 0.2], 2 / 30).tolist() == \
        [track, -1]


def test_lost_track_is_found_within_the_timeout_and_new_after_it():
    tracker = ByteTracker(TrackerConfig(lost_timeout=0.5, appearance_weight=0.0))
    track = step(tracker, [box(200, 200)], [0.9], 0.0)[0]
    step(tracker, [box(200, 200)], [0.9], 0.1)
    step(tracker, [], [], 0.2)
    assert step(tracker, [box(200, 200)], [0.9], 0.4)[0] == track
    step(tracker, [], [], 0.5)
    step(tracker, [box(200, 200)], [0.9], 1.5)
    assert step(tracker, [box(200, 200)], [0.9], 1.55)[0] not in (track, -1)


def test_classes_do_not_share_tracks():
    tracker = ByteTracker()
    a = step(tracker, [box(200, 200)], [0.9], 0.0, [0])[0]
    ids = step(tracker, [box(200, 200)], [0.9], 0.05, [39])
    assert ids[0] != a


def test_mot_rows_round_trip(tmp_path):
    path = tmp_path / 'r.txt'
    path.write_text('\n'.join(format_rows(3, np.array([7]), np.array([[10., 20., 50., 120.]]),
                                          np.array([0.75]))) + '\n')
    assert path.read_text() == '3,7,10.00,20.00,40.00,100.00,0.7500,-1,-1,-1\n'
    ids, boxes, scores = read_mot(str(path))[3]
    assert ids.tolist() == [7] and boxes.tolist() == [[10, 20, 40, 100]] and scores[0] == 0.75


def test_tud_campus_mota_idf1(tmp_path):
    """`jetauto-perception track` on TUD-Campus with YOLOv5n at 640: the figures of RESULTS.md."""
    pytest.importorskip('motmetrics')
    sequence = shared_path('data', 'mot', 'TUD-Campus')
    shared_path('models', 'yolov5', 'yolov5n.onnx')
    out = tmp_path / 'tud.txt'
    result = subprocess.run(
        [sys.executable, '-m', 'jetauto_perception', 'track', '--source',
         str(sequence / 'img1'), '--output', str(out), '--classes', 'person',
         '--min-height', '50', '--ground-truth', str(sequence / 'gt' / 'gt.txt')],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    mota, idf1 = float(words[words.index('MOTA') + 1]), float(words[words.index('IDF1') + 1])
    assert mota >= 0.68 and idf1 >= 0.75, result.stdout
    assert abs(mota - TUD_MOTA) <= 0.02 and abs(idf1 - TUD_IDF1) <= 0.02, result.stdout
    rows = out.read_text().splitlines()
    frames = sorted({int(r.split(',')[0]) for r in rows})
    assert frames[0] == 1 and frames[-1] == 71
    assert all(r.endswith(',-1,-1,-1') and len(r.split(',')) == 10 for r in rows)

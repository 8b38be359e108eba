"""``jetauto-perception demo``: the ROS-free pipeline writes an annotated MP4 and a JSONL."""
import json

import cv2
import pytest

from conftest import shared_path
from jetauto_perception import cli
from jetauto_perception.commands import demo


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


def read_jsonl(path):
    with open(str(path)) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def models():
    shared_path('models', 'yolov5', 'yolov5n.onnx')
    shared_path('models', 'pose', 'simplepose_mbv2_256x192.onnx')


def test_demo_over_50_frames_of_the_video(models, tmp_path, capsys):
    video = shared_path('data', 'video', 'vtest.avi')
    out = tmp_path / 'demo'
    assert cli.main(['demo', '--source', str(video), '--max-frames', '50',
                     '--output', str(out)]) == 0
    frames, fps = read_video(out / demo.VIDEO_NAME)
    records = read_jsonl(out / demo.RESULTS_NAME)
    assert len(frames) == 50 and len(records) == 50
    assert fps == pytest.approx(10.0)
    assert frames[0].shape == (576, 768, 3)
    assert [r['frame'] for r in records] == list(range(50))
    assert all(r['width'] == 768 and r['height'] == 576 for r in records)
    assert records[0]['time'] == 0.0 and records[-1]['time'] > records[1]['time']
    # People walk through the whole clip: every frame has person boxes, with keypoints.
    people = [sum(d['label'] == 'person' for d in r['detections']) for r in records]
    assert min(people) >= 1
    assert all(len(r['keypoints']) == n for r, n in zip(records, people))
    assert all(len(k['keypoints']) == 17 for r in records for k in r['keypoints'])
    # The MP4 is annotated: it differs from the source frames where the boxes are.
    source = cv2.VideoCapture(str(video))
    original = source.read()[1]
    source.release()
    x1, y1, x2, y2 = (int(v) for v in records[0]['detections'][0]['bbox'])
    drawn = cv2.absdiff(frames[0], original)[y1:y2 + 1, x1:x2 + 1].max(axis=2)
    untouched = cv2.absdiff(frames[0], original)[:, :].max(axis=2).mean()
    assert drawn.mean() > 2 * untouched  # codec noise everywhere, strokes on the box
    summary = capsys.readouterr().out
    assert 'demo: 50 frames' in summary and 'fps' in summary
    for stage in ('capture', 'detections', 'keypoints', 'draw', 'write'):
        assert stage + ' ' in summary


def test_demo_on_an_image_folder_of_mixed_sizes(models, tmp_path, capsys):
    images = shared_path('data', 'images')
    out = tmp_path / 'folder'
    assert cli.main(['demo', '--source', str(images), '--stages', 'detector',
                     '--output', str(out)]) == 0
    frames, _ = read_video(out / demo.VIDEO_NAME)
    records = read_jsonl(out / demo.RESULTS_NAME)
    count = len([p for p in images.iterdir() if p.suffix in ('.jpg', '.png')])
    assert len(records) == len(frames) == count
    sizes = {(r['width'], r['height']) for r in records}
    assert len(sizes) > 1  # the writer resizes every frame to the first one's size
    assert all(f.shape == frames[0].shape for f in frames)
    assert all('keypoints' not in r for r in records)
    assert any(d['label'] == 'bus' for r in records for d in r['detections'])


def test_missing_source_is_one_clear_error(tmp_path, capsys):
    missing = tmp_path / 'nowhere.mp4'
    assert cli.main(['demo', '--source', str(missing), '--output', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ') and str(missing) in err[0]
    assert not (tmp_path / demo.VIDEO_NAME).exists()


def test_no_default_video_names_the_source_option(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('JETAUTO_SHARED_DIR', raising=False)
    monkeypatch.setattr(demo, 'CHECKOUT_SHARED_MODELS', tmp_path / 'shared' / 'models')
    monkeypatch.chdir(tmp_path)
    assert cli.main(['demo', '--output', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'no --source given' in err and err.count('vtest.avi') == 1 and '--source' in err


def test_a_fresh_clone_gets_one_message_with_every_step(tmp_path, monkeypatch, capsys):
    # no ../shared: neither the default video nor any model is found
    from jetauto_perception.models import manifest
    for name in ('JETAUTO_SHARED_DIR', 'JETAUTO_MODELS_DIR'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('XDG_DATA_HOME', str(tmp_path / 'data'))
    monkeypatch.setattr(demo, 'CHECKOUT_SHARED_MODELS', tmp_path / 'shared' / 'models')
    monkeypatch.setattr(manifest, 'CHECKOUT_SHARED_MODELS', tmp_path / 'shared' / 'models')
    monkeypatch.chdir(tmp_path)
    assert cli.main(['demo', '--output', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert err.count('error:') == 1, err
    assert 'models fetch yolov5n.pt simplepose_mbv2_256x192.onnx' in err, err
    assert 'export yolov5n.onnx from yolov5n.pt' in err and 'Models on a fresh clone' in err
    assert str(tmp_path / 'data' / 'jetauto_perception' / 'models') in err
    assert '--source' in err and err.count('vtest.avi') == 1
    # with a source given, only the models are left to get
    video = tmp_path / 'clip.mp4'
    assert cli.main(['demo', '--source', str(video), '--stages', 'detector']) == 2
    err = capsys.readouterr().err
    assert 'models fetch yolov5n.pt' in err and 'simplepose' not in err and 'source' not in err


@pytest.mark.parametrize('stages, fragment', [
    ('detector,segmentation', 'unknown stage segmentation'),
    ('keypoints', 'stage keypoints needs detector'),
])
def test_bad_stage_lists(stages, fragment, capsys):
    assert cli.main(['demo', '--stages', stages]) == 2
    assert fragment in capsys.readouterr().err


def test_stage_order_follows_the_pipeline_not_the_argument():
    assert [n for n, _ in demo.select_stages('keypoints,detector')] == ['detector', 'keypoints']


def test_demo_face_detection_and_selfie_segmentation_stages(tmp_path, capsys):
    pytest.importorskip('mediapipe', reason='mediapipe is not installed')
    faces = shared_path('data', 'images', 'faces', 'cofw_001766.jpg')
    out = tmp_path / 'faces'
    assert cli.main(['demo', '--source', str(faces), '--stages',
                     'selfie_segmentation,face_detection', '--output', str(out)]) == 0
    (record,) = read_jsonl(out / demo.RESULTS_NAME)
    (face,) = record['face_detection']
    assert face['label'] == 'face' and len(face['keypoints']) == 6
    assert 0.1 < record['selfie_segmentation']['person_fraction'] < 1.0
    summary = capsys.readouterr().out
    assert 'face_detection ' in summary and 'selfie_segmentation ' in summary

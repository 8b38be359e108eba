"""MediaPipe face mesh / hands / pose wrappers on the shared images, video and bad models."""
import os

import cv2
import numpy as np
import pytest

from conftest import shared_path

mediapipe = pytest.importorskip('mediapipe', reason='mediapipe is not installed (pip install '
                                                    'mediapipe)')

from jetauto_perception.errors import ImageFormatError  # noqa: E402
from jetauto_perception.errors import ModelError  # noqa: E402
from jetauto_perception.evaluation.keypoint_oks import load_coco_keypoints  # noqa: E402
from jetauto_perception.evaluation.keypoint_oks import matched_oks  # noqa: E402
from jetauto_perception.landmarks import mediapipe_tasks as ml  # noqa: E402
from jetauto_perception.landmarks.task_runner import stamp_to_ms  # noqa: E402
from jetauto_perception.sources.files import iterate_frames  # noqa: E402
from jetauto_perception.sources.files import list_images  # noqa: E402

#: MediaPipe's 33 body landmarks -> the COCO-17 keypoints (for OKS against COCO labels).
COCO_FROM_MEDIAPIPE = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def model(task):
    return str(shared_path('models', 'mediapipe', ml.DEFAULT_MODELS[task]))


@pytest.fixture(scope='module')
def face():
    with ml.MediaPipeLandmarker('face', model('face'),
                                ml.LandmarkerOptions(output_face_blendshapes=True)) as landmarker:
        yield landmarker


@pytest.fixture(scope='module')
def hands():
    with ml.MediaPipeLandmarker('hands', model('hands'),
                                ml.LandmarkerOptions(max_instances=2)) as landmarker:
        yield landmarker


@pytest.fixture(scope='module')
def pose():
    with ml.MediaPipeLandmarker('pose', model('pose'),
                                ml.LandmarkerOptions(max_instances=4)) as landmarker:
        yield landmarker


def inside(keypoints, image, margin=0.0):
    height, width = image.shape[:2]
    x, y = keypoints[:, 0], keypoints[:, 1]
    return (x >= -margin) & (x <= width + margin) & (y >= -margin) & (y <= height + margin)


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# -- names and edges --------------------------------------------------------------------------

def test_keypoint_names_and_edges():
    assert len(ml.FACE_KEYPOINT_NAMES) == 478 and len(set(ml.FACE_KEYPOINT_NAMES)) == 478
    assert len(ml.HAND_KEYPOINT_NAMES) == 21 and ml.HAND_KEYPOINT_NAMES[8] == 'index_finger_tip'
    assert len(ml.POSE_KEYPOINT_NAMES) == 33 and ml.POSE_KEYPOINT_NAMES[23] == 'left_hip'
    for task, count in (('face', 478), ('hands', 21), ('pose', 33)):
        edges = ml.landmark_edges(task, 'tesselation')
        assert edges and all(0 <= a < count and 0 <= b < count and a != b for a, b in edges)
    assert len(ml.landmark_edges('face', 'contours')) == len(ml.FACE_CONTOUR_EDGES) + 8
    assert len(ml.FACE_TESSELATION_EDGES) > 2000
    assert ml.landmark_edges('face', 'none') == ()
    with pytest.raises(ValueError):
        ml.landmark_edges('face', 'wireframe')
    with pytest.raises(ValueError):
        ml.landmark_edges('feet')


def test_names_and_written_out_skeletons_match_the_installed_package():
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.vision import hand_landmarker
    hand_enum = getattr(hand_landmarker, 'HandLandmark', None)
    if hand_enum is not None:
        assert ml.HAND_KEYPOINT_NAMES == tuple(m.name.lower() for m in hand_enum)
    pose_enum = getattr(vision, 'PoseLandmark', None)
    if pose_enum is not None:
        assert ml.POSE_KEYPOINT_NAMES == tuple(m.name.lower() for m in pose_enum)
    # the fallbacks used where mediapipe exposes no connection lists are the package's lists
    hand = ml.package_edges('HandLandmarksConnections', 'HAND_CONNECTIONS')
    pose = ml.package_edges('PoseLandmarksConnections', 'POSE_LANDMARKS')
    if hand is None or pose is None:
        pytest.skip('this mediapipe exposes no connection lists')
    assert set(ml._HAND_SKELETON) == set(hand) and set(ml._POSE_SKELETON) == set(pose)
    iris = set(ml.FACE_IRIS_EDGES)
    assert {a for e in iris for a in e} == set(range(469, 473)) | set(range(474, 478))


def test_stamp_to_ms():
    assert stamp_to_ms(0, 0) == 0
    assert stamp_to_ms(12, 345678901) == 12345
    assert stamp_to_ms(1700000000, 999999999) == 1700000000999


# -- face -------------------------------------------------------------------------------------

def test_face_close_up_gives_one_face_inside_the_image(face):
    path = shared_path('data', 'images', 'faces', 'cofw_001766.jpg')
    image = cv2.imread(str(path))
    result = face.detect(image)
    assert result.mode == 'image' and len(result) == 1
    inst = result.instances[0]
    assert inst.label == 'face' and inst.keypoints.shape == (478, 4)
    assert inside(inst.keypoints, image).all()
    # an independent face detector (OpenCV's Haar cascade) finds the same face
    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades,
                                                 'haarcascade_frontalface_default.xml'))
    found = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.1, 5,
                                     minSize=(40, 40))
    assert len(found) == 1
    x, y, w, h = (float(v) for v in found[0])
    assert iou(inst.bbox, (x, y, x + w, y + h)) > 0.5
    box = np.array(inst.bbox)
    assert np.allclose(box[:2], inst.keypoints[:, :2].min(axis=0), atol=1e-3)
    assert np.allclose(box[2:], inst.keypoints[:, :2].max(axis=0), atol=1e-3)
    # anatomy: the person's right iris is on the image's left, both irises above the lips
    right_iris, left_iris = inst.keypoints[468], inst.keypoints[473]
    assert right_iris[0] < left_iris[0]
    upper_lip = inst.keypoints[13]
    assert max(right_iris[1], left_iris[1]) < upper_lip[1]
    assert len(inst.blendshapes) == 52 and all(0 <= v <= 1 for v in inst.blendshapes.values())
    record = inst.to_json()
    assert set(record) == {'bbox', 'score', 'label', 'keypoints', 'blendshapes'}


def test_no_face_in_an_image_without_one(face):
    blank = np.full((240, 320, 3), 127, np.uint8)
    result = face.detect(blank)
    assert len(result) == 0 and result.instances == []


# -- hands ------------------------------------------------------------------------------------

def test_each_hand_image_gives_one_hand_with_handedness(hands):
    paths = list_images(str(shared_path('data', 'images', 'hands')))
    assert len(paths) == 4
    for path in paths:
        image = cv2.imread(path)
        result = hands.detect(image)
        assert len(result) == 1, path
        inst = result.instances[0]
        assert inst.label in ('Left', 'Right') and 0.5 < inst.score <= 1.0
        assert inst.keypoints.shape == (21, 4)
        assert inside(inst.keypoints, image, margin=5).all(), path
        # the fingertips are further from the wrist than their knuckles (a hand, not noise)
        wrist = inst.keypoints[0, :2]
        for mcp, tip in ((5, 8), (9, 12), (13, 16), (17, 20)):
            assert np.linalg.norm(inst.keypoints[tip, :2] - wrist) > \
                0.8 * np.linalg.norm(inst.keypoints[mcp, :2] - wrist), path


# -- pose -------------------------------------------------------------------------------------

def test_coco_keypoint_images_give_bodies_matching_the_labels(pose):
    folder = shared_path('data', 'coco_kpts')
    dataset = load_coco_keypoints(str(folder / 'test_coco.json'))
    for path in list_images(str(folder)):
        image = cv2.imread(path)
        result = pose.detect(image)
        assert len(result) >= 1, path
        image_id = dataset.image_id(os.path.basename(path))
        for inst in result:
            assert inst.label == 'person' and inst.keypoints.shape == (33, 4)
            check_upright(inst)
            coco = inst.keypoints[COCO_FROM_MEDIAPIPE][:, [0, 1, 3]]
            # each body found is one of the labelled people (object keypoint similarity)
            assert max(matched_oks(dataset, image_id, coco[None])) > 0.5, path


@pytest.mark.parametrize('name', ['bus.jpg', 'zidane.jpg'])
def test_demo_images_give_upright_bodies(pose, name):
    image = cv2.imread(str(shared_path('data', 'images', name)))
    result = pose.detect(image)
    assert len(result) >= 1
    for inst in result:
        assert inst.keypoints.shape == (33, 4)
        check_upright(inst)


def check_upright(inst):
    names = ml.POSE_KEYPOINT_NAMES
    points = inst.keypoints
    nose = points[names.index('nose')]
    hips = points[[names.index('left_hip'), names.index('right_hip')]]
    assert nose[3] > 0.5  # visible
    assert nose[1] < hips[:, 1].min()
    assert 0.0 <= inst.score <= 1.0 and (points[:, 3] >= 0).all() and (points[:, 3] <= 1).all()


def test_segmentation_mask_is_optional(pose):
    image = cv2.imread(str(shared_path('data', 'coco_kpts', '000000000785.jpg')))  # one skier
    assert pose.detect(image).instances[0].segmentation_mask is None  # off by default
    with ml.MediaPipeLandmarker('pose', model('pose'),
                                ml.LandmarkerOptions(output_segmentation_masks=True)) as masked:
        inst = masked.detect(image).instances[0]
    mask = inst.segmentation_mask
    assert mask.shape == image.shape[:2] and mask.dtype == np.float32
    assert 0.02 < (mask > 0.5).mean() < 0.5
    # the mask is the body: nearly all of it lies in the landmarks' box
    x1, y1, x2, y2 = (int(v) for v in inst.bbox)
    outside = mask.copy()
    outside[y1:y2, x1:x2] = 0
    assert outside.sum() < 0.2 * mask.sum()


# -- running modes ----------------------------------------------------------------------------

def test_video_mode_over_100_frames_tracks_bodies():
    video = str(shared_path('data', 'video', 'vtest.avi'))
    # the walkers are ~90 px tall in the 768x576 frame, too small for BlazePose's detector:
    # use the middle of the scene at twice the size
    frames = [cv2.resize(f.image[140:380, 160:480], None, fx=2.0, fy=2.0)
              for f in iterate_frames(video, 100)]
    assert len(frames) == 100
    found = {}
    for mode in ('video', 'image'):
        with ml.MediaPipeLandmarker('pose', model('pose')) as landmarker:
            counts = []
            for index, frame in enumerate(frames):
                stamp = 1700000000000 + index * 100 if mode == 'video' else None  # 10 fps
                result = landmarker.detect(frame, stamp)
                assert result.mode == mode and result.timestamp_ms == stamp
                counts.append(len(result))
                for inst in result:
                    assert inst.keypoints.shape == (33, 4)
            assert landmarker.stream_restarts == 0
            found[mode] = sum(1 for c in counts if c)
    assert found['video'] >= 70
    # tracking keeps bodies the per-frame detector loses
    assert found['video'] > found['image']


def test_equal_and_backward_stamps(hands):
    image = cv2.imread(str(shared_path('data', 'images', 'hands', 'onehand10k_9.jpg')))
    stamps_and_modes = [(1000, 'video'), (1033, 'video'), (1033, 'image'), (1066, 'video'),
                        (None, 'image'), (1100, 'video'), (500, 'video'), (533, 'video')]
    restarts = hands.stream_restarts
    reference = None
    for stamp, mode in stamps_and_modes:
        result = hands.detect(image, stamp)
        assert result.mode == mode, stamp
        assert len(result) == 1 and result.instances[0].label == 'Right'
        if reference is None:
            reference = result.instances[0].keypoints
        assert np.abs(result.instances[0].keypoints[:, :2] - reference[:, :2]).max() < 8.0
    assert hands.stream_restarts == restarts + 1  # only 1100 -> 500 went backwards


def test_bad_images_raise_image_format_error(hands):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32),
                np.zeros((0, 10, 3), np.uint8), 'image.jpg'):
        with pytest.raises(ImageFormatError):
            hands.detect(bad)


def test_reconfigure_changes_the_options(tmp_path):
    image = cv2.imread(str(shared_path('data', 'images', 'hands', 'onehand10k_9.jpg')))
    with ml.MediaPipeLandmarker('hands', model('hands')) as landmarker:
        assert len(landmarker.detect(image, 0)) == 1
        landmarker.reconfigure(ml.LandmarkerOptions(min_detection_confidence=1.0,
                                                    min_presence_confidence=1.0))
        assert len(landmarker.detect(image, 1)) == 0  # nothing is that certain
        with pytest.raises(ValueError):
            landmarker.reconfigure(ml.LandmarkerOptions(max_instances=0))


# -- bad models -------------------------------------------------------------------------------

def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match='not found') as info:
        ml.MediaPipeLandmarker('face', str(tmp_path / 'face_landmarker.task'))
    assert '\n' not in str(info.value) and 'models fetch face_landmarker.task' in str(info.value)


def make_corrupt(tmp_path, kind):
    path = tmp_path / ('%s.task' % kind)
    real = open(model('hands'), 'rb').read()
    if kind == 'garbage':
        path.write_bytes(b'not a model' * 100)
    elif kind == 'truncated':
        path.write_bytes(real[:len(real) // 2])
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'flipped':
        damaged = bytearray(real)
        for i in range(100000, len(damaged) - 100000, 997):
            damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
    return str(path)


@pytest.mark.parametrize('kind', ['garbage', 'truncated', 'empty', 'flipped'])
def test_corrupt_model_is_a_one_line_model_error(tmp_path, kind):
    path = make_corrupt(tmp_path, kind)
    with pytest.raises(ModelError) as info:
        ml.MediaPipeLandmarker('hands', path)
    message = str(info.value)
    assert '\n' not in message and path in message and 'hand_landmarker.task' in message


def test_damaged_manifest_model_names_the_checksum(tmp_path):
    path = tmp_path / 'hand_landmarker.task'
    path.write_bytes(open(make_corrupt(tmp_path, 'flipped'), 'rb').read())
    with pytest.raises(ModelError, match='sha256 differs'):
        ml.MediaPipeLandmarker('hands', str(path))


def test_wrong_bundle_for_the_task_is_a_model_error():
    with pytest.raises(ModelError, match='not a MediaPipe face landmarker') as info:
        ml.MediaPipeLandmarker('face', model('hands'))
    assert 'face_detector' in str(info.value)


def test_unknown_task_and_bad_options():
    with pytest.raises(ValueError, match='unknown landmark task'):
        ml.MediaPipeLandmarker('feet', model('hands'))
    with pytest.raises(ValueError, match='min_tracking_confidence'):
        ml.LandmarkerOptions(min_tracking_confidence=1.5).check()

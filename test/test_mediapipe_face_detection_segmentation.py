"""MediaPipe face detector and selfie segmenter wrappers on the shared images and bad input."""
import cv2
import numpy as np
import pytest

from conftest import shared_path

mediapipe = pytest.importorskip('mediapipe', reason='mediapipe is not installed (pip install '
                                                    'mediapipe)')

from jetauto_perception.errors import ImageFormatError  # noqa: E402
from jetauto_perception.errors import ModelError  # noqa: E402
from jetauto_perception.landmarks import face_detection as fd  # noqa: E402
from jetauto_perception.landmarks import segmentation as sg  # noqa: E402


def model(name):
    return str(shared_path('models', 'mediapipe', name))


def image(*parts):
    return cv2.imread(str(shared_path('data', *parts)))


@pytest.fixture(scope='module')
def detector():
    with fd.MediaPipeFaceDetector(model(fd.DEFAULT_MODEL)) as face_detector:
        yield face_detector


@pytest.fixture(scope='module')
def segmenter():
    with sg.MediaPipeSegmenter(model(sg.DEFAULT_MODEL)) as selfie:
        yield selfie


# -- face detection -----------------------------------------------------------------------------

def test_one_face_with_the_eyes_above_the_mouth(detector):
    picture = image('images', 'faces', 'cofw_001766.jpg')
    result = detector.detect(picture)
    assert result.task == 'face_detection' and result.mode == 'image' and len(result) == 1
    face = result.instances[0]
    assert face.label == 'face' and 0.5 <= face.score <= 1.0
    assert face.keypoints.shape == (6, 4)
    names = fd.FACE_DETECTION_KEYPOINT_NAMES
    point = {name: face.keypoints[i] for i, name in enumerate(names)}
    # the eyes above the nose tip above the mouth; the person's right eye on the image's left
    assert max(point['right_eye'][1], point['left_eye'][1]) < point['nose_tip'][1] \
        < point['mouth_center'][1]
    assert point['right_eye'][0] < point['left_eye'][0]
    assert point['right_ear_tragion'][0] < point['left_ear_tragion'][0]
    # the keypoints lie in the face's box, which lies in the image
    x1, y1, x2, y2 = face.bbox
    assert 0 <= x1 < x2 <= picture.shape[1] and 0 <= y1 < y2 <= picture.shape[0]
    inner = face.keypoints[:4]
    assert ((inner[:, 0] >= x1) & (inner[:, 0] <= x2) & (inner[:, 1] >= y1)
            & (inner[:, 1] <= y2)).all()
    # an independent face detector (OpenCV's Haar cascade) finds the same face
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades +
                                    'haarcascade_frontalface_default.xml')
    found = cascade.detectMultiScale(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), 1.1, 5,
                                     minSize=(40, 40))
    assert len(found) == 1
    hx, hy, hw, hh = (float(v) for v in found[0])
    ix = max(0.0, min(x2, hx + hw) - max(x1, hx))
    iy = max(0.0, min(y2, hy + hh) - max(y1, hy))
    assert ix * iy / ((x2 - x1) * (y2 - y1) + hw * hh - ix * iy) > 0.5
    assert set(face.to_json()) == {'bbox', 'score', 'label', 'keypoints'}
    assert len(fd.FACE_DETECTION_EDGES) and all(
        0 <= a < 6 and 0 <= b < 6 for a, b in fd.FACE_DETECTION_EDGES)


@pytest.mark.parametrize('parts', [('images', 'bus.jpg'), ('images', 'hands', 'onehand10k_9.jpg'),
                                   ('coco_kpts', '000000000785.jpg')])
def test_images_without_a_close_face_give_no_crash(detector, parts):
    result = detector.detect(image(*parts))
    for face in result:  # whatever it finds is well formed
        assert face.keypoints.shape == (6, 4) and 0.5 <= face.score <= 1.0
    blank = detector.detect(np.full((240, 320, 3), 127, np.uint8))
    assert len(blank) == 0 and blank.instances == []


def test_face_detection_video_mode_and_options(detector):
    picture = image('images', 'faces', 'cofw_001766.jpg')
    restarts = detector.stream_restarts
    for stamp in (1000, 1033, 1033, 500):
        result = detector.detect(picture, stamp)
        assert len(result) == 1 and result.timestamp_ms == stamp
    assert detector.stream_restarts == restarts + 1
    with pytest.raises(ValueError, match='min_suppression_threshold'):
        fd.FaceDetectorOptions(min_suppression_threshold=2.0).check()
    with fd.MediaPipeFaceDetector(model(fd.DEFAULT_MODEL), fd.FaceDetectorOptions(
            min_detection_confidence=1.0)) as strict:
        assert len(strict.detect(picture)) == 0  # nothing is that certain


# -- selfie segmentation -----------------------------------------------------------------------

def test_zidane_mask_covers_the_two_people(segmenter):
    picture = image('images', 'zidane.jpg')
    result = segmenter.segment(picture)
    assert result.mask.shape == picture.shape[:2] and result.mask.dtype == np.float32
    assert (result.width, result.height) == (picture.shape[1], picture.shape[0])
    assert 0.4 <= result.person_fraction <= 0.7
    # the two people: each half of the image holds one, mostly person in its middle band
    person = result.mask > 0.5
    height, width = person.shape
    left, right = person[:, :width // 2], person[:, width // 2:]
    assert left.mean() > 0.2 and right.mean() > 0.2
    # the top corners are background (wall / sky)
    assert person[:height // 10, :width // 10].mean() < 0.2
    mask = result.mask_u8()
    assert mask.dtype == np.uint8 and mask.shape == picture.shape[:2] and mask.max() > 200
    binary = result.mask_u8(0.5)
    assert set(np.unique(binary)) <= {0, 255}
    assert abs((binary == 255).mean() - result.person_fraction) < 0.01


def test_segmentation_of_a_blank_image_and_of_video_frames(segmenter):
    blank = segmenter.segment(np.full((120, 160, 3), 127, np.uint8))
    assert blank.mask.shape == (120, 160) and blank.person_fraction < 0.05
    picture = image('images', 'zidane.jpg')
    first = segmenter.segment(picture, 2000)
    assert first.mode == 'video' and 0.4 <= first.person_fraction <= 0.7
    composed = sg.replace_background(picture, first.mask_u8())
    assert composed.shape == picture.shape
    person = first.mask > 0.9
    assert np.abs(composed[person].astype(int) - picture[person]).mean() < 5


def test_bad_images_and_models(segmenter, detector, tmp_path):
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((0, 10, 3), np.uint8)):
        with pytest.raises(ImageFormatError):
            segmenter.segment(bad)
        with pytest.raises(ImageFormatError):
            detector.detect(bad)
    with pytest.raises(ModelError, match='models fetch selfie_segmenter.tflite'):
        sg.MediaPipeSegmenter(str(tmp_path / 'selfie_segmenter.tflite'))
    garbage = tmp_path / 'blaze_face_short_range.tflite'
    garbage.write_bytes(b'not a model' * 100)
    with pytest.raises(ModelError, match='not a MediaPipe face detector') as info:
        fd.MediaPipeFaceDetector(str(garbage))
    assert '\n' not in str(info.value) and 'sha256 differs' in str(info.value)

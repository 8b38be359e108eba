"""The MediaPipe nodes' serialized keypoint messages are rclpy's bytes, and decode as such."""
import numpy as np
import pytest

from conftest import require_ros

require_ros()

from rclpy.serialization import deserialize_message  # noqa: E402,I100
from rclpy.serialization import serialize_message  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from jetauto_perception.landmarks import mediapipe_tasks as ml  # noqa: E402
from jetauto_perception.nodes.conversions import keypoints_to_msg  # noqa: E402
from jetauto_perception.nodes.keypoint_encoder import KeypointArrayEncoder  # noqa: E402

NAMES = {'face': ml.FACE_KEYPOINT_NAMES, 'hands': ml.HAND_KEYPOINT_NAMES,
         'pose': ml.POSE_KEYPOINT_NAMES}


def header(frame_id, sec=1700000000, nanosec=999999999):
    msg = Header(frame_id=frame_id)
    msg.stamp.sec, msg.stamp.nanosec = sec, nanosec
    return msg


@pytest.mark.parametrize('task', sorted(NAMES))
@pytest.mark.parametrize('frame_id', ['', 'a', 'cam', 'camera_color_optical_frame', 'ü'])
@pytest.mark.parametrize('count', [0, 1, 3])
def test_encoder_gives_rclpy_bytes(task, frame_id, count):
    names = NAMES[task]
    rng = np.random.default_rng(count + len(frame_id))
    points = [rng.uniform(-50, 1000, (len(names), 4)).astype(np.float32) for _ in range(count)]
    boxes = [tuple(rng.uniform(0, 500, 4)) for _ in range(count)]
    labels = ['Left', 'Right', 'Left'][:count] if task == 'hands' else None
    extra = [[('handedness/x' * (i + 1), 0.5 + i / 10)] * i for i in range(count)]
    expected = serialize_message(keypoints_to_msg(header(frame_id), boxes, points, names,
                                                  labels, extra))
    encoded = KeypointArrayEncoder(names).encode(header(frame_id), boxes, points, labels, extra)
    assert encoded == expected
    decoded = deserialize_message(encoded, Detection2DArray)
    assert len(decoded.detections) == count
    for det, pts in zip(decoded.detections, points):
        assert det.header.frame_id == frame_id
        assert [r.hypothesis.class_id for r in det.results[:len(names)]] == list(names)
        xyz = [(r.pose.pose.position.x, r.pose.pose.position.y, r.pose.pose.position.z)
               for r in det.results[:len(names)]]
        assert np.array_equal(np.array(xyz), pts[:, :3].astype(np.float64))


def test_encoder_reuses_its_templates_correctly():
    encoder = KeypointArrayEncoder(ml.HAND_KEYPOINT_NAMES)
    assert encoder.check_against_rclpy() == ''
    points = [np.arange(84, dtype=np.float32).reshape(21, 4)]
    first = encoder.encode(header('cam'), [(0, 0, 1, 1)], points)
    encoder.encode(header('cam'), [(0, 0, 1, 1)], [points[0] * 2])
    assert encoder.encode(header('cam'), [(0, 0, 1, 1)], points) == first


def test_encoder_layouts_change_from_frame_to_frame():
    """Instance counts, labels, extras and stamps vary; every frame is still rclpy's bytes."""
    names = ml.HAND_KEYPOINT_NAMES
    encoder = KeypointArrayEncoder(names)
    encoder.MAX_LAYOUTS = 3  # evict layouts too
    rng = np.random.default_rng(7)
    for frame in range(40):
        count = int(rng.integers(0, 4))
        points = [rng.uniform(-50, 700, (int(rng.integers(1, len(names) + 1)), 4))
                  .astype(np.float32) for _ in range(count)]
        boxes = [tuple(rng.uniform(0, 500, 4)) for _ in range(count)]
        labels = [str(rng.choice(['Left', 'Right'])) for _ in range(count)]
        extra = [[('handedness/' + labels[i], float(rng.uniform()))] for i in range(count)]
        head = header('cam%d' % (frame % 2), sec=frame, nanosec=int(rng.integers(0, 10 ** 9)))
        expected = serialize_message(keypoints_to_msg(head, boxes, points, names, labels, extra))
        assert encoder.encode(head, boxes, points, labels, extra) == expected, frame
    assert len(encoder._layouts) <= 3


def test_encoder_refuses_points_it_cannot_name():
    encoder = KeypointArrayEncoder(ml.HAND_KEYPOINT_NAMES)
    with pytest.raises(ValueError):
        encoder.encode(header('cam'), [(0, 0, 1, 1)], [np.zeros((22, 4), np.float32)])
    with pytest.raises(ValueError):
        encoder.encode(header('cam'), [(0, 0, 1, 1)], [np.zeros((21, 3), np.float32)])

"""
Image messages are built from the pixel buffer, never element by element.

rclpy's generated ``sensor_msgs/Image.data`` setter keeps an ``array('B')`` as it is but checks
any other sequence (``bytes`` too) one element at a time in Python: ~0.1 s per camera frame.
These tests time nothing: they count the Python-level calls (sys.setprofile) that building a
message makes, with the slow path as the control that the count would see it.
"""
import array
import sys

from conftest import require_ros

require_ros()

import numpy as np  # noqa: E402,I100
import pytest  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from jetauto_perception.nodes.conversions import (array_to_image, bgr_to_image,  # noqa: E402
                                                  image_to_bgr)


def python_calls(build):
    """Return how many Python / builtin calls ``build()`` makes (a count, not a time)."""
    calls = [0]

    def profile(frame, event, arg):
        if event in ('call', 'c_call'):
            calls[0] += 1
    sys.setprofile(profile)
    try:
        build()
    finally:
        sys.setprofile(None)
    return calls[0]


def frame(height=60, width=80):
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)


@pytest.mark.skipif(not __debug__, reason='python -O drops the setter checks this controls')
def test_the_count_sees_a_message_built_from_a_python_sequence():
    image = frame()
    msg = Image()
    assert python_calls(lambda: setattr(msg, 'data', image.tobytes())) > image.size


def test_bgr_to_image_builds_data_from_the_buffer():
    image = frame()
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    calls = python_calls(lambda: bgr_to_image(image, header))
    assert calls < 200, '%d calls for %d bytes: built element by element' % (calls, image.size)
    msg = bgr_to_image(image, header)
    assert isinstance(msg.data, array.array) and msg.data.typecode == 'B'
    assert (msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian) == (
        60, 80, 'bgr8', 240, 0)
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ('cam', 12,
                                                                                     345)
    # the bytes survive the middleware's serialization and the node's decoding
    back = deserialize_message(serialize_message(msg), Image)
    np.testing.assert_array_equal(image_to_bgr(back), image)


def test_non_contiguous_and_mono_images():
    image = frame(60, 160)[:, ::2]  # a strided view
    np.testing.assert_array_equal(image_to_bgr(bgr_to_image(image, Header())), image)
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    calls = python_calls(lambda: array_to_image(mask, Header(), 'mono8'))
    msg = array_to_image(mask, Header(), 'mono8')
    assert calls < 200 and (msg.step, msg.encoding) == (4, 'mono8')
    assert bytes(msg.data) == mask.tobytes()

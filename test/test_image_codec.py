"""Image message buffers -> BGR numpy, and every way a message can be malformed."""
import cv2
import numpy as np
import pytest

from jetauto_perception.errors import ImageFormatError
from jetauto_perception.sources.image_codec import decode_image, encode_bgr8


@pytest.fixture
def bgr():
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)


def test_bgr8_round_trip_with_row_padding(bgr):
    data, step = encode_bgr8(bgr)
    assert step == 24
    np.testing.assert_array_equal(decode_image(data, 6, 8, 'bgr8', step), bgr)
    padded = np.zeros((6, 32), np.uint8)
    padded[:, :24] = bgr.reshape(6, 24)
    np.testing.assert_array_equal(decode_image(padded.tobytes(), 6, 8, 'bgr8', 32), bgr)


@pytest.mark.parametrize('encoding,convert', [
    ('rgb8', cv2.COLOR_BGR2RGB), ('rgba8', cv2.COLOR_BGR2RGBA), ('bgra8', cv2.COLOR_BGR2BGRA)])
def test_colour_encodings(bgr, encoding, convert):
    raw = cv2.cvtColor(bgr, convert)
    out = decode_image(raw.tobytes(), 6, 8, encoding, raw.shape[1] * raw.shape[2])
    np.testing.assert_array_equal(out, bgr)


def test_mono_encodings():
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    out = decode_image(gray.tobytes(), 6, 8, 'mono8', 8)
    assert out.shape == (6, 8, 3) and (out[..., 0] == gray).all()
    wide = gray.astype(np.uint16) << 8
    out16 = decode_image(wide.astype('<u2').tobytes(), 6, 8, 'mono16', 16)
    assert (out16[..., 1] == gray).all()
    out_be = decode_image(wide.astype('>u2').tobytes(), 6, 8, 'mono16', 16, is_bigendian=True)
    assert (out_be[..., 2] == gray).all()


def test_yuv422(bgr):
    yuyv = np.full((6, 8, 2), 128, np.uint8)   # Y=128, U=V=128: mid grey
    out = decode_image(yuyv.tobytes(), 6, 8, 'yuv422_yuy2', 16)
    assert out.shape == (6, 8, 3) and abs(int(out[0, 0, 0]) - 128) <= 2


@pytest.mark.parametrize('kwargs,match', [
    ({'encoding': 'jpeg'}, 'unsupported image encoding'),
    ({'height': 0}, 'empty image'),
    ({'step': 10}, 'step 10 is smaller'),
    ({'data': b'\x00' * 100}, 'data has 100 bytes'),
])
def test_malformed_messages(bgr, kwargs, match):
    args = {'data': bgr.tobytes(), 'height': 6, 'width': 8, 'encoding': 'bgr8', 'step': 24}
    args.update(kwargs)
    with pytest.raises(ImageFormatError, match=match):
        decode_image(**args)


def test_encode_rejects_non_bgr():
    with pytest.raises(ImageFormatError):
        encode_bgr8(np.zeros((4, 4), np.uint8))

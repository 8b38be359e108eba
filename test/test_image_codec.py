"""Image message buffers -> BGR numpy, and every way a message can be malformed."""
import cv2
import numpy as np
import pytest

from jetauto_perception.errors import ImageFormatError
from jetauto_perception.sources.image_codec import bgr8_pixels, decode_image, decode_mono8


@pytest.fixture
def bgr():
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)


def test_bgr8_round_trip_with_row_padding(bgr):
    pixels = bgr8_pixels(bgr)
    data, step = pixels.tobytes(), pixels.strides[0]
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


@pytest.fixture
def tiles():
    """A 24x32 BGR image of 8x8 tiles in distinct saturated colours (chroma differs per tile)."""
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255),
               (255, 255, 0), (40, 90, 200), (200, 60, 30), (20, 20, 20), (230, 230, 230),
               (0, 128, 255), (128, 0, 64)]
    image = np.zeros((24, 32, 3), np.uint8)
    for index, colour in enumerate(colours):
        row, col = divmod(index, 4)
        image[row * 8:row * 8 + 8, col * 8:col * 8 + 8] = colour
    return image


def tile_centres(image):
    """The 4x4 centre of each 8x8 tile (away from edges where chroma and demosaicing mix)."""
    return np.stack([image[r + 2:r + 6, c + 2:c + 6] for r in range(0, 24, 8)
                     for c in range(0, 32, 8)]).astype(int)


@pytest.mark.parametrize('encoding,to_yuv,other', [
    ('yuv422', 'COLOR_BGR2YUV_UYVY', 'yuv422_yuy2'), ('uyvy', 'COLOR_BGR2YUV_UYVY', 'yuyv'),
    ('yuv422_yuy2', 'COLOR_BGR2YUV_YUY2', 'yuv422'), ('yuyv', 'COLOR_BGR2YUV_YUY2', 'uyvy')])
def test_yuv422_round_trip_and_byte_order(tiles, encoding, to_yuv, other):
    if not hasattr(cv2, to_yuv):
        pytest.skip('this OpenCV (%s) has no %s to encode with' % (cv2.__version__, to_yuv))
    packed = cv2.cvtColor(tiles, getattr(cv2, to_yuv))   # (H, W, 2): 2 bytes per pixel
    assert packed.shape == (24, 32, 2)
    out = decode_image(packed.tobytes(), 24, 32, encoding, 64)
    assert out.shape == (24, 32, 3)
    # YUV rounding: within a few levels of the colour in every tile
    assert np.abs(tile_centres(out) - tile_centres(tiles)).max() <= 4
    # the other byte order (UYVY read as YUY2 or back) gives other colours
    swapped = decode_image(packed.tobytes(), 24, 32, other, 64)
    assert np.abs(tile_centres(swapped) - tile_centres(tiles)).max() > 60


BAYER_OFFSETS = {'rggb': {'r': (0, 0), 'b': (1, 1)}, 'bggr': {'r': (1, 1), 'b': (0, 0)},
                 'gbrg': {'r': (1, 0), 'b': (0, 1)}, 'grbg': {'r': (0, 1), 'b': (1, 0)}}


def bayer_mosaic(image, pattern):
    """One sample per pixel as the sensor sees it: ``pattern`` names the 2x2 cell row by row."""
    offsets = BAYER_OFFSETS[pattern]
    mosaic = image[..., 1].copy()   # green where neither red nor blue
    for channel, (dy, dx) in (('b', offsets['b']), ('r', offsets['r'])):
        index = 0 if channel == 'b' else 2
        mosaic[dy::2, dx::2] = image[dy::2, dx::2, index]
    return mosaic


@pytest.mark.parametrize('pattern', sorted(BAYER_OFFSETS))
def test_bayer_round_trip_per_pattern(tiles, pattern):
    mosaic = bayer_mosaic(tiles, pattern)
    out = decode_image(mosaic.tobytes(), 24, 32, 'bayer_%s8' % pattern, 32)
    assert out.shape == (24, 32, 3)
    assert np.abs(tile_centres(out) - tile_centres(tiles)).max() <= 2
    # decoding the mosaic with any other pattern gives other colours
    for other in set(BAYER_OFFSETS) - {pattern}:
        wrong = decode_image(mosaic.tobytes(), 24, 32, 'bayer_%s8' % other, 32)
        assert np.abs(tile_centres(wrong) - tile_centres(tiles)).max() > 60, other


def test_yuv422_needs_an_even_width():
    with pytest.raises(ImageFormatError, match='even width'):
        decode_image(bytes(6 * 7 * 2), 6, 7, 'yuv422', 14)


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


def test_bgr8_pixels_rejects_non_bgr():
    with pytest.raises(ImageFormatError):
        bgr8_pixels(np.zeros((4, 4), np.uint8))


def test_mono8_decodes_without_conversion_and_refuses_other_encodings():
    mask = np.arange(6 * 8, dtype=np.uint8).reshape(6, 8)
    padded = np.zeros((6, 10), np.uint8)
    padded[:, :8] = mask
    np.testing.assert_array_equal(decode_mono8(padded.tobytes(), 6, 8, 'mono8', 10), mask)
    with pytest.raises(ImageFormatError, match='mono8'):
        decode_mono8(np.zeros(6 * 24, np.uint8).tobytes(), 6, 8, 'bgr8', 24)
    with pytest.raises(ImageFormatError, match='step x height'):
        decode_mono8(mask.tobytes()[:-1], 6, 8, 'mono8', 8)

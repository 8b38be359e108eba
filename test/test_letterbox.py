"""Letterbox geometry, pixels and the box round trip."""
import numpy as np
import pytest

from jetauto_perception.detection.letterbox import (letterbox, letterbox_blob, letterbox_transform,
                                                    PAD_VALUE)


@pytest.mark.parametrize('src_hw,dst,expected', [
    # (src h, w), dst, (new_w, new_h, left, top)
    ((1080, 810), 640, (480, 640, 80, 0)),
    ((720, 1280), 640, (640, 360, 0, 140)),
    ((480, 640), 640, (640, 480, 0, 80)),
    ((100, 101), 640, (640, 634, 0, 3)),   # odd padding: the extra pixel goes bottom
    ((50, 50), (320, 640), (320, 320, 160, 0)),
])
def test_geometry(src_hw, dst, expected):
    img = np.zeros(src_hw + (3,), np.uint8)
    out, t = letterbox(img, dst)
    new_w, new_h, left, top = expected
    assert (t.pad_x, t.pad_y) == (left, top)
    assert round(t.src_width * t.scale_x) == new_w and round(t.src_height * t.scale_y) == new_h
    dst_hw = (dst, dst) if isinstance(dst, int) else dst
    assert out.shape == dst_hw + (3,)


def test_padding_is_grey_and_content_centred():
    img = np.full((100, 200, 3), 255, np.uint8)
    out, t = letterbox(img, 64)
    assert t.pad_y == 16 and t.pad_x == 0
    assert (out[:16] == PAD_VALUE).all() and (out[48:] == PAD_VALUE).all()
    assert (out[16:48] == 255).all()


def boxes_to_input(t, boxes):
    """Map xyxy boxes from source pixels to input pixels (the inverse of boxes_to_source)."""
    out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    out[:, [0, 2]] = out[:, [0, 2]] * t.scale_x + t.pad_x
    out[:, [1, 3]] = out[:, [1, 3]] * t.scale_y + t.pad_y
    return out


def test_box_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(1080, 810), (720, 1280), (333, 777)]:
        t = letterbox_transform(shape, (640, 640))
        xy1 = rng.uniform(0, 1, (50, 2)) * [shape[1], shape[0]] * 0.5
        wh = rng.uniform(0.01, 0.5, (50, 2)) * [shape[1], shape[0]] * 0.5
        boxes = np.hstack([xy1, xy1 + wh]).astype(np.float32)
        back = t.boxes_to_source(boxes_to_input(t, boxes))
        np.testing.assert_allclose(back, boxes, atol=1e-3)
        # The whole source image maps onto the un-padded region of the input.
        full = boxes_to_input(t, np.array([[0, 0, shape[1], shape[0]]], np.float32))[0]
        assert full[0] == pytest.approx(t.pad_x) and full[1] == pytest.approx(t.pad_y)
        assert full[2] == pytest.approx(640 - t.pad_x, abs=1)
        assert full[3] == pytest.approx(640 - t.pad_y, abs=1)


def test_boxes_are_clipped_to_the_source():
    t = letterbox_transform((100, 200), (640, 640))
    out = t.boxes_to_source(np.array([[-50, 100, 700, 700]], np.float32))
    assert out.tolist() == [[0.0, 0.0, 200.0, 100.0]]


def test_blob_is_rgb_chw_scaled():
    img = np.zeros((10, 20, 3), np.uint8)
    img[..., 0] = 10   # B
    img[..., 1] = 20   # G
    img[..., 2] = 30   # R
    blob, t = letterbox_blob(img, 20)
    assert blob.shape == (1, 3, 20, 20) and blob.dtype == np.float32
    assert t.pad_y == 5
    centre = blob[0, :, 10, 10]
    np.testing.assert_allclose(centre, [30 / 255, 20 / 255, 10 / 255], atol=1e-6)
    np.testing.assert_allclose(blob[0, :, 0, 0], [PAD_VALUE / 255] * 3, atol=1e-6)
    out = np.empty((1, 3, 20, 20), np.float32)
    same, _ = letterbox_blob(img, 20, out=out)
    assert same is out and np.array_equal(out, blob)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        letterbox_blob(np.zeros((10, 10), np.uint8), 32)
    with pytest.raises(ValueError):
        letterbox_transform((0, 10), (32, 32))

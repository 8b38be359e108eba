"""nodes.stamp_cache: the stamp-keyed cache and the image/result pairing of the visualizer."""
import pytest

from jetauto_perception.nodes.stamp_cache import ResultSynchronizer, StampCache

MS = 1000000  # nanoseconds


def test_stamp_cache_is_bounded_and_ordered():
    cache = StampCache(max_entries=3)
    for stamp in (10, 30, 20, 40):
        cache.put(stamp, 'image', stamp)
    assert cache.stamps() == [20, 30, 40]
    assert cache.evicted == 1
    cache.put(30, 'detections', 'd')
    assert cache.get(30) == {'image': 30, 'detections': 'd'}
    assert cache.drop_through(30) == 2 and cache.stamps() == [40]
    with pytest.raises(ValueError):
        StampCache(0)


def test_image_alone_when_no_result_stream_is_active():
    sync = ResultSynchronizer()
    frame = sync.add_image(1 * MS, 'img1', now=0.0)
    assert frame.stamp == 1 * MS and frame.image == 'img1' and frame.results == {}


def test_images_wait_for_the_results_of_their_stamp():
    sync = ResultSynchronizer(wait=0.5)
    sync.add_result('detections', 0, 'd0', now=0.0)  # the stream is active
    assert sync.add_image(1 * MS, 'img1', now=1.00) is None
    assert sync.add_image(2 * MS, 'img2', now=1.03) is None
    frame = sync.add_result('detections', 1 * MS, 'd1', now=1.05)
    assert (frame.stamp, frame.image, frame.results, frame.partial) == \
        (1 * MS, 'img1', {'detections': 'd1'}, False)
    frame = sync.add_result('detections', 2 * MS, 'd2', now=1.08)
    assert (frame.image, frame.results) == ('img2', {'detections': 'd2'})


def test_result_before_its_image():
    sync = ResultSynchronizer()
    sync.add_result('detections', 0, 'd0', now=0.0)
    assert sync.add_result('detections', 5 * MS, 'd5', now=0.1) is None
    frame = sync.add_image(5 * MS, 'img5', now=0.11)
    assert (frame.image, frame.results) == ('img5', {'detections': 'd5'})


def test_frames_come_out_in_stamp_order_and_late_results_are_dropped():
    sync = ResultSynchronizer()
    sync.add_result('detections', 0, 'd0', now=0.0)
    sync.add_image(1 * MS, 'img1', now=0.1)
    sync.add_image(2 * MS, 'img2', now=0.13)
    frame = sync.add_result('detections', 2 * MS, 'd2', now=0.2)  # img1 was skipped
    assert frame.stamp == 2 * MS
    assert sync.add_result('detections', 1 * MS, 'd1', now=0.21) is None
    assert len(sync.cache) == 0


def test_two_streams_complete_or_partial_after_the_wait():
    sync = ResultSynchronizer(wait=0.3)
    sync.add_result('detections', 0, 'd0', now=0.0)
    sync.add_result('keypoints', 0, 'k0', now=0.0)
    sync.add_image(1 * MS, 'img1', now=0.1)
    assert sync.add_result('detections', 1 * MS, 'd1', now=0.15) is None  # keypoints pending
    assert sync.poll(now=0.2) is None
    frame = sync.add_result('keypoints', 1 * MS, 'k1', now=0.25)
    assert frame.results == {'detections': 'd1', 'keypoints': 'k1'} and not frame.partial
    # The keypoint node skips stamp 2: after the wait the frame goes out with what it has.
    sync.add_image(2 * MS, 'img2', now=0.3)
    assert sync.add_result('detections', 2 * MS, 'd2', now=0.35) is None
    assert sync.poll(now=0.5) is None
    frame = sync.poll(now=0.61)
    assert frame.stamp == 2 * MS and frame.results == {'detections': 'd2'} and frame.partial


def test_a_silent_stream_stops_being_waited_for():
    sync = ResultSynchronizer(active_timeout=1.0)
    sync.add_result('keypoints', 0, 'k0', now=0.0)
    assert sync.active_streams(0.5) == ['keypoints']
    assert sync.add_image(1 * MS, 'img1', now=0.5) is None
    assert sync.active_streams(1.6) == []
    assert sync.add_image(2 * MS, 'img2', now=1.6).image == 'img2'


def test_images_nobody_processed_are_evicted():
    sync = ResultSynchronizer(max_entries=4, wait=10.0)
    sync.add_result('detections', 0, 'd0', now=0.0)
    for i in range(1, 10):
        assert sync.add_image(i * MS, 'img%d' % i, now=0.01 * i) is None
    assert len(sync.cache) == 4
    assert sync.add_result('detections', 2 * MS, 'd2', now=0.2) is None  # img2 long evicted
    assert sync.add_result('detections', 9 * MS, 'd9', now=0.2).image == 'img9'


def test_old_entries_expire_by_age():
    sync = ResultSynchronizer(max_age=1.0, wait=10.0)
    sync.add_result('detections', 0, 'd0', now=0.0)
    sync.add_image(1 * MS, 'img1', now=0.0)
    assert sync.poll(now=2.0) is None
    assert len(sync.cache) == 0


def test_stamps_jumping_back_restart_the_pairing():
    sync = ResultSynchronizer(max_age=1.0)
    assert sync.add_image(100 * 10 ** 9, 'late', now=0.0).stamp == 100 * 10 ** 9
    assert sync.add_image(99 * 10 ** 9 + 500 * MS, 'older', now=0.1) is None  # stale
    frame = sync.add_image(5 * 10 ** 9, 'looped', now=0.2)  # a looping file / bag restarted
    assert frame.image == 'looped'

"""sources.capture: source parsing, files, folders, pacing, errors and reconnection (no ROS)."""
import os
import shutil
import threading

import cv2
import numpy as np
import pytest

from conftest import shared_path
from jetauto_perception.errors import SourceError
from jetauto_perception.sources.capture import (Capture, CaptureSettings, csi_pipeline,
                                                gstreamer_available, parse_source, SourceSpec,
                                                SourceUnavailableError)


class RecordingLogger:
    """Collects the capture's log lines (the node passes the ROS logger instead)."""

    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(('info', message))

    def warning(self, message):
        self.lines.append(('warning', message))

    def text(self, level=None):
        return '\n'.join(m for lv, m in self.lines if level in (None, lv))


class VirtualClock:
    """
    Time for a Capture that passes only while it waits (or when the test advances it).

    The pacing and back-off schedules are then exact numbers, whatever the CPU's speed.
    ``events`` are ``(time, function)`` pairs run once the virtual time reaches them.
    """

    def __init__(self):
        self.now = 1000.0
        self.waits = []
        self.events = []
        self.capture = None

    def monotonic(self):
        return self.now

    def clock_ns(self):
        return int(round(self.now * 1e9))

    def advance(self, seconds):
        self.now += seconds
        for event in [e for e in self.events if e[0] <= self.now]:
            self.events.remove(event)
            event[1]()

    def wait(self, seconds):
        self.waits.append(seconds)
        self.advance(seconds)
        return self.capture.stopped

    def capture_of(self, source, settings, logger=None):
        self.capture = Capture(source, settings, logger or RecordingLogger(),
                               clock_ns=self.clock_ns, monotonic=self.monotonic, wait=self.wait)
        return self.capture


def intervals(frames):
    """Seconds between consecutive frame stamps."""
    return [(b.stamp_ns - a.stamp_ns) * 1e-9 for a, b in zip(frames, frames[1:])]


@pytest.fixture(scope='module')
def vtest():
    return str(shared_path('data', 'video', 'vtest.avi'))


@pytest.fixture(scope='module')
def short_clip(vtest, tmp_path_factory):
    """The first 10 frames of vtest.avi as an MJPG .avi (10 fps), and the frames themselves."""
    path = str(tmp_path_factory.mktemp('clip') / 'clip.avi')
    reader = cv2.VideoCapture(vtest)
    frames = [reader.read()[1] for _ in range(10)]
    reader.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    decoded = []
    reader = cv2.VideoCapture(path)
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        decoded.append(frame)
    reader.release()
    assert len(decoded) == 10
    return path, decoded


def numbered_images(folder, count, size=(48, 64)):
    os.makedirs(str(folder), exist_ok=True)
    for i in range(count):
        image = np.full(size + (3,), 20 * i + 10, np.uint8)
        cv2.imwrite(str(folder / ('img_%03d.png' % i)), image)
    return folder


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize('text, kind, location, index', [
    ('0', 'v4l2', '/dev/video0', 0),
    (2, 'v4l2', '/dev/video2', 2),
    ('/dev/video1', 'v4l2', '/dev/video1', 1),
    ('/dev/v4l/by-id/usb-cam-video-index0', 'v4l2', '/dev/v4l/by-id/usb-cam-video-index0', None),
    ('csi://0', 'csi', 'csi://0', 0),
    ('csi://1', 'csi', 'csi://1', 1),
    ('rtsp://192.168.1.5:8554/cam', 'stream', 'rtsp://192.168.1.5:8554/cam', None),
    ('udp://@:5000', 'stream', 'udp://@:5000', None),
    ('videotestsrc ! videoconvert ! appsink drop=1', 'gstreamer',
     'videotestsrc ! videoconvert ! appsink drop=1', None),
    ('/data/run.mp4', 'file', '/data/run.mp4', None),
    ('file:///data/run.mp4', 'file', '/data/run.mp4', None),
    ('/data/frames/', 'images', '/data/frames/', None),
    ('/data/one.jpg', 'images', '/data/one.jpg', None),
])
def test_parse_source(text, kind, location, index):
    assert parse_source(text) == SourceSpec(kind, location, index)


def test_parse_source_existing_folder_without_slash(tmp_path):
    assert parse_source(str(tmp_path)).kind == 'images'


@pytest.mark.parametrize('text, fragment', [
    ('', 'no source given'),
    ('csi://front', 'csi://N'),
    ('videotestsrc ! videoconvert', 'must end in appsink'),
])
def test_parse_source_rejects_bad_sources_with_the_fix(text, fragment):
    with pytest.raises(SourceError, match=fragment):
        parse_source(text)


def test_csi_pipeline_is_argus_to_bgr_appsink():
    pipeline = csi_pipeline(1, 1280, 720, 30, flip_method=2)
    assert pipeline.startswith('nvarguscamerasrc sensor-id=1 ')
    assert 'framerate=(fraction)30/1' in pipeline
    assert 'nvvidconv flip-method=2' in pipeline
    assert 'format=(string)BGRx' in pipeline
    assert pipeline.index('nvarguscamerasrc') < pipeline.index('nvvidconv') \
        < pipeline.index('BGRx') < pipeline.index('appsink')
    assert pipeline.rstrip().split(' ! ')[-1].startswith('appsink')


def test_bad_settings_are_one_clear_error():
    with pytest.raises(SourceError, match='fourcc'):
        Capture('x.avi', CaptureSettings(fourcc='MJPEG'))


# -- files and folders ---------------------------------------------------------------------------
def test_video_file_yields_every_frame_then_ends(vtest):
    logger = RecordingLogger()
    capture = Capture(vtest, CaptureSettings(realtime=False), logger)
    reader = capture.open_reader()
    assert (reader.width, reader.height, reader.fps) == (768, 576, 10.0)
    expected = reader.frame_count
    count = 0
    last_stamp = 0
    for frame in capture.frames():
        assert frame.index == count
        assert frame.image.shape == (576, 768, 3)
        assert frame.stamp_ns >= last_stamp
        last_stamp = frame.stamp_ns
        count += 1
    assert expected == 795
    assert count == 795
    assert capture.ended
    assert 'end of' in logger.text('info') and '795 frames' in logger.text('info')


def test_video_file_is_paced_at_its_rate(vtest):
    clock = VirtualClock()
    frames = list(clock.capture_of(vtest, CaptureSettings(realtime=True)).frames(max_frames=6))
    assert intervals(frames) == pytest.approx([0.1] * 5)  # vtest.avi: 10 fps
    assert clock.waits == pytest.approx([0.1] * 5)


def test_pacing_waits_only_the_rest_of_the_interval_and_never_bursts(tmp_path):
    folder = numbered_images(tmp_path / 'frames', 7)
    clock = VirtualClock()
    stamps = []
    for frame in clock.capture_of(str(folder), CaptureSettings(fps=10.0)).frames():
        stamps.append(frame.stamp_ns * 1e-9 - 1000.0)
        # the consumer works 30 ms per frame, once 250 ms (longer than the interval)
        clock.advance(0.25 if frame.index == 3 else 0.03)
    # on schedule: frames at 0.1 s steps, the capture waiting the 70 ms left of each interval;
    # after the late frame the schedule restarts there instead of sending frames in a burst
    assert stamps == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.55, 0.65, 0.75])
    assert clock.waits == pytest.approx([0.07, 0.07, 0.07, 0.07, 0.07])


def test_image_folder_in_name_order_at_fps(tmp_path):
    folder = numbered_images(tmp_path / 'frames', 6)
    (folder / 'notes.txt').write_text('not an image')
    clock = VirtualClock()
    capture = clock.capture_of(str(folder), CaptureSettings(fps=20.0))
    frames = list(capture.frames())
    assert [int(f.image[0, 0, 0]) for f in frames] == [20 * i + 10 for i in range(6)]
    assert capture.ended
    assert intervals(frames) == pytest.approx([0.05] * 5)


def test_image_folder_skips_a_file_that_vanished_and_loops(tmp_path):
    folder = numbered_images(tmp_path / 'frames', 3)
    logger = RecordingLogger()
    capture = Capture(str(folder), CaptureSettings(realtime=False, loop=True), logger)
    frames = capture.frames(max_frames=5)
    assert int(next(frames).image[0, 0, 0]) == 10
    os.remove(str(folder / 'img_001.png'))
    values = [int(f.image[0, 0, 0]) for f in frames]
    assert values == [50, 10, 50, 10]  # 30 gone: skipped with a warning; the re-list drops it
    assert 'img_001.png' in logger.text('warning')


def test_realtime_off_is_not_paced(tmp_path):
    folder = numbered_images(tmp_path / 'frames', 5)
    clock = VirtualClock()
    frames = list(clock.capture_of(str(folder), CaptureSettings(fps=2.0, realtime=False))
                  .frames())
    assert len(frames) == 5
    assert clock.waits == [] and intervals(frames) == [0.0] * 4


# -- errors and reconnection ---------------------------------------------------------------------
def test_missing_file_without_retry_is_one_clear_error(tmp_path):
    missing = str(tmp_path / 'nowhere.avi')
    logger = RecordingLogger()
    capture = Capture(missing, CaptureSettings(retry=False), logger)
    with pytest.raises(SourceUnavailableError) as info:
        list(capture.frames())
    message = str(info.value)
    assert missing in message and 'not found' in message
    assert '\n' not in message
    assert logger.lines == []


def test_file_opencv_cannot_decode_is_an_error_even_with_retry(tmp_path):
    bogus = tmp_path / 'bogus.avi'
    bogus.write_bytes(b'this is not a video at all' * 100)
    with pytest.raises(SourceError, match='cannot decode'):
        list(Capture(str(bogus), CaptureSettings(retry=True)).frames())


def test_missing_camera_device_names_the_fix():
    with pytest.raises(SourceUnavailableError, match='/dev/video97 not found.*v4l2-ctl'):
        list(Capture('/dev/video97', CaptureSettings(retry=False)).frames())


def test_csi_without_gstreamer_says_which_opencv_to_use():
    if gstreamer_available():
        pytest.skip('this OpenCV has GStreamer: csi:// opens (and fails only without a camera)')
    with pytest.raises(SourceError, match='GStreamer') as info:
        list(Capture('csi://0', CaptureSettings(retry=True)).frames())
    assert not isinstance(info.value, SourceUnavailableError)


def test_stop_interrupts_the_retry_wait(tmp_path):
    capture = Capture(str(tmp_path / 'later.avi'),
                      CaptureSettings(reconnect_delay=5.0, reconnect_max_delay=5.0),
                      RecordingLogger())
    frames = []
    reader = threading.Thread(target=lambda: frames.extend(capture.frames()))
    reader.start()
    capture.stop()
    reader.join(timeout=60)  # without the interruption: 5 s per retry, forever
    assert not reader.is_alive() and frames == []


def test_source_that_appears_later_is_opened_with_backoff(short_clip, tmp_path):
    clip, decoded = short_clip
    target = str(tmp_path / 'late.avi')
    logger = RecordingLogger()
    clock = VirtualClock()
    capture = clock.capture_of(target, CaptureSettings(realtime=False, reconnect_delay=0.05,
                                                       reconnect_max_delay=0.2), logger)
    clock.events.append((clock.now + 0.5, lambda: shutil.copy(clip, target)))
    frames = list(capture.frames(max_frames=3))
    assert clock.waits == pytest.approx([0.05, 0.1, 0.2, 0.2])  # doubling, capped; 0.55 s
    assert len(frames) == 3
    assert np.array_equal(frames[0].image, decoded[0])
    retries = [m for lv, m in logger.lines if lv == 'warning']
    assert len(retries) >= 3 and all('not found' in m and 'retrying in' in m for m in retries)
    delays = [float(m.rsplit('retrying in ', 1)[1].split()[0]) for m in retries]
    assert delays[:3] == [0.05, 0.1, 0.2] and max(delays) == 0.2  # doubling, capped
    assert 'is back' in logger.text('info')


def test_file_moved_away_and_back_is_recovered(short_clip, tmp_path):
    clip, decoded = short_clip
    path = str(tmp_path / 'copy.avi')
    aside = str(tmp_path / 'aside.avi')
    shutil.copy(clip, path)
    logger = RecordingLogger()
    capture = Capture(path, CaptureSettings(realtime=False, loop=True, reconnect_delay=0.05,
                                            reconnect_max_delay=0.1), logger)
    frames = []
    for frame in capture.frames(max_frames=25):
        frames.append(frame)
        if frame.index == 3:
            os.rename(path, aside)  # gone: the next open (at the end of this pass) fails
            threading.Timer(0.4, os.rename, (aside, path)).start()
    assert len(frames) == 25
    gap = (frames[10].stamp_ns - frames[9].stamp_ns) * 1e-9
    assert gap >= 0.3, 'the capture did not wait for the file to come back'
    for frame in frames:  # frame i of the stream is frame i % 10 of the clip
        assert np.array_equal(frame.image, decoded[frame.index % 10])
    assert 'not found' in logger.text('warning') and 'is back' in logger.text('info')


def test_gstreamer_pipeline_that_ends_is_restarted():
    if not gstreamer_available():
        pytest.skip('OpenCV without GStreamer here (pip wheels have none)')
    logger = RecordingLogger()
    capture = Capture('videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! '
                      'videoconvert ! video/x-raw,format=BGR ! appsink',
                      CaptureSettings(reconnect_delay=0.05), logger)
    frames = list(capture.frames(max_frames=7))
    assert len(frames) == 7 and frames[0].image.shape == (48, 64, 3)
    assert capture.reconnects >= 2 and 'lost' in logger.text('warning')

#!/usr/bin/env python3
"""
Overhead of the MediaPipe nodes' data path over the bare MediaPipe Tasks call.

For each task (face mesh, hands, pose, face detection, selfie segmentation) the same
camera-sized frames (640x480) go through:
  * raw: ``mp.Image(SRGB, rgb_frame)`` + the Tasks object's VIDEO call (``detect_for_video`` /
    ``segment_for_video``; nothing converted after it); "raw from BGR" also counts the
    ``cv2.cvtColor`` that made the RGB frame from the camera's BGR one;
  * node path: the frame as a bgr8 message buffer -> ``image_codec.decode_image`` (with rclpy: the
    real ``conversions.image_to_bgr`` of a sensor_msgs/Image) -> the wrapper (BGR -> RGB, the same
    Tasks call, MediaPipe's public result objects -> numpy) -> the published message: with rclpy
    the node's serialized Detection2DArray (``KeypointArrayEncoder``) or mono8 mask Image and,
    for the keypoint tasks, ``keypoints_to_msg`` + ``serialize_message`` for comparison (what
    publishing message objects would cost instead of the encoder).
Both run in VIDEO mode with the same stamps, each with its own Tasks object, interleaved frame by
frame (alternating which goes first) so that load changes hit them alike.

Frames: faces = the COFW close-up, hands = the four hand images (25 frames each), scaled onto a
640x480 canvas; pose and selfie segmentation = 100 frames of vtest.avi (its middle 320x240 at
twice the size). Writes a markdown fragment (``--output``). Ratios are measured in one run on
one machine.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from machine import cpu_model  # noqa: E402,I100,I201  (the script's own folder)

from jetauto_perception.landmarks import face_detection as fd  # noqa: E402
from jetauto_perception.landmarks import mediapipe_tasks as ml  # noqa: E402
from jetauto_perception.landmarks import segmentation as sg  # noqa: E402
from jetauto_perception.sources.files import iterate_frames  # noqa: E402
from jetauto_perception.sources.files import list_images  # noqa: E402
from jetauto_perception.sources.image_codec import decode_image  # noqa: E402

SHARED = os.environ.get('JETAUTO_SHARED_DIR',
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                     'shared'))
WIDTH, HEIGHT = 640, 480
TASKS = ('face', 'hands', 'pose', fd.TASK, sg.TASK)


def on_canvas(image: np.ndarray) -> np.ndarray:
    """``image`` scaled to fit a 640x480 grey canvas, centred (a camera-sized frame)."""
    scale = min(WIDTH / image.shape[1], HEIGHT / image.shape[0])
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((HEIGHT, WIDTH, 3), 114, np.uint8)
    y = (HEIGHT - resized.shape[0]) // 2
    x = (WIDTH - resized.shape[1]) // 2
    canvas[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return canvas


def task_frames(task: str, count: int) -> List[np.ndarray]:
    images = os.path.join(SHARED, 'data', 'images')
    if task in ('face', fd.TASK):
        still = on_canvas(cv2.imread(os.path.join(images, 'faces', 'cofw_001766.jpg')))
        return [still] * count
    if task == 'hands':
        stills = [on_canvas(cv2.imread(p)) for p in list_images(os.path.join(images, 'hands'))]
        block = max(1, count // len(stills))
        return [stills[min(i // block, len(stills) - 1)] for i in range(count)]
    video = os.path.join(SHARED, 'data', 'video', 'vtest.avi')
    return [cv2.resize(f.image[140:380, 160:480], (WIDTH, HEIGHT))
            for f in iterate_frames(video, count)]


class RosPath:
    """The real message conversions, where rclpy is importable."""

    def __init__(self) -> None:
        from rclpy.serialization import serialize_message

        from jetauto_perception.nodes.conversions import image_to_bgr, keypoints_to_msg
        from jetauto_perception.nodes.keypoint_encoder import KeypointArrayEncoder
        from jetauto_perception.nodes.mediapipe_nodes import mono8_message
        self.serialize_message = serialize_message
        self.image_to_bgr = image_to_bgr
        self.keypoints_to_msg = keypoints_to_msg
        self.encoder_class = KeypointArrayEncoder
        self.mono8_message = mono8_message

    def image_message(self, bgr: np.ndarray, stamp_ms: int) -> Any:
        from sensor_msgs.msg import Image
        msg = Image(height=bgr.shape[0], width=bgr.shape[1], encoding='bgr8',
                    step=bgr.shape[1] * 3)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ms * 1000000, 10 ** 9)
        msg.header.frame_id = 'camera'
        msg.data = bgr.tobytes()
        return msg


def ros_or_none() -> Optional[RosPath]:
    try:
        return RosPath()
    except ImportError:
        return None


def wrappers(task: str, model: str) -> Tuple[Any, Callable[..., Any], Any, str]:
    """The wrapper, its per-frame call, the bare Tasks object (VIDEO mode), its VIDEO call."""
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions
    base = {'base_options': BaseOptions(model_asset_path=model),
            'running_mode': vision.RunningMode.VIDEO}
    if task == fd.TASK:
        wrapped = fd.MediaPipeFaceDetector(model)
        raw = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(**base))
        return wrapped, wrapped.detect, raw, 'detect_for_video'
    if task == sg.TASK:
        wrapped = sg.MediaPipeSegmenter(model)
        raw = vision.ImageSegmenter.create_from_options(vision.ImageSegmenterOptions(**base))
        return wrapped, wrapped.segment, raw, 'segment_for_video'
    count = 2 if task == 'hands' else 1
    wrapped = ml.MediaPipeLandmarker(task, model, ml.LandmarkerOptions(max_instances=count))
    cls, options, field = {
        'face': (vision.FaceLandmarker, vision.FaceLandmarkerOptions, 'num_faces'),
        'hands': (vision.HandLandmarker, vision.HandLandmarkerOptions, 'num_hands'),
        'pose': (vision.PoseLandmarker, vision.PoseLandmarkerOptions, 'num_poses'),
    }[task]
    raw = cls.create_from_options(options(**dict(base, **{field: count})))
    return wrapped, wrapped.detect, raw, 'detect_for_video'


def model_path(task: str) -> str:
    name = {fd.TASK: fd.DEFAULT_MODEL, sg.TASK: sg.DEFAULT_MODEL}.get(task) or \
        ml.DEFAULT_MODELS[task]
    return os.path.join(SHARED, 'models', 'mediapipe', name)


def measure(task: str, frames: List[np.ndarray], ros: Optional[RosPath]) -> Dict[str, float]:
    """Per-frame milliseconds (means over the frames) of each path and stage."""
    import mediapipe as mp

    wrapped, call, raw, raw_call_name = wrappers(task, model_path(task))
    raw_call = getattr(raw, raw_call_name)
    keypoints = task != sg.TASK
    encoder = ros.encoder_class(wrapped.names) if ros and keypoints else None
    buffers = [f.tobytes() for f in frames]
    messages = [ros.image_message(f, 1000 + i * 33) for i, f in enumerate(frames)] if ros \
        else None
    times: Dict[str, List[float]] = {k: [] for k in (
        'raw', 'raw_bgr', 'node', 'decode', 'pre', 'infer', 'post', 'msg', 'msg_objects')}
    instances = 0

    def stamp(i: int, rep: int) -> int:
        return 1000 + (rep * len(frames) + i) * 33  # ~30 fps, increasing over both passes

    def run_raw(i: int, rep: int) -> None:
        start = time.perf_counter()
        rgb = cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)  # what a bgr8 camera's user must do
        converted = time.perf_counter()
        raw_call(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), stamp(i, rep))
        end = time.perf_counter()
        times['raw'].append((end - converted) * 1e3)
        times['raw_bgr'].append((end - start) * 1e3)

    def run_node(i: int, rep: int) -> None:
        nonlocal instances
        start = time.perf_counter()
        if messages is not None:
            image = ros.image_to_bgr(messages[i])
        else:
            image = decode_image(buffers[i], HEIGHT, WIDTH, 'bgr8', WIDTH * 3)
        decoded = time.perf_counter()
        result = call(image, stamp(i, rep))
        detected = time.perf_counter()
        if ros is not None:
            header = messages[i].header
            if encoder is not None:
                encoder.encode(header, result.boxes, result.keypoints)
            else:
                ros.mono8_message(result.mask_u8(), header)
        end = time.perf_counter()
        times['node'].append((end - start) * 1e3)
        times['decode'].append((decoded - start) * 1e3)
        for name in ('pre', 'infer', 'post'):
            times[name].append(wrapped.timings.ms.get(name, 0.0))
        times['msg'].append((end - detected) * 1e3)
        instances += len(result) if keypoints else 0
        if encoder is not None and i % 5 == 0:  # the message objects, on every fifth frame
            start = time.perf_counter()
            ros.serialize_message(ros.keypoints_to_msg(header, result.boxes, result.keypoints,
                                                       wrapped.names))
            times['msg_objects'].append((time.perf_counter() - start) * 1e3)

    try:
        paths = [run_raw, run_node]
        for i in range(min(5, len(frames))):  # warm up the graphs
            for run in paths:
                run(i, 0)
        for key in times:
            times[key].clear()
        instances = 0
        for i in range(len(frames)):
            for k in range(len(paths)):
                paths[(i + k) % len(paths)](i, 1)
    finally:
        raw.close()
        wrapped.close()
    summary = {k: statistics.fmean(v) for k, v in times.items() if v}
    # paired by frame: both paths did the same work on frame i, so the median of the
    # differences is robust to the load spikes that hit one of them
    for base in ('raw', 'raw_bgr'):
        summary['paired_%s' % base] = statistics.median(
            n - r for n, r in zip(times['node'], times[base])) / statistics.median(times[base])
        summary['means_%s' % base] = (summary['node'] - summary[base]) / summary[base]
    summary['instances_per_frame'] = instances / len(frames)
    return summary


def machine() -> str:
    return '%s, %d cores visible, Python %s, %s' % (
        cpu_model(), os.cpu_count() or 0, platform.python_version(), platform.system())


def load_average() -> str:
    try:
        return '%.2f' % os.getloadavg()[0]
    except OSError:
        return 'n/a'


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frames', type=int, default=100, help='frames per task (100)')
    parser.add_argument('--tasks', default=','.join(TASKS))
    parser.add_argument('--output', default='', help='write the markdown fragment here')
    args = parser.parse_args(argv)
    import mediapipe
    ros = ros_or_none()
    load_before = load_average()
    rows = []
    for task in args.tasks.split(','):
        s = measure(task, task_frames(task, args.frames), ros)
        rows.append((task, s))
        print('%s: raw %.2f ms (from BGR %.2f), node %.2f ms: %+.1f %% (%+.1f %% paired), '
              'from BGR %+.1f %% (%+.1f %% paired)'
              % (task, s['raw'], s['raw_bgr'], s['node'], 100 * s['means_raw'],
                 100 * s['paired_raw'], 100 * s['means_raw_bgr'], 100 * s['paired_raw_bgr']),
              file=sys.stderr)
    lines = [
        '## MediaPipe nodes: data-path overhead over the raw Tasks call (public API)',
        '',
        'Machine: %s; mediapipe %s; %s; %s. Load average before / after: %s / %s.' % (
            machine(), mediapipe.__version__,
            'rclpy (ROS 2 Humble) present: real sensor_msgs/Image in, serialized message out'
            if ros else 'no rclpy: core path only (bgr8 buffer in, plain result out)',
            datetime.date.today().isoformat(), load_before, load_average()),
        '',
        '%d frames of 640x480 per task, VIDEO mode, the raw call and the node path interleaved '
        'on the same frames, one run of `benchmarks/mediapipe_overhead.py`. Milliseconds per '
        'frame (means). *raw* = `mp.Image(SRGB, rgb)` + the VIDEO call on an RGB frame; *raw '
        'from BGR* adds the `cv2.cvtColor` every user of a bgr8 camera needs first. *node path* '
        '= what the node does per frame, reading the public result objects of MediaPipe. '
        'Overhead = (node path - raw) / raw of the means; *paired* = median over frames of '
        '(node path - raw) / median raw. Stage columns are the parts of the node path '
        '(BGR->RGB + mp.Image includes the mp.Image copy the raw call makes too).' % args.frames,
        '',
        '| task | instances/frame | raw | raw from BGR | node path | overhead vs raw (paired) '
        '| vs raw from BGR (paired) | decode | BGR->RGB + mp.Image | result conversion '
        '| message |' + (' message objects instead (keypoints_to_msg + serialize) |'
                         if ros else ''),
        '|---|---|---|---|---|---|---|---|---|---|---|' + ('---|' if ros else ''),
    ]
    for task, s in rows:
        objects = ''
        if ros:
            objects = (' %.3f |' % s['msg_objects']) if 'msg_objects' in s else ' n/a (mask) |'
        lines.append(
            '| %s | %s | %.2f | %.2f | %.2f | %+.1f %% (%+.1f %%) | %+.1f %% (%+.1f %%) '
            '| %.3f | %.3f | %.3f | %.3f |%s' % (
                task, '%.2f' % s['instances_per_frame'] if task != sg.TASK else 'mask',
                s['raw'], s['raw_bgr'], s['node'],
                100 * s['means_raw'], 100 * s['paired_raw'],
                100 * s['means_raw_bgr'], 100 * s['paired_raw_bgr'],
                s['decode'], s['pre'], s['post'], s['msg'], objects))
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""
Overhead of the MediaPipe nodes' data path over the raw MediaPipe Tasks call.

For each task (face mesh, hands, pose) the same camera-sized frames (640x480) go through:
  * raw: ``mp.Image(SRGB, rgb_frame)`` + ``Landmarker.detect_for_video`` (the bare Tasks call;
    nothing converted after it); "raw from BGR" also counts the ``cv2.cvtColor`` that made the
    RGB frame from the camera's BGR one;
  * node path: the frame as a bgr8 message buffer -> ``image_codec.decode_image`` (with rclpy: the
    real ``conversions.image_to_bgr`` of a sensor_msgs/Image) -> ``MediaPipeLandmarker.detect``
    (BGR -> RGB, the same Tasks call, results -> pixel keypoints) -> the published message: with
    rclpy the node's serialized Detection2DArray (``KeypointArrayEncoder``) and, for reference,
    ``keypoints_to_msg`` + ``serialize_message`` (what publishing message objects costs).
    The landmarker reads MediaPipe's C result directly where it can (``result_reader`` 'c', the
    default); the same path with the public result objects (``read_c_results=False``) is
    measured too.
The three run in VIDEO mode with the same stamps, each with its own landmarker, interleaved
frame by frame (rotating which goes first) so that load changes hit them alike.

Frames: face = the COFW close-up, hands = the four hand images (25 frames each), scaled onto a
640x480 canvas; pose = 100 frames of vtest.avi (its middle 320x240 at twice the size).
Writes a markdown fragment (``--output``). Ratios are measured in one run on one machine.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from machine import cpu_model  # noqa: E402,I100,I201  (the script's own folder)

from jetauto_perception.landmarks import mediapipe_tasks as ml  # noqa: E402
from jetauto_perception.sources.files import iterate_frames  # noqa: E402
from jetauto_perception.sources.files import list_images  # noqa: E402
from jetauto_perception.sources.image_codec import decode_image  # noqa: E402

SHARED = os.environ.get('JETAUTO_SHARED_DIR',
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                     'shared'))
WIDTH, HEIGHT = 640, 480


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
    if task == 'face':
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
        from std_msgs.msg import Header

        from jetauto_perception.nodes.conversions import image_to_bgr, keypoints_to_msg
        from jetauto_perception.nodes.mediapipe_nodes import KeypointArrayEncoder
        self.serialize_message = serialize_message
        self.header_class = Header
        self.image_to_bgr = image_to_bgr
        self.keypoints_to_msg = keypoints_to_msg
        self.encoder_class = KeypointArrayEncoder

    def image_message(self, bgr: np.ndarray, stamp_ms: int) -> object:
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


def measure(task: str, model: str, frames: List[np.ndarray], ros: Optional[RosPath]
            ) -> Tuple[Dict[str, float], str]:
    """Per-frame milliseconds (means over the frames) of each path and stage."""
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = ml.LandmarkerOptions(max_instances=2 if task == 'hands' else 1)
    wrapped = ml.MediaPipeLandmarker(task, model, options)
    wrapped_objects = ml.MediaPipeLandmarker(task, model, options, read_c_results=False)
    task_options = {
        'face': (vision.FaceLandmarker, vision.FaceLandmarkerOptions, 'num_faces'),
        'hands': (vision.HandLandmarker, vision.HandLandmarkerOptions, 'num_hands'),
        'pose': (vision.PoseLandmarker, vision.PoseLandmarkerOptions, 'num_poses'),
    }[task]
    raw = task_options[0].create_from_options(task_options[1](
        base_options=BaseOptions(model_asset_path=model),
        running_mode=vision.RunningMode.VIDEO, **{task_options[2]: options.max_instances}))
    encoder = ros.encoder_class(ml.KEYPOINT_NAMES[task]) if ros else None
    buffers = [f.tobytes() for f in frames]
    messages = [ros.image_message(f, 1000 + i * 33) for i, f in enumerate(frames)] if ros \
        else None
    times: Dict[str, List[float]] = {k: [] for k in (
        'raw', 'raw_bgr', 'node', 'decode', 'pre', 'infer', 'post', 'msg', 'msg_objects',
        'node_objects', 'post_objects')}
    instances = 0

    def stamp(i: int, rep: int) -> int:
        return 1000 + (rep * len(frames) + i) * 33  # ~30 fps, increasing over both passes

    def run_raw(i: int, rep: int) -> None:
        start = time.perf_counter()
        rgb = cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)  # what a bgr8 camera's user must do
        converted = time.perf_counter()
        raw.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb),
                             stamp(i, rep))
        end = time.perf_counter()
        times['raw'].append((end - converted) * 1e3)
        times['raw_bgr'].append((end - start) * 1e3)

    def node_path(landmarker: ml.MediaPipeLandmarker, i: int, rep: int
                  ) -> Tuple[float, float, float, ml.LandmarkResult]:
        start = time.perf_counter()
        if messages is not None:
            image = ros.image_to_bgr(messages[i])
        else:
            image = decode_image(buffers[i], HEIGHT, WIDTH, 'bgr8', WIDTH * 3)
        decoded = time.perf_counter()
        result = landmarker.detect(image, stamp(i, rep))
        detected = time.perf_counter()
        if encoder is not None:
            encoder.encode(messages[i].header, result.boxes, result.keypoints)
        return decoded - start, detected - start, time.perf_counter() - start, result

    def run_objects(i: int, rep: int) -> None:
        total = node_path(wrapped_objects, i, rep)[2]
        times['node_objects'].append(total * 1e3)
        times['post_objects'].append(wrapped_objects.timings.ms.get('post', 0.0))

    def run_node(i: int, rep: int) -> None:
        nonlocal instances
        decoded, detected, end, result = node_path(wrapped, i, rep)
        times['node'].append(end * 1e3)
        times['decode'].append(decoded * 1e3)
        for stage in ('pre', 'infer', 'post'):
            times[stage].append(wrapped.timings.ms.get(stage, 0.0))
        times['msg'].append((end - detected) * 1e3)
        instances += len(result)
        if ros is not None and i % 5 == 0:  # the slow reference, on every fifth frame
            start = time.perf_counter()
            ros.serialize_message(ros.keypoints_to_msg(messages[i].header, result.boxes,
                                                       result.keypoints, wrapped.names))
            times['msg_objects'].append((time.perf_counter() - start) * 1e3)

    try:
        paths = [run_raw, run_node, run_objects]
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
        wrapped_objects.close()
    if wrapped.result_reader != 'c':
        print('%s: the node path read the public result objects: %s'
              % (task, wrapped.c_results_off), file=sys.stderr)
    summary = {k: statistics.fmean(v) for k, v in times.items() if v}
    # paired by frame: the paths did the same work on frame i, so the median of the
    # differences is robust to the load spikes that hit one of them
    for node in ('node', 'node_objects'):
        for base in ('raw', 'raw_bgr'):
            summary['paired_%s_%s' % (node, base)] = statistics.median(
                n - r for n, r in zip(times[node], times[base])) / statistics.median(times[base])
            summary['means_%s_%s' % (node, base)] = (summary[node] - summary[base]) \
                / summary[base]
    summary['instances_per_frame'] = instances / len(frames)
    return summary, wrapped.result_reader


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
    parser.add_argument('--tasks', default='face,hands,pose')
    parser.add_argument('--output', default='', help='write the markdown fragment here')
    args = parser.parse_args(argv)
    import mediapipe
    ros = ros_or_none()
    load_before = load_average()
    rows = []
    for task in args.tasks.split(','):
        model = os.path.join(SHARED, 'models', 'mediapipe', ml.DEFAULT_MODELS[task])
        s, reader = measure(task, model, task_frames(task, args.frames), ros)
        rows.append((task, s, reader))
        for node in ('node', 'node_objects'):
            print('%s: raw %.2f ms (from BGR %.2f), %s %.2f ms: %+.1f %% (%+.1f %% paired), '
                  'from BGR %+.1f %% (%+.1f %% paired)'
                  % (task, s['raw'], s['raw_bgr'], node, s[node],
                     100 * s['means_%s_raw' % node], 100 * s['paired_%s_raw' % node],
                     100 * s['means_%s_raw_bgr' % node], 100 * s['paired_%s_raw_bgr' % node]),
                  file=sys.stderr)
    lines = [
        '## MediaPipe nodes: data-path overhead over the raw Tasks call',
        '',
        'Machine: %s; mediapipe %s; %s; %s. Load average before / after: %s / %s.' % (
            machine(), mediapipe.__version__,
            'rclpy (ROS 2 Humble) present: real sensor_msgs/Image in, serialized '
            'Detection2DArray out' if ros else
            'no rclpy: core path only (bgr8 buffer in, LandmarkResult out)',
            datetime.date.today().isoformat(), load_before, load_average()),
        '',
        '%d frames of 640x480 per task, VIDEO mode, the raw call and the two node paths '
        'interleaved on the same frames, one run of `benchmarks/mediapipe_overhead.py`. '
        'Milliseconds per frame (means). *raw* = `mp.Image(SRGB, rgb)` + `detect_for_video` on '
        'an RGB frame; *raw from BGR* adds the `cv2.cvtColor` every user of a bgr8 camera needs '
        'first. *node path* = what the node does per frame, reading the C result of MediaPipe '
        'directly (reader `c`, the default where the installed mediapipe allows it); *node path, '
        'public objects* = the same with `read_c_results=False` (what mediapipe 0.10 wheels, '
        'e.g. on aarch64, always do). Overhead = (node path - raw) / raw of the means; *paired* = '
        'median over frames of (node path - raw) / median raw. Stage columns are the parts of '
        'the node path (BGR->RGB + mp.Image includes the mp.Image copy the raw call makes too; '
        'for the C reader, *result conversion* is measured from the end of the C call).'
        % args.frames,
        '',
        '| task | instances/frame | raw | raw from BGR | node path (reader) | overhead vs raw '
        '(paired) | overhead vs raw from BGR (paired) | node path, public objects '
        '| its overhead vs raw (paired) | vs raw from BGR (paired) | decode '
        '| BGR->RGB + mp.Image | result conversion (public objects) | message |'
        + (' message objects instead (keypoints_to_msg + serialize) |' if ros else ''),
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|' + ('---|' if ros else ''),
    ]
    for task, s, reader in rows:
        lines.append(
            '| %s | %.2f | %.2f | %.2f | %.2f (%s) | %+.1f %% (%+.1f %%) | %+.1f %% (%+.1f %%) '
            '| %.2f | %+.1f %% (%+.1f %%) | %+.1f %% (%+.1f %%) | %.3f | %.3f | %.3f (%.3f) '
            '| %.3f |%s' % (
                task, s['instances_per_frame'], s['raw'], s['raw_bgr'], s['node'], reader,
                100 * s['means_node_raw'], 100 * s['paired_node_raw'],
                100 * s['means_node_raw_bgr'], 100 * s['paired_node_raw_bgr'],
                s['node_objects'],
                100 * s['means_node_objects_raw'], 100 * s['paired_node_objects_raw'],
                100 * s['means_node_objects_raw_bgr'], 100 * s['paired_node_objects_raw_bgr'],
                s['decode'], s['pre'], s['post'], s['post_objects'], s['msg'],
                (' %.3f |' % s['msg_objects']) if ros else ''))
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())

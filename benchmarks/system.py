#!/usr/bin/env python3
"""
The perception graph as a system: ``perception.launch.py`` on a video, with real ROS 2.

For each configuration -- ``camera`` (camera only), ``detector`` (camera + detector +
visualizer, a process each), ``detector_single`` (the same in one ``perception_container``
process, the launch file's default), ``all`` (camera, the five models, visualizer: seven
processes), ``all_single`` (the same in one process) -- the script starts ``ros2 launch`` on a
video re-encoded to ``--size`` at ``--fps`` (looping), waits until every result topic has spoken,
then measures for ``--duration`` seconds from a subscriber in this process:

* images/s received on ``camera/image_raw`` (best effort, as the model nodes subscribe; not in
  the one-process configurations, where a subscriber would make the camera publish what nobody
  else needs: there the detector's input rate from /diagnostics);
* each result topic's rate, the share of camera frames it answered, p50/p95 latency from the
  image stamp to the result's arrival here (raw subscriptions: the probe reads the stamp from the
  serialized message and builds nothing in Python);
* CPU % (of one core) and RSS of every process of the launch (from /proc), and each model
  node's mean stage times inside the graph (from its /diagnostics);

and each model's standalone time per frame on the same frames (its core pipeline alone,
library-default threads, median) right before and right after each configuration. Every ratio
uses the fastest of these (this machine alternates between two speeds, seconds to minutes
apart, a model taking 1.5x longer in the slow one; a slow standalone time would flatter every
ratio, the fastest makes each goal hardest). Then it stops the launch with SIGINT and records
every exit code. It prints markdown tables and the ratios of issue 13.

    source /opt/ros/humble/setup.bash
    python benchmarks/system.py --duration 30 [--configs camera,detector,all_single]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
import yaml

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'test'))

from ament_prefix import make_install_prefix, PACKAGE  # noqa: E402,I100
from machine import cpu_model  # noqa: E402

SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))
VIDEO = SHARED / 'data' / 'video' / 'vtest.avi'

#: result topic -> the node that publishes it
RESULTS = {'/detections': 'yolov5_node', '/keypoints': 'keypoint_node',
           '/mediapipe/face_mesh': 'face_mesh_node', '/mediapipe/hands': 'hands_node',
           '/mediapipe/pose': 'pose_node'}
MODELS = ('enable_detector', 'enable_keypoints', 'enable_face_mesh', 'enable_hands',
          'enable_pose')
ALL = dict.fromkeys(MODELS + ('enable_visualizer',), 'true')
SEPARATE = {'single_process': 'false'}
CONFIGS: Dict[str, Dict[str, str]] = {
    'camera': dict(SEPARATE, enable_detector='false', enable_visualizer='false'),
    'detector': dict(SEPARATE, enable_detector='true', enable_visualizer='true'),
    'detector_single': {'enable_detector': 'true', 'enable_visualizer': 'true',
                        'single_process': 'true'},
    'all': dict(ALL, **SEPARATE),
    'all_single': dict(ALL, single_process='true'),
}
TOPIC_OF_FLAG = dict(zip(MODELS, RESULTS))


# -- inputs ---------------------------------------------------------------------------------------
def make_video(path: pathlib.Path, size: Tuple[int, int], fps: float) -> List[np.ndarray]:
    """Re-encode the shared video at ``size`` and ``fps`` (MJPG); returns its frames."""
    reader = cv2.VideoCapture(str(VIDEO))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    frames = []
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        writer.write(frame)
        frames.append(frame)
    writer.release()
    if not frames:
        raise SystemExit('cannot read %s' % VIDEO)
    return frames


class StandaloneModels:
    """
    Each model's core pipeline alone in this process (library-default threads).

    :meth:`time` is called right before each configuration (and once after the last): the CPU of
    a shared machine changes speed over minutes, and a ratio is only fair against a standalone
    time measured in the same minute.
    """

    def __init__(self, frames: List[np.ndarray], count: int) -> None:
        from jetauto_perception.detection.cuda_yolo import create_yolov5_detector
        from jetauto_perception.engines.base import EngineConfig
        from jetauto_perception.engines.factory import create_engine
        from jetauto_perception.keypoints.estimator import KeypointConfig, KeypointEstimator
        from jetauto_perception.landmarks.mediapipe_tasks import (DEFAULT_MODELS,
                                                                  LandmarkerOptions,
                                                                  MediaPipeLandmarker)
        from jetauto_perception.models.manifest import resolve_model

        step = max(1, len(frames) // count)
        self.sample = frames[::step][:count]
        config = EngineConfig()
        self.detector = create_yolov5_detector(
            create_engine(resolve_model('yolov5n.onnx'), config), 'cpu')
        self.estimator = KeypointEstimator.from_model(
            resolve_model('simplepose_mbv2_256x192.onnx'), config, KeypointConfig(device='cpu'))
        self.landmarkers = {node: MediaPipeLandmarker(task, resolve_model(DEFAULT_MODELS[task]),
                                                      LandmarkerOptions())
                            for task, node in (('face', 'face_mesh_node'),
                                               ('hands', 'hands_node'), ('pose', 'pose_node'))}
        self.timestamp_ms = 1000
        self.time()  # discarded: the first round in a process measured ~1.5x slower than later

    def time(self) -> Dict[str, float]:
        """Median ms per frame of each model (after three warm-up frames)."""
        frames = self.sample[:3] + self.sample
        times: Dict[str, List[float]] = {name: [] for name in RESULTS.values()}
        boxes = []
        for frame in frames:
            start = time.perf_counter()
            people = self.detector.detect(frame).with_label('person')
            times['yolov5_node'].append(time.perf_counter() - start)
            boxes.append(people.boxes[np.argsort(-people.scores)[:10]])
        for frame, person_boxes in zip(frames, boxes):
            start = time.perf_counter()
            self.estimator.estimate(frame, person_boxes)
            times['keypoint_node'].append(time.perf_counter() - start)
        for node, landmarker in self.landmarkers.items():
            for frame in frames:
                self.timestamp_ms += 42
                start = time.perf_counter()
                landmarker.detect(frame, self.timestamp_ms)
                times[node].append(time.perf_counter() - start)
        return {node: statistics.median(values[3:]) * 1e3 for node, values in times.items()}

    def close(self) -> None:
        for landmarker in self.landmarkers.values():
            landmarker.close()
        self.estimator.close()


# -- processes ------------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')


def process_table() -> Dict[int, Tuple[int, str, float, int]]:
    """pid -> (parent pid, name, CPU seconds, RSS bytes) of every process (from /proc)."""
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path('/proc/%s/stat' % entry).read_text()
            cmdline = pathlib.Path('/proc/%s/cmdline' % entry).read_bytes().split(b'\0')
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        name = pathlib.Path(cmdline[1].decode() if len(cmdline) > 1 and cmdline[1]
                            else cmdline[0].decode()).name
        table[int(entry)] = (int(fields[1]), name,
                             (int(fields[11]) + int(fields[12])) / CLOCK_TICKS,
                             int(fields[21]) * PAGE)
    return table


def descendants(root: int, table: Dict[int, Tuple[int, str, float, int]]) -> List[int]:
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, row in table.items() if row[0] == parent]
        found += children
        frontier += children
    return found


# -- the measuring node ---------------------------------------------------------------------------
class Probe:
    """
    Subscribes to the images, results and /diagnostics; records arrival times.

    The image and result subscriptions are raw (serialized bytes): the probe reads the header
    stamp from the CDR and never builds the message in Python, so that it takes as little CPU as
    it can from the graph it measures and its own callbacks add little to the latencies.
    """

    def __init__(self, subscribe_images: bool) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import qos_profile_sensor_data, QoSProfile
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        self.rclpy = rclpy
        self.node = rclpy.create_node('system_benchmark_probe')
        self.lock = threading.Lock()
        self.arrivals: Dict[str, List[Tuple[float, int]]] = {}
        self.diagnostics: Dict[str, List[Dict[str, str]]] = {}
        image_qos = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability,
                               history=qos_profile_sensor_data.history)
        if subscribe_images:
            self.node.create_subscription(Image, '/camera/image_raw',
                                          lambda m: self.arrived('/camera/image_raw', m),
                                          image_qos, raw=True)
        for topic in RESULTS:
            self.node.create_subscription(Detection2DArray, topic,
                                          lambda m, t=topic: self.arrived(t, m), 10, raw=True)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.on_diagnostics, 50)
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.running = True
        self.thread = threading.Thread(target=self.spin, daemon=True)
        self.thread.start()

    def spin(self) -> None:
        while self.running:
            self.executor.spin_once(timeout_sec=0.1)

    def arrived(self, topic: str, serialized: bytes) -> None:
        now = time.time_ns()
        # CDR: a 4-byte encapsulation header, then std_msgs/Header.stamp (int32 sec, uint32
        # nanosec), the first field of both Image and Detection2DArray
        byte_order = '<' if serialized[1] == 1 else '>'
        sec, nanosec = struct.unpack_from(byte_order + 'iI', serialized, 4)
        with self.lock:
            self.arrivals.setdefault(topic, []).append((now / 1e9, sec * 1000000000 + nanosec))

    def on_diagnostics(self, msg: object) -> None:
        with self.lock:
            for status in msg.status:
                name = status.name.split(':')[0].strip().lstrip('/')
                values = {kv.key: kv.value for kv in status.values}
                values['level'] = str(int.from_bytes(status.level, 'little')
                                      if isinstance(status.level, bytes) else status.level)
                self.diagnostics.setdefault(name, []).append(values)

    def reset(self) -> None:
        with self.lock:
            self.arrivals.clear()
            self.diagnostics.clear()

    def snapshot(self) -> Tuple[Dict[str, List[Tuple[float, int]]], Dict[str, List[Dict]]]:
        with self.lock:
            return ({k: list(v) for k, v in self.arrivals.items()},
                    {k: list(v) for k, v in self.diagnostics.items()})

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.executor.shutdown()
        self.node.destroy_node()


# -- one configuration ----------------------------------------------------------------------------
def run_config(name: str, args: argparse.Namespace, launch_file: pathlib.Path, video: str,
               params: str, env: Dict[str, str]) -> Dict[str, Any]:
    flags = CONFIGS[name]
    command = ['ros2', 'launch', str(launch_file), 'source:=' + video, 'params_file:=' + params,
               'rviz:=false'] + ['%s:=%s' % kv for kv in flags.items()]
    log = tempfile.NamedTemporaryFile('w+', prefix='system_%s_' % name, suffix='.log',
                                      delete=False)
    launch = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    expected = [TOPIC_OF_FLAG[f] for f in MODELS if flags.get(f) == 'true']
    probe = Probe(subscribe_images=flags.get('single_process') != 'true')
    result: Dict[str, Any] = {'name': name, 'expected': expected}
    try:
        deadline = time.monotonic() + args.warmup
        while time.monotonic() < deadline:
            arrivals, _ = probe.snapshot()
            heard = set(arrivals)
            if all(topic in heard for topic in expected) and (
                    expected or '/camera/image_raw' in heard):
                break
            if launch.poll() is not None:
                break
            time.sleep(0.5)
        time.sleep(args.settle)
        probe.reset()
        table = process_table()
        pids = descendants(launch.pid, table)
        cpu_start = {pid: table[pid][2] for pid in pids}
        start = time.monotonic()
        time.sleep(args.duration)
        elapsed = time.monotonic() - start
        table = process_table()
        arrivals, diagnostics = probe.snapshot()
        processes = []
        for pid in pids:
            if pid in table:
                _, pname, cpu, rss = table[pid]
                processes.append((pname, 100.0 * (cpu - cpu_start[pid]) / elapsed,
                                  rss / 2 ** 20))
        result.update(elapsed=elapsed, arrivals=arrivals, diagnostics=diagnostics,
                      processes=processes)
    finally:
        probe.close()
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(timeout=40)
        except subprocess.TimeoutExpired:
            launch.kill()
            launch.wait()
        log.seek(0)
        output = log.read()
        log.close()
    result['launch_exit'] = launch.returncode
    result['node_exits'] = re.findall(r'\[INFO\] \[([\w.-]+)-\d+\]: process has finished '
                                      r'cleanly|\[ERROR\] \[([\w.-]+)-\d+\]: process has died',
                                      output)
    result['tracebacks'] = output.count('Traceback')
    result['log'] = log.name
    return result


# -- figures --------------------------------------------------------------------------------------
def topic_figures(result: Dict, topic: str) -> Optional[Tuple[float, float, float, float]]:
    """(rate Hz, share of camera frames answered, p50 ms, p95 ms) of a topic, or None."""
    samples = result['arrivals'].get(topic)
    if not samples:
        return None
    latencies = np.array([(t - stamp / 1e9) * 1e3 for t, stamp in samples])
    rate = len(samples) / result['elapsed']
    camera = result.get('camera_hz') or float('nan')
    return (rate, rate / camera, float(np.percentile(latencies, 50)),
            float(np.percentile(latencies, 95)))


def node_input_hz(result: Dict, node: str) -> Optional[float]:
    windows = [w for w in result['diagnostics'].get(node, []) if 'input rate (Hz)' in w]
    return statistics.mean(float(w['input rate (Hz)']) for w in windows) if windows else None


def node_stage_ms(result: Dict, node: str) -> Dict[str, float]:
    """Mean per-stage ms of ``node`` inside the graph (from its /diagnostics windows)."""
    stages: Dict[str, List[float]] = {}
    for window in result['diagnostics'].get(node, []):
        for key, value in window.items():
            if key.endswith(' (ms)') and not key.startswith('stamp to publish'):
                stages.setdefault(key[:-5], []).append(float(value))
    return {stage: statistics.mean(values) for stage, values in stages.items()}


def label(result: Dict) -> str:
    """The configuration's name, with its round when there are several."""
    return result['name'] + (' #%d' % (result['round'] + 1) if result.get('rounds', 1) > 1
                             else '')


def report(results: List[Dict], args: argparse.Namespace) -> str:
    fastest = ', '.join('%s %.1f' % (node, results[0]['alone'][node])
                        for node in RESULTS.values()) if results else '-'
    lines = ['## The graph as a system (benchmarks/system.py)', '',
             'Machine: %s, %d cores, Python %s; %s. Video: vtest.avi at %dx%d, %.0f fps '
             '(looping), %.0f s per configuration after warm-up; ROS 2 Humble, %s.' % (
                 cpu_model(), os.cpu_count(), platform.python_version(),
                 datetime.date.today().isoformat(), args.size[0], args.size[1], args.fps,
                 args.duration, os.environ.get('RMW_IMPLEMENTATION', 'default rmw')), '',
             'Standalone ms per frame (median, each model alone, library-default threads), '
             'right before / right after each configuration; the ratios use the fastest of the '
             'run (%s):' % fastest, '',
             '| configuration | %s |' % ' | '.join(RESULTS.values()),
             '|---|%s' % ('---:|' * len(RESULTS))]
    for result in results:
        lines.append('| %s | %s |' % (label(result), ' | '.join(
            '%.1f / %.1f' % (result['alone_before'][n], result['alone_after'][n])
            for n in RESULTS.values())))
    lines += ['', '| configuration | camera images/s received | topic | rate Hz | share answered '
              '| p50 ms | p95 ms | rate x standalone |', '|---|---:|---|---:|---:|---:|---:|---:|']
    for result in results:
        camera = result.get('camera_hz')
        first = True
        for topic in result['expected'] or ['-']:
            figures = topic_figures(result, topic) if topic != '-' else None
            cells = ['%.2f' % figures[0], '%.2f' % figures[1], '%.0f' % figures[2],
                     '%.0f' % figures[3],
                     '%.2f' % (figures[0] * result['alone'][RESULTS[topic]] / 1e3)] \
                if figures else \
                ['-'] * 5
            lines.append('| %s | %s | %s | %s |' % (
                label(result) if first else '', ('%.1f' % camera if camera else '-')
                if first else '', topic, ' | '.join(cells)))
            first = False
    lines += ['', '| configuration | process | CPU % | RSS MiB |', '|---|---|---:|---:|']
    for result in results:
        for pname, cpu, rss in sorted(result['processes'], key=lambda p: -p[2]):
            lines.append('| %s | %s | %.0f | %.0f |' % (label(result), pname, cpu, rss))
        lines.append('| %s | **all** | %.0f | **%.0f** |' % (
            label(result), sum(p[1] for p in result['processes']),
            sum(p[2] for p in result['processes'])))
    lines += ['', 'Stage ms inside the graph (means of the /diagnostics windows):', '',
              '| configuration | node | stages |', '|---|---|---|']
    for result in results:
        for node in (RESULTS[t] for t in result['expected']):
            stages = node_stage_ms(result, node)
            lines.append('| %s | %s | %s |' % (label(result), node, ', '.join(
                '%s %.1f' % kv for kv in stages.items()) or '-'))
    lines += ['', '| configuration | ros2 launch exit | nodes finished cleanly | died '
              '| tracebacks |', '|---|---:|---|---|---:|']
    for result in results:
        clean = sorted(a for a, _ in result['node_exits'] if a)
        died = sorted(b for _, b in result['node_exits'] if b)
        lines.append('| %s | %s | %s | %s | %d |' % (
            label(result), result['launch_exit'], ', '.join(clean) or '-',
            ', '.join(died) or '-', result['tracebacks']))
    lines += ['', 'Ratios (issue 13 "Done when"), against the fastest standalone times of the '
              'run:', '']
    lines += ratios(results, args)
    lines += ['', 'The same against the faster of the standalone times right before and right '
              "after each configuration (the machine's speed in those minutes: sustained load "
              'on every core can slow this machine down for a while):', '']
    lines += ratios(results, args, 'alone_around')
    return '\n'.join(lines) + '\n'


#: (configuration, figure, goal, whether higher is better) of issue 13's "Done when"
GOALS = [
    ('camera', 'images/s received', 23.0, True),
    ('detector', 'rate x standalone', 0.8, True),
    ('detector', 'p50 latency / standalone', 2.0, False),
    ('detector_single', 'rate x standalone', 0.8, True),
    ('detector_single', 'p50 latency / standalone', 2.0, False),
    ('all', 'sum of rate x standalone', 0.8, True),
    ('all', 'detector keeps of its detector-only rate', 0.4, True),
    ('all', 'slowest model Hz', 1.0, True),
    ('all', '/detections p95 / standalone', 3.0, False),
    ('all', 'RSS MiB', 900.0, False),
    ('all_single', 'sum of rate x standalone', 0.8, True),
    ('all_single', 'detector keeps of its detector-only rate', 0.4, True),
    ('all_single', 'slowest model Hz', 1.0, True),
    ('all_single', '/detections p95 / standalone', 3.0, False),
    ('all_single', 'RSS MiB', 900.0, False),
]


def goal_figures(results: List[Dict]) -> Dict[Tuple[str, str], float]:
    """The figures of :data:`GOALS` from one round of the configurations."""
    by_name = {r['name']: r for r in results}
    figures: Dict[Tuple[str, str], float] = {}
    if by_name.get('camera', {}).get('camera_hz'):
        figures['camera', 'images/s received'] = by_name['camera']['camera_hz']
    detector_rates = {}
    for name in ('detector', 'detector_single'):
        found = topic_figures(by_name[name], '/detections') if name in by_name else None
        if found:
            t_det = by_name[name]['alone']['yolov5_node'] / 1e3
            detector_rates[name] = found[0]
            figures[name, 'rate x standalone'] = found[0] * t_det
            figures[name, 'p50 latency / standalone'] = found[2] / 1e3 / t_det
            # a model faster than the camera cannot pass the camera rate x its time
            figures[name, 'camera rate x standalone'] = min(1.0, by_name[name]['camera_hz']
                                                            * t_det)
    for name in ('all', 'all_single'):
        if name not in by_name:
            continue
        result = by_name[name]
        alone, t_det = result['alone'], result['alone']['yolov5_node'] / 1e3
        rates = {topic: (topic_figures(result, topic) or (0.0, 0.0, 0.0, 0.0))
                 for topic in result['expected']}
        det = rates.get('/detections', (0.0, 0.0, 0.0, 0.0))
        # against the detector alone in the same mode (else the other one)
        same_mode = 'detector_single' if name == 'all_single' else 'detector'
        detector_rate = detector_rates.get(same_mode) or next(iter(detector_rates.values()),
                                                              None)
        figures[name, 'sum of rate x standalone'] = sum(f[0] * alone[RESULTS[t]] / 1e3
                                                        for t, f in rates.items())
        if detector_rate:
            figures[name, 'detector keeps of its detector-only rate'] = det[0] / detector_rate
        figures[name, 'slowest model Hz'] = min(f[0] for f in rates.values())
        figures[name, '/detections p95 / standalone'] = det[3] / 1e3 / t_det
        figures[name, 'RSS MiB'] = sum(p[2] for p in result['processes'])
    return figures


def ratios(results: List[Dict], args: argparse.Namespace, key: str = 'alone') -> List[str]:
    """
    One line per goal: its figure in each round, their median, met or not.

    ``key`` names the standalone times the ratios divide by: ``alone`` (the fastest of the
    whole run) or ``alone_around`` (the faster of those right before and after each run).
    """
    rounds = sorted({r['round'] for r in results})
    per_round = [goal_figures([dict(r, alone=r[key]) for r in results if r['round'] == k])
                 for k in rounds]
    out = ['| configuration | figure | goal | %s | median | met |' % ' | '.join(
        'round %d' % (k + 1) for k in rounds),
        '|---|---|---|%s---:|---|' % ('---:|' * len(rounds))]
    for name, figure, goal, higher in GOALS:
        goal_value = goal if name != 'camera' else args.fps - 1
        values = [f.get((name, figure)) for f in per_round]
        known = [v for v in values if v is not None]
        if not known:
            continue
        median = statistics.median(known)
        met = median >= goal_value if higher else median <= goal_value
        cells = ['%.2f' % v if v is not None else '-' for v in values]
        out.append('| %s | %s | %s %.2f | %s | %.2f | %s |' % (
            name, figure, '>=' if higher else '<=', goal_value, ' | '.join(cells), median,
            'yes' if met else '**no**'))
        if figure == 'rate x standalone':
            caps = [f.get((name, 'camera rate x standalone')) for f in per_round]
            out.append('| %s | (at most: camera rate x standalone) | | %s | | |' % (
                name, ' | '.join('%.2f' % c if c is not None else '-' for c in caps)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=30.0,
                        help='seconds measured per configuration (default 30)')
    parser.add_argument('--warmup', type=float, default=120.0,
                        help='at most this many seconds for every result topic to speak')
    parser.add_argument('--settle', type=float, default=3.0,
                        help='seconds after the first results before measuring')
    parser.add_argument('--configs', default=','.join(CONFIGS),
                        help='comma-separated, of: %s' % ', '.join(CONFIGS))
    parser.add_argument('--fps', type=float, default=24.0, help='video frame rate (24)')
    parser.add_argument('--size', default='720x528', help='video frame size (720x528)')
    parser.add_argument('--standalone-frames', type=int, default=30,
                        help='frames timed per model alone (30)')
    parser.add_argument('--set', action='append', default=[], metavar='NODE.PARAM=VALUE',
                        help='override a parameter of config/perception.yaml (YAML value)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='measure every configuration this many times, one round after '
                        'the other; the goals are judged on the median (default 1)')
    parser.add_argument('--output', help='also write the markdown here')
    args = parser.parse_args()
    args.size = tuple(int(v) for v in args.size.lower().split('x'))
    configs = [c.strip() for c in args.configs.split(',') if c.strip()]
    if not os.environ.get('AMENT_PREFIX_PATH'):
        raise SystemExit('source /opt/ros/humble/setup.bash first')
    work = pathlib.Path(tempfile.mkdtemp(prefix='system_benchmark_'))
    video = work / 'video.avi'
    frames = make_video(video, args.size, args.fps)
    params = yaml.safe_load((REPO / 'config' / 'perception.yaml').read_text())
    params['/**/camera_node']['ros__parameters']['loop'] = True
    for item in args.set:
        key, value = item.split('=', 1)
        node, param = key.split('.', 1)
        params['/**/' + node]['ros__parameters'][param] = yaml.safe_load(value)
    params_file = work / 'params.yaml'
    params_file.write_text(yaml.safe_dump(params))
    models = StandaloneModels(frames, args.standalone_frames)
    prefix = make_install_prefix()
    env = dict(os.environ, PYTHONUNBUFFERED='1',
               AMENT_PREFIX_PATH=os.pathsep.join([str(prefix),
                                                  os.environ['AMENT_PREFIX_PATH']]))
    os.environ['AMENT_PREFIX_PATH'] = env['AMENT_PREFIX_PATH']
    import rclpy
    rclpy.init()
    results = []
    try:
        print('timing each model alone ...', file=sys.stderr)
        alone = models.time()
        for name, round_ in [(n, k) for k in range(args.rounds) for n in configs]:
            print('measuring %s (round %d) ...' % (name, round_ + 1), file=sys.stderr)
            result = run_config(name, args, prefix / 'share' / PACKAGE / 'launch'
                                / 'perception.launch.py', str(video), str(params_file), env)
            result['round'], result['rounds'] = round_, args.rounds
            images = result['arrivals'].get('/camera/image_raw')
            result['camera_hz'] = (len(images) / result['elapsed'] if images else
                                   node_input_hz(result, 'yolov5_node'))
            print('timing each model alone ...', file=sys.stderr)
            result['alone_before'], alone = alone, models.time()
            result['alone_after'] = alone
            results.append(result)
            print('  log: %s' % result['log'], file=sys.stderr)
    finally:
        models.close()
        rclpy.shutdown()
    # the machine's speed: the fastest of the run's standalone measurements, for every ratio
    fastest = {node: min(min(r['alone_before'][node], r['alone_after'][node]) for r in results)
               for node in RESULTS.values()}
    for result in results:
        result['alone'] = fastest
        result['alone_around'] = {
            node: min(result['alone_before'][node], result['alone_after'][node])
            for node in fastest}
    text = report(results, args)
    print(text)
    if args.output:
        pathlib.Path(args.output).write_text(text)


if __name__ == '__main__':
    main()

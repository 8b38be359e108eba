#!/usr/bin/env python3
"""
Per-keypoint depth for a 478-point face mesh: ``spatial.localize.keypoint_depths`` against the
keypoint-by-keypoint loop it replaced.

The depth is a real registered frame (``shared/data/rgbd``, five people); the keypoints are 478
points spread over the middle person's upper body (a face mesh's count, and where depth_node
places a MediaPipe face), scores 0.9. Both run alternately in one loop; the script checks that
they give the same depths and prints their median times and the ratio.

Usage: python benchmarks/keypoint_depth.py [--repeat 50]
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from machine import cpu_model  # noqa: E402,I100,I202  (the script's own folder)

from jetauto_perception.commands.localize import read_depth  # noqa: E402
from jetauto_perception.spatial.localize import keypoint_depths, LocalizerConfig  # noqa: E402

SHARED = pathlib.Path(os.environ.get('JETAUTO_SHARED_DIR', str(REPO.parent / 'shared')))


def loop_keypoint_depths(depth: np.ndarray, keypoints: np.ndarray, person_depth: float,
                         config: LocalizerConfig) -> np.ndarray:
    """The replaced implementation: one window slice and median per keypoint."""
    height, width = depth.shape
    out = np.full(len(keypoints), np.nan)
    w = config.keypoint_window
    for k, (x, y, score) in enumerate(keypoints[:, [0, 1, -1]]):
        if score < config.keypoint_threshold or not (0 <= x < width and 0 <= y < height):
            continue
        u, v = int(x), int(y)
        window = depth[max(v - w, 0):v + w + 1, max(u - w, 0):u + w + 1]
        window = window[np.isfinite(window)
                        & (np.abs(window - person_depth) <= config.keypoint_band)]
        if window.size:
            out[k] = float(np.median(window))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=50, help='timed calls of each (50)')
    args = parser.parse_args()
    depth = read_depth(str(SHARED / 'data' / 'rgbd' / 'pcl_kinect_a'
                           / 'pcl_five_people_depth.png'))
    rng = np.random.default_rng(0)
    # the middle person (box centre u 329.5, z 2.73 m: shared/data/rgbd/README.md)
    keypoints = np.column_stack([rng.uniform(300, 360, 478), rng.uniform(120, 260, 478),
                                 np.full(478, 0.9)])
    config, person_depth = LocalizerConfig(), 2.73
    methods = {'keypoint_depths (gathered windows)': keypoint_depths,
               'replaced loop': loop_keypoint_depths}
    results = {name: fn(depth, keypoints, person_depth, config) for name, fn in methods.items()}
    first, second = results.values()
    same = bool(np.array_equal(np.isnan(first), np.isnan(second))
                and np.allclose(first[np.isfinite(first)], second[np.isfinite(second)],
                                rtol=0, atol=1e-6))
    times = {name: [] for name in methods}
    for _ in range(args.repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn(depth, keypoints, person_depth, config)
            times[name].append((time.perf_counter() - start) * 1e3)
    print('%s, %d cores, Python %s, numpy %s; %s; %d keypoints, %d with depth; same depths: %s'
          % (cpu_model(), os.cpu_count(), platform.python_version(), np.__version__,
             datetime.date.today().isoformat(), len(keypoints), int(np.isfinite(first).sum()),
             'yes' if same else 'NO'))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, ms in medians.items():
        print('| %s | %.2f ms |' % (name, ms))
    ratio = medians['replaced loop'] / medians['keypoint_depths (gathered windows)']
    print('ratio (replaced / new): %.1fx' % ratio)
    if not same:
        raise SystemExit('the two implementations disagree')


if __name__ == '__main__':
    main()

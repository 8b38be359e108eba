"""
``jetauto-perception quantize`` on the real models: INT8 accuracy next to FP32, TensorRT checks.

Calibration uses only images that are not evaluated on: ``shared/data/images`` and frames spread
over ``shared/data/video/vtest.avi``. The full calibration (64 frames, four clipping rules,
sensitivity on 4 inputs) takes about 10 minutes of this 2-core machine, so CI runs a smaller one
(16 frames, the p99.999 rule alone, sensitivity on 2 inputs) and checks a looser bound (0.020);
the full run (0.0098 lost) is in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, shared_path
from jetauto_perception import cli

onnx = pytest.importorskip('onnx', reason='quantize needs onnx (pip install .[quantize])')
pytest.importorskip('onnxruntime.quantization', reason='quantize needs onnxruntime + sympy')

from jetauto_perception.quantization.qdq import quantized_layers, tensorrt_problems  # noqa: E402,I100,E501

FP32_MAP50_95 = 0.3565
#: The smaller CI calibration's bound (the full one's is 0.010: benchmarks/RESULTS.md).
CI_MAP_LOSS = 0.020
OKS_LOSS = 0.01


def calib_args() -> list:
    return ['--calib', str(shared_path('data', 'images')),
            '--calib', str(shared_path('data', 'video', 'vtest.avi'))]


@pytest.fixture(scope='module')
def yolo_int8(tmp_path_factory, yolov5n_onnx) -> tuple:
    coco = shared_path('data', 'coco128')
    out = tmp_path_factory.mktemp('quant')
    model, report = out / 'yolov5n.int8.onnx', out / 'report.json'
    assert cli.main(['quantize', '--onnx', str(yolov5n_onnx), '--output', str(model)]
                    + calib_args() + ['--calib-max', '16', '--rules', 'p99.999',
                                      '--sensitivity-images', '2', '--keep-float', '1',
                                      '--eval-images', str(coco / 'images'),
                                      '--eval-labels', str(coco / 'labels'),
                                      '--latency-runs', '3', '--report', str(report)]) == 0
    return model, json.loads(report.read_text())


def test_int8_map_is_close_to_fp32(yolo_int8):
    _, report = yolo_int8
    fp32, int8 = report['rows'][0], report['rows'][-1]
    assert fp32['name'] == 'FP32' and fp32['map50_95'] == pytest.approx(FP32_MAP50_95, abs=1e-3)
    assert int8['map50_95'] >= fp32['map50_95'] - CI_MAP_LOSS, report['rows']
    assert int8['map50'] >= fp32['map50'] - CI_MAP_LOSS, report['rows']
    # the three output Convs (the head) and the one the sensitivity chose
    assert len(int8['float_layers']) == 4 and int8['size_mb'] < fp32['size_mb'] * 0.6
    assert sum('model.24/m.' in name for name in int8['float_layers']) == 3
    assert int8['cpu_ms'] > 0 and fp32['cpu_ms'] > 0
    assert report['settings']['calibration inputs'] == 16
    assert report['rules'] == {'p99.999': 49}  # one per quantized activation tensor


def test_the_qdq_file_is_tensorrt_buildable(yolo_int8, yolov5n_onnx):
    model, report = yolo_int8
    qdq = onnx.load(str(model))
    assert tensorrt_problems(qdq) == []
    float_model = onnx.load(str(yolov5n_onnx))
    layers = quantized_layers(qdq)
    convs = [n.name for n in float_model.graph.node if n.op_type == 'Conv']
    assert set(layers) == set(convs) - set(report['rows'][-1]['float_layers'])
    # per-channel int8 weights on every quantized Conv, zero point 0 everywhere
    constants = {i.name: i for i in qdq.graph.initializer}
    producer = {o: n for n in qdq.graph.node for o in n.output}
    for node in qdq.graph.node:
        if node.name in layers:
            weight_dq = producer[node.input[1]]
            assert weight_dq.op_type == 'DequantizeLinear'
            scale = onnx.numpy_helper.to_array(constants[weight_dq.input[1]])
            assert scale.ndim == 1 and scale.size == constants[weight_dq.input[0]].dims[0]
    meta = {p.key: p.value for p in qdq.metadata_props}
    assert meta['names'] == {p.key: p.value for p in float_model.metadata_props}['names']
    assert meta['stride'] == {p.key: p.value for p in float_model.metadata_props}['stride']


def test_detect_takes_the_qdq_file_unchanged(yolo_int8, images_dir, tmp_path):
    model, _ = yolo_int8
    out = tmp_path / 'out.jsonl'
    result = subprocess.run([sys.executable, '-m', 'jetauto_perception', 'detect', '--model',
                             str(model), '--source', str(images_dir / 'bus.jpg'), '--output',
                             str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert {'person', 'bus'} <= {d['label'] for d in record['detections']}


def test_heatmap_model_oks_is_close_to_fp32(tmp_path):
    pose = shared_path('models', 'pose', 'simplepose_mbv2_256x192.onnx')
    coco = shared_path('data', 'coco_kpts', 'test_coco.json')
    shared_path('models', 'yolov5', 'yolov5n.onnx')
    report = tmp_path / 'pose.json'
    assert cli.main(['quantize', '--onnx', str(pose), '--output', str(tmp_path / 'pose.onnx'),
                     '--person-model', str(shared_path('models', 'yolov5', 'yolov5n.onnx'))]
                    + calib_args() + ['--calib-max', '8', '--rules', 'p99.999',
                                      '--sensitivity-images', '2', '--keep-float', '1',
                                      '--coco-kpts', str(coco), '--latency-runs', '3',
                                      '--report', str(report)]) == 0
    rows = json.loads(report.read_text())['rows']
    assert rows[0]['mean_oks'] > 0.78  # the float model with ground-truth boxes
    assert rows[-1]['mean_oks'] >= rows[0]['mean_oks'] - OKS_LOSS, rows
    assert tensorrt_problems(onnx.load(str(tmp_path / 'pose.onnx'))) == []


def test_quantize_refuses_to_overwrite_its_input(yolov5n_onnx, capsys):
    assert cli.main(['quantize', '--onnx', str(yolov5n_onnx), '--output', str(yolov5n_onnx),
                     '--calib', str(shared_path('data', 'images'))]) == 2
    assert 'must not overwrite' in capsys.readouterr().err

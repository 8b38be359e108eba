"""
The parts of INT8 quantization that need no real model: clipping rules, graph surgery, the
TensorRT-compatibility checks, calibration sources, and the TensorRT 8.5 → 11 build plans.
"""
from __future__ import annotations

import pathlib
from typing import List

import cv2
import numpy as np
import pytest

from jetauto_perception.engines.base import engine_config, ENGINE_OPTIONS, engine_options
from jetauto_perception.engines.tensorrt_plan import plan_build, version_tuple
from jetauto_perception.errors import ModelError

onnx = pytest.importorskip('onnx', reason='quantization needs onnx (the quantize extra)')
pytest.importorskip('onnxruntime.quantization', reason='needs onnxruntime.quantization + sympy')

from onnx import helper, numpy_helper, TensorProto  # noqa: E402,I100

from jetauto_perception.quantization import qdq  # noqa: E402
from jetauto_perception.quantization.calibration import (_shares,  # noqa: E402
                                                         calibration_frames)


def histogram(values: np.ndarray, bins: int = 2048) -> qdq.AbsHistogram:
    counts, edges = np.histogram(np.abs(values), bins=bins)
    return qdq.AbsHistogram(counts, edges.astype(np.float64))


def int8_error(values: np.ndarray, threshold: float) -> float:
    step = threshold / 127
    return float(np.sum((np.clip(np.round(values / step), -127, 127) * step - values) ** 2))


def test_clipping_rules_on_a_known_distribution():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 1, 200000), [40.0]])  # one far outlier
    hist = histogram(values)
    assert hist.threshold('max') == pytest.approx(40.0, rel=1e-3)
    # 99.99 % of |N(0,1)| lies below 3.89; the bin edge is within one bin width (40/2048)
    assert hist.threshold('p99.99') == pytest.approx(3.89, abs=0.05)
    assert hist.threshold('p99.99') < hist.threshold('p99.999') < hist.threshold('max')
    # the MSE rule's threshold really has the least int8 error on the data itself
    errors = {rule: int8_error(values, hist.threshold(rule)) for rule in qdq.CLIP_RULES}
    assert errors['mse'] <= min(errors.values()) * 1.01, errors
    with pytest.raises(ValueError):
        hist.threshold('entropy')


def test_mse_threshold_keeps_a_uniform_range():
    """Uniform data has no tail to clip: the MSE optimum is (nearly) its maximum."""
    hist = histogram(np.random.default_rng(1).uniform(-3, 3, 100000))
    assert hist.threshold('mse') == pytest.approx(3.0, rel=0.03)


def tiny_model(opset: int = 13) -> 'onnx.ModelProto':
    """x (1,3,8,8) -> Conv -> Sigmoid -> Conv -> y: two layers and a float tail."""
    rng = np.random.default_rng(2)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), 'w1')
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (2, 4, 1, 1)).astype(np.float32), 'w2')
    nodes = [helper.make_node('Conv', ['x', 'w1'], ['a'], name='conv1', pads=[1, 1, 1, 1]),
             helper.make_node('Sigmoid', ['a'], ['b'], name='act'),
             helper.make_node('Conv', ['b', 'w2'], ['c'], name='conv2'),
             helper.make_node('Mul', ['c', 'c'], ['y'], name='decode')]
    graph = helper.make_graph(
        nodes, 'tiny', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2, 8, 8])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])
    model.metadata_props.add(key='names', value="{0: 'a', 1: 'b'}")
    return model


@pytest.fixture(scope='module')
def tiny_qdq(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp('tiny') / 'tiny.onnx'
    onnx.save(tiny_model(opset=12), str(path))
    model = qdq.load_float_model(str(path))
    batches = [np.random.default_rng(i).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
               for i in range(4)]
    layers = qdq.quantizable_nodes(model)
    hists = qdq.collect_histograms(model, batches, sorted(set(layers.values())))
    return model, qdq.quantize_model(model, qdq.thresholds_for(hists, {'*': 'max'}), batches[0])


def test_load_converts_to_opset_13_and_quantizes_conv_inputs_only(tiny_qdq):
    model, quantized = tiny_qdq
    assert qdq.default_opset(model) == 13 and qdq.default_opset(quantized) >= 13
    assert qdq.quantizable_nodes(model) == {'conv1': 'x', 'conv2': 'b'}
    assert qdq.output_layers(model) == ['conv2']  # its output reaches y through no Conv
    assert qdq.quantized_layers(quantized) == ['conv1', 'conv2']
    assert qdq.tensorrt_problems(quantized) == []
    assert {p.key: p.value for p in quantized.metadata_props}['names'] == "{0: 'a', 1: 'b'}"


def test_keep_in_float_restores_a_layer_and_drops_its_qdq(tiny_qdq):
    model, quantized = tiny_qdq
    kept = qdq.keep_in_float(quantized, model, ['conv2'])
    assert qdq.quantized_layers(kept) == ['conv1']
    conv2 = next(n for n in kept.graph.node if n.name == 'conv2')
    assert list(conv2.input) == ['b', 'w2']
    assert 'w2' in {i.name for i in kept.graph.initializer}
    everything = qdq.keep_in_float(quantized, model, ['conv1', 'conv2'])
    assert not [n for n in everything.graph.node if 'Linear' in n.op_type]
    import onnxruntime as ort
    x = np.random.default_rng(9).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
    run = [ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
           .run(None, {'x': x})[0] for m in (model, everything, quantized)]
    np.testing.assert_allclose(run[1], run[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(run[2], run[0], rtol=1e-5, atol=1e-6)  # int8 does change it


def test_tensorrt_checks_find_what_tensorrt_would_not_take(tiny_qdq):
    _, quantized = tiny_qdq
    broken = onnx.ModelProto()
    broken.CopyFrom(quantized)
    zero = next(i for i in broken.graph.initializer if i.name.endswith('zero_point')
                and i.data_type == TensorProto.INT8)
    zero.CopyFrom(numpy_helper.from_array(np.array(3, np.int8), zero.name))
    # an int32 bias DequantizeLinear, and a Q/DQ pair on the model output (the decode)
    broken.graph.initializer.append(numpy_helper.from_array(np.zeros(2, np.int32), 'bias_q'))
    broken.graph.node.append(helper.make_node('DequantizeLinear', ['bias_q', 'w_s'],
                                              ['bias_f'], name='bias_dq'))
    out_scale = numpy_helper.from_array(np.array(0.1, np.float32), 'out_s')
    out_zero = numpy_helper.from_array(np.array(0, np.int8), 'out_z')
    broken.graph.initializer.extend([out_scale, out_zero])
    broken.graph.node.extend([
        helper.make_node('QuantizeLinear', ['y', 'out_s', 'out_z'], ['y_q'], name='out_q'),
        helper.make_node('DequantizeLinear', ['y_q', 'out_s', 'out_z'], ['y_dq'],
                         name='out_dq')])
    broken.graph.output.append(helper.make_tensor_value_info('y_dq', TensorProto.FLOAT, None))
    problems = '\n'.join(qdq.tensorrt_problems(broken))
    assert 'zero point not 0' in problems
    assert 'bias_dq: dequantizes a INT32 constant' in problems
    assert 'out_q: Q/DQ after the last Conv' in problems
    assert 'out_dq: a model output is quantized' in problems


def test_calibration_sources_share_the_budget(tmp_path: pathlib.Path):
    assert _shares([4, 795], 64) == [4, 60]
    assert _shares([100, 100], 10) == [5, 5]
    assert _shares([3, 2], 0) == [3, 2]
    assert _shares([3, 2], 50) == [3, 2]
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (32, 24))
    for value in range(0, 250, 10):  # 25 frames, each a different grey
        writer.write(np.full((24, 32, 3), value, np.uint8))
    writer.release()
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), np.zeros((5, 5, 3), np.uint8))
    frames = list(calibration_frames([str(images), str(video)], 6))
    assert len(frames) == 6 and frames[0].shape == (5, 5, 3)
    greys = [int(round(float(f.mean()))) for f in frames[1:]]
    # five frames spread over the whole video, not its first five
    assert greys[0] < 10 and greys[-1] > 230 and greys == sorted(greys)
    with pytest.raises(Exception, match='not found'):
        list(calibration_frames([str(tmp_path / 'missing')]))


@pytest.mark.parametrize('version,precision,qdq_model,calib,expect', [
    ((8, 5), 'int8', True, False, ('int8', False, ['INT8', 'FP16'], False)),
    ((8, 6), 'fp16', True, False, ('int8', False, ['INT8', 'FP16'], False)),
    ((8, 6), 'int8', False, True, ('int8', False, ['INT8', 'FP16'], True)),
    ((10, 0), 'int8', False, True, ('int8', False, ['INT8', 'FP16'], True)),
    ((10, 3), 'int8', True, False, ('int8', True, [], False)),
    ((10, 3), 'fp16', False, False, ('fp16', False, ['FP16'], False)),
    ((11, 4), 'fp16', False, False, ('fp16', True, [], False)),
    ((11, 4), 'int8', True, False, ('int8', True, [], False)),
    ((11, 4), 'fp32', False, False, ('fp32', True, [], False)),
    ((8, 6), 'fp32', False, False, ('fp32', False, [], False)),
])
def test_build_plans_per_tensorrt_version(version, precision, qdq_model, calib, expect):
    plan = plan_build(version, precision, qdq_model, calib,
                      has_strong_typing=version >= (10, 0))
    assert (plan.precision, plan.strongly_typed, plan.builder_flags, plan.calibrator) == expect
    assert plan.fp16_onnx == (version >= (11, 0) and precision == 'fp16' and not qdq_model)
    assert plan.cache_tag == ('' if plan.precision != 'int8' else
                              'calib' if plan.calibrator else 'qdq')


@pytest.mark.parametrize('version,calib,needle', [
    ((10, 1), True, 'builds INT8 only from a Q/DQ model'),
    ((11, 0), True, 'builds INT8 only from a Q/DQ model'),
    ((8, 6), False, 'calibration images'),
    ((8, 4), True, 'too old'),
])
def test_int8_without_qdq_says_how_to_quantize(version, calib, needle):
    with pytest.raises(ModelError, match=needle) as error:
        plan_build(version, 'int8', False, calib, version >= (10, 0))
    assert 'too old' in needle or 'jetauto-perception quantize' in str(error.value)


def test_version_tuple():
    assert version_tuple('10.3.0.26') == (10, 3)
    assert version_tuple('8.5.2') == (8, 5)
    assert version_tuple('11') == (11, 0)


def test_one_definition_of_the_engine_options():
    """Nodes, CLI and build-engine read one table; the CLI flags parse into an EngineConfig."""
    import argparse

    from jetauto_perception.commands.common import add_engine_options, engine_config_from
    names: List[str] = [o.param for o in engine_options('node')]
    assert names == ['backend', 'onnxruntime_providers', 'precision', 'engine_cache_dir',
                     'force_engine_rebuild', 'device_id']
    assert [o.param for o in engine_options('threads')] == ['threads', 'spin_wait']
    assert all(o.description for o in ENGINE_OPTIONS)
    for scope in ('cli', 'build'):
        parser = argparse.ArgumentParser()
        add_engine_options(parser, scope)
        flags = {a.option_strings[0] for a in parser._actions if a.option_strings} - {'-h'}
        assert flags == {o.flag for o in engine_options(scope)}
    parser = argparse.ArgumentParser()
    add_engine_options(parser, 'cli')
    config = engine_config_from(parser.parse_args(
        ['--backend', 'tensorrt', '--providers', 'cuda, cpu', '--precision', 'int8']))
    assert config.backend == 'tensorrt' and config.providers == ('cuda', 'cpu')
    assert config.precision == 'int8'
    assert engine_config({'providers': 'cpu,tensorrt'}).providers == ('cpu', 'tensorrt')


def test_qdq_files_are_recognised_and_keep_their_metadata(tiny_qdq, tmp_path):
    from jetauto_perception.engines.base import is_qdq_model, onnx_metadata
    model, quantized = tiny_qdq
    float_path, qdq_path = tmp_path / 'f.onnx', tmp_path / 'q.onnx'
    onnx.save(model, str(float_path))
    onnx.save(quantized, str(qdq_path))
    assert not is_qdq_model(str(float_path)) and is_qdq_model(str(qdq_path))
    assert onnx_metadata(str(qdq_path))['names'] == "{0: 'a', 1: 'b'}"

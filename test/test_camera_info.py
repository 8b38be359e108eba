"""sources.camera_info: calibration YAML parsing, validation, urls and the uncalibrated default."""
import pathlib

import pytest
import yaml

from conftest import REPO
from jetauto_perception.sources.camera_info import (calibration_for, CameraInfoError,
                                                    load_calibration, parse_calibration,
                                                    resolve_url, uncalibrated)

SAMPLE = REPO / 'config' / 'camera_info_sample.yaml'


def test_sample_calibration_loads():
    calib = load_calibration(str(SAMPLE))
    assert (calib.width, calib.height) == (640, 480)
    assert calib.camera_name == 'jetauto_camera'
    assert calib.distortion_model == 'plumb_bob'
    assert calib.calibrated
    assert calib.intrinsics == (532.1, 531.7, 318.4, 242.9)
    assert len(calib.d) == 5 and calib.d[0] == pytest.approx(0.0812)
    assert calib.r == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert len(calib.p) == 12 and calib.p[0] == pytest.approx(540.3) and calib.p[10] == 1.0


def to_yaml_dict(calib):
    """Write the camera_calibration_parsers layout (what parse_calibration reads)."""
    def matrix(rows, cols, data):
        return {'rows': rows, 'cols': cols, 'data': [float(v) for v in data]}
    return {'image_width': calib.width, 'image_height': calib.height,
            'camera_name': calib.camera_name, 'camera_matrix': matrix(3, 3, calib.k),
            'distortion_model': calib.distortion_model,
            'distortion_coefficients': matrix(1, len(calib.d), calib.d),
            'rectification_matrix': matrix(3, 3, calib.r),
            'projection_matrix': matrix(3, 4, calib.p)}


def test_round_trip_through_the_yaml_layout():
    calib = load_calibration(str(SAMPLE))
    again = parse_calibration(yaml.safe_load(yaml.safe_dump(to_yaml_dict(calib))))
    assert again == calib


def test_monocular_file_without_r_and_p_gets_identity_and_k():
    data = yaml.safe_load(SAMPLE.read_text())
    del data['rectification_matrix'], data['projection_matrix']
    calib = parse_calibration(data)
    assert calib.r == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    k = calib.k
    assert calib.p == [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0]


def test_uncalibrated_default_has_the_size_and_zero_matrices():
    calib = uncalibrated(1280, 720, 'front')
    assert (calib.width, calib.height, calib.camera_name) == (1280, 720, 'front')
    assert not calib.calibrated and calib.intrinsics is None
    assert calib.k == [0.0] * 9 and calib.p == [0.0] * 12 and calib.d == []


@pytest.mark.parametrize('edit, fragment', [
    (lambda d: d.pop('image_width'), 'image_width is missing'),
    (lambda d: d.update(image_height=-5), 'must be positive'),
    (lambda d: d['camera_matrix'].update(data=[1.0, 2.0]), "'camera_matrix' says 3x3 but has 2"),
    (lambda d: d['camera_matrix'].update(rows=None, cols=None, data=[1.0] * 8),
     "'camera_matrix' must be 3x3"),
    (lambda d: d['distortion_coefficients'].update(cols=4, data=[0.1] * 4),
     'plumb_bob has 5 coefficients'),
    (lambda d: d['projection_matrix'].update(data=['a'] * 12), 'list of numbers'),
    (lambda d: d['camera_matrix'].update(data=[0.0] * 9), 'fx, fy > 0'),
    (lambda d: d.pop('camera_matrix'), "'camera_matrix' is missing"),
])
def test_malformed_calibrations_say_what_is_wrong(edit, fragment):
    data = yaml.safe_load(SAMPLE.read_text())
    edit(data)
    with pytest.raises(CameraInfoError) as info:
        parse_calibration(data, 'cam.yaml')
    assert fragment in str(info.value) and str(info.value).startswith('cam.yaml: ')


def test_unreadable_files(tmp_path):
    with pytest.raises(CameraInfoError, match='cannot read camera calibration .*missing.yaml'):
        load_calibration(str(tmp_path / 'missing.yaml'))
    broken = tmp_path / 'broken.yaml'
    broken.write_text('image_width: [640\n')
    with pytest.raises(CameraInfoError, match='not valid YAML'):
        load_calibration(str(broken))
    listing = tmp_path / 'list.yaml'
    listing.write_text('- 1\n- 2\n')
    with pytest.raises(CameraInfoError, match='not a camera calibration'):
        load_calibration(str(listing))


def test_resolve_url_forms(monkeypatch, tmp_path):
    monkeypatch.setenv('ROS_HOME', str(tmp_path))
    assert resolve_url('file:///etc/cam.yaml') == '/etc/cam.yaml'
    assert resolve_url('/etc/cam.yaml') == '/etc/cam.yaml'
    assert resolve_url('${ROS_HOME}/camera_info/${NAME}.yaml', 'front') \
        == str(tmp_path / 'camera_info' / 'front.yaml')
    assert resolve_url('', 'front') == str(tmp_path / 'camera_info' / 'front.yaml')
    assert resolve_url('package://jetauto_perception/config/c.yaml',
                       package_resolver=lambda pkg: '/opt/share/' + pkg) \
        == '/opt/share/jetauto_perception/config/c.yaml'
    with pytest.raises(CameraInfoError, match='without ROS'):
        resolve_url('package://jetauto_perception/config/c.yaml')

    def missing(package):
        raise LookupError(package)
    with pytest.raises(CameraInfoError, match='package nope not found'):
        resolve_url('package://nope/c.yaml', package_resolver=missing)
    with pytest.raises(CameraInfoError, match='unsupported camera_info_url'):
        resolve_url('http://example.com/c.yaml')


def test_calibration_for_empty_url_uses_ros_home_default_when_present(monkeypatch, tmp_path):
    monkeypatch.setenv('ROS_HOME', str(tmp_path))
    assert calibration_for('', 'front') is None
    folder = pathlib.Path(tmp_path) / 'camera_info'
    folder.mkdir()
    (folder / 'front.yaml').write_text(SAMPLE.read_text())
    assert calibration_for('', 'front').width == 640
    with pytest.raises(CameraInfoError):
        calibration_for('file://' + str(tmp_path / 'other.yaml'), 'front')

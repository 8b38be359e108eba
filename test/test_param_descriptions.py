"""
Every node of setup.py: starts with config/perception.yaml, and every parameter is described.

What ``ros2 param describe /<node> <name>`` shows comes from the node's describe_parameters
service; this test asks it for every parameter of every node, and checks that the node's section
of perception.yaml names exactly the parameters the node declares (no typo, nothing missing).
Runs wherever ROS 2 is sourced; skips elsewhere.
"""
import ast
import os
import re
import signal
import subprocess
import sys
import time

from conftest import REPO, require_ros, SHARED

require_ros()

import pytest  # noqa: E402,I100
from rcl_interfaces.srv import DescribeParameters, ListParameters  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402

PARAMS = REPO / 'config' / 'perception.yaml'
MORE_PARTICIPANTS = ('<CycloneDDS><Domain><Discovery><MaxAutoParticipantIndex>32'
                     '</MaxAutoParticipantIndex></Discovery></Domain></CycloneDDS>')
#: Declared by rclpy itself for every node, without a description.
ROS_OWN = {'use_sim_time'}


def setup_nodes():
    text = (REPO / 'setup.py').read_text()
    return ast.literal_eval(re.search(r'^NODES = (\[.*?\])', text, re.S | re.M).group(1))


NODES = setup_nodes()


def yaml_section(node):
    data = yaml.safe_load(PARAMS.read_text())
    return data.get('/**/' + node, {}).get('ros__parameters')


@pytest.fixture(scope='module')
def running():
    if not (SHARED / 'models').is_dir():
        pytest.skip('the model nodes need the models in %s' % (SHARED / 'models'))
    # every node of setup.py and this checker: more participants than Cyclone DDS's default
    # MaxAutoParticipantIndex (9) allows on one host without multicast
    os.environ['CYCLONEDDS_URI'] = ','.join(filter(None, [
        os.environ.get('CYCLONEDDS_URI', ''), MORE_PARTICIPANTS]))
    env = dict(os.environ, PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    video = SHARED / 'data' / 'video' / 'vtest.avi'
    processes = {}
    for node in NODES:
        cmd = [sys.executable, '-m', 'jetauto_perception.nodes.' + node, '--ros-args',
               '--params-file', str(PARAMS)]
        if node == 'camera_node':
            cmd += ['-p', 'source:=%s' % video, '-p', 'loop:=true']
        processes[node] = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
    rclpy.init()
    client = rclpy.create_node('param_description_checker')
    yield processes, client
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    client.destroy_node()
    rclpy.shutdown()


def call(client, service_type, name, request, process, timeout=90.0):
    service = client.create_client(service_type, name)
    deadline = time.monotonic() + timeout
    while not service.wait_for_service(timeout_sec=0.5):
        if process.poll() is not None:
            pytest.fail('%s exited with %s:\n%s' % (name, process.returncode,
                                                    process.stdout.read()))
        if time.monotonic() > deadline:
            pytest.fail('no %s service after %.0f s' % (name, timeout))
    future = service.call_async(request)
    rclpy.spin_until_future_complete(client, future, timeout_sec=30.0)
    assert future.done(), 'no answer from %s' % name
    return future.result()


@pytest.mark.parametrize('node', NODES)
def test_every_parameter_is_described_and_in_perception_yaml(node, running):
    processes, client = running
    process = processes[node]
    names = call(client, ListParameters, '/%s/list_parameters' % node,
                 ListParameters.Request(), process).result.names
    declared = set(names) - ROS_OWN
    assert declared, '%s declares no parameters' % node
    descriptors = call(client, DescribeParameters, '/%s/describe_parameters' % node,
                       DescribeParameters.Request(names=sorted(declared)), process).descriptors
    undescribed = sorted(d.name for d in descriptors if not d.description.strip())
    assert not undescribed, '%s: parameters without a description: %s' % (node, undescribed)
    section = yaml_section(node)
    assert section is not None, 'config/perception.yaml has no /**/%s section' % node
    assert not set(section) - declared, '%s does not declare %s (in perception.yaml)' % (
        node, sorted(set(section) - declared))
    assert not declared - set(section), 'perception.yaml lacks %s of %s' % (
        sorted(declared - set(section)), node)
    assert process.poll() is None, '%s stopped' % node

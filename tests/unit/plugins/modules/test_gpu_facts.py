# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pynvml
import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.medimg.imaging.plugins.modules import gpu_facts

from ansible_collections.medimg.imaging.tests.unit.plugins.module_utils.fake_nvml import H100, FakeNVML


def run_module(capsys, args, nvml='real', path=None, monkeypatch=None):
    if nvml != 'real':
        monkeypatch.setattr(gpu_facts, 'pynvml', nvml)
    if path is not None:
        monkeypatch.setenv('PATH', path)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            gpu_facts.main()
    result = json.loads(capsys.readouterr().out)
    return exited.value.code, result


def test_real_binding_on_a_host_without_gpu(capsys):
    rc, result = run_module(capsys, {})
    assert rc == 0
    assert result['changed'] is False
    facts = result['ansible_facts']
    assert facts['gpu_present'] is False
    assert facts['gpu_reason'] == 'nvml_library_not_found'
    assert facts['gpu_source'] == 'nvml'


def test_fake_gpu_through_the_module(capsys, monkeypatch):
    rc, result = run_module(capsys, {'_ansible_check_mode': True}, nvml=FakeNVML(gpus=[H100]), monkeypatch=monkeypatch)
    assert rc == 0
    facts = result['ansible_facts']
    assert facts['gpu_present'] is True
    assert facts['gpus'][0]['compute_capability'] == '9.0'
    assert result['changed'] is False


def test_driver_not_loaded_through_the_module(capsys, monkeypatch):
    nvml = FakeNVML(init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    rc, result = run_module(capsys, {}, nvml=nvml, monkeypatch=monkeypatch)
    assert rc == 0
    assert result['ansible_facts']['gpu_reason'] == 'driver_not_loaded'


def test_nvml_backend_without_binding_fails_saying_what_to_install(capsys, monkeypatch):
    rc, result = run_module(capsys, {'backend': 'nvml'}, nvml=None, monkeypatch=monkeypatch)
    assert rc == 1
    assert result['failed'] is True
    assert 'nvidia-ml-py' in result['msg'] and 'managed host' in result['msg']


def test_no_binding_and_no_nvidia_smi(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(gpu_facts, 'SMI_EXTRA_PATHS', [str(tmp_path)])
    rc, result = run_module(capsys, {}, nvml=None, path=str(tmp_path), monkeypatch=monkeypatch)
    assert rc == 0
    facts = result['ansible_facts']
    assert facts['gpu_present'] is False
    assert facts['gpu_source'] == 'none'
    assert facts['gpu_reason'] == 'nvml_binding_missing_and_no_nvidia_smi'


def write_smi(folder, body):
    smi = folder / 'nvidia-smi'
    smi.write_text('#!/bin/sh\n' + body)
    os.chmod(str(smi), 0o755)
    return smi


def test_fallback_runs_nvidia_smi(capsys, monkeypatch, tmp_path):
    """A real process: a stand-in nvidia-smi answering like the driver's on an H100."""
    write_smi(tmp_path, r'''
case "$1" in
  --query-gpu=*)
    printf '0, NVIDIA H100 80GB HBM3, GPU-5c3e, 1650, 96.00, 00000000:19:00.0, 81559, 1, 9.0, Disabled, Disabled, '
    echo 'Enabled, Enabled, 31, [N/A], 71.35, 700.00, Enabled, P0, 0, 0, 345, 345, 2619, 765, 1980, 1980, 2619, 550.90.07' ;;
  -L) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c3e)" ;;
  *) echo "| NVIDIA-SMI 550.90.07    Driver Version: 550.90.07    CUDA Version: 12.4 |" ;;
esac
''')
    monkeypatch.setattr(gpu_facts, 'SMI_EXTRA_PATHS', [])
    rc, result = run_module(capsys, {}, nvml=None, path=str(tmp_path), monkeypatch=monkeypatch)
    assert rc == 0
    facts = result['ansible_facts']
    assert facts['gpu_source'] == 'nvidia-smi'
    assert facts['gpu_present'] is True
    assert facts['gpu_cuda_driver_version'] == '12.4'
    assert facts['gpu_driver_version'] == '550.90.07'
    assert facts['gpus'][0]['pci_bus_id'] == '00000000:19:00.0'


def test_explicit_nvidia_smi_path_driver_not_loaded(capsys, monkeypatch, tmp_path):
    smi = write_smi(tmp_path, 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9\n')
    rc, result = run_module(capsys, {'backend': 'nvidia-smi', 'nvidia_smi_path': str(smi)},
                            nvml=FakeNVML(gpus=[H100]), monkeypatch=monkeypatch)
    assert rc == 0
    facts = result['ansible_facts']
    assert facts['gpu_source'] == 'nvidia-smi'
    assert facts['gpu_reason'] == 'driver_not_loaded'


def test_explicit_nvidia_smi_path_missing(capsys, monkeypatch, tmp_path):
    rc, result = run_module(capsys, {'backend': 'nvidia-smi', 'nvidia_smi_path': str(tmp_path / 'nope')},
                            nvml=None, monkeypatch=monkeypatch)
    assert rc == 0
    assert result['ansible_facts']['gpu_reason'] == 'nvidia_smi_not_found'
    assert result['ansible_facts']['gpu_source'] == 'none'


def test_bad_backend_is_a_clear_failure(capsys):
    rc, result = run_module(capsys, {'backend': 'cuda'})
    assert rc == 1
    assert 'backend' in result['msg']


def test_unexpected_error_is_reported_not_raised(capsys, monkeypatch):
    class Broken(FakeNVML):
        def nvmlDeviceGetCount(self):
            raise RuntimeError('boom')
    rc, result = run_module(capsys, {}, nvml=Broken(gpus=[H100]), monkeypatch=monkeypatch)
    assert rc == 1
    assert 'Reading the GPUs of the host failed unexpectedly: boom' == result['msg']

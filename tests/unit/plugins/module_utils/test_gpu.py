# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import pynvml
import pytest

from ansible_collections.medimg.imaging.plugins.module_utils import _gpu
from ansible_collections.medimg.imaging.plugins.module_utils._gpu import (
    nvml_facts,
    parse_smi_csv,
    parse_smi_list,
    smi_facts,
)

from ansible_collections.medimg.imaging.tests.unit.plugins.module_utils.fake_nvml import H100, MIG_A100, T4, FakeNVML

GPU_KEYS = {
    'index', 'name', 'uuid', 'pci_bus_id', 'memory_total_mib', 'memory_used_mib',
    'compute_capability', 'mig_mode_current', 'mig_mode_pending', 'mig_devices',
    'ecc_mode_current', 'temperature_c', 'power_draw_w', 'power_limit_w',
    'persistence_mode', 'clocks',
}
FACT_KEYS = {'gpu_present', 'gpu_reason', 'gpu_source', 'gpu_driver_version',
             'gpu_cuda_driver_version', 'gpu_count', 'gpus'}


def test_every_nvml_function_used_exists_in_nvidia_ml_py():
    """The fake must not hide a typo: every nvml* name the collector calls is real."""
    with open(_gpu.__file__) as handle:
        names = set(re.findall(r"'(nvml[A-Z][A-Za-z_0-9]+)'", handle.read()))
    assert names
    missing = sorted(n for n in names if not hasattr(pynvml, n))
    assert missing == []


def test_constants_match_nvidia_ml_py():
    assert _gpu.NVML_TEMPERATURE_GPU == pynvml.NVML_TEMPERATURE_GPU
    assert _gpu.NVML_CLOCK_GRAPHICS == pynvml.NVML_CLOCK_GRAPHICS
    assert _gpu.NVML_CLOCK_SM == pynvml.NVML_CLOCK_SM
    assert _gpu.NVML_CLOCK_MEM == pynvml.NVML_CLOCK_MEM
    assert _gpu.NVML_CLOCK_VIDEO == pynvml.NVML_CLOCK_VIDEO
    assert _gpu.NVML_FEATURE_ENABLED == pynvml.NVML_DEVICE_MIG_ENABLE == pynvml.NVML_FEATURE_ENABLED
    assert _gpu.NVML_ERROR_NAMES[pynvml.NVML_ERROR_LIBRARY_NOT_FOUND] == 'nvml_library_not_found'
    assert _gpu.NVML_ERROR_NAMES[pynvml.NVML_ERROR_DRIVER_NOT_LOADED] == 'driver_not_loaded'
    assert _gpu.NVML_ERROR_NAMES[pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH] == 'driver_library_version_mismatch'


def test_real_binding_without_library_reports_library_not_found():
    """This machine has nvidia-ml-py but no libnvidia-ml: the real path, not the fake."""
    facts = nvml_facts(pynvml)
    assert facts['gpu_present'] is False
    assert facts['gpu_reason'] == 'nvml_library_not_found'
    assert facts['gpu_source'] == 'nvml'
    assert facts['gpus'] == [] and facts['gpu_count'] == 0


def test_several_gpus():
    nvml = FakeNVML(gpus=[H100, T4])
    facts = nvml_facts(nvml)
    assert FACT_KEYS <= set(facts)
    assert facts['gpu_present'] is True
    assert facts['gpu_reason'] is None
    assert facts['gpu_source'] == 'nvml'
    assert facts['gpu_driver_version'] == '550.90.07'
    assert facts['gpu_cuda_driver_version'] == '12.4'
    assert facts['gpu_count'] == 2
    h100, t4 = facts['gpus']
    for gpu in facts['gpus']:
        assert GPU_KEYS <= set(gpu)
    assert h100['index'] == 0 and t4['index'] == 1
    assert h100['name'] == 'NVIDIA H100 80GB HBM3'
    assert h100['pci_bus_id'] == '00000000:19:00.0'  # bytes from the struct, decoded
    assert t4['pci_bus_id'] == '00000000:3B:00.0'
    assert h100['memory_total_mib'] == 81559 and h100['memory_used_mib'] == 1
    assert h100['compute_capability'] == '9.0' and t4['compute_capability'] == '7.5'
    assert h100['mig_mode_current'] == 'disabled' and h100['mig_mode_pending'] == 'disabled'
    assert h100['mig_devices'] == []
    assert h100['ecc_mode_current'] == 'enabled'
    assert t4['ecc_mode_current'] == 'disabled' and t4['ecc_mode_pending'] == 'enabled'
    assert h100['temperature_c'] == 31
    assert h100['power_draw_w'] == 71.34 and h100['power_limit_w'] == 700.0
    assert h100['persistence_mode'] == 'enabled' and t4['persistence_mode'] == 'disabled'
    assert h100['performance_state'] == 'P0' and t4['performance_state'] == 'P8'
    assert t4['utilization_gpu_pct'] == 12 and t4['utilization_memory_pct'] == 3
    assert h100['clocks'] == {
        'graphics_mhz': 345, 'sm_mhz': 345, 'memory_mhz': 2619, 'video_mhz': 765,
        'max_graphics_mhz': 1980, 'max_sm_mhz': 1980, 'max_memory_mhz': 2619, 'max_video_mhz': 1545,
    }
    assert nvml.shutdowns == 1


def test_unsupported_fields_are_null_not_errors():
    facts = nvml_facts(FakeNVML(gpus=[H100, T4]))
    h100, t4 = facts['gpus']
    assert h100['fan_speed_pct'] is None
    assert t4['serial'] is None
    assert t4['mig_mode_current'] is None and t4['mig_mode_pending'] is None
    assert t4['mig_devices'] == []
    # "not supported" is quiet
    assert h100['errors'] == {} and t4['errors'] == {}


def test_other_field_errors_are_null_and_named():
    nvml = FakeNVML(gpus=[H100], field_errors={
        (0, 'nvmlDeviceGetPowerUsage'): pynvml.NVML_ERROR_NO_PERMISSION,
        (0, 'nvmlDeviceGetTemperature'): pynvml.NVML_ERROR_UNKNOWN,
    })
    gpu = nvml_facts(nvml)['gpus'][0]
    assert gpu['power_draw_w'] is None
    assert gpu['temperature_c'] is None
    assert gpu['errors'] == {'power_draw_w': 'no_permission', 'temperature_c': 'unknown'}
    assert gpu['power_limit_w'] == 700.0


def test_mig_devices_skip_empty_slots():
    gpu = nvml_facts(FakeNVML(gpus=[MIG_A100]))['gpus'][0]
    assert gpu['mig_mode_current'] == 'enabled'
    assert gpu['utilization_gpu_pct'] is None
    assert gpu['mig_devices'] == [
        {'index': 0, 'name': 'NVIDIA A100-SXM4-40GB MIG 3g.20gb', 'uuid': 'MIG-aaaa',
         'gpu_instance_id': 1, 'compute_instance_id': 0, 'memory_total_mib': 19968, 'memory_used_mib': 13},
        {'index': 2, 'name': 'NVIDIA A100-SXM4-40GB MIG 1g.5gb', 'uuid': 'MIG-bbbb',
         'gpu_instance_id': 9, 'compute_instance_id': 0, 'memory_total_mib': 4864, 'memory_used_mib': 6},
    ]


def test_lost_gpu_keeps_the_others():
    nvml = FakeNVML(gpus=[H100, T4], handle_errors={0: pynvml.NVML_ERROR_GPU_IS_LOST})
    facts = nvml_facts(nvml)
    assert facts['gpu_count'] == 2
    assert facts['gpus'][0]['errors'] == {'handle': 'gpu_is_lost'}
    assert facts['gpus'][0]['name'] is None
    assert facts['gpus'][1]['name'] == 'Tesla T4'


@pytest.mark.parametrize('code, reason', [
    (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, 'nvml_library_not_found'),
    (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, 'driver_not_loaded'),
    (pynvml.NVML_ERROR_NO_PERMISSION, 'no_permission'),
    (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, 'driver_library_version_mismatch'),
    (pynvml.NVML_ERROR_UNKNOWN, 'unknown'),
    (pynvml.NVML_ERROR_OPERATING_SYSTEM, 'operating_system'),
    (4242, 'nvml_error_4242'),
])
def test_init_errors_give_a_reason_never_raise(code, reason):
    nvml = FakeNVML(gpus=[H100], init_error=code)
    facts = nvml_facts(nvml, is_loaded=lambda: True)
    assert facts['gpu_present'] is False
    assert facts['gpu_reason'] == reason
    assert facts['gpu_source'] == 'nvml'
    assert facts['gpu_count'] == 0 and facts['gpus'] == []
    assert facts['gpu_reason_detail']


def test_dlopen_oserror_is_library_not_found():
    facts = nvml_facts(FakeNVML(init_error=OSError('libnvidia-ml.so.1: cannot open shared object file')))
    assert facts['gpu_reason'] == 'nvml_library_not_found'


def test_no_devices():
    facts = nvml_facts(FakeNVML(gpus=[]))
    assert facts['gpu_present'] is False
    assert facts['gpu_reason'] == 'no_devices'
    assert facts['gpu_driver_version'] == '550.90.07'
    assert facts['gpu_count'] == 0


def test_count_error_after_init():
    nvml = FakeNVML(gpus=[H100], count_error=pynvml.NVML_ERROR_UNKNOWN)
    facts = nvml_facts(nvml)
    assert facts['gpu_present'] is False
    assert facts['gpu_reason'] == 'unknown'
    assert nvml.shutdowns == 1


@pytest.mark.parametrize('number, text', [(12040, '12.4'), (12020, '12.2'), (11080, '11.8'), (13000, '13.0')])
def test_cuda_version(number, text):
    assert _gpu.cuda_version_text(number) == text


# nvidia-smi -----------------------------------------------------------------------

SMI_ROW_H100 = ('0, NVIDIA H100 80GB HBM3, GPU-5c3e2d1a-0000-1111-2222-333344445555, 1650123456789, '
                '96.00.74.00.01, 00000000:19:00.0, 81559, 1, 9.0, Disabled, Disabled, Enabled, Enabled, 31, '
                '[N/A], 71.35, 700.00, Enabled, P0, 0, 0, 345, 345, 2619, 765, 1980, 1980, 2619, 550.90.07')
SMI_ROW_A100 = ('1, NVIDIA A100-SXM4-40GB, GPU-11111111-2222-3333-4444-555555555555, [N/A], '
                '92.00.00.00.01, 00000000:07:00.0, 40960, 25, 8.0, Enabled, Enabled, Enabled, Enabled, 35, '
                '[N/A], 60.10, 400.00, Disabled, P0, [N/A], [N/A], 210, 210, 1215, 585, 1410, 1410, 1215, 550.90.07')
SMI_LIST = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c3e2d1a-0000-1111-2222-333344445555)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-11111111-2222-3333-4444-555555555555)
  MIG 3g.20gb     Device  0: (UUID: MIG-aaaa)
  MIG 1g.5gb      Device  1: (UUID: MIG-bbbb)
"""
SMI_HEADER = """+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.90.07              Driver Version: 550.90.07      CUDA Version: 12.4     |
"""


class FakeSmi:
    def __init__(self, csv='', rc=0, err='', unknown_fields=()):
        self.csv, self.rc, self.err = csv, rc, err
        self.unknown_fields = list(unknown_fields)
        self.argvs = []

    def __call__(self, argv):
        self.argvs.append(argv)
        if len(argv) > 1 and argv[1].startswith('--query-gpu='):
            asked = argv[1].split('=', 1)[1].split(',')
            for field in self.unknown_fields:
                if field in asked:
                    return 2, 'Field "%s" is not a valid field to query.\n' % field, ''
            if self.rc:
                return self.rc, '', self.err
            rows = []
            for line in self.csv.splitlines():
                cells = [c.strip() for c in line.split(',')]
                names = [f[0] for f in _gpu.SMI_FIELDS]
                rows.append(', '.join(cells[names.index(a)] for a in asked))
            return 0, '\n'.join(rows) + '\n', ''
        if argv[1:] == ['-L']:
            return 0, SMI_LIST, ''
        return 0, SMI_HEADER, ''


def test_smi_two_gpus_with_mig():
    smi = FakeSmi(csv=SMI_ROW_H100 + '\n' + SMI_ROW_A100)
    facts = smi_facts(smi, '/usr/bin/nvidia-smi')
    assert facts['gpu_source'] == 'nvidia-smi'
    assert facts['gpu_present'] is True and facts['gpu_reason'] is None
    assert facts['gpu_driver_version'] == '550.90.07'
    assert facts['gpu_cuda_driver_version'] == '12.4'
    assert facts['gpu_count'] == 2
    h100, a100 = facts['gpus']
    for gpu in facts['gpus']:
        assert GPU_KEYS <= set(gpu)
        assert 'driver_version' not in gpu
        assert set(gpu) == set(nvml_facts(FakeNVML(gpus=[H100]))['gpus'][0])
        assert set(gpu['clocks']) == set(nvml_facts(FakeNVML(gpus=[H100]))['gpus'][0]['clocks'])
    assert h100['compute_capability'] == '9.0'
    assert h100['memory_total_mib'] == 81559
    assert h100['fan_speed_pct'] is None
    assert h100['power_draw_w'] == 71.35 and h100['power_limit_w'] == 700.0
    assert h100['mig_mode_current'] == 'disabled' and h100['mig_devices'] == []
    assert h100['persistence_mode'] == 'enabled'
    assert h100['clocks']['max_graphics_mhz'] == 1980 and h100['clocks']['max_video_mhz'] is None
    assert a100['serial'] is None and a100['utilization_gpu_pct'] is None
    assert a100['mig_mode_current'] == 'enabled'
    assert [m['uuid'] for m in a100['mig_devices']] == ['MIG-aaaa', 'MIG-bbbb']
    assert a100['mig_devices'][0]['name'] == '3g.20gb'


def test_smi_old_version_drops_unknown_fields():
    smi = FakeSmi(csv=SMI_ROW_H100, unknown_fields=['compute_cap', 'mig.mode.current'])
    facts = smi_facts(smi, 'nvidia-smi')
    gpu = facts['gpus'][0]
    assert gpu['compute_capability'] is None and gpu['mig_mode_current'] is None
    assert gpu['name'] == 'NVIDIA H100 80GB HBM3'
    assert gpu['memory_total_mib'] == 81559
    assert len([a for a in smi.argvs if len(a) > 1 and a[1].startswith('--query-gpu=')]) == 3


@pytest.mark.parametrize('rc, err, reason', [
    (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'driver_not_loaded'),
    (255, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", 'driver_not_loaded'),
    (6, 'No devices were found', 'no_devices'),
    (12, 'NVIDIA-SMI couldn\'t find libnvidia-ml.so library in your system.', 'nvml_library_not_found'),
    (255, 'libnvidia-ml.so.1: cannot open shared object file', 'nvml_library_not_found'),
    (4, 'Insufficient Permissions', 'no_permission'),
    (1, 'something else', 'nvidia_smi_failed'),
])
def test_smi_failures(rc, err, reason):
    facts = smi_facts(FakeSmi(rc=rc, err=err), 'nvidia-smi', is_loaded=lambda: True)
    assert facts['gpu_present'] is False
    assert facts['gpu_source'] == 'nvidia-smi'
    assert facts['gpu_reason'] == reason
    assert facts['gpu_reason_detail']


def test_smi_name_with_comma():
    fields = [f for f in _gpu.SMI_FIELDS if f[0] in ('index', 'name', 'uuid')]
    gpus = parse_smi_csv('0, Quadro RTX 8000, Rev A, GPU-x\n', fields)
    assert gpus[0]['name'] == 'Quadro RTX 8000, Rev A'
    assert gpus[0]['uuid'] == 'GPU-x'


def test_smi_list_without_mig():
    assert parse_smi_list('GPU 0: Tesla T4 (UUID: GPU-a)\n') == {0: []}


def test_temperature_prefers_the_versioned_call():
    class Newer(FakeNVML):
        def nvmlDeviceGetTemperatureV(self, h, sensor):
            assert sensor == pynvml.NVML_TEMPERATURE_GPU
            return 42

    assert nvml_facts(Newer(gpus=[H100]))['gpus'][0]['temperature_c'] == 42


def test_temperature_falls_back_when_the_driver_lacks_the_versioned_call():
    class OldDriver(FakeNVML):
        def nvmlDeviceGetTemperatureV(self, h, sensor):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)

    gpu = nvml_facts(OldDriver(gpus=[H100]))['gpus'][0]
    assert gpu['temperature_c'] == 31
    assert gpu['errors'] == {}


def test_every_nvml_error_code_has_a_name():
    codes = [getattr(pynvml, n) for n in dir(pynvml) if n.startswith('NVML_ERROR_') and isinstance(getattr(pynvml, n), int)]
    assert sorted(c for c in codes if c not in _gpu.NVML_ERROR_NAMES) == []


@pytest.mark.parametrize('code', [pynvml.NVML_ERROR_UNKNOWN, pynvml.NVML_ERROR_OPERATING_SYSTEM])
def test_root_without_kernel_module_is_driver_not_loaded(code):
    """As root NVML creates /dev/nvidiactl itself and then fails with Unknown Error (seen in a
    Debian 12 container with libnvidia-ml1), or OS blocked through nvidia-modprobe."""
    facts = nvml_facts(FakeNVML(gpus=[H100], init_error=code), is_loaded=lambda: False)
    assert facts['gpu_reason'] == 'driver_not_loaded'
    assert '/proc/driver/nvidia/version' in facts['gpu_reason_detail']


def test_unknown_error_with_the_module_loaded_stays_unknown():
    facts = nvml_facts(FakeNVML(gpus=[H100], init_error=pynvml.NVML_ERROR_UNKNOWN), is_loaded=lambda: True)
    assert facts['gpu_reason'] == 'unknown'


def test_smi_unknown_error_without_kernel_module():
    smi = FakeSmi(rc=255, err='Failed to initialize NVML: Unknown Error')
    assert smi_facts(smi, 'nvidia-smi', is_loaded=lambda: False)['gpu_reason'] == 'driver_not_loaded'
    assert smi_facts(smi, 'nvidia-smi', is_loaded=lambda: True)['gpu_reason'] == 'nvidia_smi_failed'


def test_driver_loaded_reads_proc(tmp_path, monkeypatch):
    monkeypatch.setattr(_gpu, 'DRIVER_PROC_FILE', str(tmp_path / 'version'))
    assert _gpu.driver_loaded() is False
    (tmp_path / 'version').write_text('NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.261.03\n')
    assert _gpu.driver_loaded() is True

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake NVML with the function names and the exception classes of nvidia-ml-py.

Errors are the real pynvml exceptions (pynvml.NVMLError(code) maps a code to its
subclass, NVMLError_NotSupported and so on), so the code under test sees what it
would see on a host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from types import SimpleNamespace

import pynvml

MIB = 1024 * 1024


class Err:
    """A spec value that makes the fake raise pynvml.NVMLError(code)."""

    def __init__(self, code):
        self.code = code


NOT_SUPPORTED = Err(pynvml.NVML_ERROR_NOT_SUPPORTED)

H100 = {
    'name': 'NVIDIA H100 80GB HBM3',
    'uuid': 'GPU-5c3e2d1a-0000-1111-2222-333344445555',
    'serial': '1650123456789',
    'vbios': '96.00.74.00.01',
    'bus_id': b'00000000:19:00.0',
    'minor': 0,
    'memory': (81559 * MIB, 1 * MIB),
    'cc': (9, 0),
    'mig': [0, 0],
    'ecc': [1, 1],
    'temperature': 31,
    'fan': NOT_SUPPORTED,
    'power': 71345,
    'power_limit': 700000,
    'persistence': 1,
    'pstate': 0,
    'utilization': (0, 0),
    'clocks': {0: 345, 1: 345, 2: 2619, 3: 765},
    'max_clocks': {0: 1980, 1: 1980, 2: 2619, 3: 1545},
    'mig_devices': [],
}

T4 = {
    'name': 'Tesla T4',
    'uuid': 'GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
    'serial': NOT_SUPPORTED,
    'vbios': '90.04.38.00.03',
    'bus_id': '00000000:3B:00.0',
    'minor': 1,
    'memory': (15360 * MIB, 3000 * MIB),
    'cc': (7, 5),
    'mig': NOT_SUPPORTED,
    'ecc': [0, 1],
    'temperature': 45,
    'fan': NOT_SUPPORTED,
    'power': 27000,
    'power_limit': 70000,
    'persistence': 0,
    'pstate': 8,
    'utilization': (12, 3),
    'clocks': {0: 585, 1: 585, 2: 5000, 3: 540},
    'max_clocks': {0: 1590, 1: 1590, 2: 5001, 3: 1470},
    'mig_devices': [],
}

MIG_A100 = dict(
    copy.deepcopy(H100),
    name='NVIDIA A100-SXM4-40GB',
    uuid='GPU-11111111-2222-3333-4444-555555555555',
    bus_id=b'00000000:07:00.0',
    cc=(8, 0),
    mig=[1, 1],
    utilization=NOT_SUPPORTED,
    mig_devices=[
        {'slot': 0, 'name': 'NVIDIA A100-SXM4-40GB MIG 3g.20gb', 'uuid': 'MIG-aaaa', 'gi': 1, 'ci': 0,
         'memory': (19968 * MIB, 13 * MIB)},
        # slot 1 empty: NVML answers NotFound
        {'slot': 2, 'name': 'NVIDIA A100-SXM4-40GB MIG 1g.5gb', 'uuid': 'MIG-bbbb', 'gi': 9, 'ci': 0,
         'memory': (4864 * MIB, 6 * MIB)},
    ],
)


def _raise(code):
    raise pynvml.NVMLError(code)


class _Handle:
    def __init__(self, spec, mig=False):
        self.spec = spec
        self.mig = mig


class FakeNVML:
    """Module-like object: nvmlInit, nvmlDeviceGet..., NVMLError, constants."""

    NVMLError = pynvml.NVMLError

    def __init__(self, gpus=(), init_error=None, count_error=None, driver='550.90.07', cuda=12040,
                 handle_errors=None, field_errors=None):
        self.gpus = [copy.deepcopy(g) for g in gpus]
        self.init_error = init_error
        self.count_error = count_error
        self.driver = driver
        self.cuda = cuda
        self.handle_errors = handle_errors or {}
        # {(gpu index, function name): code} for one-off errors
        self.field_errors = field_errors or {}
        self.initialised = False
        self.shutdowns = 0
        self.calls = []

    # life cycle
    def nvmlInit(self):
        if self.init_error is not None:
            if isinstance(self.init_error, Exception):
                raise self.init_error
            _raise(self.init_error)
        self.initialised = True

    def nvmlShutdown(self):
        self.shutdowns += 1
        self.initialised = False

    def _check(self):
        if not self.initialised:
            _raise(pynvml.NVML_ERROR_UNINITIALIZED)

    # system
    def nvmlSystemGetDriverVersion(self):
        self._check()
        return self.driver

    def nvmlSystemGetNVMLVersion(self):
        self._check()
        return '12.' + self.driver

    def nvmlSystemGetCudaDriverVersion(self):
        self._check()
        return self.cuda

    def nvmlDeviceGetCount(self):
        self._check()
        if self.count_error is not None:
            _raise(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        self._check()
        if index in self.handle_errors:
            _raise(self.handle_errors[index])
        return _Handle(self.gpus[index])

    # per device: values, or an int code to raise
    def _value(self, handle, key, func):
        self._check()
        self.calls.append(func)
        index = self.gpus.index(handle.spec) if not handle.mig else None
        if (index, func) in self.field_errors:
            _raise(self.field_errors[(index, func)])
        value = handle.spec[key]
        if isinstance(value, Err):
            _raise(value.code)
        return value

    def nvmlDeviceGetName(self, h):
        return self._value(h, 'name', 'nvmlDeviceGetName')

    def nvmlDeviceGetUUID(self, h):
        return self._value(h, 'uuid', 'nvmlDeviceGetUUID')

    def nvmlDeviceGetSerial(self, h):
        return self._value(h, 'serial', 'nvmlDeviceGetSerial')

    def nvmlDeviceGetVbiosVersion(self, h):
        return self._value(h, 'vbios', 'nvmlDeviceGetVbiosVersion')

    def nvmlDeviceGetPciInfo(self, h):
        return SimpleNamespace(busId=self._value(h, 'bus_id', 'nvmlDeviceGetPciInfo'))

    def nvmlDeviceGetMinorNumber(self, h):
        return self._value(h, 'minor', 'nvmlDeviceGetMinorNumber')

    def nvmlDeviceGetMemoryInfo(self, h):
        total, used = self._value(h, 'memory', 'nvmlDeviceGetMemoryInfo')
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return self._value(h, 'cc', 'nvmlDeviceGetCudaComputeCapability')

    def nvmlDeviceGetMigMode(self, h):
        return self._value(h, 'mig', 'nvmlDeviceGetMigMode')

    def nvmlDeviceGetEccMode(self, h):
        return self._value(h, 'ecc', 'nvmlDeviceGetEccMode')

    def nvmlDeviceGetTemperature(self, h, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._value(h, 'temperature', 'nvmlDeviceGetTemperature')

    def nvmlDeviceGetFanSpeed(self, h):
        return self._value(h, 'fan', 'nvmlDeviceGetFanSpeed')

    def nvmlDeviceGetPowerUsage(self, h):
        return self._value(h, 'power', 'nvmlDeviceGetPowerUsage')

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return self._value(h, 'power_limit', 'nvmlDeviceGetEnforcedPowerLimit')

    def nvmlDeviceGetPersistenceMode(self, h):
        return self._value(h, 'persistence', 'nvmlDeviceGetPersistenceMode')

    def nvmlDeviceGetPerformanceState(self, h):
        return self._value(h, 'pstate', 'nvmlDeviceGetPerformanceState')

    def nvmlDeviceGetUtilizationRates(self, h):
        value = self._value(h, 'utilization', 'nvmlDeviceGetUtilizationRates')
        return SimpleNamespace(gpu=value[0], memory=value[1])

    def nvmlDeviceGetClockInfo(self, h, clock):
        return self._value(h, 'clocks', 'nvmlDeviceGetClockInfo')[clock]

    def nvmlDeviceGetMaxClockInfo(self, h, clock):
        return self._value(h, 'max_clocks', 'nvmlDeviceGetMaxClockInfo')[clock]

    # MIG
    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        self._check()
        return 7 if h.spec['mig_devices'] else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, slot):
        self._check()
        for mig in h.spec['mig_devices']:
            if mig['slot'] == slot:
                return _Handle(mig, mig=True)
        _raise(pynvml.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetGpuInstanceId(self, h):
        return h.spec['gi']

    def nvmlDeviceGetComputeInstanceId(self, h):
        return h.spec['ci']

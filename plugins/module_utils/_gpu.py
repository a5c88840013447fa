# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the medimg.imaging collection. It may change or
# disappear at any time, even in a patch release. Do not use it from other collections.
"""Collect NVIDIA GPU facts through NVML (nvidia-ml-py) or, without it, nvidia-smi.

Everything here returns plain dicts with the fact names of the ``gpu_facts`` module:
``gpu_present``, ``gpu_reason``, ``gpu_source``, ``gpu_driver_version``,
``gpu_cuda_driver_version``, ``gpu_count`` and ``gpus``. Nothing here raises for a
host without a GPU; a field a GPU does not support comes back as ``None``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

FACT_KEYS = (
    'gpu_present', 'gpu_reason', 'gpu_reason_detail', 'gpu_source', 'gpu_driver_version',
    'gpu_cuda_driver_version', 'gpu_nvml_version', 'gpu_count', 'gpus',
)

# NVML return codes (nvml.h), used by name so a fake NVML needs no constants.
NVML_ERROR_NAMES = {
    1: 'uninitialized',
    2: 'invalid_argument',
    3: 'not_supported',
    4: 'no_permission',
    5: 'already_initialized',
    6: 'not_found',
    7: 'insufficient_size',
    8: 'insufficient_power',
    9: 'driver_not_loaded',
    10: 'timeout',
    11: 'irq_issue',
    12: 'nvml_library_not_found',
    13: 'function_not_found',
    14: 'corrupted_inforom',
    15: 'gpu_is_lost',
    16: 'reset_required',
    17: 'operating_system',
    18: 'driver_library_version_mismatch',
    19: 'in_use',
    20: 'memory',
    21: 'no_data',
    22: 'vgpu_ecc_not_supported',
    23: 'insufficient_resources',
    24: 'freq_not_supported',
    25: 'argument_version_mismatch',
    26: 'deprecated',
    27: 'not_ready',
    28: 'gpu_not_found',
    29: 'invalid_state',
    30: 'reset_type_not_supported',
    999: 'unknown',
}
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
# Field errors that only mean "this GPU has no such value": reported as null, silently.
QUIET_FIELD_ERRORS = (NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_NOT_FOUND, 13, 21)

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_VIDEO = 3
NVML_FEATURE_ENABLED = 1

CLOCKS = (
    ('graphics', NVML_CLOCK_GRAPHICS),
    ('sm', NVML_CLOCK_SM),
    ('memory', NVML_CLOCK_MEM),
    ('video', NVML_CLOCK_VIDEO),
)

MIB = 1024 * 1024

# The NVIDIA kernel module publishes this file while it is loaded.
DRIVER_PROC_FILE = '/proc/driver/nvidia/version'
# Errors NVML and nvidia-smi give for a missing kernel module when they run as root: NVML
# then tries modprobe and creates /dev/nvidiactl itself, and opening it fails with
# "Unknown Error" (or "The operating system has blocked the request" through nvidia-modprobe).
NO_MODULE_SYMPTOMS = ('unknown', 'operating_system', 'nvidia_smi_failed')


def driver_loaded():
    return os.path.exists(DRIVER_PROC_FILE)


def _module_reason(reason, detail, is_loaded):
    """Name the missing kernel module as such, whatever error it showed up as."""
    if reason in NO_MODULE_SYMPTOMS and not is_loaded():
        return 'driver_not_loaded', '%s (%s is absent: the nvidia kernel module is not loaded)' % (
            detail or reason, DRIVER_PROC_FILE)
    return reason, detail


def empty_facts(source, reason, detail=None):
    """Facts of a host where no GPU could be read."""
    return {
        'gpu_present': False,
        'gpu_reason': reason,
        'gpu_reason_detail': detail,
        'gpu_source': source,
        'gpu_driver_version': None,
        'gpu_cuda_driver_version': None,
        'gpu_nvml_version': None,
        'gpu_count': 0,
        'gpus': [],
    }


def error_code(exc):
    """The NVML return code of an NVMLError (or a fake with a ``value``), else None."""
    value = getattr(exc, 'value', None)
    return value if isinstance(value, int) else None


def error_name(exc):
    code = error_code(exc)
    if code is None:
        return 'unknown'
    return NVML_ERROR_NAMES.get(code, 'nvml_error_%d' % code)


def text(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    return str(value).strip('\x00').strip()


def cuda_version_text(number):
    """NVML gives the CUDA driver version as 1000 * major + 10 * minor (12020 is 12.2)."""
    if number is None:
        return None
    number = int(number)
    return '%d.%d' % (number // 1000, (number % 1000) // 10)


def enabled_text(value):
    if value is None:
        return None
    return 'enabled' if int(value) == NVML_FEATURE_ENABLED else 'disabled'


class _Reader:
    """Calls NVML functions; NVML errors become None and, unless quiet, a note."""

    def __init__(self, nvml, error_class):
        self.nvml = nvml
        self.error_class = error_class

    def call(self, errors, field, func_name, *args):
        func = getattr(self.nvml, func_name, None)
        if func is None:
            # An older binding without this function: the field is simply unknown.
            return None
        try:
            return func(*args)
        except self.error_class as exc:
            code = error_code(exc)
            if code not in QUIET_FIELD_ERRORS:
                errors[field] = error_name(exc)
            return None


def _memory(reader, errors, handle, prefix=''):
    info = reader.call(errors, prefix + 'memory', 'nvmlDeviceGetMemoryInfo', handle)
    if info is None:
        return None, None
    return int(info.total) // MIB, int(info.used) // MIB


def _pair(reader, errors, field, func_name, handle):
    """Functions answering [current, pending] (MIG mode, ECC mode)."""
    value = reader.call(errors, field, func_name, handle)
    if value is None:
        return None, None
    current, pending = value[0], value[1]
    return enabled_text(current), enabled_text(pending)


def _mig_devices(reader, errors, handle):
    count = reader.call(errors, 'mig_devices', 'nvmlDeviceGetMaxMigDeviceCount', handle)
    devices = []
    for slot in range(int(count or 0)):
        mig = reader.call({}, 'mig_devices', 'nvmlDeviceGetMigDeviceHandleByIndex', handle, slot)
        if mig is None:
            # Empty slots answer NotFound.
            continue
        total, used = _memory(reader, errors, mig, prefix='mig_')
        devices.append({
            'index': slot,
            'name': text(reader.call(errors, 'mig_name', 'nvmlDeviceGetName', mig)),
            'uuid': text(reader.call(errors, 'mig_uuid', 'nvmlDeviceGetUUID', mig)),
            'gpu_instance_id': reader.call(errors, 'mig_gpu_instance_id', 'nvmlDeviceGetGpuInstanceId', mig),
            'compute_instance_id': reader.call(errors, 'mig_compute_instance_id', 'nvmlDeviceGetComputeInstanceId', mig),
            'memory_total_mib': total,
            'memory_used_mib': used,
        })
    return devices


def _watts(milliwatts):
    if milliwatts is None:
        return None
    return round(int(milliwatts) / 1000.0, 2)


def _temperature(reader, errors, handle):
    """nvmlDeviceGetTemperatureV (newer drivers), else the deprecated nvmlDeviceGetTemperature."""
    value = reader.call({}, 'temperature_c', 'nvmlDeviceGetTemperatureV', handle, NVML_TEMPERATURE_GPU)
    if value is None:
        value = reader.call(errors, 'temperature_c', 'nvmlDeviceGetTemperature', handle, NVML_TEMPERATURE_GPU)
    return value


def device_facts(reader, index):
    """One GPU's dict. Never raises for an NVML error of a single field."""
    errors = {}
    handle = reader.call(errors, 'handle', 'nvmlDeviceGetHandleByIndex', index)
    if handle is None:
        return {'index': index, 'name': None, 'uuid': None, 'errors': errors}
    pci = reader.call(errors, 'pci_bus_id', 'nvmlDeviceGetPciInfo', handle)
    total, used = _memory(reader, errors, handle)
    capability = reader.call(errors, 'compute_capability', 'nvmlDeviceGetCudaComputeCapability', handle)
    mig_current, mig_pending = _pair(reader, errors, 'mig_mode', 'nvmlDeviceGetMigMode', handle)
    ecc_current, ecc_pending = _pair(reader, errors, 'ecc_mode', 'nvmlDeviceGetEccMode', handle)
    persistence = reader.call(errors, 'persistence_mode', 'nvmlDeviceGetPersistenceMode', handle)
    utilization = reader.call(errors, 'utilization', 'nvmlDeviceGetUtilizationRates', handle)
    pstate = reader.call(errors, 'performance_state', 'nvmlDeviceGetPerformanceState', handle)
    clocks = {}
    for name, clock in CLOCKS:
        clocks[name + '_mhz'] = reader.call(errors, 'clocks', 'nvmlDeviceGetClockInfo', handle, clock)
        clocks['max_' + name + '_mhz'] = reader.call(errors, 'clocks', 'nvmlDeviceGetMaxClockInfo', handle, clock)
    facts = {
        'index': index,
        'name': text(reader.call(errors, 'name', 'nvmlDeviceGetName', handle)),
        'uuid': text(reader.call(errors, 'uuid', 'nvmlDeviceGetUUID', handle)),
        'serial': text(reader.call(errors, 'serial', 'nvmlDeviceGetSerial', handle)),
        'vbios_version': text(reader.call(errors, 'vbios_version', 'nvmlDeviceGetVbiosVersion', handle)),
        'pci_bus_id': text(getattr(pci, 'busId', None)) if pci is not None else None,
        'minor_number': reader.call(errors, 'minor_number', 'nvmlDeviceGetMinorNumber', handle),
        'memory_total_mib': total,
        'memory_used_mib': used,
        'compute_capability': '%d.%d' % (capability[0], capability[1]) if capability else None,
        'mig_mode_current': mig_current,
        'mig_mode_pending': mig_pending,
        'mig_devices': _mig_devices(reader, errors, handle) if mig_current == 'enabled' else [],
        'ecc_mode_current': ecc_current,
        'ecc_mode_pending': ecc_pending,
        'temperature_c': _temperature(reader, errors, handle),
        'fan_speed_pct': reader.call(errors, 'fan_speed_pct', 'nvmlDeviceGetFanSpeed', handle),
        'power_draw_w': _watts(reader.call(errors, 'power_draw_w', 'nvmlDeviceGetPowerUsage', handle)),
        'power_limit_w': _watts(reader.call(errors, 'power_limit_w', 'nvmlDeviceGetEnforcedPowerLimit', handle)),
        'persistence_mode': enabled_text(persistence),
        'performance_state': 'P%d' % pstate if pstate is not None and 0 <= int(pstate) <= 15 else None,
        'utilization_gpu_pct': getattr(utilization, 'gpu', None),
        'utilization_memory_pct': getattr(utilization, 'memory', None),
        'clocks': clocks,
        'errors': errors,
    }
    return facts


def nvml_facts(nvml, is_loaded=driver_loaded):
    """Facts through an NVML binding (the ``pynvml`` module of nvidia-ml-py, or a fake)."""
    error_class = getattr(nvml, 'NVMLError')
    try:
        nvml.nvmlInit()
    except error_class as exc:
        reason, detail = _module_reason(error_name(exc), text(str(exc)), is_loaded)
        return empty_facts('nvml', reason, detail)
    except OSError as exc:
        # Some bindings let a failed dlopen through as OSError.
        return empty_facts('nvml', 'nvml_library_not_found', text(str(exc)))
    try:
        reader = _Reader(nvml, error_class)
        system_errors = {}
        facts = empty_facts('nvml', None)
        facts['gpu_driver_version'] = text(reader.call(system_errors, 'driver', 'nvmlSystemGetDriverVersion'))
        facts['gpu_nvml_version'] = text(reader.call(system_errors, 'nvml', 'nvmlSystemGetNVMLVersion'))
        facts['gpu_cuda_driver_version'] = cuda_version_text(
            reader.call(system_errors, 'cuda', 'nvmlSystemGetCudaDriverVersion'))
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except error_class as exc:
            facts['gpu_reason'] = error_name(exc)
            facts['gpu_reason_detail'] = text(str(exc))
            return facts
        facts['gpus'] = [device_facts(reader, index) for index in range(count)]
        facts['gpu_count'] = count
        facts['gpu_present'] = count > 0
        if count == 0:
            facts['gpu_reason'] = 'no_devices'
        return facts
    finally:
        try:
            nvml.nvmlShutdown()
        except error_class:
            pass


# nvidia-smi fallback ----------------------------------------------------------------

# (query field, fact key, converter). Keys under "clocks." go into the clocks dict.
SMI_FIELDS = (
    ('index', 'index', 'int'),
    ('name', 'name', 'str'),
    ('uuid', 'uuid', 'str'),
    ('serial', 'serial', 'str'),
    ('vbios_version', 'vbios_version', 'str'),
    ('pci.bus_id', 'pci_bus_id', 'str'),
    ('memory.total', 'memory_total_mib', 'int'),
    ('memory.used', 'memory_used_mib', 'int'),
    ('compute_cap', 'compute_capability', 'str'),
    ('mig.mode.current', 'mig_mode_current', 'mode'),
    ('mig.mode.pending', 'mig_mode_pending', 'mode'),
    ('ecc.mode.current', 'ecc_mode_current', 'mode'),
    ('ecc.mode.pending', 'ecc_mode_pending', 'mode'),
    ('temperature.gpu', 'temperature_c', 'int'),
    ('fan.speed', 'fan_speed_pct', 'int'),
    ('power.draw', 'power_draw_w', 'float'),
    ('power.limit', 'power_limit_w', 'float'),
    ('persistence_mode', 'persistence_mode', 'mode'),
    ('pstate', 'performance_state', 'str'),
    ('utilization.gpu', 'utilization_gpu_pct', 'int'),
    ('utilization.memory', 'utilization_memory_pct', 'int'),
    ('clocks.gr', 'clocks.graphics_mhz', 'int'),
    ('clocks.sm', 'clocks.sm_mhz', 'int'),
    ('clocks.mem', 'clocks.memory_mhz', 'int'),
    ('clocks.video', 'clocks.video_mhz', 'int'),
    ('clocks.max.gr', 'clocks.max_graphics_mhz', 'int'),
    ('clocks.max.sm', 'clocks.max_sm_mhz', 'int'),
    ('clocks.max.mem', 'clocks.max_memory_mhz', 'int'),
    ('driver_version', 'driver_version', 'str'),
)

# nvidia-smi exit codes (nvidia-smi(1)) mapped to the reasons NVML gives.
SMI_EXIT_REASONS = {
    4: 'no_permission',
    6: 'no_devices',
    9: 'driver_not_loaded',
    12: 'nvml_library_not_found',
    14: 'corrupted_inforom',
    15: 'gpu_is_lost',
}

NOT_AVAILABLE = re.compile(r'^\[?(N/A|Not Supported|Unknown Error|Insufficient Permissions|Requested functionality has been deprecated)\]?$', re.I)
INVALID_FIELD = re.compile(r'Field "([^"]+)" is not a valid field to query', re.I)
CUDA_VERSION = re.compile(r'CUDA Version\s*:\s*([0-9]+\.[0-9]+)')
MIG_LINE = re.compile(r'^\s+MIG\s+(?P<name>\S+)\s+Device\s+(?P<index>\d+):\s+\(UUID:\s*(?P<uuid>[^)]+)\)')
GPU_LINE = re.compile(r'^GPU\s+(?P<index>\d+):')


def _convert(raw, kind):
    value = raw.strip()
    if value == '' or NOT_AVAILABLE.match(value):
        return None
    if kind == 'str':
        return value
    if kind == 'mode':
        lowered = value.lower()
        if lowered in ('enabled', 'disabled'):
            return lowered
        return None
    try:
        if kind == 'int':
            return int(float(value))
        return round(float(value), 2)
    except ValueError:
        return None


def parse_smi_csv(output, fields):
    """Rows of ``--format=csv,noheader,nounits`` into GPU dicts (clocks nested)."""
    gpus = []
    for line in output.splitlines():
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split(',')]
        if len(cells) != len(fields):
            # A name with a comma: join the surplus back into the name column.
            surplus = len(cells) - len(fields)
            if surplus > 0 and 'name' in [f[0] for f in fields]:
                pos = [f[0] for f in fields].index('name')
                cells[pos:pos + surplus + 1] = [', '.join(cells[pos:pos + surplus + 1])]
            if len(cells) != len(fields):
                continue
        gpu = {'clocks': {}}
        for (query, key, kind), cell in zip(fields, cells):
            value = _convert(cell, kind)
            if key.startswith('clocks.'):
                gpu['clocks'][key.split('.', 1)[1]] = value
            else:
                gpu[key] = value
        gpus.append(gpu)
    return gpus


def parse_smi_list(output):
    """MIG devices per GPU index from ``nvidia-smi -L``."""
    mig = {}
    current = None
    for line in output.splitlines():
        gpu = GPU_LINE.match(line)
        if gpu:
            current = int(gpu.group('index'))
            mig.setdefault(current, [])
            continue
        match = MIG_LINE.match(line)
        if match and current is not None:
            mig[current].append({
                'index': int(match.group('index')),
                'name': match.group('name'),
                'uuid': match.group('uuid').strip(),
                'gpu_instance_id': None,
                'compute_instance_id': None,
                'memory_total_mib': None,
                'memory_used_mib': None,
            })
    return mig


def smi_reason(rc, output):
    if rc in SMI_EXIT_REASONS:
        return SMI_EXIT_REASONS[rc]
    lowered = (output or '').lower()
    if "couldn't communicate with the nvidia driver" in lowered:
        return 'driver_not_loaded'
    if 'no devices were found' in lowered:
        return 'no_devices'
    if 'libnvidia-ml' in lowered or 'nvml shared library' in lowered:
        return 'nvml_library_not_found'
    return 'nvidia_smi_failed'


def smi_facts(run, smi_path, is_loaded=driver_loaded):
    """Facts through nvidia-smi. ``run(argv)`` returns (rc, stdout, stderr)."""
    fields = list(SMI_FIELDS)
    for dummy in range(len(SMI_FIELDS)):
        query = ','.join(f[0] for f in fields)
        rc, out, err = run([smi_path, '--query-gpu=' + query, '--format=csv,noheader,nounits'])
        invalid = INVALID_FIELD.search((out or '') + (err or ''))
        if rc != 0 and invalid:
            # An older nvidia-smi: drop the field it does not know and ask again.
            fields = [f for f in fields if f[0] != invalid.group(1)]
            continue
        break
    if rc != 0:
        detail = text((err or '') + (out or ''))
        reason, detail = _module_reason(smi_reason(rc, detail), detail[-500:] if detail else None, is_loaded)
        return empty_facts('nvidia-smi', reason, detail)
    gpus = parse_smi_csv(out, fields)
    facts = empty_facts('nvidia-smi', None)
    rc_l, out_l, dummy = run([smi_path, '-L'])
    mig = parse_smi_list(out_l) if rc_l == 0 else {}
    rc_h, out_h, dummy = run([smi_path])
    match = CUDA_VERSION.search(out_h or '') if rc_h == 0 else None
    facts['gpu_cuda_driver_version'] = match.group(1) if match else None
    for position, gpu in enumerate(gpus):
        if gpu.get('index') is None:
            gpu['index'] = position
        driver = gpu.pop('driver_version', None)
        if driver and not facts['gpu_driver_version']:
            facts['gpu_driver_version'] = driver
        for key in ('serial', 'vbios_version', 'compute_capability', 'fan_speed_pct',
                    'performance_state', 'utilization_gpu_pct', 'utilization_memory_pct',
                    'ecc_mode_pending', 'mig_mode_current', 'mig_mode_pending'):
            gpu.setdefault(key, None)
        for key in ('graphics', 'sm', 'memory', 'video'):
            gpu['clocks'].setdefault(key + '_mhz', None)
            if key != 'video':
                gpu['clocks'].setdefault('max_' + key + '_mhz', None)
        gpu['clocks'].setdefault('max_video_mhz', None)
        gpu['minor_number'] = None
        gpu['mig_devices'] = mig.get(gpu['index'], []) if gpu.get('mig_mode_current') == 'enabled' else []
        gpu['errors'] = {}
    facts['gpus'] = gpus
    facts['gpu_count'] = len(gpus)
    facts['gpu_present'] = len(gpus) > 0
    if not gpus:
        facts['gpu_reason'] = 'no_devices'
    return facts

# Copyright (c) medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring role's GPU exporter against a fake NVML (no GPU needed) and the real prometheus-client."""

from __future__ import absolute_import, division, print_function

import importlib.util
import os
import socket
import threading
import urllib.request
from types import SimpleNamespace

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402  pylint: disable=wrong-import-position

__metaclass__ = type

EXPORTER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "monitoring", "files", "medimg_gpu_exporter.py")


def load_exporter():
    spec = importlib.util.spec_from_file_location("medimg_gpu_exporter", EXPORTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exporter = load_exporter()


class FakeNVMLError(Exception):
    def __init__(self, value):
        super().__init__("NVML error %d" % value)
        self.value = value


class FakeNVML:
    """The parts of pynvml the exporter calls, with NVML's error codes."""

    NVMLError = FakeNVMLError
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_TIMEOUT = 10
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    nvmlEventTypeXidCriticalError = 8

    def __init__(self, gpus=None, init_error=None):
        self.gpus = gpus or []
        self.init_error = init_error
        self.init_calls = 0
        self.events = []
        self.registered = []

    def nvmlInit(self):
        self.init_calls += 1
        if self.init_error is not None:
            raise FakeNVMLError(self.init_error)

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.gpus[index]

    def _get(self, handle, key):
        value = handle[key]
        if value is None:
            raise FakeNVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlDeviceGetMinorNumber(self, handle):
        return self._get(handle, "minor")

    def nvmlDeviceGetUUID(self, handle):
        return self._get(handle, "uuid")

    def nvmlDeviceGetName(self, handle):
        return self._get(handle, "name")

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._get(handle, "temp")

    def nvmlDeviceGetPowerUsage(self, handle):
        return self._get(handle, "power_mw")

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self._get(handle, "util"), memory=handle["mem_util"])

    def nvmlDeviceGetMemoryInfo(self, handle):
        total, used = self._get(handle, "memory")
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetClockInfo(self, handle, clock):
        return self._get(handle, "sm_clock" if clock == self.NVML_CLOCK_SM else "mem_clock")

    def nvmlSystemGetDriverVersion(self):
        return b"535.247.01"

    def nvmlEventSetCreate(self):
        return "event-set"

    def nvmlDeviceRegisterEvents(self, handle, types, event_set):
        self.registered.append((handle["uuid"], types, event_set))

    def nvmlEventSetWait_v2(self, event_set, timeout_ms):
        if not self.events:
            raise FakeNVMLError(self.NVML_ERROR_TIMEOUT)
        return self.events.pop(0)


MIB = 1024 * 1024


def gpu(index, **kwargs):
    values = dict(minor=index, uuid="GPU-%04d" % index, name=b"NVIDIA H100 80GB HBM3", temp=40 + index,
                  power_mw=71234, util=12, mem_util=3, memory=(81559 * MIB, 1024 * MIB), sm_clock=1980, mem_clock=2619)
    values.update(kwargs)
    return values


def scrape(collector):
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def samples(text, name):
    return [line for line in text.splitlines() if line.startswith(name + "{") or line.startswith(name + " ")]


def test_no_library_serves_up_zero_and_no_gpu_metrics():
    nvml = FakeNVML(init_error=FakeNVML.NVML_ERROR_LIBRARY_NOT_FOUND)
    text = scrape(exporter.NvmlCollector(nvml=nvml, hostname="node1"))
    assert "medimg_gpu_exporter_nvml_up 0.0" in text
    assert "medimg_gpu_exporter_gpus 0.0" in text
    assert samples(text, "DCGM_FI_DEV_GPU_TEMP") == []
    assert 'error="FakeNVMLError: NVML error 12"' in text


def test_missing_binding_serves_up_zero():
    collector = exporter.NvmlCollector(nvml=None, hostname="node1")
    collector.nvml = None
    text = scrape(collector)
    assert "medimg_gpu_exporter_nvml_up 0.0" in text
    assert "nvidia-ml-py (pynvml) is not installed" in text


def test_nvml_is_retried_at_the_next_scrape():
    nvml = FakeNVML(gpus=[gpu(0)], init_error=FakeNVML.NVML_ERROR_LIBRARY_NOT_FOUND)
    collector = exporter.NvmlCollector(nvml=nvml, hostname="node1", watch_xid=False)
    registry = CollectorRegistry()
    registry.register(collector)
    assert "medimg_gpu_exporter_nvml_up 0.0" in generate_latest(registry).decode()
    nvml.init_error = None  # the driver got loaded
    text = generate_latest(registry).decode()
    assert "medimg_gpu_exporter_nvml_up 1.0" in text
    assert nvml.init_calls >= 2
    assert samples(text, "DCGM_FI_DEV_GPU_TEMP")


def test_two_gpus_with_dcgm_names_labels_and_units():
    nvml = FakeNVML(gpus=[gpu(0), gpu(1, power_mw=None)])
    text = scrape(exporter.NvmlCollector(nvml=nvml, hostname="node1", watch_xid=False))
    assert "medimg_gpu_exporter_nvml_up 1.0" in text
    assert "medimg_gpu_exporter_gpus 2.0" in text
    assert 'driver_version="535.247.01"' in text
    temps = samples(text, "DCGM_FI_DEV_GPU_TEMP")
    assert len(temps) == 2
    assert ('DCGM_FI_DEV_GPU_TEMP{Hostname="node1",UUID="GPU-0000",device="nvidia0",gpu="0",'
            'modelName="NVIDIA H100 80GB HBM3"} 40.0') in temps
    assert any(line.endswith(" 41.0") and 'gpu="1"' in line for line in temps)
    # MiB, like DCGM
    assert any(line.endswith(" 1024.0") for line in samples(text, "DCGM_FI_DEV_FB_USED"))
    assert any(line.endswith(" 80535.0") for line in samples(text, "DCGM_FI_DEV_FB_FREE"))
    # W, like DCGM; the GPU without power reading has no sample, the other keeps it
    power = samples(text, "DCGM_FI_DEV_POWER_USAGE")
    assert len(power) == 1 and 'gpu="0"' in power[0] and power[0].endswith(" 71.234")
    assert len(samples(text, "DCGM_FI_DEV_SM_CLOCK")) == 2
    assert samples(text, "DCGM_FI_DEV_XID_ERRORS") == []


def test_unsupported_fields_on_h100_do_not_break_the_scrape():
    nvml = FakeNVML(gpus=[gpu(0, temp=None, util=None, memory=None, sm_clock=None, mem_clock=None, minor=None)])
    text = scrape(exporter.NvmlCollector(nvml=nvml, hostname="node1", watch_xid=False))
    assert "medimg_gpu_exporter_nvml_up 1.0" in text
    assert samples(text, "DCGM_FI_DEV_GPU_TEMP") == []
    assert len(samples(text, "DCGM_FI_DEV_POWER_USAGE")) == 1
    assert 'device="nvidia0"' in text


def test_xid_events_are_exported_and_expire():
    nvml = FakeNVML(gpus=[gpu(0), gpu(1)])
    now = [1000.0]
    watcher = exporter.XidWatcher(nvml, window_seconds=300, clock=lambda: now[0])
    handles = {0: nvml.gpus[0], 1: nvml.gpus[1]}
    assert watcher.register(handles)
    assert len(nvml.registered) == 2
    assert watcher.poll(timeout_ms=1) is None  # timeout: nothing
    nvml.events.append(SimpleNamespace(device=nvml.gpus[1], eventData=79))
    assert watcher.poll(timeout_ms=1) == 79
    assert watcher.last_xid(1) == 79 and watcher.last_xid(0) == 0

    collector = exporter.NvmlCollector(nvml=nvml, hostname="node1", watch_xid=False)
    collector.xid = watcher
    text = scrape(collector)
    xid = samples(text, "DCGM_FI_DEV_XID_ERRORS")
    assert any('gpu="1"' in line and line.endswith(" 79.0") for line in xid)
    assert any('gpu="0"' in line and line.endswith(" 0.0") for line in xid)
    assert 'medimg_gpu_xid_errors_total{gpu="1",xid="79"} 1.0' in text
    now[0] += 301
    assert watcher.last_xid(1) == 0


def test_serves_http_on_a_port():
    nvml = FakeNVML(init_error=FakeNVML.NVML_ERROR_LIBRARY_NOT_FOUND)
    registry = CollectorRegistry()
    registry.register(exporter.NvmlCollector(nvml=nvml, hostname="node1"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = prometheus_client.start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
            body = answer.read().decode()
        assert "medimg_gpu_exporter_nvml_up 0.0" in body
    finally:
        if isinstance(result, tuple):
            result[0].shutdown()


def test_arguments_default_to_dcgm_port():
    args = exporter.parse_args([])
    assert args.port == 9400 and args.watch_xid
    assert exporter.parse_args(["--web.listen-port", "19400", "--no-xid-events"]).port == 19400
    assert threading.active_count() >= 1

# Copyright (c) medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small GPU exporter for hosts without NVIDIA's dcgm-exporter.

Reads GPUs through NVML (nvidia-ml-py) and serves them with prometheus-client under
DCGM's metric names (DCGM_FI_DEV_GPU_TEMP, DCGM_FI_DEV_FB_USED, ...), so the same alert
rules and dashboards work with this exporter and with dcgm-exporter.

It never exits because NVML is missing: without the library or the driver it serves
medimg_gpu_exporter_nvml_up 0 and retries NVML at each scrape.
"""

from __future__ import absolute_import, division, print_function

import argparse
import logging
import socket
import sys
import threading
import time

__metaclass__ = type

LOG = logging.getLogger("medimg_gpu_exporter")

# (metric name, help) of every per-GPU gauge, DCGM's names and units.
GPU_METRICS = (
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
    ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error seen within the XID window, 0 when none."),
)
GPU_LABELS = ["gpu", "UUID", "device", "modelName", "Hostname"]
MIB = 1024 * 1024


def _text(value):
    """NVML returns bytes from old bindings and str from new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _import_nvml():
    try:
        import pynvml  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return pynvml


class XidWatcher:
    """Waits for XID critical-error events in a thread and remembers the last per GPU."""

    def __init__(self, nvml, window_seconds=300.0, clock=time.time):
        self.nvml = nvml
        self.window = window_seconds
        self.clock = clock
        self.last = {}  # gpu index -> (xid, time seen)
        self.total = {}  # (gpu index, xid) -> count
        self.lock = threading.Lock()
        self.event_set = None
        self.handles = {}
        self.running = False
        self.thread = None

    def register(self, handles):
        """Register every handle (index -> handle) for XID events; False when unsupported."""
        try:
            self.event_set = self.nvml.nvmlEventSetCreate()
            for index, handle in handles.items():
                self.nvml.nvmlDeviceRegisterEvents(handle, self.nvml.nvmlEventTypeXidCriticalError, self.event_set)
                self.handles[index] = handle
        except self.nvml.NVMLError as exc:
            LOG.warning("XID events are not available: %s", exc)
            return False
        return True

    def _index_of(self, handle):
        for index, known in self.handles.items():
            if known == handle:
                return index
        return None

    def poll(self, timeout_ms=1000):
        """Wait once for an event; record it. Returns the XID seen or None."""
        try:
            data = self.nvml.nvmlEventSetWait_v2(self.event_set, timeout_ms)
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) != getattr(self.nvml, "NVML_ERROR_TIMEOUT", 10):
                LOG.warning("waiting for XID events failed: %s", exc)
                time.sleep(timeout_ms / 1000.0)
            return None
        index = self._index_of(data.device)
        xid = int(data.eventData)
        with self.lock:
            self.last[index] = (xid, self.clock())
            self.total[(index, xid)] = self.total.get((index, xid), 0) + 1
        LOG.warning("GPU %s reported XID %d", index, xid)
        return xid

    def last_xid(self, index):
        with self.lock:
            seen = self.last.get(index)
        if seen is None or self.clock() - seen[1] > self.window:
            return 0
        return seen[0]

    def counts(self):
        with self.lock:
            return dict(self.total)

    def start(self):
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="xid-events", daemon=True)
        self.thread.start()

    def _loop(self):
        while self.running:
            self.poll()

    def stop(self):
        self.running = False


class NvmlCollector:
    """A prometheus-client collector that reads every GPU at each scrape."""

    def __init__(self, nvml=None, hostname=None, watch_xid=True, xid_window=300.0):
        self.nvml = nvml if nvml is not None else _import_nvml()
        self.hostname = hostname or socket.gethostname()
        self.watch_xid = watch_xid
        self.xid_window = xid_window
        self.initialised = False
        self.error = ""
        self.xid = None
        self.lock = threading.Lock()

    def _init(self):
        """Initialise NVML once; on failure remember why and retry at the next scrape."""
        if self.initialised:
            return True
        if self.nvml is None:
            self.error = "nvidia-ml-py (pynvml) is not installed"
            return False
        try:
            self.nvml.nvmlInit()
        except self.nvml.NVMLError as exc:
            self.error = "%s: %s" % (type(exc).__name__, exc)
            return False
        self.initialised = True
        self.error = ""
        if self.watch_xid:
            try:
                handles = dict((i, self.nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(self.nvml.nvmlDeviceGetCount()))
            except self.nvml.NVMLError as exc:
                LOG.warning("cannot list GPUs for XID events: %s", exc)
                handles = {}
            watcher = XidWatcher(self.nvml, self.xid_window)
            if handles and watcher.register(handles):
                self.xid = watcher
                watcher.start()
        return True

    def _read(self, func, *args):
        """One NVML query; None when the GPU does not support it (H100 fan speed, ...)."""
        try:
            return func(*args)
        except self.nvml.NVMLError as exc:
            LOG.debug("%s not available: %s", getattr(func, "__name__", func), exc)
            return None

    def read_gpus(self):
        """A list of (labels, {metric: value}) for every GPU."""
        nvml = self.nvml
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            minor = self._read(nvml.nvmlDeviceGetMinorNumber, handle)
            labels = [
                str(index),
                _text(self._read(nvml.nvmlDeviceGetUUID, handle) or ""),
                "nvidia%s" % (minor if minor is not None else index),
                _text(self._read(nvml.nvmlDeviceGetName, handle) or ""),
                self.hostname,
            ]
            values = {}
            temp = self._read(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
            if temp is not None:
                values["DCGM_FI_DEV_GPU_TEMP"] = float(temp)
            power = self._read(nvml.nvmlDeviceGetPowerUsage, handle)
            if power is not None:
                values["DCGM_FI_DEV_POWER_USAGE"] = power / 1000.0
            util = self._read(nvml.nvmlDeviceGetUtilizationRates, handle)
            if util is not None:
                values["DCGM_FI_DEV_GPU_UTIL"] = float(util.gpu)
                values["DCGM_FI_DEV_MEM_COPY_UTIL"] = float(util.memory)
            memory = self._read(nvml.nvmlDeviceGetMemoryInfo, handle)
            if memory is not None:
                values["DCGM_FI_DEV_FB_FREE"] = float(memory.free // MIB)
                values["DCGM_FI_DEV_FB_USED"] = float(memory.used // MIB)
            sm_clock = self._read(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
            if sm_clock is not None:
                values["DCGM_FI_DEV_SM_CLOCK"] = float(sm_clock)
            mem_clock = self._read(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM)
            if mem_clock is not None:
                values["DCGM_FI_DEV_MEM_CLOCK"] = float(mem_clock)
            if self.xid is not None:
                values["DCGM_FI_DEV_XID_ERRORS"] = float(self.xid.last_xid(index))
            gpus.append((labels, values))
        return gpus

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # pylint: disable=import-outside-toplevel

        with self.lock:
            ok = self._init()
            gpus = []
            if ok:
                try:
                    gpus = self.read_gpus()
                except self.nvml.NVMLError as exc:
                    ok = False
                    self.error = "%s: %s" % (type(exc).__name__, exc)
            driver = ""
            if ok:
                driver = _text(self._read(self.nvml.nvmlSystemGetDriverVersion) or "")

        up = GaugeMetricFamily("medimg_gpu_exporter_nvml_up", "1 when NVML answered this scrape, 0 when not (no driver, no library).")
        up.add_metric([], 1.0 if ok else 0.0)
        yield up
        info = GaugeMetricFamily("medimg_gpu_exporter_info", "The exporter's NVML state.", labels=["driver_version", "error"])
        info.add_metric([driver, "" if ok else self.error], 1.0)
        yield info
        count = GaugeMetricFamily("medimg_gpu_exporter_gpus", "GPUs NVML reports.")
        count.add_metric([], float(len(gpus)))
        yield count
        for name, help_text in GPU_METRICS:
            family = GaugeMetricFamily(name, help_text, labels=GPU_LABELS)
            for labels, values in gpus:
                if name in values:
                    family.add_metric(labels, values[name])
            yield family
        if self.xid is not None:
            total = CounterMetricFamily("medimg_gpu_xid_errors", "XID critical errors seen since the exporter started.", labels=["gpu", "xid"])
            for (index, xid), seen in sorted(self.xid.counts().items()):
                total.add_metric([str(index), str(xid)], float(seen))
            yield total


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="NVML GPU exporter with DCGM metric names.")
    parser.add_argument("--web.listen-address", dest="address", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--web.listen-port", dest="port", type=int, default=9400, help="port to listen on (dcgm-exporter's 9400)")
    parser.add_argument("--xid-window", dest="xid_window", type=float, default=300.0,
                        help="seconds an XID error stays in DCGM_FI_DEV_XID_ERRORS")
    parser.add_argument("--no-xid-events", dest="watch_xid", action="store_false", help="do not wait for XID events")
    parser.add_argument("--log-level", dest="log_level", default="INFO")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO), format="%(levelname)s %(message)s")
    try:
        from prometheus_client import REGISTRY, start_http_server  # pylint: disable=import-outside-toplevel
    except ImportError:
        print("medimg_gpu_exporter needs prometheus-client (Debian: python3-prometheus-client).", file=sys.stderr)
        return 1
    collector = NvmlCollector(hostname=None, watch_xid=args.watch_xid, xid_window=args.xid_window)
    REGISTRY.register(collector)
    start_http_server(args.port, addr=args.address)
    LOG.info("serving GPU metrics on %s:%d", args.address, args.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())

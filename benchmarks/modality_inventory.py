#!/usr/bin/env python
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the medimg.imaging.modality inventory plugin against the builtin yaml inventory.

Generates a registry of N devices (default 10,000) over several sites and modalities, the same hosts, groups and
host variables as a plain YAML inventory, checks that `ansible-inventory --list` gives the same answer for both,
then times `ansible-inventory --list` for each, alternating, several rounds, and prints the medians and the ratio.

    benchmarks/modality_inventory.py [--devices 10000] [--rounds 3]

Run it with the collection visible to Ansible (. scripts/lib.sh && activate). Target: plugin <= 1.5x yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

MODALITIES = ["CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT"]
SITES = ["north", "south", "east", "west", "central"]
DEPARTMENTS = ["radiology", "emergency", "cardiology", "oncology"]
VENDORS = ["Siemens", "GE", "Philips", "Canon", "Fujifilm"]


def devices(count):
    for i in range(count):
        mod = MODALITIES[i % len(MODALITIES)]
        site = SITES[(i // len(MODALITIES)) % len(SITES)]
        yield {
            "name": "%s-%s-%05d" % (mod.lower(), site, i),
            "address": "10.%d.%d.%d" % (i // 65536, (i // 256) % 256, i % 256),
            "ae_title": "%s%05d" % (mod, i),
            "port": 104 + (i % 3) * 1000,
            "modality": mod,
            "site": site,
            "department": DEPARTMENTS[i % len(DEPARTMENTS)],
            "vendor": VENDORS[i % len(VENDORS)],
            "model": "Model %d" % (i % 7),
            "tls": i % 4 == 0,
        }


def write_files(folder, count):
    devs = list(devices(count))
    with open(os.path.join(folder, "registry.yml"), "w") as handle:
        yaml.safe_dump({"devices": devs}, handle, default_flow_style=None, sort_keys=False, width=200)
    with open(os.path.join(folder, "bench.modality.yml"), "w") as handle:
        handle.write("plugin: medimg.imaging.modality\nregistry_files: [registry.yml]\n")
    groups = {}
    for dev in devs:
        hostvars = {
            "ansible_host": dev["address"], "dicom_host": dev["address"], "dicom_port": dev["port"],
            "dicom_ae_title": dev["ae_title"], "dicom_modality": dev["modality"], "dicom_tls": dev["tls"],
            "dicom_site": dev["site"], "dicom_department": dev["department"], "dicom_vendor": dev["vendor"],
            "dicom_model": dev["model"], "dicom_source": "registry",
        }
        groups.setdefault("modality_" + dev["modality"].lower(), {})[dev["name"]] = hostvars
        groups.setdefault("site_" + dev["site"], {})[dev["name"]] = None
    static = {"all": {"children": dict((g, {"hosts": h}) for g, h in groups.items())}}
    with open(os.path.join(folder, "static.yml"), "w") as handle:
        yaml.safe_dump(static, handle, default_flow_style=False, sort_keys=False, width=200)


def inventory_list(path):
    start = time.monotonic()
    out = subprocess.run(["ansible-inventory", "-i", path, "--list"], check=True, capture_output=True, text=True)
    return time.monotonic() - start, out.stdout


def _plain(value):
    # ansible-core 2.19+ writes values that are not trusted templates as {"__ansible_unsafe": value}
    if isinstance(value, dict) and list(value) == ["__ansible_unsafe"]:
        return value["__ansible_unsafe"]
    return value


def normalised(listing):
    data = json.loads(listing)
    hostvars = dict((host, dict((k, _plain(v)) for k, v in hv.items()))
                    for host, hv in data.pop("_meta")["hostvars"].items())
    groups = dict((k, sorted(v.get("hosts", []))) for k, v in data.items() if v.get("hosts"))
    return groups, hostvars


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env_note = "ANSIBLE_INVENTORY_ENABLED" in os.environ and " (ANSIBLE_INVENTORY_ENABLED is set)" or ""
    with tempfile.TemporaryDirectory(prefix="medimg-bench-") as folder:
        write_files(folder, args.devices)
        plugin_cfg = os.path.join(folder, "bench.modality.yml")
        static = os.path.join(folder, "static.yml")
        # same answer from both, or the timing means nothing
        _t, plugin_out = inventory_list(plugin_cfg)
        _t, static_out = inventory_list(static)
        if normalised(plugin_out) != normalised(static_out):
            sys.exit("the plugin and the yaml inventory do not give the same hosts, groups and variables")
        times = {"modality plugin": [], "builtin yaml": []}
        for _round in range(args.rounds):
            times["modality plugin"].append(inventory_list(plugin_cfg)[0])
            times["builtin yaml"].append(inventory_list(static)[0])
    med = dict((k, statistics.median(v)) for k, v in times.items())
    ratio = med["modality plugin"] / med["builtin yaml"]
    print("ansible-inventory --list, %d devices, %d rounds alternating, median seconds%s"
          % (args.devices, args.rounds, env_note))
    print("| inventory | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print("| %s | %.2f | %.2f | %.2f |" % (name, med[name], min(values), max(values)))
    print("ratio plugin / yaml: %.2fx (target <= 1.5x): %s" % (ratio, "met" if ratio <= 1.5 else "NOT met"))
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())

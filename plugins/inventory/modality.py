# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: modality
short_description: Hospital imaging devices (DICOM modalities) grouped by modality and site
version_added: 1.0.0
author:
  - medimg.imaging maintainers (@medimg)
description:
  - Builds an inventory of DICOM devices (CT, MR, PET, ultrasound, X-ray... and any DICOM node) from one or several
    sources in the same configuration file.
  - A site device registry file in YAML, JSON or CSV (O(registry_files)), as hospitals keep them.
  - The DICOM modalities registered in a running Orthanc, read through its REST API C(/modalities?expand)
    (O(orthanc_url)).
  - An HTTP JSON endpoint such as a CMDB (O(cmdb_url)); the shape it must answer is described under O(cmdb_url).
  - Every host goes into one group per modality (C(modality_ct), C(modality_mr)...) and one per site (C(site_north)...),
    plus the groups from O(keyed_groups), O(groups) and O(compose).
  - Host variables are prefixed with C(dicom_) (C(dicom_host), C(dicom_port), C(dicom_ae_title), C(dicom_modality),
    C(dicom_tls), C(dicom_site), C(dicom_department), C(dicom_vendor), C(dicom_model), C(dicom_source)) so the DICOM
    modules of this collection (M(medimg.imaging.dicom_echo) and the others of C(group/medimg.imaging.dicom)) can be
    pointed at an inventory host through C(module_defaults) with no other wiring.
  - Unknown modality codes put the device in a fallback group (O(unknown_modality_group)) with a warning. Rows with no
    address, no or a bad AE title, or a bad port are reported with the file and row that holds them. Duplicate host
    names and duplicate AE titles are reported.
  - With O(probe=true) every device is sent a DICOM C-ECHO, in parallel with a bounded pool and a short timeout, and
    gets C(dicom_reachable) and C(dicom_echo_ms).
  - The configuration file must be a YAML file whose name ends with C(modality.yml) or C(modality.yaml).
notes:
  - With O(cache=true) the raw answers of Orthanc and of the CMDB are cached, never the built inventory, so a change of
    grouping options takes effect at once. C(--flush-cache) (or O(cache=false)) reads the sources again. Registry files
    are local and are always read again. Probe results are never cached.
  - Every value that comes from a source is marked unsafe, so templates in a registry or a CMDB are never evaluated.
  - The devices are not managed over SSH. Run DICOM tasks against them with C(ansible_connection=local) (or
    C(delegate_to=localhost)); pynetdicom must be installed on the controller for O(probe).
requirements:
  - pynetdicom >= 3.0 and pydicom >= 3.0 on the controller, only for O(probe=true)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description:
      - The name of this plugin. It must be V(medimg.imaging.modality) for this plugin to read the file.
    type: str
    required: true
    choices: [medimg.imaging.modality, modality]
  registry_files:
    description:
      - Device registry files to read. A relative path is taken from the folder of this configuration file.
      - The format is chosen by the file name ending, C(.yml)/C(.yaml), C(.json) or C(.csv).
      - 'A YAML or JSON registry is a list of devices, or a mapping with a C(devices) list and an optional C(defaults)
        mapping whose keys every device of that file inherits (for example C(site)).'
      - A CSV registry has a header line; its column names are the device keys below (case and spaces do not matter).
      - 'Device keys: C(name) (the inventory host name; defaults to the AE title in lower case), C(address) (or C(host),
        C(ip), C(hostname)), C(ae_title) (or C(aet), C(ae)), C(port) (defaults to O(default_port)), C(modality) (the
        DICOM code, C(CT), C(MR)...), C(site), C(department), C(vendor), C(model), C(tls) (a boolean).'
    type: list
    elements: path
    default: []
  orthanc_url:
    description:
      - Base URL of an Orthanc whose registered DICOM modalities become inventory hosts, for example
        V(https://pacs.example.org:8042). Unset to not read any Orthanc.
      - Orthanc does not record the modality type of a peer. It is taken from the Orthanc modality name with
        O(orthanc_name_regex), else from O(orthanc_devices), else the device goes into O(unknown_modality_group).
    type: str
  orthanc_username:
    description:
      - User name for Orthanc's REST API (HTTP basic authentication).
    type: str
    env:
      - name: MEDIMG_ORTHANC_USERNAME
  orthanc_password:
    description:
      - Password for Orthanc's REST API. Prefer the environment variable to writing it in the file.
    type: str
    env:
      - name: MEDIMG_ORTHANC_PASSWORD
  orthanc_site:
    description:
      - The site that the modalities registered in this Orthanc belong to.
    type: str
    default: orthanc
  orthanc_name_regex:
    description:
      - Regular expression searched in each Orthanc modality name. Its named groups C(modality), C(site) and
        C(department), when they match, give those device keys.
    type: str
    default: '(?i)(?:^|[-_.])(?P<modality>CT|MR|PT|NM|US|CR|DX|MG|XA|RF|OT|IO|PX|RG|SM|ES|XC|OP|OPT|IVUS|BMD)(?=[-_.0-9]|$)'
  orthanc_devices:
    description:
      - Extra device keys per Orthanc modality name (C(modality), C(site), C(department), C(vendor), C(model), C(name)),
        for names that O(orthanc_name_regex) cannot read.
    type: dict
    default: {}
  cmdb_url:
    description:
      - URL of an HTTP endpoint that answers the devices as JSON. Unset to not read any.
      - 'The answer is either a JSON list of devices, or an object C({"devices": [...], "next": URL-or-null}); when
        C(next) is a URL it is read too (pagination), up to 1000 pages. Each device is an object with the device keys
        of O(registry_files).'
    type: str
  cmdb_token:
    description:
      - Bearer token sent as C(Authorization) to O(cmdb_url).
    type: str
    env:
      - name: MEDIMG_CMDB_TOKEN
  cmdb_username:
    description:
      - User name for HTTP basic authentication to O(cmdb_url), when no O(cmdb_token) is given.
    type: str
    env:
      - name: MEDIMG_CMDB_USERNAME
  cmdb_password:
    description:
      - Password for HTTP basic authentication to O(cmdb_url).
    type: str
    env:
      - name: MEDIMG_CMDB_PASSWORD
  validate_certs:
    description:
      - Whether to verify the TLS certificates of O(orthanc_url) and O(cmdb_url). Leave it on.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle to verify O(orthanc_url) and O(cmdb_url) with, instead of the system's.
    type: path
  http_timeout:
    description:
      - Seconds to wait for Orthanc and the CMDB.
    type: float
    default: 10
  default_port:
    description:
      - DICOM port of a device whose row gives none.
    type: int
    default: 104
  extra_modalities:
    description:
      - Codes accepted as modalities in addition to the DICOM defined terms of (0008,0060), for nodes such as
        V(PACS), V(WS) or V(ROUTER). Each gets its group C(modality_<code>).
    type: list
    elements: str
    default: []
  modality_group_prefix:
    description:
      - Prefix of the per-modality groups.
    type: str
    default: modality_
  site_group_prefix:
    description:
      - Prefix of the per-site groups.
    type: str
    default: site_
  unknown_modality_group:
    description:
      - Group of the devices whose modality code is missing or unknown.
    type: str
    default: modality_unknown
  default_site:
    description:
      - Site of the devices whose row gives none.
    type: str
    default: unknown
  set_ansible_host:
    description:
      - Whether to set C(ansible_host) to the device address as well as C(dicom_host).
    type: bool
    default: true
  bad_row_action:
    description:
      - What to do with a row that has no address, no or a bad AE title, or a bad port.
      - V(warn) skips the row with a warning that names the file and the row; V(error) stops with that message.
    type: str
    choices: [warn, error]
    default: warn
  duplicate_action:
    description:
      - What to do with a duplicate host name (the first device keeps the name, the later one is skipped) or an AE title
        used by several devices (all are kept).
    type: str
    choices: [warn, error]
    default: warn
  probe:
    description:
      - Whether to send a C-ECHO to every device and set C(dicom_reachable) (a boolean), C(dicom_echo_ms) (the C-ECHO
        round trip in milliseconds, or null) and C(dicom_probe_error) (why the device is not reachable, or null).
      - The probe uses the connection layer of M(medimg.imaging.dicom_echo), with no retry.
    type: bool
    default: false
  probe_timeout:
    description:
      - Seconds a probe waits to connect and for each answer.
    type: float
    default: 2
  probe_workers:
    description:
      - How many probes run at the same time.
    type: int
    default: 16
  probe_calling_ae_title:
    description:
      - The calling AE title of the probes. Peers that only accept known calling AE titles must know it.
    type: str
    default: ANSIBLE-INV
  probe_ca_path:
    description:
      - CA bundle to verify the certificates of devices with C(tls=true) when probing them.
      - Without it, the system's CA store is used.
    type: path
"""

EXAMPLES = r"""
---
# modality.yml: a registry file for two sites
plugin: medimg.imaging.modality
registry_files:
  - hospital_devices.yml

---
# Several sources at once, with a probe, cached for an hour
plugin: medimg.imaging.modality
registry_files:
  - north.csv
  - south.json
orthanc_url: https://pacs.example.org:8042
orthanc_site: north
# orthanc_username / orthanc_password from MEDIMG_ORTHANC_USERNAME / MEDIMG_ORTHANC_PASSWORD
cmdb_url: https://cmdb.example.org/api/dicom-devices
# cmdb_token from MEDIMG_CMDB_TOKEN
probe: true
probe_timeout: 1.5
probe_workers: 32
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/medimg-modality
cache_timeout: 3600

---
# Constructed groups and variables
plugin: medimg.imaging.modality
registry_files: [hospital_devices.yml]
extra_modalities: [PACS, WS]
keyed_groups:
  - key: dicom_vendor | lower
    prefix: vendor
  - key: dicom_department
    prefix: department
groups:
  tls_devices: dicom_tls
  north_ct: dicom_site == 'north' and dicom_modality == 'CT'
compose:
  dicom_calling_ae_title: "'ANSIBLE-' ~ (dicom_site | upper)"
"""

import csv
import io
import json
import os
import re

from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

try:
    import yaml
    try:
        from yaml import CSafeLoader as _YamlLoader
    except ImportError:  # pragma: no cover - libyaml is missing
        from yaml import SafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - ansible-core needs PyYAML
    yaml = None

try:
    from ansible_collections.medimg.imaging.plugins.module_utils import _dicom
except ImportError:  # pragma: no cover - the DICOM layer is optional for the inventory
    _dicom = None


# DICOM PS3.3 C.7.3.1.1.1 defined terms of Modality (0008,0060), current and retired.
DICOM_MODALITIES = frozenset((
    "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CR", "CT", "CTPROTOCOL", "DG", "DOC", "DX", "ECG", "EPS", "ES", "FID",
    "GM", "HC", "HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "KO", "LEN", "LS", "MG", "MR", "M3D", "NM", "OAM", "OCT",
    "OP", "OPM", "OPT", "OPTBSV", "OPTENF", "OPV", "OSS", "OT", "PLAN", "POS", "PR", "PT", "PX", "REG", "RESP", "RF",
    "RG", "RTDOSE", "RTIMAGE", "RTINTENT", "RTPLAN", "RTRAD", "RTRECORD", "RTSEGANN", "RTSTRUCT", "RWV", "SEG", "SM",
    "SMR", "SR", "SRF", "STAIN", "TEXTUREMAP", "TG", "US", "VA", "XA", "XC",
    # retired, still sent by older devices
    "CD", "CF", "CP", "CS", "DD", "DF", "DM", "DS", "EC", "FA", "FS", "LP", "MA", "MS", "OPR", "ST", "VF",
))

# Column names hospitals use, mapped to the device keys.
KEY_ALIASES = {
    "name": "name", "hostname_inventory": "name", "device": "name", "device_name": "name",
    "address": "address", "host": "address", "ip": "address", "ip_address": "address", "hostname": "address",
    "fqdn": "address",
    "ae_title": "ae_title", "aetitle": "ae_title", "aet": "ae_title", "ae": "ae_title", "called_ae_title": "ae_title",
    "port": "port", "dicom_port": "port",
    "modality": "modality", "type": "modality",
    "site": "site", "location": "site",
    "department": "department", "dept": "department",
    "vendor": "vendor", "manufacturer": "vendor",
    "model": "model",
    "tls": "tls", "use_tls": "tls", "dicom_tls": "tls",
}

_TEMPLATE_CHARS = re.compile(r"[{}]")
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_AE_BAD = re.compile(r"[\\\x00-\x1f\x7f]")


def make_unsafe(value):
    """Mark text from outside as unsafe (never templated). Only strings that could hold a template are wrapped."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return wrap_var(value) if _TEMPLATE_CHARS.search(value) else value
    if isinstance(value, Mapping):
        return dict((make_unsafe(k), make_unsafe(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(make_unsafe(v) for v in value)
    return wrap_var(value)


def slug(value):
    """Group-name-safe lower-case form of a value."""
    return _GROUP_UNSAFE.sub("_", to_text(value).strip().lower())


def row_name(raw):
    """The host name a raw row asks for, whatever its column is called, or None."""
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            if key is not None and value not in (None, "") and KEY_ALIASES.get(
                    to_text(key).strip().lower().replace(" ", "_").replace("-", "_")) == "name":
                return to_text(value).strip()
    return None


class BadRow(ValueError):
    """A device row that cannot become a host."""


def normalise_row(raw, default_port=104):
    """Turn one source row into the device dict, or raise BadRow with the reason.

    Returns a dict with name, address, ae_title, port, modality, site, department, vendor, model, tls.
    """
    if not isinstance(raw, Mapping):
        raise BadRow("is not a mapping of device keys")
    dev = {}
    for key, value in raw.items():
        if key is None:
            continue
        norm = KEY_ALIASES.get(to_text(key).strip().lower().replace(" ", "_").replace("-", "_"))
        if norm and norm not in dev:
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    value = None
            dev[norm] = value

    address = dev.get("address")
    if not address:
        raise BadRow("has no address")
    dev["address"] = to_text(address)

    aet = dev.get("ae_title")
    if aet is None or to_text(aet).strip() == "":
        raise BadRow("has no AE title")
    aet = to_text(aet).strip()
    if len(aet) > 16 or _AE_BAD.search(aet):
        raise BadRow("has a bad AE title %r (1 to 16 characters, no backslash or control characters)" % aet)
    dev["ae_title"] = aet

    port = dev.get("port")
    if port is None:
        port = default_port
    try:
        if isinstance(port, bool):
            raise ValueError()
        if isinstance(port, float):
            if port != int(port):
                raise ValueError()
            port = int(port)
        port = int(to_text(port).strip()) if not isinstance(port, int) else port
    except (TypeError, ValueError):
        raise BadRow("has a bad port %r (a number from 1 to 65535)" % (port,))
    if not 1 <= port <= 65535:
        raise BadRow("has a bad port %r (a number from 1 to 65535)" % (port,))
    dev["port"] = port

    tls = dev.get("tls")
    if tls is None:
        dev["tls"] = False
    else:
        try:
            dev["tls"] = boolean(tls, strict=True)
        except TypeError:
            raise BadRow("has a bad tls value %r (true or false)" % (tls,))

    name = dev.get("name")
    dev["name"] = to_text(name).strip() if name is not None else aet.lower()
    if not dev["name"] or any(c.isspace() for c in dev["name"]):
        raise BadRow("has a bad name %r (no spaces)" % (dev["name"],))

    modality = dev.get("modality")
    dev["modality"] = to_text(modality).strip().upper() if modality is not None else None
    for key in ("site", "department", "vendor", "model"):
        if dev.get(key) is not None:
            dev[key] = to_text(dev[key])
        else:
            dev[key] = None
    return dev


def parse_registry_text(text, fmt, label):
    """Parse a registry file's text into a list of (row label, raw row)."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for row in reader:
            # line_num is the line the row ended on: the header is line 1
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            rows.append(("%s line %d" % (label, reader.line_num), row))
        return rows
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_YamlLoader)
    except Exception as exc:
        raise AnsibleParserError("%s is not valid %s: %s" % (label, fmt.upper(), to_native(exc)))
    defaults = {}
    if data is None:
        return []
    if isinstance(data, Mapping):
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise AnsibleParserError("%s: 'defaults' must be a mapping of device keys" % label)
        data = data.get("devices")
        if data is None:
            raise AnsibleParserError("%s must hold a list of devices or a mapping with a 'devices' list" % label)
    if not isinstance(data, list):
        raise AnsibleParserError("%s: the devices must be a list" % label)
    rows = []
    for idx, row in enumerate(data, start=1):
        if defaults and isinstance(row, Mapping):
            merged = dict(defaults)
            merged.update(row)
            row = merged
        rows.append(("%s device %d" % (label, idx), row))
    return rows


def orthanc_rows(data, site, name_regex, devices):
    """Rows from Orthanc's /modalities?expand answer."""
    if not isinstance(data, Mapping):
        raise AnsibleParserError("Orthanc's /modalities?expand answer is not a JSON object")
    regex = re.compile(name_regex) if name_regex else None
    rows = []
    for oname in sorted(data):
        mod = data[oname]
        label = "Orthanc modality %s" % oname
        if isinstance(mod, list):  # Orthanc's old list form: [AET, host, port, manufacturer]
            mod = dict(zip(("AET", "Host", "Port", "Manufacturer"), mod))
        if not isinstance(mod, Mapping):
            rows.append((label, None))
            continue
        row = {"name": slug(oname).replace("_", "-"), "ae_title": mod.get("AET"), "address": mod.get("Host"),
               "port": mod.get("Port"), "site": site, "tls": mod.get("UseDicomTls", False)}
        if regex:
            match = regex.search(oname)
            if match:
                for key in ("modality", "site", "department"):
                    if key in regex.groupindex and match.group(key):
                        row[key] = match.group(key)
        extra = devices.get(oname) or {}
        if isinstance(extra, Mapping):
            row.update(extra)
        rows.append((label, row))
    return rows


def cmdb_rows(pages, url):
    """Rows from the CMDB's answers (a list of pages)."""
    rows = []
    idx = 0
    for page in pages:
        devices = page.get("devices") if isinstance(page, Mapping) else page
        if not isinstance(devices, list):
            raise AnsibleParserError("the CMDB at %s answered neither a list of devices nor an object with a "
                                     "'devices' list" % url)
        for row in devices:
            idx += 1
            rows.append(("CMDB %s device %d" % (url, idx), row))
    return rows


def echo(host, port, called, calling, timeout, tls=False, ca_path=None):
    """C-ECHO one peer through the collection's DICOM layer; returns (reachable, milliseconds or None, error)."""
    if _dicom is None or not _dicom.HAS_DICOM_LIBS:
        raise AnsibleError("probe=true needs pynetdicom and pydicom on the controller: pip install 'pynetdicom>=3.0' "
                           "'pydicom>=3.0' into the Python that runs ansible-inventory")
    result = _dicom.echo(host, port, calling_ae_title=calling, called_ae_title=called, timeout=timeout, tls=tls,
                         tls_ca_cert=ca_path, retries=0)
    if result.get("reachable"):
        return True, result.get("latency_ms"), None
    return False, None, result.get("error") or "no answer"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Hospital DICOM devices from registries, Orthanc and a CMDB."""

    NAME = "medimg.imaging.modality"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("modality.yml", "modality.yaml"))

    # -- sources -------------------------------------------------------------------------------------------------

    def _http_get(self, url, headers=None, username=None, password=None):
        try:
            resp = open_url(url, method="GET", headers=headers or {}, url_username=username, url_password=password,
                            force_basic_auth=bool(username), validate_certs=self.get_option("validate_certs"),
                            ca_path=self.get_option("ca_path"), timeout=self.get_option("http_timeout"))
            body = resp.read()
        except Exception as exc:
            # never show credentials: the URL options hold none, the message of open_url holds none
            raise AnsibleError("could not read %s: %s" % (url, to_native(exc)))
        try:
            return json.loads(to_text(body, errors="surrogate_or_strict"))
        except ValueError as exc:
            raise AnsibleError("%s did not answer JSON: %s" % (url, to_native(exc)))

    def _fetch_orthanc(self):
        base = self.get_option("orthanc_url").rstrip("/")
        return self._http_get(base + "/modalities?expand", username=self.get_option("orthanc_username"),
                              password=self.get_option("orthanc_password"))

    def _fetch_cmdb(self):
        url = self.get_option("cmdb_url")
        headers = {"Accept": "application/json"}
        token = self.get_option("cmdb_token")
        username = None
        if token:
            headers["Authorization"] = "Bearer %s" % token
        else:
            username = self.get_option("cmdb_username")
        pages = []
        seen = set()
        while url and len(pages) < 1000:
            if url in seen:
                raise AnsibleError("the CMDB's 'next' links loop back to %s" % url)
            seen.add(url)
            page = self._http_get(url, headers=headers, username=username,
                                  password=self.get_option("cmdb_password") if username else None)
            pages.append(page)
            url = page.get("next") if isinstance(page, Mapping) else None
        return pages

    def _remote_data(self, path, cache):
        """The raw answers of the remote sources, from the cache when allowed."""
        wanted = {}
        if self.get_option("orthanc_url"):
            wanted["orthanc"] = self.get_option("orthanc_url")
        if self.get_option("cmdb_url"):
            wanted["cmdb"] = self.get_option("cmdb_url")
        if not wanted:
            return {}
        use_cache = self.get_option("cache") and cache
        cache_key = self.get_cache_key(path)
        cached = None
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
        if isinstance(cached, Mapping) and cached.get("sources") == wanted:
            return cached["data"]
        data = {}
        if "orthanc" in wanted:
            data["orthanc"] = self._fetch_orthanc()
        if "cmdb" in wanted:
            data["cmdb"] = self._fetch_cmdb()
        if self.get_option("cache"):
            self._cache[cache_key] = {"sources": wanted, "data": data}
        return data

    def _registry_rows(self, path):
        rows = []
        base = os.path.dirname(path)
        for reg in self.get_option("registry_files"):
            full = reg if os.path.isabs(reg) else os.path.join(base, reg)
            lower = full.lower()
            if lower.endswith(".csv"):
                fmt = "csv"
            elif lower.endswith(".json"):
                fmt = "json"
            elif lower.endswith((".yml", ".yaml")):
                fmt = "yaml"
            else:
                raise AnsibleParserError("registry file %s: the name must end with .yml, .yaml, .json or .csv" % reg)
            try:
                with open(full, "r", encoding="utf-8-sig", newline="" if fmt == "csv" else None) as handle:
                    text = handle.read()
            except (IOError, OSError) as exc:
                raise AnsibleParserError("could not read registry file %s: %s" % (full, to_native(exc)))
            for label, row in parse_registry_text(text, fmt, os.path.basename(full)):
                rows.append((label, "registry", row))
        return rows

    # -- building ------------------------------------------------------------------------------------------------

    def _problem(self, action, message):
        if action == "error":
            raise AnsibleParserError("modality inventory: %s" % message)
        self.display.warning("modality inventory: %s" % message)

    def build_devices(self, rows):
        """Normalise rows, report bad rows and duplicates; returns the list of (label, device)."""
        bad_action = self.get_option("bad_row_action")
        dup_action = self.get_option("duplicate_action")
        default_port = self.get_option("default_port")
        default_site = self.get_option("default_site")
        known = DICOM_MODALITIES.union(m.upper() for m in self.get_option("extra_modalities"))
        devices = []
        names = {}
        aets = {}
        for label, source, raw in rows:
            try:
                dev = normalise_row(raw, default_port)
            except BadRow as exc:
                name = row_name(raw)
                self._problem(bad_action, "%s%s %s; row skipped" % (
                    label, " (%s)" % name if name else "", exc))
                continue
            if dev["site"] is None:
                dev["site"] = default_site
            if dev["modality"] not in known:
                dev["unknown_modality"] = True
                self.display.warning("modality inventory: %s (%s) has %s; it goes into group %s" % (
                    label, dev["name"], "an unknown modality code %r" % dev["modality"] if dev["modality"]
                    else "no modality", self.get_option("unknown_modality_group")))
            dev["source"] = source
            if dev["name"] in names:
                self._problem(dup_action, "duplicate host name %s: %s is skipped, %s keeps it" % (
                    dev["name"], label, names[dev["name"]]))
                continue
            names[dev["name"]] = label
            aets.setdefault(dev["ae_title"], []).append(dev["name"])
            devices.append((label, dev))
        for aet, holders in aets.items():
            if len(holders) > 1:
                self._problem(dup_action, "AE title %s is used by several devices: %s" % (aet, ", ".join(holders)))
        return devices

    def _probe(self, devices):
        timeout = self.get_option("probe_timeout")
        workers = max(1, min(self.get_option("probe_workers"), len(devices) or 1))
        calling = self.get_option("probe_calling_ae_title")
        ca_path = self.get_option("probe_ca_path")

        def one(dev):
            try:
                return echo(dev["address"], dev["port"], dev["ae_title"], calling, timeout, tls=dev["tls"],
                            ca_path=ca_path)
            except AnsibleError:
                raise
            except Exception as exc:  # a refused connection, a TLS failure, a name that does not resolve
                return False, None, to_native(exc)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, [dev for _label, dev in devices]))
        for (_label, dev), (ok, elapsed, error) in zip(devices, results):
            dev["reachable"] = bool(ok)
            dev["echo_ms"] = elapsed
            dev["probe_error"] = error

    def populate(self, devices):
        inv = self.inventory
        mod_prefix = self.get_option("modality_group_prefix")
        site_prefix = self.get_option("site_group_prefix")
        unknown_group = self.get_option("unknown_modality_group")
        set_ansible_host = self.get_option("set_ansible_host")
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        cgroups = self.get_option("groups")
        keyed = self.get_option("keyed_groups")
        probed = self.get_option("probe")
        made = set()
        for _label, dev in devices:
            name = make_unsafe(dev["name"])
            hostvars = {
                "dicom_host": dev["address"],
                "dicom_port": dev["port"],
                "dicom_ae_title": dev["ae_title"],
                "dicom_modality": dev["modality"],
                "dicom_tls": dev["tls"],
                "dicom_site": dev["site"],
                "dicom_department": dev["department"],
                "dicom_vendor": dev["vendor"],
                "dicom_model": dev["model"],
                "dicom_source": dev["source"],
            }
            if set_ansible_host:
                hostvars["ansible_host"] = dev["address"]
            if probed:
                hostvars["dicom_reachable"] = dev.get("reachable", False)
                hostvars["dicom_echo_ms"] = dev.get("echo_ms")
                hostvars["dicom_probe_error"] = dev.get("probe_error")
            hostvars = make_unsafe(hostvars)
            mgroup = unknown_group if dev.get("unknown_modality") else mod_prefix + slug(dev["modality"])
            sgroup = site_prefix + slug(dev["site"])
            for group in (mgroup, sgroup):
                if group not in made:
                    inv.add_group(group)
                    made.add(group)
            inv.add_host(name, group=mgroup)
            inv.add_host(name, group=sgroup)
            for key, value in hostvars.items():
                inv.set_variable(name, key, value)
            if compose:
                self._set_composite_vars(compose, hostvars, name, strict=strict)
            if cgroups:
                self._add_host_to_composed_groups(cgroups, hostvars, name, strict=strict)
            if keyed:
                self._add_host_to_keyed_groups(keyed, hostvars, name, strict=strict)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        if yaml is None:  # pragma: no cover
            raise AnsibleError("the modality inventory needs PyYAML")

        rows = self._registry_rows(path)
        remote = self._remote_data(path, cache)
        if "orthanc" in remote:
            for label, row in orthanc_rows(remote["orthanc"], self.get_option("orthanc_site"),
                                           self.get_option("orthanc_name_regex"),
                                           self.get_option("orthanc_devices") or {}):
                rows.append((label, "orthanc", row))
        if "cmdb" in remote:
            for label, row in cmdb_rows(remote["cmdb"], self.get_option("cmdb_url")):
                rows.append((label, "cmdb", row))
        if not self.get_option("registry_files") and not remote:
            raise AnsibleParserError("modality inventory %s: no source; set registry_files, orthanc_url or cmdb_url"
                                     % path)

        devices = self.build_devices(rows)
        if self.get_option("probe") and devices:
            self._probe(devices)
        self.populate(devices)

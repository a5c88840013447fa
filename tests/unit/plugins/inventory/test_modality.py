# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the medimg.imaging.modality inventory plugin: parsing, grouping, bad rows, sources, cache, probe."""

from __future__ import annotations

import json
import socket
import threading

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

from ansible_collections.medimg.imaging.plugins.inventory import modality as mod

REGISTRY = """\
---
defaults:
  site: north
devices:
  - {name: ct-1, address: 10.0.0.1, ae_title: CT1, port: 104, modality: CT, department: er, vendor: Siemens, tls: false}
  - {name: mr-1, address: 10.0.0.2, ae_title: MR1, port: "11112", modality: mr, site: south, tls: "yes"}
  - {address: 10.0.0.3, ae_title: USCART, modality: US}
  - {name: odd-1, address: 10.0.0.4, ae_title: ODD1, modality: ZZ}
  - {name: noaet, address: 10.0.0.5, modality: CT}
  - {name: badport, address: 10.0.0.6, ae_title: BP, port: http, modality: CT}
  - {name: ct-1, address: 10.0.0.7, ae_title: CT1B, modality: CT}
  - {name: ct-2, address: 10.0.0.8, ae_title: CT1, modality: CT, vendor: "{{ lookup('pipe', 'id') }}"}
"""

CSV = """Name,Address,AE Title,Port,Modality,Site,Department,Vendor,Model,TLS
ct-a,192.0.2.1,CTA,104,CT,east,radiology,GE,Revolution,false
mr-a,192.0.2.2,MRA,104,MR,east,radiology,Philips,Ingenia,true
,192.0.2.3,,104,CT,east,,,,
dx-a,192.0.2.4,DXA,99999,DX,east,,,,
"""


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    plugin = inventory_loader.get("medimg.imaging.modality")
    monkeypatch.setattr(plugin.display, "warning", lambda msg, *a, **k: seen.append(msg))
    return seen


def run(tmp_path, config, files=None, cache=True):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    cfg = tmp_path / "test.modality.yml"
    cfg.write_text(config)
    plugin = inventory_loader.get("medimg.imaging.modality")
    inv = InventoryData()
    plugin.parse(inv, DataLoader(), str(cfg), cache=cache)
    if plugin.get_option("cache"):
        plugin.update_cache_if_changed()
    return inv


def hostvars(inv, name):
    return inv.get_host(name).get_vars()


def members(inv, group):
    return sorted(h.name for h in inv.groups[group].get_hosts())


# -- pure helpers -------------------------------------------------------------------------------------------------

def test_normalise_row_aliases_and_defaults():
    dev = mod.normalise_row({"Host": " pacs.local ", "AET": "PACS", "Modality": "ot", "TLS": "true"}, 104)
    assert dev["address"] == "pacs.local"
    assert dev["ae_title"] == "PACS"
    assert dev["port"] == 104
    assert dev["tls"] is True
    assert dev["name"] == "pacs"
    assert dev["modality"] == "OT"
    assert dev["site"] is None


@pytest.mark.parametrize("row, reason", [
    ({"address": "a", "modality": "CT"}, "has no AE title"),
    ({"address": "a", "ae_title": "   ", "modality": "CT"}, "has no AE title"),
    ({"address": "a", "ae_title": "A" * 17}, "has a bad AE title"),
    ({"address": "a", "ae_title": "A\\B"}, "has a bad AE title"),
    ({"ae_title": "A"}, "has no address"),
    ({"address": "a", "ae_title": "A", "port": "http"}, "has a bad port 'http'"),
    ({"address": "a", "ae_title": "A", "port": 0}, "has a bad port 0"),
    ({"address": "a", "ae_title": "A", "port": 70000}, "has a bad port 70000"),
    ({"address": "a", "ae_title": "A", "port": True}, "has a bad port True"),
    ({"address": "a", "ae_title": "A", "tls": "maybe"}, "has a bad tls value"),
    ({"address": "a", "ae_title": "A", "name": "two words"}, "has a bad name"),
    (["not", "a", "mapping"], "is not a mapping"),
])
def test_normalise_row_bad(row, reason):
    with pytest.raises(mod.BadRow, match=reason):
        mod.normalise_row(row, 104)


def test_parse_csv_rows_are_labelled_by_line():
    rows = mod.parse_registry_text(CSV, "csv", "east.csv")
    assert [label for label, _row in rows] == ["east.csv line 2", "east.csv line 3", "east.csv line 4",
                                               "east.csv line 5"]


def test_parse_yaml_defaults_merge():
    rows = mod.parse_registry_text(REGISTRY, "yaml", "r.yml")
    assert rows[0][0] == "r.yml device 1"
    assert rows[0][1]["site"] == "north"
    assert rows[1][1]["site"] == "south"


def test_parse_bad_json_names_the_file():
    with pytest.raises(AnsibleParserError, match="r.json is not valid JSON"):
        mod.parse_registry_text("{not json", "json", "r.json")
    with pytest.raises(AnsibleParserError, match="must hold a list of devices"):
        mod.parse_registry_text('{"hosts": []}', "json", "r.json")


def test_orthanc_rows():
    answer = {
        "CT-NORTH-1": {"AET": "CTN1", "Host": "10.1.1.1", "Port": 104, "Manufacturer": "Generic"},
        "north_mr_2": {"AET": "MRN2", "Host": "10.1.1.2", "Port": 104, "UseDicomTls": True},
        "WORKSTATION": {"AET": "WS", "Host": "10.1.1.3", "Port": 104},
        "legacy": ["LEG", "10.1.1.4", 4242, "Generic"],
    }
    rows = dict((label, row) for label, row in mod.orthanc_rows(
        answer, "north", r"(?i)(?:^|[-_.])(?P<modality>CT|MR|US)(?=[-_.0-9]|$)",
        {"WORKSTATION": {"modality": "OT", "department": "it"}}))
    assert rows["Orthanc modality CT-NORTH-1"]["modality"] == "CT"
    assert rows["Orthanc modality CT-NORTH-1"]["name"] == "ct-north-1"
    assert rows["Orthanc modality north_mr_2"]["modality"].upper() == "MR"
    assert rows["Orthanc modality north_mr_2"]["tls"] is True
    assert rows["Orthanc modality WORKSTATION"]["modality"] == "OT"
    assert rows["Orthanc modality legacy"]["port"] == 4242
    assert "modality" not in rows["Orthanc modality legacy"]


def test_make_unsafe_keeps_values():
    value = mod.make_unsafe({"a": "plain", "b": "{{ x }}", "c": [1, "{% y %}"], "d": None, "e": True})
    assert value == {"a": "plain", "b": "{{ x }}", "c": [1, "{% y %}"], "d": None, "e": True}


# -- whole inventory ----------------------------------------------------------------------------------------------

def test_verify_file():
    plugin = inventory_loader.get("medimg.imaging.modality")
    assert plugin.verify_file(__file__) is False


def test_groups_and_hostvars_from_yaml(tmp_path, warnings):
    inv = run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [reg.yml]\n", {"reg.yml": REGISTRY})
    assert members(inv, "modality_ct") == ["ct-1", "ct-2"]
    assert members(inv, "modality_mr") == ["mr-1"]
    assert members(inv, "modality_us") == ["uscart"]
    assert members(inv, "modality_unknown") == ["odd-1"]
    assert members(inv, "site_north") == ["ct-1", "ct-2", "odd-1", "uscart"]
    assert members(inv, "site_south") == ["mr-1"]
    hv = hostvars(inv, "mr-1")
    assert hv["dicom_port"] == 11112
    assert hv["dicom_tls"] is True
    assert hv["dicom_modality"] == "MR"
    assert hv["dicom_ae_title"] == "MR1"
    assert hv["ansible_host"] == hv["dicom_host"] == "10.0.0.2"
    assert hv["dicom_source"] == "registry"
    assert "dicom_reachable" not in hv
    assert hostvars(inv, "ct-1")["dicom_vendor"] == "Siemens"
    # the first ct-1 keeps its address, the duplicate is skipped
    assert hostvars(inv, "ct-1")["dicom_host"] == "10.0.0.1"
    text = "\n".join(warnings)
    assert "reg.yml device 4 (odd-1) has an unknown modality code 'ZZ'; it goes into group modality_unknown" in text
    assert "reg.yml device 5 (noaet) has no AE title; row skipped" in text
    assert "reg.yml device 6 (badport) has a bad port 'http'" in text
    assert "duplicate host name ct-1: reg.yml device 7 is skipped, reg.yml device 1 keeps it" in text
    assert "AE title CT1 is used by several devices: ct-1, ct-2" in text
    assert "noaet" not in inv.hosts and "badport" not in inv.hosts


def test_values_from_sources_are_not_templated(tmp_path, warnings):
    inv = run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [reg.yml]\n"
                        "compose:\n  vendor_copy: dicom_vendor\n", {"reg.yml": REGISTRY})
    from ansible.template import Templar
    hv = hostvars(inv, "ct-2")
    assert hv["dicom_vendor"] == "{{ lookup('pipe', 'id') }}"
    rendered = Templar(loader=DataLoader(), variables=hv).template(hv["dicom_vendor"])
    assert rendered == "{{ lookup('pipe', 'id') }}"


def test_csv_registry(tmp_path, warnings):
    inv = run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [east.csv]\n", {"east.csv": CSV})
    assert members(inv, "site_east") == ["ct-a", "mr-a"]
    assert hostvars(inv, "mr-a")["dicom_tls"] is True
    assert hostvars(inv, "ct-a")["dicom_model"] == "Revolution"
    text = "\n".join(warnings)
    assert "east.csv line 4 has no AE title; row skipped" in text
    assert "east.csv line 5 (dx-a) has a bad port 99999 (a number from 1 to 65535); row skipped" in text


def test_bad_row_action_error(tmp_path):
    with pytest.raises(AnsibleParserError, match=r"east.csv line 4 has no AE title"):
        run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [east.csv]\nbad_row_action: error\n",
            {"east.csv": CSV})


def test_duplicate_action_error(tmp_path):
    with pytest.raises(AnsibleParserError, match="AE title X is used by several devices: a, b"):
        run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [r.json]\nduplicate_action: error\n",
            {"r.json": json.dumps([{"name": "a", "address": "h1", "ae_title": "X", "modality": "CT"},
                                   {"name": "b", "address": "h2", "ae_title": "X", "modality": "CT"}])})


def test_constructed_and_options(tmp_path, warnings):
    config = """plugin: medimg.imaging.modality
registry_files: [reg.yml]
extra_modalities: [zz]
modality_group_prefix: mod_
site_group_prefix: campus_
set_ansible_host: false
default_site: main
keyed_groups:
  - key: dicom_vendor | default('none', true) | lower
    prefix: vendor
groups:
  secure: dicom_tls
compose:
  dicom_calling_ae_title: "'ANS-' ~ dicom_site | upper"
"""
    reg = ("- {name: a, address: h1, ae_title: A, modality: CT, vendor: GE}\n"
           "- {name: b, address: h2, ae_title: B, modality: ZZ, tls: true}\n")
    inv = run(tmp_path, config, {"reg.yml": reg})
    assert members(inv, "mod_ct") == ["a"]
    assert members(inv, "mod_zz") == ["b"]
    assert members(inv, "campus_main") == ["a", "b"]
    assert members(inv, "vendor_ge") == ["a"]
    assert members(inv, "vendor_none") == ["b"]
    assert members(inv, "secure") == ["b"]
    assert hostvars(inv, "a")["dicom_calling_ae_title"] == "ANS-MAIN"
    assert "ansible_host" not in hostvars(inv, "a")
    assert not warnings


def test_no_source_is_an_error(tmp_path):
    with pytest.raises(AnsibleParserError, match="no source"):
        run(tmp_path, "plugin: medimg.imaging.modality\n")


# -- HTTP sources and the cache -----------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    hits = []
    pages = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        _Handler.hits.append((self.path, self.headers.get("Authorization")))
        body = _Handler.pages.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def http():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = []
    base = "http://127.0.0.1:%d" % server.server_address[1]
    _Handler.pages = {
        "/modalities?expand": {"CT-EAST": {"AET": "CTEAST", "Host": "127.0.0.1", "Port": 104},
                               "ROUTER": {"AET": "ROUTER", "Host": "127.0.0.1", "Port": 105}},
        "/cmdb": {"devices": [{"name": "us-9", "address": "10.9.9.9", "aet": "US9", "modality": "US",
                               "site": "west"}], "next": base + "/cmdb?page=2"},
        "/cmdb?page=2": {"devices": [{"name": "mr-9", "address": "10.9.9.8", "aet": "MR9", "modality": "MR",
                                      "site": "west"}], "next": None},
    }
    yield base
    server.shutdown()
    server.server_close()


def test_orthanc_and_cmdb_sources_with_cache(tmp_path, http, warnings, monkeypatch):
    monkeypatch.setenv("MEDIMG_CMDB_TOKEN", "s3cret")
    monkeypatch.setenv("MEDIMG_ORTHANC_USERNAME", "ansible")
    monkeypatch.setenv("MEDIMG_ORTHANC_PASSWORD", "pw")
    config = """plugin: medimg.imaging.modality
orthanc_url: {base}
orthanc_site: east
cmdb_url: {base}/cmdb
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {cache}
cache_timeout: 600
""".format(base=http, cache=tmp_path / "cache")
    inv = run(tmp_path, config)
    assert members(inv, "modality_ct") == ["ct-east"]
    assert members(inv, "modality_unknown") == ["router"]
    assert members(inv, "site_west") == ["mr-9", "us-9"]
    assert hostvars(inv, "ct-east")["dicom_source"] == "orthanc"
    assert hostvars(inv, "us-9")["dicom_source"] == "cmdb"
    assert len(_Handler.hits) == 3
    assert _Handler.hits[0][1].startswith("Basic ")
    assert _Handler.hits[1][1] == "Bearer s3cret"
    assert any("Orthanc modality ROUTER (router) has no modality" in w for w in warnings)
    # the raw answers come from the cache now: the sources are not asked again
    inv = run(tmp_path, config)
    assert members(inv, "site_west") == ["mr-9", "us-9"]
    assert len(_Handler.hits) == 3
    # a grouping option change needs no new query: the raw data is cached, not the inventory
    inv = run(tmp_path, config + "site_group_prefix: s_\n")
    assert members(inv, "s_east") == ["ct-east", "router"]
    assert len(_Handler.hits) == 3
    # --flush-cache reads the sources again
    run(tmp_path, config, cache=False)
    assert len(_Handler.hits) == 6
    cached = list((tmp_path / "cache").iterdir())
    assert cached and "s3cret" not in cached[0].read_text()


def test_http_error_is_clear(tmp_path, http):
    with pytest.raises(Exception, match="could not read %s/nothing/modalities" % http):
        run(tmp_path, "plugin: medimg.imaging.modality\northanc_url: %s/nothing\n" % http)


def test_cmdb_bad_shape(tmp_path, http):
    _Handler.pages["/bad"] = {"hosts": []}
    with pytest.raises(AnsibleParserError, match="answered neither a list of devices"):
        run(tmp_path, "plugin: medimg.imaging.modality\ncmdb_url: %s/bad\n" % http)


# -- probe against a real pynetdicom peer -------------------------------------------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe(tmp_path):
    pynetdicom = pytest.importorskip("pynetdicom")
    from pynetdicom.sop_class import Verification
    ae = pynetdicom.AE(ae_title="PEER")
    ae.add_supported_context(Verification)
    port = _free_port()
    server = ae.start_server(("127.0.0.1", port), block=False)
    closed = _free_port()
    try:
        reg = json.dumps([
            {"name": "up", "address": "127.0.0.1", "ae_title": "PEER", "port": port, "modality": "CT"},
            {"name": "down", "address": "127.0.0.1", "ae_title": "NONE", "port": closed, "modality": "CT"},
        ])
        inv = run(tmp_path, "plugin: medimg.imaging.modality\nregistry_files: [r.json]\nprobe: true\n"
                            "probe_timeout: 1\nprobe_workers: 2\n", {"r.json": reg})
    finally:
        server.shutdown()
    up, down = hostvars(inv, "up"), hostvars(inv, "down")
    assert up["dicom_reachable"] is True
    assert isinstance(up["dicom_echo_ms"], float) and up["dicom_echo_ms"] >= 0
    assert down["dicom_reachable"] is False
    assert down["dicom_echo_ms"] is None
    assert up["dicom_probe_error"] is None
    assert "127.0.0.1:%d" % closed in down["dicom_probe_error"]

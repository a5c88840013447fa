#!/usr/bin/env bash
# Integration test of the medimg.imaging.modality inventory plugin:
#  1. ansible-inventory --list and --graph against the example inventories/hospital;
#  2. a real Orthanc with DICOM modalities registered through its REST API, and real dcmtk storescp peers, all in a
#     network namespace of their own (Orthanc 1.10.1 and storescp bind every address); ansible-inventory reads
#     Orthanc's /modalities?expand with credentials from the environment and C-ECHOes every device (probe);
#  3. a playbook that runs medimg.imaging.dicom_echo on the modality_ct hosts against those peers.
# Everything started here is stopped on exit.
set -eux

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
# shellcheck disable=SC1091
. "$ROOT/scripts/lib.sh" && activate
export ANSIBLE_INVENTORY_ENABLED=medimg.imaging.modality,yaml
WORK="$(mktemp -d /tmp/medimg-inv-modality.XXXXXX)"
NS="medimg-inv4-$$"
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. the example inventory -----------------------------------------------------------------------------------
EXAMPLE="$ROOT/inventories/hospital/modality.yml"
ansible-inventory -i "$EXAMPLE" --list >"$WORK/list.json"
ansible-inventory -i "$EXAMPLE" --graph >"$WORK/graph.txt"
cat "$WORK/graph.txt"
python - "$WORK/list.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
plain = lambda v: v["__ansible_unsafe"] if isinstance(v, dict) and "__ansible_unsafe" in v else v
hosts = lambda g: sorted(data.get(g, {}).get("hosts", []))
assert hosts("modality_ct") == ["ct-north-1", "ct-north-2", "ct-south-1"], hosts("modality_ct")
assert hosts("modality_mr") == ["mr-north-1", "mr-south-1"]
assert hosts("modality_pacs") == ["pacs-north"]
assert len(hosts("site_north")) == 6 and len(hosts("site_south")) == 5
assert hosts("tls_devices") == ["ct-north-2", "pacs-north"]
hv = data["_meta"]["hostvars"]["ct-north-2"]
for key, want in [("dicom_ae_title", "CTNORTH2"), ("dicom_port", 104), ("dicom_tls", True), ("dicom_modality", "CT"),
                  ("dicom_site", "north"), ("dicom_host", "10.10.1.12"), ("dicom_calling_ae_title", "ANSIBLE-CT"),
                  ("dicom_timeout", 5), ("ansible_connection", "local")]:
    assert plain(hv[key]) == want, (key, hv.get(key))
assert plain(data["_meta"]["hostvars"]["mr-south-1"]["dicom_timeout"]) == 20  # group_vars/modality_mr.yml
print("example inventory: ok")
PY
grep -q -- '--@modality_ct:' "$WORK/graph.txt"
grep -q -- '|--ct-south-1' "$WORK/graph.txt"
ansible-inventory -i "$EXAMPLE" --graph modality_ct | grep -c -- '--ct-' | grep -qx 3

# --- 2. a real Orthanc and real peers in a namespace ------------------------------------------------------------
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
NSX=(ip netns exec "$NS")

mkdir -p "$WORK/orthanc/storage" "$WORK/orthanc/index" "$WORK/scp-ct1" "$WORK/scp-ct2" "$WORK/scp-mr1"
ORTHANC_PASSWORD="pw-$RANDOM-$RANDOM"
cat >"$WORK/orthanc/orthanc.json" <<JSON
{
  "Name": "medimg-inventory-test",
  "StorageDirectory": "$WORK/orthanc/storage",
  "IndexDirectory": "$WORK/orthanc/index",
  "HttpPort": 8042,
  "DicomPort": 4242,
  "DicomAet": "ORTHANC",
  "RemoteAccessAllowed": true,
  "AuthenticationEnabled": true,
  "RegisteredUsers": { "ansible": "$ORTHANC_PASSWORD" },
  "Plugins": []
}
JSON
"${NSX[@]}" /usr/sbin/Orthanc "$WORK/orthanc/orthanc.json" >"$WORK/orthanc/log.txt" 2>&1 &
PIDS+=($!)
# dcmtk peers standing for two CT scanners and an MR console
while read -r aet port dir; do
  TCP_NODELAY=1 "${NSX[@]}" /usr/bin/storescp -aet "$aet" -od "$WORK/$dir" "$port" </dev/null >"$WORK/$dir.log" 2>&1 &
  PIDS+=($!)
done <<'PEERS'
CTPEER1 11201 scp-ct1
CTPEER2 11202 scp-ct2
MRPEER1 11203 scp-mr1
PEERS

for _ in $(seq 1 50); do
  "${NSX[@]}" curl -fsS -u "ansible:$ORTHANC_PASSWORD" http://127.0.0.1:8042/system >/dev/null 2>&1 && break
  sleep 0.2
done
"${NSX[@]}" curl -fsS -u "ansible:$ORTHANC_PASSWORD" http://127.0.0.1:8042/system >/dev/null

# register the modalities through the REST API, as a PACS admin would
register() {
  "${NSX[@]}" curl -fsS -u "ansible:$ORTHANC_PASSWORD" -X PUT "http://127.0.0.1:8042/modalities/$1" \
    -d "{\"AET\": \"$2\", \"Host\": \"127.0.0.1\", \"Port\": $3}" >/dev/null
}
register CT-LAB-1 CTPEER1 11201
register ct_lab_2 CTPEER2 11202
register MR-LAB-1 MRPEER1 11203
register CT-LAB-OFF CTOFF 11299        # registered, but nothing listens
register ROUTER-1 ROUTER 11204         # no modality in its name: the fallback group
register ct-lab-dup CTPEER1 11201      # same AE title as CT-LAB-1: reported

cp "$HERE/orthanc.modality.yml" "$HERE/echo_ct.yml" "$WORK/"
cp -r "$HERE/group_vars" "$WORK/"
# a wrong password is a clear error that does not show the password
if "${NSX[@]}" env ANSIBLE_INVENTORY_ENABLED=medimg.imaging.modality MEDIMG_ORTHANC_USERNAME=ansible \
    MEDIMG_ORTHANC_PASSWORD=wrong-secret ANSIBLE_INVENTORY_UNPARSED_FAILED=true ansible-inventory \
    -i "$WORK/orthanc.modality.yml" --list >"$WORK/bad.json" 2>"$WORK/bad.err"; then
  echo "a wrong Orthanc password was accepted"; exit 1
fi
cat "$WORK/bad.err"
grep -q "could not read http://127.0.0.1:8042/modalities?expand: HTTP Error 401" "$WORK/bad.err"
if grep -q "wrong-secret" "$WORK/bad.err"; then echo "password leaked"; exit 1; fi

export MEDIMG_ORTHANC_USERNAME=ansible MEDIMG_ORTHANC_PASSWORD="$ORTHANC_PASSWORD"
start=$(date +%s%N)
"${NSX[@]}" env ANSIBLE_INVENTORY_ENABLED=medimg.imaging.modality ansible-inventory \
  -i "$WORK/orthanc.modality.yml" --list >"$WORK/orthanc.json" 2>"$WORK/orthanc.err"
echo "inventory with probe of 6 devices: $(( ($(date +%s%N) - start) / 1000000 )) ms"
cat "$WORK/orthanc.err"
grep -q "Orthanc modality ROUTER-1 (router-1) has no modality; it goes into group modality_unknown" "$WORK/orthanc.err"
grep -q "AE title CTPEER1 is used by several devices: ct-lab-1, ct-lab-dup" "$WORK/orthanc.err"
if grep -q "$ORTHANC_PASSWORD" "$WORK/orthanc.json" "$WORK/orthanc.err"; then echo "password leaked"; exit 1; fi
python - "$WORK/orthanc.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
plain = lambda v: v["__ansible_unsafe"] if isinstance(v, dict) and "__ansible_unsafe" in v else v
hosts = lambda g: sorted(data.get(g, {}).get("hosts", []))
hv = data["_meta"]["hostvars"]
assert hosts("modality_ct") == ["ct-lab-1", "ct-lab-2", "ct-lab-dup", "ct-lab-off"], hosts("modality_ct")
assert hosts("modality_mr") == ["mr-lab-1"]
assert hosts("modality_unknown") == ["router-1"]
assert hosts("site_lab") == sorted(hv), hosts("site_lab")
assert hosts("reachable") == ["ct-lab-1", "ct-lab-2", "ct-lab-dup", "mr-lab-1"], hosts("reachable")
for name in ("ct-lab-1", "ct-lab-2", "mr-lab-1"):
    assert plain(hv[name]["dicom_reachable"]) is True and hv[name]["dicom_echo_ms"] > 0, hv[name]
    assert plain(hv[name]["dicom_source"]) == "orthanc"
for name in ("ct-lab-off", "router-1"):
    assert plain(hv[name]["dicom_reachable"]) is False and hv[name]["dicom_echo_ms"] is None, hv[name]
    assert "127.0.0.1:112" in plain(hv[name]["dicom_probe_error"]), hv[name]
assert plain(hv["ct-lab-2"]["dicom_ae_title"]) == "CTPEER2" and hv["ct-lab-2"]["dicom_port"] == 11202
print("orthanc inventory with probe: ok")
PY

# --- 3. dicom_echo on the modality_ct hosts ---------------------------------------------------------------------
"${NSX[@]}" env ANSIBLE_INVENTORY_ENABLED=medimg.imaging.modality ansible-playbook \
  -i "$WORK/orthanc.modality.yml" "$WORK/echo_ct.yml" | tee "$WORK/play.log"
# three reachable CT hosts echoed, the one that does not answer left out by the host pattern
grep -Eq 'ct-lab-1 +: ok=3 ' "$WORK/play.log"
grep -Eq 'ct-lab-2 +: ok=3 ' "$WORK/play.log"
grep -Eq 'ct-lab-dup +: ok=3 ' "$WORK/play.log"
if grep -q 'ct-lab-off' "$WORK/play.log"; then echo "unreachable CT was echoed"; exit 1; fi

#!/usr/bin/env bash
# dicom_store against real peers in a private network namespace: Orthanc (idempotence,
# check mode, diff, invalid files, peer killed during the send) and dcmtk storescp
# (transfer syntax refused/converted, no C-FIND, TLS).
set -eu
. ../setup_dicom_peers/peers.sh
peers_netns "$0" "$@"
set -x

WORK=$(mktemp -d /tmp/medimg-store.XXXXXX)
trap 'peers_cleanup; rm -rf "$WORK"' EXIT
make_certs "$WORK/certs"

# Test data (synthetic, no patient data)
gen_study "$WORK/study" --series 2 --instances 10 >/dev/null
gen_study "$WORK/extra" --series 1 --instances 5 --prefix extra >/dev/null
mkdir -p "$WORK/mixed"
gen_study "$WORK/mixed" --series 1 --instances 3 --prefix mixed >/dev/null
echo "not dicom" >"$WORK/mixed/README.txt"
head -c 4000 "$WORK/mixed/mixed_s01_i0003.dcm" >"$WORK/mixed/truncated.dcm"
rm "$WORK/mixed/mixed_s01_i0003.dcm"
python3 - "$WORK/mixed/no_uid.dcm" "$WORK/mixed/mixed_s01_i0001.dcm" <<'PY'
import sys
from pydicom import dcmread
ds = dcmread(sys.argv[2])
del ds.SOPInstanceUID
ds.file_meta.MediaStorageSOPInstanceUID = ''
ds.save_as(sys.argv[1])
PY
gen_study "$WORK/jpeg" --series 1 --instances 2 --syntax jpeg --prefix jpeg >/dev/null
gen_study "$WORK/big" --series 3 --instances 100 --rows 256 --cols 256 --prefix big >/dev/null

start_orthanc 4242 8042 "$WORK/orthanc"
mkdir -p "$WORK/scp"
STORESCP_OUT="$WORK/scp" start_storescp 11112 +xi
STORESCP_OUT="$WORK/scp-tls" start_storescp 2762 +tls "$WORK/certs/server.key" "$WORK/certs/server.pem" \
  +cf "$WORK/certs/ca.pem" -vc

run_playbook store.yml -e "work=$WORK" "$@"
test "$(orthanc_count 8042)" = 22
# storescp +xi: 20 converted instances and no JPEG
test "$(find "$WORK/scp" -type f | wc -l)" = 20
test "$(find "$WORK/scp-tls" -type f | wc -l)" = 5

# A peer killed during the send, then the re-run stores every instance exactly once.
stop_pid "$ORTHANC_PID"
sleep 2
start_orthanc 4242 8042 "$WORK/orthanc2"
set +e
run_playbook killed.yml -e "work=$WORK" -e phase=first "$@" &
SEND=$!
for _ in $(seq 1 200); do
  n=$(orthanc_count 8042 || echo 0)
  [ "$n" -ge 40 ] && break
  sleep 0.05
done
kill -9 "$ORTHANC_PID"
wait "$SEND"
first=$?
set -e
test "$first" -ne 0   # the first run must fail: instances were not stored
sleep 2
start_orthanc 4242 8042 "$WORK/orthanc2"
before=$(orthanc_count 8042)
echo "Orthanc held $before of 300 after the kill"
run_playbook killed.yml -e "work=$WORK" -e phase=rerun "$@"
test "$(orthanc_count 8042)" = 300

#!/usr/bin/env bash
# ahi_import and ahi_import_info against moto_server (S3) and the local HealthImaging emulator,
# both on free 127.0.0.1 ports, stopped on exit; then the ingestion playbook end to end.
set -eux
cd "$(dirname "$0")"
# shellcheck source=../setup_ahi_emulator/peers.sh
. ../setup_ahi_emulator/peers.sh

DATA="$AHI_WORK/data"
python ../setup_ahi_emulator/make_dicom.py "$DATA/good" --count 3
python ../setup_ahi_emulator/make_dicom.py "$DATA/mixed" --count 2 --bad 1
python ../setup_ahi_emulator/make_dicom.py "$DATA/ingest/study-1" --count 4

ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python)" tests.yml -e "ahi_data_dir=$DATA" -e "ahi_emulator_url=$AHI_EMULATOR_URL" "$@"

# The ingestion playbook of the collection, end to end, run twice: the second run uploads
# nothing and starts no job.
DS=$(python - <<PY
import json, urllib.request
req = urllib.request.Request("$AHI_EMULATOR_URL/_emulator/datastore", data=json.dumps({"datastoreName": "ingest"}).encode(), method="POST")
print(json.load(urllib.request.urlopen(req))["datastoreId"])
PY
)
for run in 1 2; do
  ansible-playbook -i localhost, -e "ansible_python_interpreter=$(command -v python)" medimg.imaging.ahi_ingest \
    -e "ahi_ingest_source_dir=$DATA/ingest/study-1" -e ahi_ingest_input_bucket=medimg-inbox \
    -e ahi_ingest_output_s3_uri=s3://medimg-results/ingest/ -e "ahi_ingest_datastore_id=$DS" \
    -e ahi_ingest_role_arn=arn:aws:iam::123456789012:role/ahi-import -e ahi_ingest_poll_interval=1 \
    | tee "$AHI_WORK/ingest-$run.log"
  grep -q "4 of 4 files imported, 0 failed" "$AHI_WORK/ingest-$run.log"
done
grep -Eq "localhost *: ok=[0-9]+ +changed=0 " "$AHI_WORK/ingest-2.log"

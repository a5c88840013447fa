#!/usr/bin/env bash
# dicom_find against Orthanc in a private network namespace.
set -eu
. ../setup_dicom_peers/peers.sh
peers_netns "$0" "$@"
set -x

WORK=$(mktemp -d /tmp/medimg-find.XXXXXX)
trap 'peers_cleanup; rm -rf "$WORK"' EXIT
STUDY=$(gen_study "$WORK/study" --series 2 --instances 4)
start_orthanc 4242 8042 "$WORK/orthanc"
STORESCP_OUT="$WORK/scp" start_storescp 11112
run_playbook find.yml -e "work=$WORK" -e "study_uid=$STUDY" "$@"

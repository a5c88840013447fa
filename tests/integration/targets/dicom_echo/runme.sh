#!/usr/bin/env bash
# dicom_echo against real peers: Orthanc (AE checks) and dcmtk storescp (plain and TLS),
# in a private network namespace.
set -eu
. ../setup_dicom_peers/peers.sh
peers_netns "$0" "$@"
set -x

WORK=$(mktemp -d /tmp/medimg-echo.XXXXXX)
trap 'peers_cleanup; rm -rf "$WORK"' EXIT
make_certs "$WORK/certs"
start_orthanc 4242 8042 "$WORK/orthanc"
STORESCP_OUT="$WORK/scp" start_storescp 11112
mkdir -p "$WORK/scp-tls"
STORESCP_OUT="$WORK/scp-tls" start_storescp 2762 +tls "$WORK/certs/server.key" "$WORK/certs/server.pem" \
  +cf "$WORK/certs/ca.pem" -vc
run_playbook echo.yml -e "certs=$WORK/certs" "$@"

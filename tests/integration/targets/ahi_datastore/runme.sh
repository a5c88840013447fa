#!/usr/bin/env bash
# ahi_datastore and ahi_datastore_info against the local HealthImaging emulator (and moto_server,
# started by the shared setup), both on free 127.0.0.1 ports, stopped on exit.
set -eux
cd "$(dirname "$0")"
export AHI_EMULATOR_ARGS="--datastore-seconds 2"
# shellcheck source=../setup_ahi_emulator/peers.sh
. ../setup_ahi_emulator/peers.sh
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python)" \
  -e "ahi_emulator_url=$AHI_EMULATOR_URL" tests.yml "$@"

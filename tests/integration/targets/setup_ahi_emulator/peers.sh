# shellcheck shell=bash
# Sourced by the HealthImaging integration targets: starts moto_server (S3) and the local
# HealthImaging emulator on free 127.0.0.1 ports, points AWS clients at them through the
# per-service endpoint variables, and stops both when the sourcing script exits.
# Extra emulator options may be given in AHI_EMULATOR_ARGS.

AHI_SETUP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AHI_WORK="$(mktemp -d /tmp/medimg-ahi.XXXXXX)"
AHI_PIDS=()

ahi_stop_peers() {
  local pid
  for pid in "${AHI_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${AHI_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$AHI_WORK"
}
trap ahi_stop_peers EXIT

ahi_free_port() {
  python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ahi_wait_http() {  # url, seconds
  local _
  for _ in $(seq 1 $(( $2 * 5 ))); do
    curl -s -o /dev/null --noproxy '*' "$1" && return 0
    sleep 0.2
  done
  echo "no answer from $1" >&2
  return 1
}

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_URL AWS_ENDPOINT_URL
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

MOTO_PORT=$(ahi_free_port)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$AHI_WORK/moto.log" 2>&1 &
AHI_PIDS+=($!)
ahi_wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" 30

# shellcheck disable=SC2086
python "$AHI_SETUP_DIR/ahi_emulator.py" --port-file "$AHI_WORK/emulator.port" \
  --s3-endpoint "http://127.0.0.1:$MOTO_PORT" ${AHI_EMULATOR_ARGS:-} >"$AHI_WORK/emulator.log" 2>&1 &
AHI_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$AHI_WORK/emulator.port" ] && break; sleep 0.2; done
AHI_PORT=$(cat "$AHI_WORK/emulator.port")
ahi_wait_http "http://127.0.0.1:$AHI_PORT/_emulator/stats" 10

export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_MEDICAL_IMAGING="http://127.0.0.1:$AHI_PORT"
export AHI_EMULATOR_URL="http://127.0.0.1:$AHI_PORT"
export AHI_WORK

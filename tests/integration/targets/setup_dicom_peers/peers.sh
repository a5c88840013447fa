#!/usr/bin/env bash
# Shared helpers for the DICOM integration targets (sourced by their runme.sh).
# Real peers only: dcmtk storescp and Orthanc (Debian packages), in a private network
# namespace so that nothing they bind is reachable from outside the test.
#   peers_netns "$0" "$@"     re-run the calling script inside a fresh network namespace
#   start_storescp PORT [ARGS...]    dcmtk storescp (TCP_NODELAY=1), sets STORESCP_PID
#   start_orthanc DICOM_PORT HTTP_PORT DIR [EXTRA_JSON]   sets ORTHANC_PID
#   stop_pid PID          stops one process started here
#   orthanc_count HTTP_PORT   prints the number of instances Orthanc holds
#   make_certs DIR        CA, server cert for localhost/127.0.0.1, client cert, a second (wrong) CA
#   gen_study DIR ARGS    generates a synthetic study (no patient data), see gen_study.py
PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEER_PIDS=()

peers_netns() {
  if [ -z "${MEDIMG_IN_NETNS:-}" ]; then
    local ns="medimg-i3-$$-$RANDOM" rc=0
    ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
    MEDIMG_IN_NETNS="$ns" ip netns exec "$ns" "$@" || rc=$?
    ip netns del "$ns" || true
    exit "$rc"
  fi
}

peers_cleanup() {
  local pid
  for pid in "${PEER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PEER_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PEER_PIDS=()
}

wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on port $port" >&2
  return 1
}

start_storescp() {
  local port=$1; shift
  local out="${STORESCP_OUT:-$(mktemp -d)}"
  mkdir -p "$out"
  TCP_NODELAY=1 /usr/bin/storescp --output-directory "$out" --aetitle STORESCP "$@" "$port" >"$out.log" 2>&1 &
  STORESCP_PID=$!
  PEER_PIDS+=("$STORESCP_PID")
  wait_port "$port"
}

start_orthanc() {
  local dport=$1 hport=$2 dir=$3 extra=${4:-}
  mkdir -p "$dir/config" "$dir/storage"
  cat >"$dir/config/orthanc.json" <<JSON
{
  "Name": "medimg-test",
  "StorageDirectory": "$dir/storage",
  "IndexDirectory": "$dir/storage",
  "DicomAet": "ORTHANC",
  "DicomPort": $dport,
  "HttpPort": $hport,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": true,
  "DicomAlwaysAllowEcho": false,
  "DicomAlwaysAllowStore": false,
  "DicomAlwaysAllowFind": false,
  "DicomModalities": { "ansible": ["ANSIBLE", "127.0.0.1", 104] },
  "StableAge": 1,
  "Plugins": []${extra:+,
  $extra}
}
JSON
  TCP_NODELAY=1 /usr/sbin/Orthanc --logdir="$dir" "$dir/config" >"$dir/stdout.log" 2>&1 &
  ORTHANC_PID=$!
  PEER_PIDS+=("$ORTHANC_PID")
  wait_port "$hport" && wait_port "$dport"
}

stop_pid() {
  local pid=$1 sig=${2:-TERM}
  kill "-$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

orthanc_count() {
  curl -sf "http://127.0.0.1:$1/statistics" | python3 -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])'
}

make_certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=medimg test CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wrong CA" -keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
    openssl req -newkey rsa:2048 -subj "/CN=ansible" -passout pass:s3cret -keyout client.key -out client.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null
  )
}

gen_study() {
  python3 "$PEERS_DIR/gen_study.py" "$@"
}

# ansible-playbook on localhost with the interpreter that has pynetdicom (the active venv).
run_playbook() {
  ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$(command -v python3)" "$@"
}

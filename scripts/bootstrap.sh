#!/usr/bin/env bash
# Install everything the demo and the tests need on a fresh Debian 12 machine:
# Debian packages, a running Docker engine, the Python virtual environment with
# pinned tools, the collection link tree and the local base images.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_debian_packages() {
  local missing=()
  while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done < <(sed 's/#.*//' "$REPO_ROOT/requirements/debian.txt")
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  # Packages such as orthanc start their service on install; the tests start their
  # own instances on loopback, so keep daemons from starting during installs.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 0755 "$policy"; created_policy=1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && rm -f "$policy"
  # Debian's orthanc init script would start a system-wide PACS on every address.
  if [ -x /etc/init.d/orthanc ] && command -v update-rc.d >/dev/null; then
    update-rc.d orthanc disable >/dev/null 2>&1 || true
  fi
}

start_docker() {
  if docker info >/dev/null 2>&1; then
    log "Docker engine running"
    return
  fi
  log "starting the Docker engine"
  setsid nohup dockerd >/var/log/medimg-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "dockerd did not start; see /var/log/medimg-dockerd.log" >&2
  tail -20 /var/log/medimg-dockerd.log >&2
  exit 1
}

python_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum <"$REPO_ROOT/requirements/dev.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "Python environment up to date ($VENV)"
    return
  fi
  local py="${MEDIMG_PYTHON:-}"
  if [ -z "$py" ]; then
    for cand in python3.11 python3; do
      command -v "$cand" >/dev/null && { py=$(command -v "$cand"); break; }
    done
  fi
  log "creating the Python environment with $("$py" --version) in $VENV"
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO_ROOT/requirements/dev.txt" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$want" >"$stamp"
}

# ansible-test sanity installs its own pinned checkers (pylint, yamllint, voluptuous...):
# they get a virtual environment of their own so they never clash with the tools in .venv.
sanity_venv() {
  local core want stamp="$SANITY_VENV/.ansible-core"
  core=$(grep -E '^ansible-core==' "$REPO_ROOT/requirements/dev.txt")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$core" ]; then
    log "ansible-test environment up to date ($SANITY_VENV)"
    return
  fi
  log "creating the ansible-test environment in $SANITY_VENV"
  [ -x "$SANITY_VENV/bin/python" ] || "$VENV/bin/python" -m venv "$SANITY_VENV" 2>/dev/null \
    || "$(command -v python3.11 || command -v python3)" -m venv "$SANITY_VENV"
  "$SANITY_VENV/bin/pip" install -q --disable-pip-version-check "$core" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$core" >"$stamp"
}

# ansible-test bootstraps pip in its test environments with a script from a host the build
# machines cannot reach; put a local stand-in where it looks first.
sanity_get_pip() {
  local version
  version=$(grep -hoE "pip='[0-9.]+'" "$SANITY_VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | grep -oE '[0-9.]+[0-9]')
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 "$REPO_ROOT/scripts/ansible-test/get_pip.py" "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

collection_link() {
  mkdir -p "$COLLECTIONS_ROOT/ansible_collections/medimg"
  ln -sfn "$REPO_ROOT" "$COLLECTIONS_ROOT/ansible_collections/medimg/imaging"
}

install_debian_packages
start_docker
python_venv
sanity_venv
sanity_get_pip
collection_link
log "local base images"
"$REPO_ROOT/scripts/build-images.sh"
log "bootstrap done"

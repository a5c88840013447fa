# Shared helpers for scripts/*.sh. Sourced, not run.
# shellcheck shell=bash
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEDIMG_VENV:-$REPO_ROOT/.venv}"
export SANITY_VENV="${MEDIMG_SANITY_VENV:-$VENV-sanity}"
CACHE="$REPO_ROOT/.cache"
# The collection is made visible to Ansible as medimg.imaging through a link tree.
COLLECTIONS_ROOT="$CACHE/collections"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

activate() {
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_ROOT:$VENV/lib/python3.11/site-packages"
  export ANSIBLE_ROLES_PATH="$REPO_ROOT/roles"
  export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
  export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
  export PYTHONPATH="$COLLECTIONS_ROOT${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONDONTWRITEBYTECODE=1
  # dcmtk tools are called by full path: pynetdicom installs apps of the same names in the venv.
  export DCMTK_BIN=/usr/bin
}

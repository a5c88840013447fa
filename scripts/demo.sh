#!/usr/bin/env bash
# The local demo site: installs what is needed, builds and installs the collection
# from its tarball, starts the site's containers and runs medimg.imaging.site on them.
#   scripts/demo.sh        set up (or update) and check the demo site
#   scripts/demo.sh down   remove the demo containers
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-up}" = down ]; then
  ids=$(docker ps -aq --filter label=medimg.demo=true 2>/dev/null || true)
  # shellcheck disable=SC2086 # one container id a word
  [ -n "$ids" ] && docker rm -f $ids >/dev/null
  rm -rf "$CACHE/demo"
  log "demo site removed"
  exit 0
fi

"$REPO_ROOT/scripts/bootstrap.sh"
activate
DEMO="$CACHE/demo"
mkdir -p "$DEMO/collections"
log "building and installing the collection from its tarball"
(cd "$REPO_ROOT" && ansible-galaxy collection build --force --output-path "$DEMO" >/dev/null)
ansible-galaxy collection install --force --offline --no-deps -p "$DEMO/collections" "$DEMO"/medimg-imaging-*.tar.gz >/dev/null
# Use the installed tarball, not the source tree, for the site playbook.
export ANSIBLE_COLLECTIONS_PATH="$DEMO/collections:$VENV/lib/python3.11/site-packages"
unset ANSIBLE_ROLES_PATH
cd "$REPO_ROOT/inventories/demo"
log "starting the demo site's containers"
ansible-playbook -i hosts.yml up.yml
log "running medimg.imaging.site against the demo site"
ansible-playbook -i hosts.yml medimg.imaging.site
log "checking the demo site"
ansible-playbook -i hosts.yml check.yml
log "demo site is up; remove it with: scripts/demo.sh down"

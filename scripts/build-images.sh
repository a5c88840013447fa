#!/usr/bin/env bash
# Build the local Debian base images that Molecule and the demo site use.
# No container registry is reachable from the build machines, so the images are
# made from Debian's packages with debootstrap and imported into Docker.
# An image that already exists is kept; set MEDIMG_REBUILD_IMAGES=1 to rebuild.
set -euo pipefail

MIRROR="${MEDIMG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITES="${MEDIMG_IMAGE_SUITES:-bookworm trixie}"
# Bump when the package list changes so stale images are rebuilt.
RECIPE=2
PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,ca-certificates,iproute2,procps,sudo,gnupg"

build() {
  local suite=$1 name="medimg/debian:$1"
  if [ "${MEDIMG_REBUILD_IMAGES:-0}" != 1 ] && \
     [ "$(docker image inspect -f '{{ index .Config.Labels "medimg.recipe" }}' "$name" 2>/dev/null)" = "$RECIPE" ]; then
    echo "image $name present (recipe $RECIPE)"
    return 0
  fi
  if ! curl -fsI "$MIRROR/dists/$suite/Release" >/dev/null 2>&1; then
    echo "mirror $MIRROR does not serve $suite: skipping $name"
    return 0
  fi
  local root
  root=$(mktemp -d "/var/tmp/medimg-$suite.XXXXXX")
  echo "building $name from $MIRROR (debootstrap)"
  debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" "$MIRROR" >"$root.log" 2>&1 \
    || { tail -20 "$root.log"; rm -rf "$root"; return 1; }
  # Keep apt lists so roles can install without an update first; drop caches.
  rm -rf "$root"/var/cache/apt/archives/*.deb
  # systemd in a container: no getty, no udev triggers that cannot work there.
  rm -f "$root"/etc/systemd/system/getty.target.wants/* "$root"/lib/systemd/system/multi-user.target.wants/getty.target
  echo "$suite" >"$root/etc/hostname"
  tar -C "$root" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    -c "LABEL medimg.recipe=$RECIPE" - "$name" >/dev/null
  rm -rf "$root" "$root.log"
  echo "built $name"
}

for s in $SUITES; do build "$s"; done

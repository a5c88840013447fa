#!/usr/bin/env bash
# Renders the monitoring role's Prometheus, Alertmanager and Grafana files for a site of several
# hosts (no containers), then checks them with promtool/amtool and asserts the scrape targets built
# from the inventory groups and the Alertmanager routes by site and severity.
set -eux
here=$(cd "$(dirname "$0")" && pwd)
role=$(cd "$here/../../../../roles/monitoring" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/inventory/group_vars"
cp "$here/inventory.yml" "$work/inventory/hosts.yml"
cp "$here/group_vars/"*.yml "$work/inventory/group_vars/"
# The role's defaults and internal vars at the lowest inventory precedence (group "all"),
# so the inventory's own values win as they do when the role runs.
cat "$role/defaults/main.yml" > "$work/inventory/group_vars/all.yml"
grep -v '^---' "$role/vars/main.yml" >> "$work/inventory/group_vars/all.yml"

ansible-playbook -i "$work/inventory" "$here/render.yml" -e "render_dir=$work/out" -e "role_dir=$role" -v
ansible-playbook -i "$work/inventory" "$here/check.yml" -e "render_dir=$work/out" -e "role_dir=$role" -v

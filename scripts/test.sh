#!/usr/bin/env bash
# The project's one test command: installs what is missing (scripts/bootstrap.sh),
# then runs every check and ends with one summary line of counts.
#   scripts/test.sh                 all steps
#   scripts/test.sh unit molecule   only these steps (lint sanity unit integration molecule package)
#   MOLECULE_SCENARIOS="harness"    only these Molecule scenarios
set -uo pipefail
. "$(dirname "$0")/lib.sh"

ALL_STEPS=(lint sanity unit integration molecule package)
STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=("${ALL_STEPS[@]}")
LOGDIR="$CACHE/test-logs"
mkdir -p "$LOGDIR"

declare -A RESULT COUNT SECONDS_TAKEN
FAILED=0

run_step() {
  local name=$1 start rc
  log "step $name"
  start=$(date +%s)
  "step_$name"
  rc=$?
  SECONDS_TAKEN[$name]=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then RESULT[$name]=passed; else RESULT[$name]=FAILED; FAILED=$((FAILED + 1)); fi
  log "step $name ${RESULT[$name]} in ${SECONDS_TAKEN[$name]}s (${COUNT[$name]:-})"
}

step_lint() {
  local out="$LOGDIR/lint.log" rc
  (cd "$REPO_ROOT" && ansible-lint --offline --profile production) >"$out" 2>&1
  rc=$?
  tail -25 "$out"
  COUNT[lint]="$(grep -Eo '[0-9]+ failure\(s\), [0-9]+ warning\(s\)' "$out" | tail -1 || true) in $(grep -Eo 'in [0-9]+ files' "$out" | tail -1 | cut -d' ' -f2) files"
  return $rc
}

# ansible-test wants the collection at ansible_collections/medimg/imaging: copy the
# files git knows (tracked and not ignored) into such a tree.
# The tree lies outside the checkout (whose .gitignore would hide it) and is a git
# repository of its own, so ansible-test sees exactly these files.
collection_tree() {
  local base dest
  base=$(mktemp -d /tmp/medimg-ansible-test.XXXXXX)
  dest="$base/ansible_collections/medimg/imaging"
  mkdir -p "$dest"
  (cd "$REPO_ROOT" && git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/")
  (cd "$dest" && git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm tree)
  # The collections galaxy.yml depends on (amazon.aws for the HealthImaging modules...) must
  # sit beside the collection under test for the import test: link them from the venv.
  local dep
  while read -r dep; do
    [ -d "$VENV/lib/python3.11/site-packages/ansible_collections/$dep" ] || continue
    mkdir -p "$base/ansible_collections/${dep%/*}"
    ln -s "$VENV/lib/python3.11/site-packages/ansible_collections/$dep" "$base/ansible_collections/$dep"
  done < <(sed -n '/^dependencies:/,/^[a-z]/s/^  \([a-z_]*\)\.\([a-z_]*\):.*/\1\/\2/p' "$REPO_ROOT/galaxy.yml")
  echo "$dest"
}

step_sanity() {
  local tree out="$LOGDIR/sanity.log" rc
  tree=$(collection_tree)
  (cd "$tree" && PATH="$SANITY_VENV/bin:$PATH" && unset PYTHONPATH &&
    ansible-test sanity --requirements --python 3.11 --color no) >"$out" 2>&1
  rc=$?
  rm -rf "${tree%/ansible_collections/medimg/imaging}"
  grep -E '^(Running sanity test|ERROR|FATAL|WARNING: Skipping)' "$out" | tail -60
  COUNT[sanity]="$(grep -c '^Running sanity test' "$out") tests, $(grep -c '^ERROR' "$out") errors"
  grep -q '^Running sanity test' "$out" || { echo "ansible-test ran no sanity test"; tail -20 "$out"; return 1; }
  return $rc
}

step_unit() {
  local out="$LOGDIR/unit.log" rc
  (cd "$REPO_ROOT" && python -m pytest -q -p no:cacheprovider tests/unit) >"$out" 2>&1
  rc=$?
  tail -15 "$out"
  COUNT[unit]=$(tail -1 "$out" | grep -Eo '[0-9]+ (passed|failed)(, [0-9]+ (failed|skipped|error))*' || echo "no tests")
  [ $rc -eq 5 ] && { echo "no unit tests collected"; return 1; }
  return $rc
}

# Each integration target is a folder under tests/integration/targets with a runme.sh
# (start real peers, run ansible-playbook, stop the peers) or a tasks/main.yml.
step_integration() {
  local t name passed=0 failed=0 names=()
  for t in "$REPO_ROOT"/tests/integration/targets/*/; do
    [ -d "$t" ] || continue
    name=$(basename "$t")
    case "$name" in setup_*|prepare_*) continue ;; esac
    if [ -n "${INTEGRATION_TARGETS:-}" ] && ! grep -qw "$name" <<<"$INTEGRATION_TARGETS"; then continue; fi
    names+=("$name")
  done
  for name in "${names[@]}"; do
    t="$REPO_ROOT/tests/integration/targets/$name"
    local out="$LOGDIR/integration-$name.log" start rc
    start=$(date +%s)
    if [ -x "$t/runme.sh" ]; then
      (cd "$t" && ./runme.sh) >"$out" 2>&1
    else
      (cd "$t" && ansible-playbook -i localhost, -c local /dev/stdin <<<"- hosts: localhost
  gather_facts: false
  roles: [{role: '$t'}]") >"$out" 2>&1
    fi
    rc=$?
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "  target $name passed ($(( $(date +%s) - start ))s)"
    else failed=$((failed + 1)); echo "  target $name FAILED ($(( $(date +%s) - start ))s), last lines of $out:"; tail -40 "$out"; fi
  done
  COUNT[integration]="$passed targets passed, $failed failed"
  [ $((passed + failed)) -gt 0 ] || { echo "no integration targets"; return 1; }
  [ $failed -eq 0 ]
}

step_molecule() {
  local s name passed=0 failed=0
  for s in "$REPO_ROOT"/extensions/molecule/*/molecule.yml; do
    [ -f "$s" ] || continue
    name=$(basename "$(dirname "$s")")
    if [ -n "${MOLECULE_SCENARIOS:-}" ] && ! grep -qw "$name" <<<"$MOLECULE_SCENARIOS"; then continue; fi
    local out="$LOGDIR/molecule-$name.log" start rc
    start=$(date +%s)
    # One Docker engine is shared by everyone on the machine: one suite at a time.
    (cd "$REPO_ROOT/extensions" && flock /tmp/medimg-molecule.lock molecule test -s "$name") >"$out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "  scenario $name passed ($(( $(date +%s) - start ))s)"
    else failed=$((failed + 1)); echo "  scenario $name FAILED ($(( $(date +%s) - start ))s), last lines of $out:"; tail -60 "$out"; fi
  done
  COUNT[molecule]="$passed scenarios passed, $failed failed"
  [ $((passed + failed)) -gt 0 ] || { echo "no Molecule scenarios"; return 1; }
  [ $failed -eq 0 ]
}

step_package() {
  local out="$LOGDIR/package.log" build="$CACHE/package" rc=0 n=0 plugin type
  rm -rf "$build"; mkdir -p "$build/collections"
  {
    (cd "$REPO_ROOT" && ansible-galaxy collection build --force --output-path "$build") &&
    ansible-galaxy collection install --force --offline --no-deps -p "$build/collections" "$build"/medimg-imaging-*.tar.gz
  } >"$out" 2>&1 || { cat "$out"; return 1; }
  echo "built $(basename "$build"/medimg-imaging-*.tar.gz) ($(du -k "$build"/medimg-imaging-*.tar.gz | cut -f1) KiB)"
  # The tarball must not carry tests or Molecule scenarios, and must carry EDA content.
  if tar -tzf "$build"/medimg-imaging-*.tar.gz | grep -Eq '^(tests|extensions/molecule)/'; then
    echo "the tarball carries tests or Molecule scenarios"; rc=1
  fi
  local installed="$build/collections/ansible_collections/medimg/imaging" file
  for type in module inventory; do
    for file in "$installed/plugins/${type/module/modules}"/*.py; do
      [ -f "$file" ] || continue
      plugin=$(basename "$file" .py)
      [ "${plugin#__}" = "$plugin" ] || continue
      if ANSIBLE_COLLECTIONS_PATH="$build/collections:$VENV/lib/python3.11/site-packages" \
         ansible-doc -t "$type" "medimg.imaging.$plugin" >"$LOGDIR/doc-$type-$plugin.txt" 2>&1 \
         && grep -q '^EXAMPLES' "$LOGDIR/doc-$type-$plugin.txt"; then
        n=$((n + 1)); echo "  ansible-doc -t $type medimg.imaging.$plugin: ok"
      else
        echo "  ansible-doc -t $type medimg.imaging.$plugin: FAILED"; cat "$LOGDIR/doc-$type-$plugin.txt"; rc=1
      fi
    done
  done
  for role in "$installed"/roles/*/; do
    [ -d "$role" ] || continue
    role=$(basename "$role")
    if ANSIBLE_COLLECTIONS_PATH="$build/collections:$VENV/lib/python3.11/site-packages" \
       ansible-doc -t role "medimg.imaging.$role" >"$LOGDIR/doc-role-$role.txt" 2>&1; then
      n=$((n + 1)); echo "  ansible-doc -t role medimg.imaging.$role: ok"
    else
      echo "  ansible-doc -t role medimg.imaging.$role: FAILED"; cat "$LOGDIR/doc-role-$role.txt"; rc=1
    fi
  done
  COUNT[package]="$n plugins and roles documented"
  return $rc
}

total_start=$(date +%s)
boot_start=$total_start
if [ "${MEDIMG_SKIP_BOOTSTRAP:-0}" != 1 ]; then
  "$REPO_ROOT/scripts/bootstrap.sh" || { echo "summary: bootstrap failed"; exit 1; }
fi
boot_time=$(( $(date +%s) - boot_start ))
activate

for s in "${STEPS[@]}"; do run_step "$s"; done

echo
echo "where the time went:"
printf '  %-12s %6ss\n' bootstrap "$boot_time"
for s in "${STEPS[@]}"; do printf '  %-12s %6ss  %-7s %s\n' "$s" "${SECONDS_TAKEN[$s]}" "${RESULT[$s]}" "${COUNT[$s]:-}"; done
printf '  %-12s %6ss\n' total "$(( $(date +%s) - total_start ))"
line=""
for s in "${STEPS[@]}"; do line+="${line:+; }$s ${RESULT[$s]} (${COUNT[$s]:-})"; done
echo "summary: $(( ${#STEPS[@]} - FAILED )) passed, $FAILED failed — $line"
[ $FAILED -eq 0 ]

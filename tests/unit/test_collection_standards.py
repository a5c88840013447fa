# -*- coding: utf-8 -*-
# Copyright: medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own rules, checked on every role, module and Molecule scenario.

These are the conventions that reviews kept asking for: role variables prefixed and
described in argument_specs that match defaults, modules documenting check and diff
mode, templates carrying ansible_managed, scenarios that verify and never reach Galaxy.
"""

from __future__ import annotations

import ast
import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
MODULES = sorted(p for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
SCENARIOS = sorted(p.parent for p in (ROOT / "extensions" / "molecule").glob("*/molecule.yml"))


def _load(path: pathlib.Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _module_doc(path: pathlib.Path) -> dict:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant):
                docs[node.targets[0].id] = node.value.value
    return docs


def test_there_is_something_to_check():
    assert ROLES, "no roles found"
    assert SCENARIOS, "no Molecule scenarios found"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_argument_specs_match_defaults(role):
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    assert specs_file.is_file(), f"{role.name} has no meta/argument_specs.yml"
    defaults = _load(defaults_file) if defaults_file.is_file() else {}
    options = _load(specs_file)["argument_specs"]["main"].get("options", {})

    unprefixed = [k for k in list(defaults) + list(options) if not k.startswith(role.name + "_")]
    assert not unprefixed, f"{role.name}: variables not prefixed with '{role.name}_': {unprefixed}"
    assert set(defaults) == set(options), (
        f"{role.name}: defaults and argument_specs differ: "
        f"only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in argument_specs {sorted(set(options) - set(defaults))}"
    )
    for name, spec in options.items():
        assert spec.get("description"), f"{role.name}: {name} has no description"
        assert "type" in spec, f"{role.name}: {name} has no type"
        if "default" in spec:
            assert spec["default"] == defaults[name], (
                f"{role.name}: {name} defaults to {defaults[name]!r} but argument_specs says {spec['default']!r}"
            )


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_templates_carry_ansible_managed(role):
    for template in (role / "templates").rglob("*.j2") if (role / "templates").is_dir() else []:
        text = template.read_text(encoding="utf-8")
        # JSON has no comments: a JSON template says so in a key instead.
        if template.name.endswith(".json.j2"):
            continue
        head = "\n".join(text.splitlines()[:2])
        assert "ansible_managed" in head, f"{template.relative_to(ROOT)} does not start with ansible_managed"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.stem)
def test_module_documents_check_and_diff_mode(module):
    docs = _module_doc(module)
    for key in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
        assert docs.get(key, "").strip(), f"{module.name} has no {key}"
    doc = yaml.safe_load(docs["DOCUMENTATION"])
    attributes = doc.get("attributes", {})
    fragments = doc.get("extends_documentation_fragment", [])
    has_fragment_attrs = any("attributes" in f for f in fragments)
    assert has_fragment_attrs or {"check_mode", "diff_mode"} <= set(attributes), (
        f"{module.name} documents no check_mode/diff_mode attributes"
    )
    assert yaml.safe_load(docs["EXAMPLES"]), f"{module.name}: EXAMPLES is not YAML"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_molecule_scenario_verifies_and_stays_offline(scenario):
    config = _load(scenario / "molecule.yml")
    assert config.get("dependency", {}).get("enabled") is False, f"{scenario.name}: Galaxy dependency step not disabled"
    sequence = config.get("scenario", {}).get("test_sequence", [])
    for step in ("converge", "idempotence", "verify"):
        assert step in sequence, f"{scenario.name}: test_sequence lacks {step}"
    verify = scenario / "verify.yml"
    assert verify.is_file(), f"{scenario.name} has no verify.yml"
    plays = _load(verify)
    asserts = [
        task
        for play in plays
        for task in play.get("tasks", [])
        if "ansible.builtin.assert" in task or "assert" in task
    ]
    assert asserts, f"{scenario.name}: verify.yml asserts nothing"
    for task in asserts:
        that = (task.get("ansible.builtin.assert") or task.get("assert"))["that"]
        that = that if isinstance(that, list) else [that]
        assert all(str(cond).strip() not in ("true", "True") for cond in that), (
            f"{scenario.name}: an assert in verify.yml checks a constant"
        )
    for platform in config.get("platforms", []):
        for port in platform.get("published_ports", []):
            assert str(port).startswith("127.0.0.1:"), (
                f"{scenario.name}: {platform['name']} publishes {port} beyond loopback"
            )

# Copyright (c) medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monitoring role's alert rules (promtool check/test rules) and Grafana dashboards (offline checks)."""

from __future__ import absolute_import, division, print_function

import glob
import importlib.util
import json
import os
import shutil
import subprocess

import pytest
import yaml

__metaclass__ = type

ROLE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "monitoring"))
RULES = os.path.join(ROLE, "files", "rules", "medimg-imaging.rules.yml")
RULE_TESTS = sorted(glob.glob(os.path.join(ROLE, "files", "rules", "tests", "*.test.yml")))
DASHBOARDS = sorted(glob.glob(os.path.join(ROLE, "files", "dashboards", "*.json")))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args, cwd=None):
    if not os.path.exists(PROMTOOL):
        pytest.fail("promtool is missing: apt-get install prometheus (listed in requirements/debian.txt)")
    return subprocess.run([PROMTOOL] + list(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def load_checker():
    spec = importlib.util.spec_from_file_location("medimg_dashboard_check", os.path.join(ROLE, "files", "medimg_dashboard_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = load_checker()


def alerts():
    with open(RULES) as handle:
        return [rule for group in yaml.safe_load(handle)["groups"] for rule in group["rules"] if "alert" in rule]


def test_rules_pass_promtool_check():
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_TESTS, ids=os.path.basename)
def test_rules_pass_their_promtool_unit_tests(path):
    result = promtool("test", "rules", os.path.basename(path), cwd=os.path.dirname(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_test_and_a_severity():
    fired = set()
    for path in RULE_TESTS:
        with open(path) as handle:
            for case in yaml.safe_load(handle)["tests"]:
                for check in case.get("alert_rule_test", []):
                    if check.get("exp_alerts"):
                        fired.add(check["alertname"])
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "an alert name is repeated"
    assert sorted(set(names) - fired) == [], "alerts without a test that fires them"
    for rule in alerts():
        assert rule["labels"]["severity"] in ("critical", "warning", "info", "none"), rule["alert"]
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), rule["alert"]


def test_alerts_are_listed_in_the_docs():
    with open(os.path.join(ROLE, "..", "..", "docs", "monitoring.md")) as handle:
        doc = handle.read()
    missing = [rule["alert"] for rule in alerts() if "`%s`" % rule["alert"] not in doc]
    assert missing == [], "alerts missing from docs/monitoring.md"


def test_there_are_dashboards_for_dicom_gpu_and_triton():
    names = [os.path.basename(path) for path in DASHBOARDS]
    assert names == ["medimg-dicom-server.json", "medimg-gpus.json", "medimg-triton.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_dashboard_structure(path):
    with open(path) as handle:
        dashboard = json.load(handle)
    assert checker.problems(dashboard) == []
    assert dashboard["uid"].startswith("medimg-")
    assert checker.queries(dashboard), "a dashboard without queries"


def test_structure_problems_are_found():
    broken = {"uid": "x", "title": "t", "schemaVersion": 39, "panels": [
        {"id": 1, "title": "a", "gridPos": {"x": 20, "y": 0, "w": 8, "h": 4}, "datasource": {"uid": "other"},
         "targets": [{"refId": "A", "expr": "up", "datasource": {"uid": "medimg-prometheus"}}]},
        {"id": 1, "title": "b", "gridPos": {"x": 0, "y": 0, "w": 8, "h": 4}, "targets": []},
    ]}
    found = " | ".join(checker.problems(broken))
    assert "repeated" in found and "gridPos" in found and "no query" in found and "'other'" in found


def test_grafana_variables_are_replaced():
    assert checker.substitute('rate(x{host=~"$host"}[$__rate_interval])') == 'rate(x{host=~".*"}[1m])'
    assert checker.substitute('x{a=~"${model}",b=~"[[host]]"}[$__range]') == 'x{a=~".*",b=~".*"}[1h]'
    assert checker.variable_query({"query": {"query": 'label_values(up{job="gpu"}, host)'}}) == 'up{job="gpu"}'


def test_every_dashboard_query_is_valid_promql(tmp_path):
    """promtool parses each query as a recording rule: a typo fails here, before any Prometheus."""
    rules = []
    for path in DASHBOARDS:
        with open(path) as handle:
            for index, (_where, expr) in enumerate(checker.queries(json.load(handle))):
                rules.append({"record": "medimg:dashboard_check:%s_%d" % (os.path.basename(path)[:-5].replace("-", "_"), index), "expr": expr})
    assert len(rules) >= 20
    target = tmp_path / "dashboard-queries.rules.yml"
    target.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = promtool("check", "rules", str(target))
    assert result.returncode == 0, result.stdout + result.stderr

    target.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [{"record": "x:y", "expr": "sum(rate(up[5m])"}]}]}))
    assert promtool("check", "rules", str(target)).returncode != 0

# Copyright (c) medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check Grafana dashboards without a Grafana.

Reads dashboard JSON files, checks their structure, and runs every panel query and every
query variable against a Prometheus (HTTP API /api/v1/query): a query Prometheus refuses
fails the check. Grafana's variables are replaced first ($__rate_interval by 1m, a
multi-value variable by .*).

    medimg_dashboard_check.py --list dashboards/*.json
    medimg_dashboard_check.py --prometheus https://localhost:9090 --user u --password-file f \
        --ca-file ca.pem dashboards/*.json
"""

from __future__ import absolute_import, division, print_function

import argparse
import base64
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

__metaclass__ = type

DATASOURCE_UID = "medimg-prometheus"
GRAFANA_INTERVALS = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "1h",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)


def substitute(expr):
    """Replace Grafana's variables: interval ones by durations, the others by the regex .*."""

    def repl(match):
        name = match.group(1) or match.group(2) or match.group(3)
        return GRAFANA_INTERVALS.get(name, ".*")

    return VARIABLE.sub(repl, expr)


def variable_query(variable):
    """The PromQL inside a query variable: label_values(EXPR, label) gives EXPR."""
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query", "")
    match = LABEL_VALUES.match(query or "")
    if match:
        return match.group(1)
    return query or None


def queries(dashboard):
    """(where, PromQL with variables replaced) of every panel target and query variable."""
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            expr = variable_query(variable)
            if expr:
                found.append(("variable %s" % variable.get("name"), substitute(expr)))
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("expr"):
                found.append(("panel %r %s" % (panel.get("title"), target.get("refId")), substitute(target["expr"])))
    return found


def problems(dashboard, datasource_uid=DATASOURCE_UID):
    """Structure problems Grafana would trip on, as sentences; empty when none."""
    found = []
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in dashboard:
            found.append("the dashboard has no %s" % key)
    if len(dashboard.get("uid", "")) > 40:
        found.append("the uid %r is longer than 40 characters" % dashboard.get("uid"))
    ids = [panel.get("id") for panel in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)) or None in ids:
        found.append("panel ids are missing or repeated: %s" % ids)
    for panel in dashboard.get("panels", []):
        title = panel.get("title")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid.get("x", 0) + grid.get("w", 0) > 24:
            found.append("panel %r has a bad gridPos %s" % (title, grid))
        if not panel.get("targets"):
            found.append("panel %r has no query" % title)
        for item in [panel] + panel.get("targets", []):
            uid = (item.get("datasource") or {}).get("uid")
            if uid != datasource_uid:
                found.append("panel %r uses datasource %r, not %r" % (title, uid, datasource_uid))
        refs = [target.get("refId") for target in panel.get("targets", [])]
        if len(refs) != len(set(refs)):
            found.append("panel %r repeats a refId: %s" % (title, refs))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query" and (variable.get("datasource") or {}).get("uid") != datasource_uid:
            found.append("variable %r uses another datasource" % variable.get("name"))
    return found


def run_query(prometheus, expr, user=None, password=None, context=None, timeout=10):
    """Run one instant query; (ok, number of series or the error)."""
    url = "%s/api/v1/query?%s" % (prometheus.rstrip("/"), urllib.parse.urlencode({"query": expr}))
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(("%s:%s" % (user, password or "")).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
            body = json.loads(answer.read().decode())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode())
        except ValueError:
            return False, "HTTP %d" % exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, str(exc)
    if body.get("status") != "success":
        return False, body.get("error", "unknown error")
    result = body.get("data", {}).get("result", [])
    return True, len(result) if isinstance(result, list) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("dashboards", nargs="+")
    parser.add_argument("--prometheus", help="Prometheus base URL; without it only the structure is checked")
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    parser.add_argument("--ca-file")
    parser.add_argument("--datasource-uid", default=DATASOURCE_UID)
    parser.add_argument("--require-data", action="store_true", help="fail when a panel query returns no series")
    parser.add_argument("--list", action="store_true", help="print the queries")
    args = parser.parse_args(argv)

    password = None
    if args.password_file:
        with open(args.password_file) as handle:
            password = handle.read().strip()
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    failed = 0
    report = {"dashboards": 0, "queries": 0, "failed": [], "empty": []}
    for path in args.dashboards:
        with open(path) as handle:
            dashboard = json.load(handle)
        report["dashboards"] += 1
        for problem in problems(dashboard, args.datasource_uid):
            failed += 1
            report["failed"].append({"dashboard": path, "error": problem})
        for where, expr in queries(dashboard):
            report["queries"] += 1
            if args.list:
                print("%s: %s: %s" % (path, where, expr))
            if not args.prometheus:
                continue
            ok, detail = run_query(args.prometheus, expr, args.user, password, context)
            if not ok:
                failed += 1
                report["failed"].append({"dashboard": path, "query": where, "expr": expr, "error": detail})
            elif detail == 0:
                report["empty"].append({"dashboard": path, "query": where})
                if args.require_data and where.startswith("panel"):
                    failed += 1
                    report["failed"].append({"dashboard": path, "query": where, "expr": expr, "error": "no data"})
    print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

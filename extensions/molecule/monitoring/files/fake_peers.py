# Copyright (c) medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test peers of the monitoring scenario (standard library only).

  orthanc  serves /tools/metrics-prometheus with Orthanc 1.10's metric names
  triton   serves /metrics with Triton's nv_inference_* metrics of two models
  webhook  records every POST (an Alertmanager webhook) in a JSON-lines file, by path
"""

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.time()


def orthanc_metrics():
    instances = int(time.time() - START) * 3
    lines = {
        "orthanc_count_instances": instances, "orthanc_count_patients": 2, "orthanc_count_series": 4,
        "orthanc_count_studies": 3, "orthanc_disk_size_mb": 12, "orthanc_uncompressed_size_mb": 30,
        "orthanc_jobs_completed": 5, "orthanc_jobs_failed": 0, "orthanc_jobs_pending": 0,
        "orthanc_jobs_running": 1, "orthanc_jobs_success": 5, "orthanc_rest_api_active_requests": 1,
    }
    return "".join("%s %s\n" % (name, value) for name, value in lines.items())


def triton_metrics():
    elapsed = int(time.time() - START)
    out = []
    for name, kind, help_text in (
            ("nv_inference_request_success", "counter", "Number of successful inference requests"),
            ("nv_inference_request_failure", "counter", "Number of failed inference requests"),
            ("nv_inference_count", "counter", "Number of inferences performed"),
            ("nv_inference_exec_count", "counter", "Number of model executions performed"),
            ("nv_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds"),
            ("nv_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds")):
        out.append("# HELP %s %s\n# TYPE %s %s\n" % (name, help_text, name, kind))
        for model, rate in (("lung_nodule", 10), ("brain_mri", 2)):
            value = {"nv_inference_request_failure": 0, "nv_inference_request_duration_us": elapsed * rate * 9000,
                     "nv_inference_queue_duration_us": elapsed * rate * 300}.get(name, elapsed * rate)
            out.append('%s{model="%s",version="1"} %d\n' % (name, model, value))
    return "".join(out)


class Handler(BaseHTTPRequestHandler):
    kind = "orthanc"
    path_served = "/"
    record = "/tmp/webhook.jsonl"

    def log_message(self, *args):  # quiet
        return

    def do_GET(self):
        if self.kind == "webhook" or self.path.split("?")[0] != self.path_served:
            self.send_error(404)
            return
        body = (orthanc_metrics() if self.kind == "orthanc" else triton_metrics()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.kind != "webhook":
            self.send_error(405)
            return
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length) or b"{}")
        with open(self.record, "a") as handle:
            handle.write(json.dumps({"path": self.path, "status": payload.get("status"),
                                     "receiver": payload.get("receiver"),
                                     "alerts": [a.get("labels", {}) for a in payload.get("alerts", [])]}) + "\n")
        self.send_response(200)
        self.end_headers()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["orthanc", "triton", "webhook"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/metrics")
    parser.add_argument("--record", default="/var/lib/medimg-webhook/alerts.jsonl")
    args = parser.parse_args()
    Handler.kind, Handler.path_served, Handler.record = args.kind, args.path, args.record
    if args.kind == "webhook":
        os.makedirs(os.path.dirname(args.record), exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

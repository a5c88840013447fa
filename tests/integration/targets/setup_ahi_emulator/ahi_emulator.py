# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small local AWS HealthImaging ("medical-imaging") emulator for the collection's tests.

It answers the REST-JSON operations of botocore's medical-imaging model (2023-07-19) that the
medimg.imaging modules call: CreateDatastore, GetDatastore, ListDatastores, DeleteDatastore,
StartDICOMImportJob, GetDICOMImportJob, ListDICOMImportJobs, ListTagsForResource, TagResource,
UntagResource. It listens on 127.0.0.1 only.

Behaviour the tests rely on:
- datastores go CREATING -> ACTIVE and DELETING -> DELETED after --datastore-seconds;
- import jobs go SUBMITTED -> IN_PROGRESS -> COMPLETED or FAILED over --job-submitted-seconds
  and --job-running-seconds (--slow-job-seconds for a job named "slow..."). When a job ends, the emulator reads the input prefix from S3
  (moto_server, --s3-endpoint), sorts each object into SUCCESS (a DICOM Part 10 file: "DICM" at
  byte 128) or FAILURE, and writes job-output-manifest.json, SUCCESS/success.ndjson and
  FAILURE/failure.ndjson under {outputS3Uri}{datastoreId}-DicomImport-{jobId}/;
- a job FAILS when its data access role name contains "denied" (the role cannot read the
  input), when the input or output bucket does not exist, or when the input prefix is empty;
- StartDICOMImportJob answers 403 AccessDeniedException when the role name contains "nopass"
  (the caller may not pass the role);
- the same clientToken on the same datastore returns the same job (idempotency token);
- throttling on demand: POST /_emulator/throttle {"operation": "StartDICOMImportJob", "count": 2}
  makes the next 2 calls of that operation answer HTTP 429 ThrottlingException;
  --start-min-interval S throttles StartDICOMImportJob calls closer than S seconds, as the real
  service does near 0.25 requests/s;
- POST /_emulator/datastore {"datastoreName": "x", "datastoreStatus": "CREATING"} seeds a
  datastore held in a given status; GET /_emulator/stats counts calls and throttles per operation.
Requests must carry a SigV4 Authorization header scoped to the medical-imaging service.
"""

import argparse
import os
import datetime
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

ACCOUNT = "123456789012"
LOCK = threading.RLock()
STATE = {
    "datastores": {},  # id -> dict
    "jobs": {},  # id -> dict
    "tokens": {},  # (datastoreId, clientToken) -> jobId
    "datastore_tokens": {},  # clientToken -> datastoreId
    "tags": {},  # arn -> {k: v}
    "throttle": {},  # operation -> remaining count
    "calls": {},
    "throttled": {},
    "last_start": 0.0,
}
OPTS = None


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def new_id():
    return uuid.uuid4().hex  # 32 lowercase hex characters, as [0-9a-z]{32}


def datastore_arn(region, ds_id):
    return "arn:aws:medical-imaging:%s:%s:datastore/%s" % (region, ACCOUNT, ds_id)


def s3_client():
    import boto3  # the emulator runs in the test venv, where boto3 is installed
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=OPTS.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 2}),
    )


def split_s3(uri):
    rest = uri[len("s3://"):]
    bucket, _sep, prefix = rest.partition("/")
    return bucket, prefix


# ---------------------------------------------------------------- state changes over time
def advance_datastore(ds):
    now = time.time()
    if ds.get("hold"):
        return
    if ds["datastoreStatus"] == "CREATING" and now - ds["_since"] >= OPTS.datastore_seconds:
        ds["datastoreStatus"] = "ACTIVE"
        ds["updatedAt"] = now
    elif ds["datastoreStatus"] == "DELETING" and now - ds["_since"] >= OPTS.datastore_seconds:
        ds["datastoreStatus"] = "DELETED"
        ds["updatedAt"] = now


def advance_job(job):
    if job["jobStatus"] in ("COMPLETED", "FAILED"):
        return
    elapsed = time.time() - job["submittedAt"]
    if elapsed < OPTS.job_submitted_seconds:
        return
    running = OPTS.slow_job_seconds if job["jobName"].startswith("slow") else OPTS.job_running_seconds
    if elapsed < OPTS.job_submitted_seconds + running:
        job["jobStatus"] = "IN_PROGRESS"
        return
    finish_job(job)


def finish_job(job):
    job["endedAt"] = time.time()
    role_name = job["dataAccessRoleArn"].rsplit("/", 1)[-1]
    if "denied" in role_name:
        job["jobStatus"] = "FAILED"
        job["message"] = "Access denied: the data access role cannot read the input S3 location"
        return
    if not OPTS.s3_endpoint:
        job["jobStatus"] = "COMPLETED"
        return
    from botocore.exceptions import ClientError

    s3 = s3_client()
    in_bucket, in_prefix = split_s3(job["inputS3Uri"])
    out_bucket, out_prefix = split_s3(job["outputS3Uri"])
    try:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=in_bucket, Prefix=in_prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))
    except ClientError as e:
        job["jobStatus"] = "FAILED"
        job["message"] = "Input S3 bucket cannot be read: %s" % e.response["Error"]["Code"]
        return
    if not keys:
        job["jobStatus"] = "FAILED"
        job["message"] = "No files found at the input S3 URI"
        return
    try:
        s3.head_bucket(Bucket=out_bucket)
    except ClientError:
        job["jobStatus"] = "FAILED"
        job["message"] = "Output S3 bucket does not exist or cannot be written"
        return
    if out_prefix and not out_prefix.endswith("/"):
        out_prefix += "/"
    base = "%s%s-DicomImport-%s/" % (out_prefix, job["datastoreId"], job["jobId"])
    success, failure = [], []
    for key in keys:
        head = s3.get_object(Bucket=in_bucket, Key=key, Range="bytes=0-131")["Body"].read()
        uri = "s3://%s/%s" % (in_bucket, key)
        if len(head) >= 132 and head[128:132] == b"DICM":
            success.append({"inputFile": uri, "importResponse": {"imageSetId": new_id(), "isPrimary": True}})
        else:
            problem = {"exceptionType": "ValidationException", "message": "File is not a DICOM Part 10 file"}
            failure.append({"inputFile": uri, "exception": problem})
    image_sets = max(1, len(success) // 2) if success else 0
    summary = {
        "jobSummary": {
            "jobId": job["jobId"],
            "datastoreId": job["datastoreId"],
            "inputS3Uri": job["inputS3Uri"],
            "outputS3Uri": "s3://%s/%s" % (out_bucket, base),
            "successOutputS3Uri": "s3://%s/%sSUCCESS/" % (out_bucket, base),
            "failureOutputS3Uri": "s3://%s/%sFAILURE/" % (out_bucket, base),
            "numberOfScannedFiles": len(keys),
            "numberOfImportedFiles": len(success),
            "numberOfFilesWithCustomerError": len(failure),
            "numberOfFilesWithServerError": 0,
            "numberOfGeneratedImageSets": image_sets,
            "imageSetsSummary": [{"imageSetId": new_id(), "numberOfMatchedSOPInstances": 1}
                                 for _set in range(image_sets)],
        }
    }
    s3.put_object(Bucket=out_bucket, Key=base + "job-output-manifest.json", Body=json.dumps(summary).encode())
    s3.put_object(Bucket=out_bucket, Key=base + "SUCCESS/success.ndjson",
                  Body="".join(json.dumps(x) + "\n" for x in success).encode())
    if failure:
        s3.put_object(Bucket=out_bucket, Key=base + "FAILURE/failure.ndjson",
                      Body="".join(json.dumps(x) + "\n" for x in failure).encode())
    job["jobStatus"] = "COMPLETED"


# ---------------------------------------------------------------- operations
def public(d):
    return {k: v for k, v in d.items() if not k.startswith("_") and k != "hold"}


def get_datastore(ds_id):
    ds = STATE["datastores"].get(ds_id)
    if ds is None:
        raise ApiError(404, "ResourceNotFoundException", "Datastore %s not found" % ds_id)
    advance_datastore(ds)
    if ds["datastoreStatus"] == "DELETED" and time.time() - ds["updatedAt"] > OPTS.deleted_visible_seconds:
        raise ApiError(404, "ResourceNotFoundException", "Datastore %s not found" % ds_id)
    return ds


def make_datastore(region, name, status="CREATING", kms=None, hold=False):
    ds_id = new_id()
    now = time.time()
    ds = {"datastoreId": ds_id, "datastoreName": name, "datastoreStatus": status,
          "datastoreArn": datastore_arn(region, ds_id), "createdAt": now, "updatedAt": now,
          "_since": now, "hold": hold}
    if kms:
        ds["kmsKeyArn"] = kms
    STATE["datastores"][ds_id] = ds
    return ds


def op_create_datastore(region, body, **_):
    token = body.get("clientToken")
    if not token or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", token):
        raise ApiError(400, "ValidationException", "clientToken is missing or invalid")
    if token in STATE["datastore_tokens"]:
        ds = STATE["datastores"][STATE["datastore_tokens"][token]]
        advance_datastore(ds)
        return {"datastoreId": ds["datastoreId"], "datastoreStatus": ds["datastoreStatus"]}
    name = body.get("datastoreName") or "datastore"
    ds = make_datastore(region, name, kms=body.get("kmsKeyArn"))
    STATE["datastore_tokens"][token] = ds["datastoreId"]
    if body.get("tags"):
        STATE["tags"][ds["datastoreArn"]] = dict(body["tags"])
    return {"datastoreId": ds["datastoreId"], "datastoreStatus": ds["datastoreStatus"]}


def op_get_datastore(ds_id, **_):
    return {"datastoreProperties": public(get_datastore(ds_id))}


def op_list_datastores(query, **_):
    status = query.get("datastoreStatus")
    items = []
    for ds_id in list(STATE["datastores"]):
        try:
            ds = get_datastore(ds_id)
        except ApiError:
            continue
        if status and ds["datastoreStatus"] != status:
            continue
        items.append({k: v for k, v in public(ds).items() if k != "kmsKeyArn"})
    return paginate(items, query, "datastoreSummaries")


def op_delete_datastore(ds_id, **_):
    ds = get_datastore(ds_id)
    if ds["datastoreStatus"] in ("CREATING", "DELETING"):
        raise ApiError(409, "ConflictException", "Datastore %s is %s" % (ds_id, ds["datastoreStatus"]))
    if ds["datastoreStatus"] != "DELETED":
        ds["datastoreStatus"] = "DELETING"
        ds["_since"] = ds["updatedAt"] = time.time()
        ds["hold"] = False
    return {"datastoreId": ds_id, "datastoreStatus": ds["datastoreStatus"]}


S3_URI = re.compile(r"s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?")
ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+")


def op_start_job(region, ds_id, body, **_):
    if OPTS.start_min_interval and time.time() - STATE["last_start"] < OPTS.start_min_interval:
        raise ApiError(429, "ThrottlingException", "Rate exceeded")
    STATE["last_start"] = time.time()
    for field in ("dataAccessRoleArn", "clientToken", "inputS3Uri", "outputS3Uri"):
        if not body.get(field):
            raise ApiError(400, "ValidationException", "%s is required" % field)
    for field in ("inputS3Uri", "outputS3Uri"):
        if not S3_URI.fullmatch(body[field]):
            raise ApiError(400, "ValidationException", "%s is not a valid S3 URI" % field)
    if not ROLE_ARN.fullmatch(body["dataAccessRoleArn"]):
        raise ApiError(400, "ValidationException", "dataAccessRoleArn is not a valid IAM role ARN")
    ds = get_datastore(ds_id)
    if ds["datastoreStatus"] != "ACTIVE":
        raise ApiError(409, "ConflictException", "Datastore %s is not ACTIVE" % ds_id)
    if "nopass" in body["dataAccessRoleArn"].rsplit("/", 1)[-1]:
        raise ApiError(403, "AccessDeniedException",
                       "User is not authorized to perform iam:PassRole on %s" % body["dataAccessRoleArn"])
    key = (ds_id, body["clientToken"])
    if key in STATE["tokens"]:
        job = STATE["jobs"][STATE["tokens"][key]]
        same = all(job[f] == body[f] for f in ("dataAccessRoleArn", "inputS3Uri", "outputS3Uri"))
        if not same or (body.get("jobName") and body["jobName"] != job["jobName"]):
            raise ApiError(409, "ConflictException", "clientToken was used with different parameters")
        advance_job(job)
    else:
        job_id = new_id()
        job = {"jobId": job_id, "jobName": body.get("jobName") or job_id, "jobStatus": "SUBMITTED",
               "datastoreId": ds_id, "dataAccessRoleArn": body["dataAccessRoleArn"],
               "submittedAt": time.time(), "inputS3Uri": body["inputS3Uri"],
               "outputS3Uri": body["outputS3Uri"]}
        STATE["jobs"][job_id] = job
        STATE["tokens"][key] = job_id
    return {"datastoreId": ds_id, "jobId": job["jobId"], "jobStatus": job["jobStatus"],
            "submittedAt": job["submittedAt"]}


def get_job(ds_id, job_id):
    get_datastore(ds_id)
    job = STATE["jobs"].get(job_id)
    if job is None or job["datastoreId"] != ds_id:
        raise ApiError(404, "ResourceNotFoundException", "Job %s not found" % job_id)
    advance_job(job)
    return job


def op_get_job(ds_id, job_id, **_):
    return {"jobProperties": dict(get_job(ds_id, job_id))}


def op_list_jobs(ds_id, query, **_):
    get_datastore(ds_id)
    status = query.get("jobStatus")
    items = []
    for job in sorted(STATE["jobs"].values(), key=lambda j: -j["submittedAt"]):
        if job["datastoreId"] != ds_id:
            continue
        advance_job(job)
        if status and job["jobStatus"] != status:
            continue
        items.append({k: job[k] for k in ("jobId", "jobName", "jobStatus", "datastoreId", "dataAccessRoleArn",
                                          "endedAt", "submittedAt", "message") if k in job})
    return paginate(items, query, "jobSummaries")


def paginate(items, query, key):
    start = int(query.get("nextToken") or 0)
    size = int(query.get("maxResults") or OPTS.page_size)
    size = min(size, OPTS.page_size)
    result = {key: items[start:start + size]}
    if start + size < len(items):
        result["nextToken"] = str(start + size)
    return result


def check_arn(arn):
    m = re.fullmatch(r"arn:aws:medical-imaging:[a-z0-9-]+:\d{12}:datastore/([0-9a-z]{32})", arn)
    if not m or m.group(1) not in STATE["datastores"]:
        raise ApiError(404, "ResourceNotFoundException", "Resource %s not found" % arn)


def op_list_tags(arn, **_):
    check_arn(arn)
    return {"tags": STATE["tags"].get(arn, {})}


def op_tag(arn, body, **_):
    check_arn(arn)
    STATE["tags"].setdefault(arn, {}).update(body.get("tags") or {})
    return {}


def op_untag(arn, query_all, **_):
    check_arn(arn)
    for k in query_all.get("tagKeys", []):
        STATE["tags"].get(arn, {}).pop(k, None)
    return {}


ROUTES = [
    ("POST", r"/datastore", "CreateDatastore", op_create_datastore),
    ("GET", r"/datastore", "ListDatastores", op_list_datastores),
    ("GET", r"/datastore/(?P<ds_id>[^/]+)", "GetDatastore", op_get_datastore),
    ("DELETE", r"/datastore/(?P<ds_id>[^/]+)", "DeleteDatastore", op_delete_datastore),
    ("POST", r"/startDICOMImportJob/datastore/(?P<ds_id>[^/]+)", "StartDICOMImportJob", op_start_job),
    ("GET", r"/getDICOMImportJob/datastore/(?P<ds_id>[^/]+)/job/(?P<job_id>[^/]+)", "GetDICOMImportJob", op_get_job),
    ("GET", r"/listDICOMImportJobs/datastore/(?P<ds_id>[^/]+)", "ListDICOMImportJobs", op_list_jobs),
    ("GET", r"/tags/(?P<arn>[^/]+)", "ListTagsForResource", op_list_tags),
    ("POST", r"/tags/(?P<arn>[^/]+)", "TagResource", op_tag),
    ("DELETE", r"/tags/(?P<arn>[^/]+)", "UntagResource", op_untag),
]


def json_default(value):
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    raise TypeError(repr(value))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ahi-emulator/1"

    def log_message(self, fmt, *args):
        if OPTS.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def send(self, status, payload, error_type=None):
        data = json.dumps(payload, default=json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "ValidationException", "request body is not JSON")

    def handle_any(self, method):
        parts = urlsplit(self.path)
        query_all = parse_qs(parts.query)
        query = {k: v[-1] for k, v in query_all.items()}
        try:
            body = self.body()
            if parts.path.startswith("/_emulator/"):
                return self.control(method, parts.path, body)
            auth = self.headers.get("Authorization", "")
            m = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
            if not auth.startswith("AWS4-HMAC-SHA256") or not m or m.group(2) != "medical-imaging":
                raise ApiError(403, "AccessDeniedException", "Missing or invalid SigV4 signature for medical-imaging")
            region = m.group(1)
            for verb, pattern, name, func in ROUTES:
                match = re.fullmatch(pattern, parts.path)
                if verb != method or not match:
                    continue
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                with LOCK:
                    STATE["calls"][name] = STATE["calls"].get(name, 0) + 1
                    if STATE["throttle"].get(name, 0) > 0:
                        STATE["throttle"][name] -= 1
                        STATE["throttled"][name] = STATE["throttled"].get(name, 0) + 1
                        raise ApiError(429, "ThrottlingException", "Rate exceeded")
                    try:
                        result = func(region=region, body=body, query=query, query_all=query_all, **args)
                    except ApiError as e:
                        if e.code == "ThrottlingException":
                            STATE["throttled"][name] = STATE["throttled"].get(name, 0) + 1
                        raise
                return self.send(200, result)
            raise ApiError(404, "UnknownOperationException", "No operation for %s %s" % (method, parts.path))
        except ApiError as e:
            return self.send(e.status, {"message": e.message}, e.code)

    def control(self, method, path, body):
        with LOCK:
            if path == "/_emulator/stats" and method == "GET":
                return self.send(200, {"calls": STATE["calls"], "throttled": STATE["throttled"],
                                       "jobs": len(STATE["jobs"]), "datastores": len(STATE["datastores"])})
            if path == "/_emulator/throttle" and method == "POST":
                op = body.get("operation", "StartDICOMImportJob")
                STATE["throttle"][op] = int(body.get("count", 1))
                return self.send(200, {"operation": op, "count": STATE["throttle"][op]})
            if path == "/_emulator/datastore" and method == "POST":
                status = body.get("datastoreStatus", "ACTIVE")
                ds = make_datastore(body.get("region", OPTS.region), body.get("datastoreName", "seeded"),
                                    status=status, kms=body.get("kmsKeyArn"), hold=status != "ACTIVE")
                return self.send(200, public(ds))
        raise ApiError(404, "UnknownOperationException", "No emulator control at %s %s" % (method, path))

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_PUT(self):
        self.handle_any("PUT")


def main(argv=None):
    global OPTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--port-file", help="write the bound port to this file once listening")
    p.add_argument("--s3-endpoint", help="S3 endpoint (moto_server) for job input and output")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--datastore-seconds", type=float, default=2.0)
    p.add_argument("--deleted-visible-seconds", type=float, default=60.0)
    p.add_argument("--job-submitted-seconds", type=float, default=1.0)
    p.add_argument("--job-running-seconds", type=float, default=2.0)
    p.add_argument("--slow-job-seconds", type=float, default=8.0,
                   help="running time of jobs whose name starts with 'slow'")
    p.add_argument("--start-min-interval", type=float, default=0.0)
    p.add_argument("--page-size", type=int, default=50)
    p.add_argument("--verbose", action="store_true")
    OPTS = p.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", OPTS.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if OPTS.port_file:
        with open(OPTS.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(OPTS.port_file + ".tmp", OPTS.port_file)
    sys.stderr.write("ahi emulator listening on 127.0.0.1:%d\n" % port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

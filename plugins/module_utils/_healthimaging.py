# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared code of the medimg.imaging AWS HealthImaging modules.

This module_utils is PRIVATE to the medimg.imaging collection: its functions may change
without notice and must not be used from outside the collection.

It builds on amazon.aws (AnsibleAWSModule, AWSRetry): clients come from the module so
credentials, region, profile and endpoint options work as in every amazon.aws module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re
import time

try:
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # AnsibleAWSModule reports the missing boto3/botocore with missing_required_lib

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Error codes retried with jittered backoff on top of amazon.aws's own list
# (which has Throttling and TooManyRequestsException, not HealthImaging's names).
RETRY_CODES = ["ThrottlingException", "InternalServerException", "ServiceUnavailableException", "SlowDown"]

DATASTORE_ID_RE = re.compile(r"^[0-9a-z]{32}$")
JOB_ID_RE = re.compile(r"^[0-9a-z]{1,32}$")
S3_URI_RE = re.compile(r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$")
ROLE_ARN_RE = re.compile(r"^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
JOB_NAME_RE = re.compile(r"^[A-Za-z0-9._/#-]{1,64}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
KMS_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]{0,16}:kms:[a-z]{2}(-[a-z]{1,16}){1,3}-\d:\d{12}:(key/[a-fA-F0-9-]{36}|alias/[a-zA-Z0-9:/_-]{1,256})$")
DATASTORE_NAME_RE = re.compile(r"^[A-Za-z0-9._/#-]{1,256}$")

TOKEN_PREFIX = "medimg-"
JOB_TERMINAL = ("COMPLETED", "FAILED")
MANIFEST_NAME = "job-output-manifest.json"
# Quotas of one DICOM import job (AWS HealthImaging endpoints and quotas).
MAX_FILES_PER_JOB = 5000
MAX_BYTES_PER_JOB = 10 * 1024 ** 3

# Options shared by every HealthImaging module (documented in the
# medimg.imaging.healthimaging doc fragment).
HEALTHIMAGING_ARGS = dict(
    retries=dict(type="int", default=10),
    retry_delay=dict(type="float", default=3.0),
)


def derive_client_token(datastore_id, input_s3_uri, output_s3_uri, data_access_role_arn,
                        input_owner_account_id=None, job_name=None):
    """Idempotency token of an import: the same inputs always give the same token.

    A SHA-256 over a canonical JSON of the inputs, cut to the service's 64 characters
    ([A-Za-z0-9._-]).
    """
    canonical = json.dumps(
        {
            "datastore_id": datastore_id,
            "input_s3_uri": input_s3_uri,
            "output_s3_uri": output_s3_uri,
            "data_access_role_arn": data_access_role_arn,
            "input_owner_account_id": input_owner_account_id or None,
            "job_name": job_name or None,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return TOKEN_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:64 - len(TOKEN_PREFIX)]


def derive_datastore_token(name, kms_key_arn=None):
    """Idempotency token of a datastore creation (same name and key, same token)."""
    canonical = json.dumps({"name": name, "kms_key_arn": kms_key_arn or None}, sort_keys=True)
    return TOKEN_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:64 - len(TOKEN_PREFIX)]


def split_s3_uri(uri):
    """Return (bucket, key prefix) of an s3:// URI."""
    rest = uri[len("s3://"):]
    bucket, _sep, prefix = rest.partition("/")
    return bucket, prefix


def manifest_location(output_s3_uri, datastore_id, job_id):
    """Where HealthImaging writes a job's results: (bucket, key of the manifest, folder URI)."""
    bucket, prefix = split_s3_uri(output_s3_uri)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = "%s%s-DicomImport-%s/" % (prefix, datastore_id, job_id)
    return bucket, folder + MANIFEST_NAME, "s3://%s/%s" % (bucket, folder)


def _to_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def summarize_manifest(manifest):
    """Counts of a job-output-manifest.json document (a dict), without file names."""
    summary = manifest.get("jobSummary", manifest) if isinstance(manifest, dict) else {}
    customer = _to_int(summary.get("numberOfFilesWithCustomerError"))
    server = _to_int(summary.get("numberOfFilesWithServerError"))
    image_sets = summary.get("imageSetsSummary") or []
    return {
        "scanned_files": _to_int(summary.get("numberOfScannedFiles")),
        "imported_files": _to_int(summary.get("numberOfImportedFiles")),
        "failed_files": customer + server,
        "files_with_customer_error": customer,
        "files_with_server_error": server,
        "generated_image_sets": _to_int(summary.get("numberOfGeneratedImageSets", len(image_sets))),
        "success_output_s3_uri": summary.get("successOutputS3Uri"),
        "failure_output_s3_uri": summary.get("failureOutputS3Uri"),
    }


def _iso(value):
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


JOB_FIELDS = (
    ("jobId", "job_id"),
    ("jobName", "job_name"),
    ("jobStatus", "job_status"),
    ("datastoreId", "datastore_id"),
    ("dataAccessRoleArn", "data_access_role_arn"),
    ("inputS3Uri", "input_s3_uri"),
    ("outputS3Uri", "output_s3_uri"),
    ("submittedAt", "submitted_at"),
    ("endedAt", "ended_at"),
    ("message", "message"),
)

DATASTORE_FIELDS = (
    ("datastoreId", "datastore_id"),
    ("datastoreName", "datastore_name"),
    ("datastoreStatus", "datastore_status"),
    ("datastoreArn", "datastore_arn"),
    ("kmsKeyArn", "kms_key_arn"),
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
)


def shape_job(job):
    """A job (properties or summary) as the modules return it: snake_case, ISO 8601 times."""
    shaped = {}
    for src, dst in JOB_FIELDS:
        if src in job:
            shaped[dst] = _iso(job[src])
    return shaped


def shape_datastore(datastore, tags=None):
    shaped = {}
    for src, dst in DATASTORE_FIELDS:
        if src in datastore:
            shaped[dst] = _iso(datastore[src])
    if tags is not None:
        shaped["tags"] = dict(tags)
    return shaped


def failed_files_outcome(job_status, counts, on_failed_files):
    """Decide what a finished job means: ('ok'|'warn'|'fail', message or None)."""
    if job_status != "COMPLETED" or not counts:
        return "ok", None
    failed = counts.get("failed_files", 0)
    if not failed or on_failed_files == "ignore":
        return "ok", None
    msg = "the import job COMPLETED but %d of %d files failed to import (customer errors %d, server errors %d); see %s" % (
        failed,
        counts.get("scanned_files", 0),
        counts.get("files_with_customer_error", 0),
        counts.get("files_with_server_error", 0),
        counts.get("failure_output_s3_uri") or "the FAILURE/ folder of the job output",
    )
    return ("fail" if on_failed_files == "fail" else "warn"), msg


def retry_decorator(module):
    return AWSRetry.jittered_backoff(
        retries=max(1, module.params.get("retries") or 1),
        delay=module.params.get("retry_delay") or 3.0,
        max_delay=30,
        catch_extra_error_codes=RETRY_CODES,
    )


def ahi_client(module):
    """A medical-imaging client whose calls retry with jittered backoff when given aws_retry=True.

    botocore's own retries are turned off (user's aws_config may turn them back on) so that the
    retries and their count are the module's. The host prefix ("runtime-") botocore adds to image
    set calls is turned off when an endpoint is given, so local and private endpoints answer.
    """
    settings = {"retries": {"total_max_attempts": 1}}
    if module.params.get("endpoint_url"):
        settings["inject_host_prefix"] = False
    return module.client("medical-imaging", retry_decorator=retry_decorator(module), config=Config(**settings))


def s3_client(module, endpoint=None):
    """An S3 client; endpoint_url of the module points at HealthImaging, so S3 takes its own."""
    return module.client(
        "s3",
        retry_decorator=retry_decorator(module),
        endpoint=endpoint,
        config=Config(retries={"total_max_attempts": 1}),
    )


def error_code(exc):
    try:
        return exc.response["Error"]["Code"]
    except (AttributeError, KeyError, TypeError):
        return None


def error_message(exc):
    try:
        return exc.response["Error"].get("Message") or str(exc)
    except (AttributeError, KeyError, TypeError):
        return str(exc)


def get_datastore(client, datastore_id):
    """GetDatastore, or None when it does not exist."""
    try:
        return client.get_datastore(datastoreId=datastore_id, aws_retry=True)["datastoreProperties"]
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            return None
        raise


def require_active_datastore(module, client, datastore_id):
    """Fail with a clear sentence unless the datastore exists and is ACTIVE."""
    try:
        datastore = get_datastore(client, datastore_id)
    except (BotoCoreError, ClientError) as e:
        if error_code(e) == "AccessDeniedException":
            module.fail_json(msg="Access denied reading HealthImaging datastore %s: the caller needs "
                                 "medical-imaging:GetDatastore (%s)." % (datastore_id, error_message(e)))
        module.fail_json_aws(e, msg="Could not read HealthImaging datastore %s" % datastore_id)
    if datastore is None:
        module.fail_json(msg="HealthImaging datastore %s does not exist in region %s." % (datastore_id, module.region))
    if datastore.get("datastoreStatus") != "ACTIVE":
        module.fail_json(
            msg="HealthImaging datastore %s is %s, not ACTIVE: imports need an ACTIVE datastore."
            % (datastore_id, datastore.get("datastoreStatus")),
            datastore=shape_datastore(datastore),
        )
    return datastore


def _all_pages(call, key, **params):
    """Every item under key across a paginated List* call (nextToken), each page retried."""
    items = []
    while True:
        page = call(aws_retry=True, **params)
        items.extend(page.get(key) or [])
        token = page.get("nextToken")
        if not token:
            return items
        params["nextToken"] = token


def list_jobs(client, datastore_id, job_status=None):
    """Every job summary of a datastore (ListDICOMImportJobs, all pages, retried)."""
    params = {"datastoreId": datastore_id}
    if job_status:
        params["jobStatus"] = job_status
    return _all_pages(client.list_dicom_import_jobs, "jobSummaries", **params)


def list_datastores(client, datastore_status=None):
    """Every datastore summary (ListDatastores, all pages, retried)."""
    params = {}
    if datastore_status:
        params["datastoreStatus"] = datastore_status
    return _all_pages(client.list_datastores, "datastoreSummaries", **params)


def job_matches(job, input_s3_uri, output_s3_uri, data_access_role_arn):
    return (
        job.get("inputS3Uri") == input_s3_uri
        and job.get("outputS3Uri") == output_s3_uri
        and job.get("dataAccessRoleArn") == data_access_role_arn
    )


def read_manifest(s3, output_s3_uri, datastore_id, job_id):
    """Read a finished job's manifest: (counts or None, manifest URI, problem sentence or None)."""
    bucket, key, folder = manifest_location(output_s3_uri, datastore_id, job_id)
    uri = "s3://%s/%s" % (bucket, key)
    try:
        body = s3.get_object(Bucket=bucket, Key=key, aws_retry=True)["Body"].read()
    except ClientError as e:
        code = error_code(e)
        if code in ("NoSuchKey", "404", "NotFound"):
            return None, uri, "the job output manifest %s does not exist" % uri
        if code in ("AccessDenied", "403"):
            return None, uri, "access denied reading the job output manifest %s (the caller needs s3:GetObject)" % uri
        if code == "NoSuchBucket":
            return None, uri, "the output bucket %s does not exist" % bucket
        return None, uri, "could not read the job output manifest %s: %s" % (uri, error_message(e))
    except BotoCoreError as e:
        return None, uri, "could not read the job output manifest %s: %s" % (uri, e)
    try:
        manifest = json.loads(body)
    except ValueError:
        return None, uri, "the job output manifest %s is not JSON" % uri
    return summarize_manifest(manifest), uri, None


def wait_for(poll, is_done, timeout, interval, sleep=time.sleep, clock=time.monotonic):
    """Call poll() until is_done(result) or timeout seconds pass: (result, timed_out)."""
    deadline = clock() + timeout
    result = poll()
    while not is_done(result):
        remaining = deadline - clock()
        if remaining <= 0:
            return result, True
        sleep(min(interval, remaining))
        result = poll()
    return result, False

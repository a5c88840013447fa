#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ahi_import
short_description: Import DICOM files from S3 into an AWS HealthImaging datastore
version_added: 0.1.0
description:
  - Starts an AWS HealthImaging DICOM import job (C(StartDICOMImportJob)) that reads DICOM Part 10
    files under an S3 prefix into a datastore, and with O(wait=true) waits for it to end.
  - Idempotent. The job's client token and, unless O(job_name) is given, its name are derived from
    the inputs; the module first looks for a job of that name with the same input, output and role,
    and reports it with C(changed=false) instead of starting a second one. A re-run after a
    O(wait_timeout) therefore goes on waiting for the same job.
  - When the job has COMPLETED the module reads its C(job-output-manifest.json) from S3 and returns
    the counts of scanned, imported and failed files. A COMPLETED job can still have failed files;
    O(on_failed_files) makes that a warning, a failure, or nothing.
  - Fails with a clear message when the datastore does not exist or is not ACTIVE, when an input
    or output bucket does not exist, when the caller may not pass the data access role, and when
    the job FAILED (for example because the data access role cannot read the input).
author:
  - medimg.imaging maintainers (@medimg)
options:
  datastore_id:
    description: ID of the ACTIVE datastore to import into (32 lowercase letters and digits).
    type: str
    required: true
  input_s3_uri:
    description:
      - S3 prefix holding the DICOM Part 10 files, for example V(s3://bucket/study-123/).
      - One job takes at most 5,000 files and 10 GB.
    type: str
    required: true
  output_s3_uri:
    description:
      - S3 prefix where HealthImaging writes the job's results
        (C({output_s3_uri}{datastore_id}-DicomImport-{job_id}/job-output-manifest.json) and
        C(SUCCESS/) and C(FAILURE/) folders).
    type: str
    required: true
  data_access_role_arn:
    description:
      - ARN of the IAM role HealthImaging assumes to read the input and write the output.
      - The caller needs C(iam:PassRole) on it.
    type: str
    required: true
  input_owner_account_id:
    description: Account ID that owns the input bucket, when it is not the caller's account.
    type: str
  job_name:
    description:
      - Name of the job. By default the derived client token is used as the name, which is how a
        re-run finds the job it started before.
      - With an explicit name, the module looks for a job of that name with the same input, output
        and role; change the name to import the same prefix again.
    type: str
  client_token:
    description:
      - Idempotency token sent with C(StartDICOMImportJob). By default it is derived from
        O(datastore_id), O(input_s3_uri), O(output_s3_uri), O(data_access_role_arn),
        O(input_owner_account_id) and O(job_name), so the same inputs give the same token.
      - Set a new value to start a new job for the same inputs (for example after a FAILED job).
    type: str
  wait:
    description: Wait for the job to reach COMPLETED or FAILED.
    type: bool
    default: true
  wait_timeout:
    description: Longest time to wait for the job, in seconds; the module fails when it is reached.
    type: int
    default: 3600
  poll_interval:
    description: Seconds between two C(GetDICOMImportJob) calls while waiting.
    type: int
    default: 15
  on_failed_files:
    description:
      - What a COMPLETED job with failed files means.
      - V(warn) returns a warning, V(fail) fails the task, V(ignore) only returns the counts.
    type: str
    choices: [warn, fail, ignore]
    default: warn
  read_manifest:
    description:
      - Read the job output manifest from S3 when the job has COMPLETED (needs C(s3:GetObject) on the
        output prefix). When it cannot be read the module warns and returns no counts.
    type: bool
    default: true
  s3_preflight:
    description:
      - Before starting a job, check with the caller's credentials that the input and output buckets
        exist (C(HeadBucket)) and that the input prefix holds between 1 and 5,000 objects and at most
        10 GB (C(ListObjectsV2)).
      - A missing bucket or an empty or oversized prefix fails the task; an access denied answer only
        warns, since the data access role may have rights the caller has not.
    type: bool
    default: true
  s3_endpoint_url:
    description:
      - Endpoint of the S3 client (preflight and manifest), for example a local S3 server.
      - O(endpoint_url) applies to HealthImaging only. When unset, botocore uses
        E(AWS_ENDPOINT_URL_S3) from the environment, or the AWS endpoint of the region.
    type: str
extends_documentation_fragment:
  - medimg.imaging.healthimaging
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Reports the job it would start, with the same lookups and checks, and starts nothing.
  diff_mode:
    support: none
    description: Nothing to compare.
  platform:
    support: full
    platforms: posix
    description: Runs where the AWS credentials are, usually the controller (C(delegate_to) localhost).
seealso:
  - module: medimg.imaging.ahi_import_info
  - module: medimg.imaging.ahi_datastore
  - name: Understanding import jobs (AWS HealthImaging)
    description: Import job results, manifest and quotas.
    link: https://docs.aws.amazon.com/healthimaging/latest/devguide/understanding-import-jobs.html
"""

EXAMPLES = r"""
- name: Import a study folder and wait for it
  medimg.imaging.ahi_import:
    region: eu-west-1
    datastore_id: "{{ ahi_datastore_id }}"
    input_s3_uri: s3://hospital-dicom-inbox/2026-11-22/
    output_s3_uri: s3://hospital-dicom-results/imports/
    data_access_role_arn: arn:aws:iam::123456789012:role/HealthImagingImport
    wait_timeout: 1800
  register: ahi_job

- name: Show the counts
  ansible.builtin.debug:
    msg: "{{ ahi_job.manifest.imported_files }} imported, {{ ahi_job.manifest.failed_files }} failed"

- name: Fail the play when any file failed, waiting up to two hours
  medimg.imaging.ahi_import:
    datastore_id: "{{ ahi_datastore_id }}"
    input_s3_uri: s3://hospital-dicom-inbox/2026-11-22/
    output_s3_uri: s3://hospital-dicom-results/imports/
    data_access_role_arn: arn:aws:iam::123456789012:role/HealthImagingImport
    on_failed_files: fail
    wait_timeout: 7200
    poll_interval: 30

- name: Start without waiting; check later with ahi_import_info
  medimg.imaging.ahi_import:
    datastore_id: "{{ ahi_datastore_id }}"
    input_s3_uri: s3://hospital-dicom-inbox/2026-11-23/
    output_s3_uri: s3://hospital-dicom-results/imports/
    data_access_role_arn: arn:aws:iam::123456789012:role/HealthImagingImport
    wait: false

- name: Set region and endpoints once for HealthImaging and amazon.aws modules
  module_defaults:
    group/medimg.imaging.healthimaging:
      region: us-east-1
      endpoint_url: https://medical-imaging.us-east-1.amazonaws.com
    group/amazon.aws.aws:
      region: us-east-1
  block:
    - name: Import again after a FAILED job (a new token starts a new job)
      medimg.imaging.ahi_import:
        datastore_id: "{{ ahi_datastore_id }}"
        input_s3_uri: s3://hospital-dicom-inbox/2026-11-22/
        output_s3_uri: s3://hospital-dicom-results/imports/
        data_access_role_arn: arn:aws:iam::123456789012:role/HealthImagingImport
        client_token: retry-2026-11-22-1
"""

RETURN = r"""
changed:
  description: Whether a job was started (or, in check mode, would be).
  returned: always
  type: bool
client_token:
  description: The idempotency token used (derived from the inputs unless O(client_token) was given).
  returned: always
  type: str
  sample: medimg-4f1c0d2a9b7e45c1a8e0f3d6b2c9a7e1f0d3b6c9a2e5f8b1c4d7e0a3
job:
  description: The import job. In check mode, when no job exists yet, the job that would start (no C(job_id)).
  returned: always
  type: dict
  contains:
    job_id:
      description: Job ID.
      type: str
      returned: when the job exists
    job_name:
      description: Job name.
      type: str
    job_status:
      description: SUBMITTED, IN_PROGRESS, COMPLETED or FAILED.
      type: str
      returned: when the job exists
    datastore_id:
      description: Datastore ID.
      type: str
    data_access_role_arn:
      description: Data access role.
      type: str
    input_s3_uri:
      description: Input prefix.
      type: str
    output_s3_uri:
      description: Output prefix.
      type: str
    submitted_at:
      description: When the job was submitted (ISO 8601).
      type: str
      returned: when the job exists
    ended_at:
      description: When the job ended (ISO 8601).
      type: str
      returned: when the job has ended
    message:
      description: The service's message, for example why the job FAILED.
      type: str
      returned: when the service gives one
  sample:
    job_id: 4c7a5b3e2d1f09876543210fedcba987
    job_name: medimg-4f1c0d2a9b7e45c1a8e0f3d6b2c9a7e1f0d3b6c9a2e5f8b1c4d7e0a3
    job_status: COMPLETED
    datastore_id: 0123456789abcdef0123456789abcdef
    input_s3_uri: s3://hospital-dicom-inbox/2026-11-22/
    output_s3_uri: s3://hospital-dicom-results/imports/
started:
  description: Whether this run started the job (false when an identical job was found).
  returned: always
  type: bool
timed_out:
  description: Whether the wait ended at O(wait_timeout) (the task then fails).
  returned: always
  type: bool
manifest:
  description: Counts from the job output manifest; empty when the job has not COMPLETED or the manifest could not be read.
  returned: always
  type: dict
  contains:
    scanned_files:
      description: Files found under the input prefix.
      type: int
    imported_files:
      description: Files imported.
      type: int
    failed_files:
      description: Files that failed (customer and server errors).
      type: int
    files_with_customer_error:
      description: Files that failed for a problem in the file or its access.
      type: int
    files_with_server_error:
      description: Files that failed for a service error.
      type: int
    generated_image_sets:
      description: Image sets created or updated.
      type: int
    success_output_s3_uri:
      description: The job's SUCCESS/ folder.
      type: str
    failure_output_s3_uri:
      description: The job's FAILURE/ folder.
      type: str
  sample:
    scanned_files: 120
    imported_files: 118
    failed_files: 2
    files_with_customer_error: 2
    files_with_server_error: 0
    generated_image_sets: 3
input:
  description: What the S3 preflight found under the input prefix (files and bytes), when it could list it.
  returned: when a job is started or would be, with O(s3_preflight=true)
  type: dict
  sample:
    files: 120
    bytes: 63963136
waited_seconds:
  description: How long the module waited for the job.
  returned: when it waited
  type: float
  sample: 312.4
manifest_s3_uri:
  description: Where the job output manifest is (or will be).
  returned: when the job exists
  type: str
  sample: s3://hospital-dicom-results/imports/0123456789abcdef0123456789abcdef-DicomImport-4c7a5b3e2d1f09876543210fedcba987/job-output-manifest.json
"""

import time
import traceback

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.medimg.imaging.plugins.module_utils import _healthimaging as ahi


def validate(module):
    p = module.params
    checks = (
        (ahi.DATASTORE_ID_RE, p["datastore_id"], "datastore_id must be 32 lowercase letters and digits"),
        (ahi.S3_URI_RE, p["input_s3_uri"], "input_s3_uri must be an S3 URI such as s3://bucket/prefix/"),
        (ahi.S3_URI_RE, p["output_s3_uri"], "output_s3_uri must be an S3 URI such as s3://bucket/prefix/"),
        (ahi.ROLE_ARN_RE, p["data_access_role_arn"],
         "data_access_role_arn must be an IAM role ARN such as arn:aws:iam::123456789012:role/Name"),
    )
    for regex, value, sentence in checks:
        if not regex.match(value or ""):
            module.fail_json(msg="%s, got %r." % (sentence, value))
    if p["input_owner_account_id"] and not ahi.ACCOUNT_RE.match(p["input_owner_account_id"]):
        module.fail_json(msg="input_owner_account_id must be a 12-digit AWS account ID.")
    if p["job_name"] and not ahi.JOB_NAME_RE.match(p["job_name"]):
        module.fail_json(msg="job_name must be 1 to 64 characters of letters, digits and ._/#-.")
    if p["client_token"] and not ahi.TOKEN_RE.match(p["client_token"]):
        module.fail_json(msg="client_token must be 1 to 64 characters of letters, digits and ._-.")
    if p["wait_timeout"] < 0 or p["poll_interval"] < 1:
        module.fail_json(msg="wait_timeout must be 0 or more and poll_interval 1 or more seconds.")


def find_existing_job(module, client, job_name):
    """The newest job of that name with the same input, output and role, or None."""
    p = module.params
    try:
        summaries = ahi.list_jobs(client, p["datastore_id"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not list the import jobs of HealthImaging datastore %s" % p["datastore_id"])
    candidates = [j for j in summaries if j.get("jobName") == job_name]
    candidates.sort(key=lambda j: str(j.get("submittedAt") or ""), reverse=True)
    for summary in candidates:
        job = get_job(module, client, summary["jobId"])
        if ahi.job_matches(job, p["input_s3_uri"], p["output_s3_uri"], p["data_access_role_arn"]):
            return job
    return None


def get_job(module, client, job_id):
    try:
        return client.get_dicom_import_job(datastoreId=module.params["datastore_id"], jobId=job_id,
                                           aws_retry=True)["jobProperties"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not read HealthImaging import job %s" % job_id)


def s3_preflight(module, s3):
    """Check the buckets and the input prefix with the caller's credentials."""
    p = module.params
    for label, uri in (("input", p["input_s3_uri"]), ("output", p["output_s3_uri"])):
        bucket, _prefix = ahi.split_s3_uri(uri)
        try:
            s3.head_bucket(Bucket=bucket, aws_retry=True)
        except ClientError as e:
            code = ahi.error_code(e)
            if code in ("404", "NoSuchBucket", "NotFound"):
                module.fail_json(msg="The %s bucket %s of the import does not exist." % (label, bucket))
            if code in ("403", "AccessDenied"):
                module.warn("Could not check the %s bucket %s (access denied to the caller); "
                            "the data access role may still reach it." % (label, bucket))
                continue
            module.fail_json_aws(e, msg="Could not check the %s bucket %s" % (label, bucket))
        except BotoCoreError as e:
            module.fail_json_aws(e, msg="Could not check the %s bucket %s" % (label, bucket))
    bucket, prefix = ahi.split_s3_uri(p["input_s3_uri"])
    files = size = 0
    params = {"Bucket": bucket, "Prefix": prefix}
    try:
        while True:
            page = s3.list_objects_v2(aws_retry=True, **params)
            for obj in page.get("Contents") or []:
                if obj["Key"].endswith("/"):
                    continue
                files += 1
                size += obj.get("Size", 0)
            if files > ahi.MAX_FILES_PER_JOB or not page.get("IsTruncated"):
                break
            params["ContinuationToken"] = page["NextContinuationToken"]
    except ClientError as e:
        if ahi.error_code(e) in ("403", "AccessDenied"):
            module.warn("Could not list the input prefix %s (access denied to the caller)." % p["input_s3_uri"])
            return None
        module.fail_json_aws(e, msg="Could not list the input prefix %s" % p["input_s3_uri"])
    except BotoCoreError as e:
        module.fail_json_aws(e, msg="Could not list the input prefix %s" % p["input_s3_uri"])
    if files == 0:
        module.fail_json(msg="The input prefix %s holds no files to import." % p["input_s3_uri"])
    if files > ahi.MAX_FILES_PER_JOB:
        module.fail_json(msg="The input prefix %s holds more than %d files, the most one import job takes; "
                             "split it into several prefixes." % (p["input_s3_uri"], ahi.MAX_FILES_PER_JOB))
    if size > ahi.MAX_BYTES_PER_JOB:
        module.fail_json(msg="The input prefix %s holds %d bytes, more than the 10 GB one import job takes; "
                             "split it into several prefixes." % (p["input_s3_uri"], size))
    return {"files": files, "bytes": size}


def start_job(module, client, token, job_name):
    p = module.params
    params = dict(
        datastoreId=p["datastore_id"],
        clientToken=token,
        jobName=job_name,
        inputS3Uri=p["input_s3_uri"],
        outputS3Uri=p["output_s3_uri"],
        dataAccessRoleArn=p["data_access_role_arn"],
    )
    if p["input_owner_account_id"]:
        params["inputOwnerAccountId"] = p["input_owner_account_id"]
    try:
        started = client.start_dicom_import_job(aws_retry=True, **params)
    except ClientError as e:
        code, message = ahi.error_code(e), ahi.error_message(e)
        if code == "AccessDeniedException":
            module.fail_json(msg="HealthImaging refused to start the import job into datastore %s: access denied. "
                                 "The caller needs medical-imaging:StartDICOMImportJob and iam:PassRole on %s (%s)."
                                 % (p["datastore_id"], p["data_access_role_arn"], message))
        if code == "ThrottlingException":
            module.fail_json(msg="HealthImaging kept throttling StartDICOMImportJob after %d tries; raise retries "
                                 "or retry_delay, or start fewer jobs at once (%s)." % (p["retries"], message))
        if code == "ResourceNotFoundException":
            module.fail_json(msg="HealthImaging datastore %s does not exist in region %s (%s)."
                                 % (p["datastore_id"], module.region, message))
        if code == "ConflictException":
            module.fail_json(msg="HealthImaging refused the import job into datastore %s: %s. A datastore that is "
                                 "not ACTIVE, or a client token already used with other inputs, cause this."
                                 % (p["datastore_id"], message))
        if code == "ValidationException":
            module.fail_json(msg="HealthImaging rejected the import job request: %s." % message)
        module.fail_json_aws(e, msg="Could not start the HealthImaging import job into datastore %s" % p["datastore_id"])
    except BotoCoreError as e:
        module.fail_json_aws(e, msg="Could not start the HealthImaging import job into datastore %s" % p["datastore_id"])
    return get_job(module, client, started["jobId"])


def run(module):
    validate(module)
    p = module.params

    token = p["client_token"] or ahi.derive_client_token(
        p["datastore_id"], p["input_s3_uri"], p["output_s3_uri"], p["data_access_role_arn"],
        p["input_owner_account_id"], p["job_name"])
    job_name = p["job_name"] or token

    client = ahi.ahi_client(module)
    ahi.require_active_datastore(module, client, p["datastore_id"])
    result = dict(changed=False, started=False, timed_out=False, client_token=token, manifest={})

    job = find_existing_job(module, client, job_name)
    if job is None:
        s3 = ahi.s3_client(module, p["s3_endpoint_url"])
        if p["s3_preflight"]:
            result["input"] = s3_preflight(module, s3)
        result["changed"] = True
        if module.check_mode:
            result["job"] = dict(job_name=job_name, datastore_id=p["datastore_id"],
                                 data_access_role_arn=p["data_access_role_arn"],
                                 input_s3_uri=p["input_s3_uri"], output_s3_uri=p["output_s3_uri"])
            module.exit_json(msg="An import job would be started.", **result)
        job = start_job(module, client, token, job_name)
        result["started"] = True

    job_id = job["jobId"]
    bucket, key, _folder = ahi.manifest_location(p["output_s3_uri"], p["datastore_id"], job_id)
    result["manifest_s3_uri"] = "s3://%s/%s" % (bucket, key)

    if p["wait"] and not module.check_mode and job["jobStatus"] not in ahi.JOB_TERMINAL:
        start = time.monotonic()
        job, timed_out = ahi.wait_for(
            lambda: get_job(module, client, job_id),
            lambda j: j["jobStatus"] in ahi.JOB_TERMINAL,
            p["wait_timeout"], p["poll_interval"])
        result["waited_seconds"] = round(time.monotonic() - start, 1)
        if timed_out:
            result.update(timed_out=True, job=ahi.shape_job(job))
            module.fail_json(
                msg="HealthImaging import job %s is still %s after %d seconds (wait_timeout). Run the task again to "
                    "keep waiting: the same inputs find the same job." % (job_id, job["jobStatus"], p["wait_timeout"]),
                **result)

    result["job"] = ahi.shape_job(job)
    if job["jobStatus"] == "FAILED":
        if result["started"]:
            why = "FAILED"
        else:
            why = "FAILED earlier (an identical job: same name, input, output and role)"
        module.fail_json(
            msg="HealthImaging import job %s %s: %s. Fix the cause, then set a new client_token or job_name to "
                "start another job." % (job_id, why, job.get("message") or "no message from the service"),
            **result)

    if job["jobStatus"] == "COMPLETED" and p["read_manifest"]:
        s3 = ahi.s3_client(module, p["s3_endpoint_url"])
        counts, _uri, problem = ahi.read_manifest(s3, p["output_s3_uri"], p["datastore_id"], job_id)
        if problem:
            module.warn("Import job %s COMPLETED but its counts are unknown: %s." % (job_id, problem))
        else:
            result["manifest"] = counts
            outcome, message = ahi.failed_files_outcome(job["jobStatus"], counts, p["on_failed_files"])
            if outcome == "fail":
                module.fail_json(msg="HealthImaging import job %s: %s." % (job_id, message), **result)
            if outcome == "warn":
                module.warn("HealthImaging import job %s: %s." % (job_id, message))
    module.exit_json(**result)


def main():
    argument_spec = dict(
        datastore_id=dict(type="str", required=True),
        input_s3_uri=dict(type="str", required=True),
        output_s3_uri=dict(type="str", required=True),
        data_access_role_arn=dict(type="str", required=True),
        input_owner_account_id=dict(type="str"),
        job_name=dict(type="str"),
        client_token=dict(type="str", no_log=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
        poll_interval=dict(type="int", default=15),
        on_failed_files=dict(type="str", choices=["warn", "fail", "ignore"], default="warn"),
        read_manifest=dict(type="bool", default=True),
        s3_preflight=dict(type="bool", default=True),
        s3_endpoint_url=dict(type="str"),
    )
    argument_spec.update(ahi.HEALTHIMAGING_ARGS)
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        run(module)
    except Exception as e:  # anything unexpected ends as a failure with its traceback, never raised
        module.fail_json(msg="Unexpected error in medimg.imaging.ahi_import: %s" % e, exception=traceback.format_exc())


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ahi_import_info
short_description: Read AWS HealthImaging DICOM import jobs
version_added: 0.1.0
description:
  - Returns one DICOM import job of a datastore (O(job_id), C(GetDICOMImportJob)) or its jobs
    (C(ListDICOMImportJobs), every page), optionally filtered by status and name.
  - With O(read_manifest=true) it also reads the C(job-output-manifest.json) of each COMPLETED job
    from S3 and returns its counts.
  - Changes nothing. A datastore that does not exist is a failure; a job that does not exist gives an
    empty list.
author:
  - medimg.imaging maintainers (@medimg)
options:
  datastore_id:
    description: ID of the datastore whose jobs to read.
    type: str
    required: true
  job_id:
    description: Read only this job (with its input and output S3 URIs).
    type: str
  job_status:
    description: Only jobs in this status.
    type: str
    choices: [SUBMITTED, IN_PROGRESS, COMPLETED, FAILED]
  job_name:
    description: Only jobs of this name.
    type: str
  details:
    description:
      - Read every listed job with C(GetDICOMImportJob) to return its input and output S3 URIs
        (one more call per job). Always true with O(job_id) or O(read_manifest).
    type: bool
    default: false
  read_manifest:
    description: Add the manifest counts (C(manifest)) to each COMPLETED job.
    type: bool
    default: false
  s3_endpoint_url:
    description: Endpoint of the S3 client that reads manifests (see M(medimg.imaging.ahi_import)).
    type: str
extends_documentation_fragment:
  - medimg.imaging.healthimaging
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to compare; the module changes nothing.
  platform:
    support: full
    platforms: posix
    description: Runs where the AWS credentials are, usually the controller.
seealso:
  - module: medimg.imaging.ahi_import
"""

EXAMPLES = r"""
- name: Read one job
  medimg.imaging.ahi_import_info:
    datastore_id: "{{ ahi_datastore_id }}"
    job_id: "{{ ahi_job.job.job_id }}"
  register: ahi_jobs

- name: Wait until a job started with wait=false has ended
  medimg.imaging.ahi_import_info:
    datastore_id: "{{ ahi_datastore_id }}"
    job_id: "{{ ahi_job.job.job_id }}"
  register: ahi_jobs
  until: ahi_jobs.jobs[0].job_status in ['COMPLETED', 'FAILED']
  retries: 60
  delay: 30

- name: Count the files of every completed job
  medimg.imaging.ahi_import_info:
    datastore_id: "{{ ahi_datastore_id }}"
    job_status: COMPLETED
    read_manifest: true
  register: ahi_done

- name: List the failed jobs and why
  medimg.imaging.ahi_import_info:
    region: eu-west-1
    datastore_id: "{{ ahi_datastore_id }}"
    job_status: FAILED
  register: ahi_failed
"""

RETURN = r"""
jobs:
  description: The jobs, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    job_id:
      description: Job ID.
      type: str
    job_name:
      description: Job name.
      type: str
    job_status:
      description: SUBMITTED, IN_PROGRESS, COMPLETED or FAILED.
      type: str
    datastore_id:
      description: Datastore ID.
      type: str
    data_access_role_arn:
      description: Data access role.
      type: str
    input_s3_uri:
      description: Input prefix.
      type: str
      returned: with O(job_id), O(details) or O(read_manifest)
    output_s3_uri:
      description: Output prefix.
      type: str
      returned: with O(job_id), O(details) or O(read_manifest)
    submitted_at:
      description: When the job was submitted (ISO 8601).
      type: str
    ended_at:
      description: When the job ended (ISO 8601).
      type: str
      returned: when the job has ended
    message:
      description: The service's message, for example why a job FAILED.
      type: str
      returned: when the service gives one
    manifest:
      description: Manifest counts (see M(medimg.imaging.ahi_import)); empty when unreadable.
      type: dict
      returned: with O(read_manifest), for COMPLETED jobs
  sample:
    - job_id: 4c7a5b3e2d1f09876543210fedcba987
      job_name: nightly-2026-11-22
      job_status: FAILED
      datastore_id: 0123456789abcdef0123456789abcdef
      message: "Access denied: the data access role cannot read the input S3 location"
"""

import traceback

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.medimg.imaging.plugins.module_utils import _healthimaging as ahi


def run(module):
    p = module.params
    if not ahi.DATASTORE_ID_RE.match(p["datastore_id"]):
        module.fail_json(msg="datastore_id must be 32 lowercase letters and digits, got %r." % p["datastore_id"])
    if p["job_id"] and not ahi.JOB_ID_RE.match(p["job_id"]):
        module.fail_json(msg="job_id must be 1 to 32 lowercase letters and digits, got %r." % p["job_id"])

    client = ahi.ahi_client(module)
    try:
        if ahi.get_datastore(client, p["datastore_id"]) is None:
            module.fail_json(msg="HealthImaging datastore %s does not exist in region %s."
                                 % (p["datastore_id"], module.region))
        if p["job_id"]:
            try:
                raw = [client.get_dicom_import_job(datastoreId=p["datastore_id"], jobId=p["job_id"],
                                                   aws_retry=True)["jobProperties"]]
            except ClientError as e:
                if ahi.error_code(e) != "ResourceNotFoundException":
                    raise
                raw = []
        else:
            raw = ahi.list_jobs(client, p["datastore_id"], p["job_status"])
            if p["details"] or p["read_manifest"]:
                raw = [client.get_dicom_import_job(datastoreId=p["datastore_id"], jobId=j["jobId"],
                                                   aws_retry=True)["jobProperties"] for j in raw]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the import jobs of HealthImaging datastore %s" % p["datastore_id"])

    raw = [j for j in raw if (not p["job_status"] or j.get("jobStatus") == p["job_status"])
           and (not p["job_name"] or j.get("jobName") == p["job_name"])]
    raw.sort(key=lambda j: str(j.get("submittedAt") or ""), reverse=True)
    jobs = []
    s3 = ahi.s3_client(module, p["s3_endpoint_url"]) if p["read_manifest"] else None
    for job in raw:
        shaped = ahi.shape_job(job)
        if s3 is not None and job.get("jobStatus") == "COMPLETED":
            counts, _uri, problem = ahi.read_manifest(s3, job["outputS3Uri"], job["datastoreId"], job["jobId"])
            if problem:
                module.warn("Counts of import job %s are unknown: %s." % (job["jobId"], problem))
            shaped["manifest"] = counts or {}
        jobs.append(shaped)
    module.exit_json(changed=False, jobs=jobs)


def main():
    argument_spec = dict(
        datastore_id=dict(type="str", required=True),
        job_id=dict(type="str"),
        job_status=dict(type="str", choices=["SUBMITTED", "IN_PROGRESS", "COMPLETED", "FAILED"]),
        job_name=dict(type="str"),
        details=dict(type="bool", default=False),
        read_manifest=dict(type="bool", default=False),
        s3_endpoint_url=dict(type="str"),
    )
    argument_spec.update(ahi.HEALTHIMAGING_ARGS)
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        run(module)
    except Exception as e:  # anything unexpected ends as a failure with its traceback, never raised
        module.fail_json(msg="Unexpected error in medimg.imaging.ahi_import_info: %s" % e, exception=traceback.format_exc())


if __name__ == "__main__":
    main()

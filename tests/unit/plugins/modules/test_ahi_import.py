# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of ahi_import: input validation and finding an identical job (stubbed botocore)."""

import datetime

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.medimg.imaging.plugins.module_utils import _healthimaging as ahi
from ansible_collections.medimg.imaging.plugins.modules import ahi_import

DS = "0123456789abcdef0123456789abcdef"
ROLE = "arn:aws:iam::123456789012:role/HealthImagingImport"
IN = "s3://hospital-dicom-inbox/2026-11-22/"
OUT = "s3://hospital-dicom-results/imports/"


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, **params):
        self.params = dict(datastore_id=DS, input_s3_uri=IN, output_s3_uri=OUT, data_access_role_arn=ROLE,
                           input_owner_account_id=None, job_name=None, client_token=None, wait_timeout=60,
                           poll_interval=5)
        self.params.update(params)
        self.region = "us-east-1"

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])

    def fail_json_aws(self, exception, msg=None, **kwargs):
        raise Failed("%s: %s" % (msg, exception))


def test_valid_params_pass():
    ahi_import.validate(FakeModule())


@pytest.mark.parametrize("params,words", [
    (dict(datastore_id="ABC"), "datastore_id must be 32"),
    (dict(input_s3_uri="/data/in"), "input_s3_uri must be an S3 URI"),
    (dict(output_s3_uri="s3://Upper/x"), "output_s3_uri must be an S3 URI"),
    (dict(data_access_role_arn="arn:aws:iam::123:user/x"), "data_access_role_arn must be an IAM role ARN"),
    (dict(input_owner_account_id="12"), "12-digit"),
    (dict(job_name="bad name with spaces"), "job_name must be"),
    (dict(client_token="x" * 65), "client_token must be"),
    (dict(poll_interval=0), "poll_interval"),
])
def test_bad_params_fail_with_a_sentence(params, words):
    with pytest.raises(Failed) as err:
        ahi_import.validate(FakeModule(**params))
    assert words in str(err.value)
    assert str(err.value).endswith(".")


def _client():
    client = boto3.client("medical-imaging", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    return client, RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(retries=2, delay=0.01))


def _job(job_id, **extra):
    job = {"jobId": job_id, "jobName": "medimg-x", "jobStatus": "COMPLETED", "datastoreId": DS,
           "dataAccessRoleArn": ROLE, "inputS3Uri": IN, "outputS3Uri": OUT,
           "submittedAt": datetime.datetime(2026, 11, 22, 10)}
    job.update(extra)
    return job


def test_find_existing_job_checks_inputs_of_each_candidate():
    client, wrapped = _client()
    summaries = [
        {k: v for k, v in _job("a" * 32, submittedAt=datetime.datetime(2026, 11, 22, 12)).items()
         if k not in ("inputS3Uri", "outputS3Uri")},
        {k: v for k, v in _job("b" * 32).items() if k not in ("inputS3Uri", "outputS3Uri")},
        {k: v for k, v in _job("c" * 32, jobName="other").items() if k not in ("inputS3Uri", "outputS3Uri")},
    ]
    with Stubber(client) as stub:
        stub.add_response("list_dicom_import_jobs", {"jobSummaries": summaries}, {"datastoreId": DS})
        # newest candidate first: same name but another input, so not ours
        stub.add_response("get_dicom_import_job", {"jobProperties": _job("a" * 32, inputS3Uri="s3://other-bucket/x/")},
                          {"datastoreId": DS, "jobId": "a" * 32})
        stub.add_response("get_dicom_import_job", {"jobProperties": _job("b" * 32)},
                          {"datastoreId": DS, "jobId": "b" * 32})
        found = ahi_import.find_existing_job(FakeModule(), wrapped, "medimg-x")
        stub.assert_no_pending_responses()
    assert found["jobId"] == "b" * 32


def test_find_existing_job_none():
    client, wrapped = _client()
    with Stubber(client) as stub:
        stub.add_response("list_dicom_import_jobs", {"jobSummaries": []}, {"datastoreId": DS})
        assert ahi_import.find_existing_job(FakeModule(), wrapped, "medimg-x") is None


def test_default_job_name_is_the_token():
    token = ahi.derive_client_token(DS, IN, OUT, ROLE)
    assert ahi.JOB_NAME_RE.match(token)

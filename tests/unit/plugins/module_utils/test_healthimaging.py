# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the HealthImaging module_utils: token derivation, result shaping, retries."""

import datetime
import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper
from ansible_collections.medimg.imaging.plugins.module_utils import _healthimaging as ahi

DS = "0123456789abcdef0123456789abcdef"
JOB = "4c7a5b3e2d1f09876543210fedcba987"
ROLE = "arn:aws:iam::123456789012:role/HealthImagingImport"
IN = "s3://hospital-dicom-inbox/2026-11-22/"
OUT = "s3://hospital-dicom-results/imports/"


# ---------------------------------------------------------------- token derivation
def test_token_is_stable_and_valid():
    first = ahi.derive_client_token(DS, IN, OUT, ROLE)
    assert first == ahi.derive_client_token(DS, IN, OUT, ROLE)
    assert first.startswith("medimg-")
    assert len(first) <= 64
    assert ahi.TOKEN_RE.match(first)
    assert ahi.JOB_NAME_RE.match(first)  # also used as the default job name


@pytest.mark.parametrize("change", [
    dict(datastore_id="f" * 32),
    dict(input_s3_uri="s3://hospital-dicom-inbox/2026-11-23/"),
    dict(output_s3_uri="s3://hospital-dicom-results/other/"),
    dict(data_access_role_arn="arn:aws:iam::123456789012:role/Other"),
    dict(input_owner_account_id="210987654321"),
    dict(job_name="nightly"),
])
def test_token_changes_with_every_input(change):
    args = dict(datastore_id=DS, input_s3_uri=IN, output_s3_uri=OUT, data_access_role_arn=ROLE)
    base = ahi.derive_client_token(**args)
    args.update(change)
    assert ahi.derive_client_token(**args) != base


def test_token_treats_empty_optional_inputs_as_unset():
    assert ahi.derive_client_token(DS, IN, OUT, ROLE, "", "") == ahi.derive_client_token(DS, IN, OUT, ROLE)


def test_token_is_not_fooled_by_concatenation():
    # Plain concatenation would make these two equal; the canonical JSON keeps them apart.
    a = ahi.derive_client_token(DS, "s3://bucket-a/x", "s3://bucket-b/", ROLE)
    b = ahi.derive_client_token(DS, "s3://bucket-a/", "xs3://bucket-b/", ROLE)
    assert a != b


def test_datastore_token():
    token = ahi.derive_datastore_token("radiology")
    assert token == ahi.derive_datastore_token("radiology", None)
    assert token != ahi.derive_datastore_token("radiology", "arn:aws:kms:eu-west-1:123456789012:alias/x")
    assert ahi.TOKEN_RE.match(token)


# ---------------------------------------------------------------- S3 locations
def test_split_s3_uri():
    assert ahi.split_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert ahi.split_s3_uri("s3://bucket") == ("bucket", "")


@pytest.mark.parametrize("out", [OUT, OUT.rstrip("/")])
def test_manifest_location(out):
    bucket, key, folder = ahi.manifest_location(out, DS, JOB)
    assert bucket == "hospital-dicom-results"
    assert key == "imports/%s-DicomImport-%s/job-output-manifest.json" % (DS, JOB)
    assert folder == "s3://hospital-dicom-results/imports/%s-DicomImport-%s/" % (DS, JOB)


def test_manifest_location_at_bucket_root():
    assert ahi.manifest_location("s3://results", DS, JOB)[1] == "%s-DicomImport-%s/job-output-manifest.json" % (DS, JOB)


@pytest.mark.parametrize("uri,ok", [
    ("s3://bucket/prefix/", True),
    ("s3://my.bucket-1", True),
    ("s3://ab/", False),
    ("https://bucket/prefix/", False),
    ("s3://Bucket/prefix/", False),
])
def test_s3_uri_validation(uri, ok):
    assert bool(ahi.S3_URI_RE.match(uri)) is ok


# ---------------------------------------------------------------- result shaping
MANIFEST = {
    "jobSummary": {
        "jobId": JOB,
        "datastoreId": DS,
        "inputS3Uri": IN,
        "outputS3Uri": OUT + "%s-DicomImport-%s/" % (DS, JOB),
        "successOutputS3Uri": OUT + "%s-DicomImport-%s/SUCCESS/" % (DS, JOB),
        "failureOutputS3Uri": OUT + "%s-DicomImport-%s/FAILURE/" % (DS, JOB),
        "numberOfScannedFiles": 120,
        "numberOfImportedFiles": 117,
        "numberOfFilesWithCustomerError": 2,
        "numberOfFilesWithServerError": 1,
        "numberOfGeneratedImageSets": 3,
        "imageSetsSummary": [{"imageSetId": "a" * 32, "numberOfMatchedSOPInstances": 40}] * 3,
    }
}


def test_summarize_manifest():
    counts = ahi.summarize_manifest(MANIFEST)
    assert counts == {
        "scanned_files": 120,
        "imported_files": 117,
        "failed_files": 3,
        "files_with_customer_error": 2,
        "files_with_server_error": 1,
        "generated_image_sets": 3,
        "success_output_s3_uri": MANIFEST["jobSummary"]["successOutputS3Uri"],
        "failure_output_s3_uri": MANIFEST["jobSummary"]["failureOutputS3Uri"],
    }


def test_summarize_manifest_tolerates_missing_and_odd_fields():
    counts = ahi.summarize_manifest({"jobSummary": {"numberOfScannedFiles": "5", "numberOfImportedFiles": None}})
    assert counts["scanned_files"] == 5
    assert counts["imported_files"] == 0
    assert counts["failed_files"] == 0
    assert counts["generated_image_sets"] == 0
    assert ahi.summarize_manifest("not a dict")["scanned_files"] == 0


def test_shape_job_keeps_known_fields_and_formats_times():
    when = datetime.datetime(2026, 11, 22, 16, 0, tzinfo=datetime.timezone.utc)
    job = {
        "jobId": JOB, "jobName": "n", "jobStatus": "COMPLETED", "datastoreId": DS,
        "dataAccessRoleArn": ROLE, "inputS3Uri": IN, "outputS3Uri": OUT,
        "submittedAt": when, "endedAt": when,
        "importConfiguration": {"dicomJsonMetadataImportConfiguration": {"dicomMetadataMappings": ["x"]}},
    }
    shaped = ahi.shape_job(job)
    assert shaped["job_id"] == JOB
    assert shaped["data_access_role_arn"] == ROLE
    assert shaped["input_s3_uri"] == IN
    assert shaped["submitted_at"] == "2026-11-22T16:00:00+00:00"
    assert "importConfiguration" not in shaped and "import_configuration" not in shaped
    assert "message" not in shaped
    json.dumps(shaped)  # serialisable as a module result


def test_shape_datastore_with_tags():
    shaped = ahi.shape_datastore({"datastoreId": DS, "datastoreName": "x", "datastoreStatus": "ACTIVE",
                                  "createdAt": datetime.datetime(2026, 1, 1)}, {"a": "b"})
    assert shaped == {"datastore_id": DS, "datastore_name": "x", "datastore_status": "ACTIVE",
                      "created_at": "2026-01-01T00:00:00", "tags": {"a": "b"}}
    assert "tags" not in ahi.shape_datastore({"datastoreId": DS})


@pytest.mark.parametrize("choice,outcome", [("warn", "warn"), ("fail", "fail"), ("ignore", "ok")])
def test_failed_files_outcome(choice, outcome):
    result, msg = ahi.failed_files_outcome("COMPLETED", ahi.summarize_manifest(MANIFEST), choice)
    assert result == outcome
    if outcome != "ok":
        assert "3 of 120 files failed" in msg
        assert "FAILURE/" in msg


def test_failed_files_outcome_without_failures_or_counts():
    clean = dict(ahi.summarize_manifest(MANIFEST), failed_files=0)
    assert ahi.failed_files_outcome("COMPLETED", clean, "fail") == ("ok", None)
    assert ahi.failed_files_outcome("COMPLETED", None, "fail") == ("ok", None)
    assert ahi.failed_files_outcome("FAILED", ahi.summarize_manifest(MANIFEST), "fail") == ("ok", None)


def test_job_matches():
    job = {"inputS3Uri": IN, "outputS3Uri": OUT, "dataAccessRoleArn": ROLE}
    assert ahi.job_matches(job, IN, OUT, ROLE)
    assert not ahi.job_matches(job, IN, OUT, ROLE + "2")
    assert not ahi.job_matches({"jobId": JOB}, IN, OUT, ROLE)


# ---------------------------------------------------------------- waiting
def test_wait_for_returns_when_done():
    states = iter(["SUBMITTED", "IN_PROGRESS", "COMPLETED"])
    clock = [0.0]
    result, timed_out = ahi.wait_for(lambda: next(states), lambda s: s == "COMPLETED", 60, 5,
                                     sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert (result, timed_out) == ("COMPLETED", False)
    assert clock[0] == 10


def test_wait_for_is_bounded():
    clock = [0.0]
    calls = []

    def poll():
        calls.append(clock[0])
        return "IN_PROGRESS"

    result, timed_out = ahi.wait_for(poll, lambda s: s == "COMPLETED", 12, 5,
                                     sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    assert timed_out and result == "IN_PROGRESS"
    assert calls == [0, 5, 10, 12]


# ---------------------------------------------------------------- botocore, stubbed
def _client(service):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")


def _retrying(client, retries=4):
    return RetryingBotoClientWrapper(client, AWSRetry.jittered_backoff(
        retries=retries, delay=0.01, max_delay=0.02, catch_extra_error_codes=ahi.RETRY_CODES))


START = {"datastoreId": DS, "jobId": JOB, "jobStatus": "SUBMITTED",
         "submittedAt": datetime.datetime(2026, 11, 22)}


def test_throttling_exception_is_retried():
    client = _client("medical-imaging")
    with Stubber(client) as stub:
        for _attempt in range(2):
            stub.add_client_error("start_dicom_import_job", "ThrottlingException", "Rate exceeded", 429)
        stub.add_response("start_dicom_import_job", START)
        wrapped = _retrying(client)
        result = wrapped.start_dicom_import_job(
            datastoreId=DS, clientToken="t", dataAccessRoleArn=ROLE, inputS3Uri=IN, outputS3Uri=OUT, aws_retry=True)
        assert result["jobId"] == JOB
        stub.assert_no_pending_responses()


def test_throttling_gives_up_after_retries():
    client = _client("medical-imaging")
    with Stubber(client) as stub:
        for _attempt in range(3):
            stub.add_client_error("start_dicom_import_job", "ThrottlingException", "Rate exceeded", 429)
        with pytest.raises(Exception) as err:
            _retrying(client, retries=3).start_dicom_import_job(
                datastoreId=DS, clientToken="t", dataAccessRoleArn=ROLE, inputS3Uri=IN, outputS3Uri=OUT,
                aws_retry=True)
        assert ahi.error_code(err.value) == "ThrottlingException"


def test_access_denied_is_not_retried():
    client = _client("medical-imaging")
    with Stubber(client) as stub:
        stub.add_client_error("start_dicom_import_job", "AccessDeniedException", "no iam:PassRole", 403)
        with pytest.raises(Exception) as err:
            _retrying(client).start_dicom_import_job(
                datastoreId=DS, clientToken="t", dataAccessRoleArn=ROLE, inputS3Uri=IN, outputS3Uri=OUT,
                aws_retry=True)
        assert ahi.error_code(err.value) == "AccessDeniedException"
        assert ahi.error_message(err.value) == "no iam:PassRole"


def test_list_jobs_follows_pages():
    client = _client("medical-imaging")
    summary = {"jobId": JOB, "jobName": "n", "jobStatus": "COMPLETED", "datastoreId": DS}
    with Stubber(client) as stub:
        stub.add_response("list_dicom_import_jobs", {"jobSummaries": [summary], "nextToken": "2"},
                          {"datastoreId": DS, "jobStatus": "COMPLETED"})
        stub.add_response("list_dicom_import_jobs", {"jobSummaries": [dict(summary, jobId="b" * 32)]},
                          {"datastoreId": DS, "jobStatus": "COMPLETED", "nextToken": "2"})
        jobs = ahi.list_jobs(_retrying(client), DS, "COMPLETED")
    assert [j["jobId"] for j in jobs] == [JOB, "b" * 32]


def test_get_datastore_missing_is_none():
    client = _client("medical-imaging")
    with Stubber(client) as stub:
        stub.add_client_error("get_datastore", "ResourceNotFoundException", "not found", 404)
        assert ahi.get_datastore(_retrying(client), DS) is None


def _stream(data):
    from botocore.response import StreamingBody
    return StreamingBody(io.BytesIO(data), len(data))


def test_read_manifest():
    client = _client("s3")
    bucket, key, _folder = ahi.manifest_location(OUT, DS, JOB)
    body = json.dumps(MANIFEST).encode()
    with Stubber(client) as stub:
        stub.add_response("get_object", {"Body": _stream(body)}, {"Bucket": bucket, "Key": key})
        counts, uri, problem = ahi.read_manifest(_retrying(client), OUT, DS, JOB)
    assert problem is None
    assert uri == "s3://%s/%s" % (bucket, key)
    assert counts["imported_files"] == 117


@pytest.mark.parametrize("code,words", [("NoSuchKey", "does not exist"), ("AccessDenied", "s3:GetObject"),
                                        ("NoSuchBucket", "bucket")])
def test_read_manifest_problems(code, words):
    client = _client("s3")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", code, "x", 404 if code != "AccessDenied" else 403)
        counts, _uri, problem = ahi.read_manifest(_retrying(client), OUT, DS, JOB)
    assert counts is None
    assert words in problem


def test_read_manifest_not_json():
    client = _client("s3")
    with Stubber(client) as stub:
        stub.add_response("get_object", {"Body": _stream(b"<html>")})
        counts, _uri, problem = ahi.read_manifest(_retrying(client), OUT, DS, JOB)
    assert counts is None and "not JSON" in problem

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options and notes shared by the AWS HealthImaging modules.
    DOCUMENTATION = r"""
options:
  retries:
    description:
      - How many times a HealthImaging or S3 call is tried when the service answers
        C(ThrottlingException) (HTTP 429), C(InternalServerException) or another transient error.
      - Retries use jittered exponential backoff (amazon.aws C(AWSRetry.jittered_backoff)), starting
        at O(retry_delay) seconds and never sleeping more than 30 seconds at a time.
      - botocore's own retries are turned off for these clients so that this count is the only one;
        O(aws_config) can turn them back on.
    type: int
    default: 10
  retry_delay:
    description:
      - Initial backoff delay in seconds; each retry sleeps a random time up to twice the previous bound.
    type: float
    default: 3.0
notes:
  - The modules are in the action group C(medimg.imaging.healthimaging), so
    C(module_defaults) for C(group/medimg.imaging.healthimaging) sets region, credentials and
    endpoints once; amazon.aws modules (such as M(amazon.aws.s3_object)) take the same options
    through C(group/amazon.aws.aws).
  - O(endpoint_url) points the B(HealthImaging) client at another endpoint (a VPC endpoint or a local
    emulator). Per-service endpoints can also come from the environment of the host that runs the
    module, read by botocore itself, for example E(AWS_ENDPOINT_URL_MEDICAL_IMAGING) and
    E(AWS_ENDPOINT_URL_S3).
  - With O(endpoint_url) set the modules turn off botocore's host prefix injection
    (C(inject_host_prefix=False)), since botocore would otherwise prefix image set calls with C(runtime-),
    which a local or private endpoint does not answer.
  - Results carry identifiers, statuses, counts and S3 locations, never DICOM metadata or patient data.
"""

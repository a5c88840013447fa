#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ahi_datastore_info
short_description: Read AWS HealthImaging datastores
version_added: 0.1.0
description:
  - Returns one datastore (O(datastore_id), C(GetDatastore)) or the datastores of the region
    (C(ListDatastores), every page), optionally filtered by name and status.
  - Changes nothing. A datastore that does not exist gives an empty list.
author:
  - medimg.imaging maintainers (@medimg)
options:
  datastore_id:
    description: Read only this datastore.
    type: str
  name:
    description: Only datastores of this name.
    type: str
    aliases: [datastore_name]
  datastore_status:
    description: Only datastores in this status.
    type: str
    choices: [CREATING, CREATE_FAILED, ACTIVE, DELETING, DELETED]
  include_tags:
    description: Add each datastore's tags (one C(ListTagsForResource) call per datastore).
    type: bool
    default: false
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
  - module: medimg.imaging.ahi_datastore
"""

EXAMPLES = r"""
- name: Every ACTIVE datastore of the region
  medimg.imaging.ahi_datastore_info:
    region: eu-west-1
    datastore_status: ACTIVE
  register: ahi_stores

- name: Find a datastore's ID by its name
  medimg.imaging.ahi_datastore_info:
    name: radiology-prod
    include_tags: true
  register: ahi_store

- name: Use it
  ansible.builtin.debug:
    msg: "{{ ahi_store.datastores | map(attribute='datastore_id') | list }}"
"""

RETURN = r"""
datastores:
  description: The datastores.
  returned: always
  type: list
  elements: dict
  contains:
    datastore_id:
      description: Datastore ID.
      type: str
    datastore_name:
      description: Name.
      type: str
    datastore_status:
      description: CREATING, CREATE_FAILED, ACTIVE, DELETING or DELETED.
      type: str
    datastore_arn:
      description: ARN.
      type: str
    kms_key_arn:
      description: Customer managed KMS key.
      type: str
      returned: with O(datastore_id), when set
    created_at:
      description: Creation time (ISO 8601).
      type: str
    updated_at:
      description: Last update (ISO 8601).
      type: str
    tags:
      description: Tags.
      type: dict
      returned: with O(include_tags)
  sample:
    - datastore_id: 0123456789abcdef0123456789abcdef
      datastore_name: radiology-prod
      datastore_status: ACTIVE
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
    if p["datastore_id"] and not ahi.DATASTORE_ID_RE.match(p["datastore_id"]):
        module.fail_json(msg="datastore_id must be 32 lowercase letters and digits, got %r." % p["datastore_id"])

    client = ahi.ahi_client(module)
    try:
        if p["datastore_id"]:
            store = ahi.get_datastore(client, p["datastore_id"])
            raw = [store] if store else []
        else:
            raw = ahi.list_datastores(client, p["datastore_status"])
        raw = [d for d in raw if (not p["name"] or d.get("datastoreName") == p["name"])
               and (not p["datastore_status"] or d.get("datastoreStatus") == p["datastore_status"])]
        stores = []
        for store in raw:
            tags = None
            if p["include_tags"] and store.get("datastoreArn"):
                tags = client.list_tags_for_resource(resourceArn=store["datastoreArn"], aws_retry=True).get("tags") or {}
            stores.append(ahi.shape_datastore(store, tags))
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not read HealthImaging datastores")
    module.exit_json(changed=False, datastores=stores)


def main():
    argument_spec = dict(
        datastore_id=dict(type="str"),
        name=dict(type="str", aliases=["datastore_name"]),
        datastore_status=dict(type="str", choices=["CREATING", "CREATE_FAILED", "ACTIVE", "DELETING", "DELETED"]),
        include_tags=dict(type="bool", default=False),
    )
    argument_spec.update(ahi.HEALTHIMAGING_ARGS)
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        run(module)
    except Exception as e:  # anything unexpected ends as a failure with its traceback, never raised
        module.fail_json(msg="Unexpected error in medimg.imaging.ahi_datastore_info: %s" % e, exception=traceback.format_exc())


if __name__ == "__main__":
    main()

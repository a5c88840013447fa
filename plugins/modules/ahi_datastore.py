#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ahi_datastore
short_description: Create, tag and delete AWS HealthImaging datastores
version_added: 0.1.0
description:
  - Makes sure an AWS HealthImaging datastore exists (O(state=present)) with the given tags, or is
    deleted (O(state=absent)), and with O(wait=true) waits until it is ACTIVE or DELETED.
  - A datastore is found by O(datastore_id), or by O(name) among the datastores that are not
    DELETED or DELETING. Two datastores with the same name make the module fail; give O(datastore_id) then.
  - The KMS key of a datastore cannot change after creation; a different O(kms_key_arn) is a failure.
  - HealthImaging deletes only empty datastores; deleting one that still holds image sets fails with
    the service's message.
author:
  - medimg.imaging maintainers (@medimg)
options:
  name:
    description:
      - Datastore name (letters, digits and C(._/#-), up to 256 characters).
      - Required to create a datastore.
    type: str
    aliases: [datastore_name]
  datastore_id:
    description: ID of an existing datastore.
    type: str
  state:
    description: Whether the datastore should exist.
    type: str
    choices: [present, absent]
    default: present
  kms_key_arn:
    description:
      - ARN of the customer managed KMS key that encrypts the datastore; AWS owned keys when unset.
      - Only used at creation; it cannot change afterwards.
    type: str
  wait:
    description: Wait until the datastore is ACTIVE (present) or DELETED (absent).
    type: bool
    default: true
  wait_timeout:
    description: Longest time to wait, in seconds; the module fails when it is reached.
    type: int
    default: 900
  poll_interval:
    description: Seconds between two C(GetDatastore) calls while waiting.
    type: int
    default: 10
extends_documentation_fragment:
  - medimg.imaging.healthimaging
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    description: Reports what would be created, tagged or deleted, and changes nothing.
  diff_mode:
    support: full
    description: Shows the datastore (name, key, tags) before and after.
  platform:
    support: full
    platforms: posix
    description: Runs where the AWS credentials are, usually the controller.
seealso:
  - module: medimg.imaging.ahi_datastore_info
  - module: medimg.imaging.ahi_import
"""

EXAMPLES = r"""
- name: A datastore for the radiology department
  medimg.imaging.ahi_datastore:
    name: radiology-prod
    region: eu-west-1
    kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
    tags:
      department: radiology
      environment: production
  register: ahi_store

- name: Use its ID
  ansible.builtin.debug:
    msg: "{{ ahi_store.datastore.datastore_id }} is {{ ahi_store.datastore.datastore_status }}"

- name: Add a tag without removing the others
  medimg.imaging.ahi_datastore:
    name: radiology-prod
    tags:
      cost-center: "4711"
    purge_tags: false

- name: Delete an empty datastore by ID
  medimg.imaging.ahi_datastore:
    datastore_id: 0123456789abcdef0123456789abcdef
    state: absent
"""

RETURN = r"""
datastore:
  description: The datastore after the task; empty when it is absent.
  returned: always
  type: dict
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
      description: Customer managed KMS key, when one was given.
      type: str
      returned: when set
    created_at:
      description: Creation time (ISO 8601).
      type: str
    updated_at:
      description: Last update (ISO 8601).
      type: str
    tags:
      description: Tags.
      type: dict
  sample:
    datastore_id: 0123456789abcdef0123456789abcdef
    datastore_name: radiology-prod
    datastore_status: ACTIVE
    datastore_arn: arn:aws:medical-imaging:eu-west-1:123456789012:datastore/0123456789abcdef0123456789abcdef
    tags:
      department: radiology
"""

import traceback
import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.medimg.imaging.plugins.module_utils import _healthimaging as ahi

GONE = ("DELETED", "DELETING")


def find_datastore(module, client):
    p = module.params
    try:
        if p["datastore_id"]:
            return ahi.get_datastore(client, p["datastore_id"])
        matches = [d for d in ahi.list_datastores(client)
                   if d.get("datastoreName") == p["name"] and d.get("datastoreStatus") not in GONE]
        if len(matches) > 1:
            module.fail_json(msg="%d HealthImaging datastores are named %s (%s): give datastore_id."
                                 % (len(matches), p["name"], ", ".join(d["datastoreId"] for d in matches)))
        if matches:
            return ahi.get_datastore(client, matches[0]["datastoreId"])
    except (BotoCoreError, ClientError) as e:
        what = p["datastore_id"] or "named %s" % p["name"]
        module.fail_json_aws(e, msg="Could not look up HealthImaging datastore %s" % what)
    return None


def get_tags(module, client, arn):
    try:
        return client.list_tags_for_resource(resourceArn=arn, aws_retry=True).get("tags") or {}
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not read the tags of %s" % arn)


def wait_status(module, client, datastore_id, done):
    p = module.params

    def poll():
        try:
            return ahi.get_datastore(client, datastore_id)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="Could not read HealthImaging datastore %s" % datastore_id)

    store, timed_out = ahi.wait_for(poll, done, p["wait_timeout"], p["poll_interval"])
    if timed_out:
        module.fail_json(msg="HealthImaging datastore %s is still %s after %d seconds (wait_timeout)."
                             % (datastore_id, (store or {}).get("datastoreStatus", "absent"), p["wait_timeout"]))
    return store


def view(store, tags):
    if not store or store.get("datastoreStatus") == "DELETED":
        return {}
    return ahi.shape_datastore(store, tags)


def ensure_present(module, client, store):
    p = module.params
    result = dict(changed=False)
    if store is None and not p["name"]:
        module.fail_json(msg="HealthImaging datastore %s does not exist; give name to create a new one."
                             % p["datastore_id"])
    if store is None or store.get("datastoreStatus") in GONE:
        desired_tags = p["tags"] or {}
        result.update(changed=True, diff=dict(before={}, after=dict(
            datastore_name=p["name"], kms_key_arn=p["kms_key_arn"], tags=desired_tags)))
        if module.check_mode:
            result["datastore"] = dict(datastore_name=p["name"], tags=desired_tags)
            return result
        params = dict(datastoreName=p["name"], clientToken=uuid.uuid4().hex)
        if p["kms_key_arn"]:
            params["kmsKeyArn"] = p["kms_key_arn"]
        if desired_tags:
            params["tags"] = desired_tags
        try:
            created = client.create_datastore(aws_retry=True, **params)
        except ClientError as e:
            if ahi.error_code(e) == "AccessDeniedException":
                module.fail_json(msg="Access denied creating HealthImaging datastore %s: the caller needs "
                                     "medical-imaging:CreateDatastore (and kms:* grants on a customer key) (%s)."
                                     % (p["name"], ahi.error_message(e)))
            module.fail_json_aws(e, msg="Could not create HealthImaging datastore %s" % p["name"])
        except BotoCoreError as e:
            module.fail_json_aws(e, msg="Could not create HealthImaging datastore %s" % p["name"])
        ds_id = created["datastoreId"]
        if p["wait"]:
            store = wait_status(module, client, ds_id,
                                lambda s: s is not None and s["datastoreStatus"] in ("ACTIVE", "CREATE_FAILED"))
            if store["datastoreStatus"] == "CREATE_FAILED":
                module.fail_json(msg="HealthImaging datastore %s (%s) is CREATE_FAILED." % (p["name"], ds_id),
                                 datastore=view(store, desired_tags), changed=True)
        else:
            store = ahi.get_datastore(client, ds_id) or dict(datastoreId=ds_id, datastoreName=p["name"],
                                                             datastoreStatus=created["datastoreStatus"])
        result["datastore"] = view(store, get_tags(module, client, store["datastoreArn"])
                                   if store.get("datastoreArn") else desired_tags)
        return result

    ds_id = store["datastoreId"]
    if p["name"] and store.get("datastoreName") != p["name"]:
        module.fail_json(msg="HealthImaging datastore %s is named %s, not %s; a datastore cannot be renamed."
                             % (ds_id, store.get("datastoreName"), p["name"]))
    if p["kms_key_arn"] and store.get("kmsKeyArn") != p["kms_key_arn"]:
        current_key = store.get("kmsKeyArn") or "an AWS owned key"
        module.fail_json(msg="HealthImaging datastore %s is encrypted with %s, not %s; the key of a datastore "
                             "cannot change: create a new datastore." % (ds_id, current_key, p["kms_key_arn"]))
    if store["datastoreStatus"] == "CREATE_FAILED":
        module.fail_json(msg="HealthImaging datastore %s is CREATE_FAILED; delete it (state=absent) and create it again."
                             % ds_id, datastore=view(store, None))
    current_tags = get_tags(module, client, store["datastoreArn"])
    new_tags = dict(current_tags)
    if p["tags"] is not None:
        to_set, to_remove = compare_aws_tags(current_tags, p["tags"], p["purge_tags"])
        if to_set or to_remove:
            result["changed"] = True
            new_tags.update(to_set)
            for key in to_remove:
                new_tags.pop(key, None)
            if not module.check_mode:
                try:
                    if to_remove:
                        client.untag_resource(resourceArn=store["datastoreArn"], tagKeys=to_remove, aws_retry=True)
                    if to_set:
                        client.tag_resource(resourceArn=store["datastoreArn"], tags=to_set, aws_retry=True)
                except (BotoCoreError, ClientError) as e:
                    module.fail_json_aws(e, msg="Could not update the tags of HealthImaging datastore %s" % ds_id)
    if p["wait"] and not module.check_mode and store["datastoreStatus"] == "CREATING":
        store = wait_status(module, client, ds_id,
                            lambda s: s is not None and s["datastoreStatus"] in ("ACTIVE", "CREATE_FAILED"))
    result["diff"] = dict(before=dict(tags=current_tags), after=dict(tags=new_tags))
    result["datastore"] = view(store, new_tags)
    return result


def ensure_absent(module, client, store):
    p = module.params
    if store is None or store.get("datastoreStatus") == "DELETED":
        return dict(changed=False, datastore={})
    ds_id = store["datastoreId"]
    result = dict(changed=False, datastore={})
    if store["datastoreStatus"] != "DELETING":
        result["changed"] = True
        result["diff"] = dict(before=dict(datastore_id=ds_id, datastore_name=store.get("datastoreName")), after={})
        if module.check_mode:
            return result
        try:
            client.delete_datastore(datastoreId=ds_id, aws_retry=True)
        except ClientError as e:
            if ahi.error_code(e) == "ConflictException":
                module.fail_json(msg="HealthImaging refused to delete datastore %s: %s. Only an ACTIVE datastore "
                                     "without image sets can be deleted." % (ds_id, ahi.error_message(e)))
            if ahi.error_code(e) == "ResourceNotFoundException":
                return dict(changed=False, datastore={})
            module.fail_json_aws(e, msg="Could not delete HealthImaging datastore %s" % ds_id)
        except BotoCoreError as e:
            module.fail_json_aws(e, msg="Could not delete HealthImaging datastore %s" % ds_id)
    if p["wait"] and not module.check_mode:
        wait_status(module, client, ds_id, lambda s: s is None or s["datastoreStatus"] == "DELETED")
    return result


def run(module):
    p = module.params
    if p["name"] and not ahi.DATASTORE_NAME_RE.match(p["name"]):
        module.fail_json(msg="name must be 1 to 256 characters of letters, digits and ._/#-, got %r." % p["name"])
    if p["datastore_id"] and not ahi.DATASTORE_ID_RE.match(p["datastore_id"]):
        module.fail_json(msg="datastore_id must be 32 lowercase letters and digits, got %r." % p["datastore_id"])
    if p["kms_key_arn"] and not ahi.KMS_ARN_RE.match(p["kms_key_arn"]):
        module.fail_json(msg="kms_key_arn must be a KMS key or alias ARN, got %r." % p["kms_key_arn"])
    if p["wait_timeout"] < 0 or p["poll_interval"] < 1:
        module.fail_json(msg="wait_timeout must be 0 or more and poll_interval 1 or more seconds.")

    client = ahi.ahi_client(module)
    try:
        store = find_datastore(module, client)
        if p["state"] == "present":
            result = ensure_present(module, client, store)
        else:
            result = ensure_absent(module, client, store)
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Could not manage HealthImaging datastore %s" % (p["datastore_id"] or p["name"]))
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def main():
    argument_spec = dict(
        name=dict(type="str", aliases=["datastore_name"]),
        datastore_id=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        kms_key_arn=dict(type="str", no_log=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
        poll_interval=dict(type="int", default=10),
    )
    argument_spec.update(ahi.HEALTHIMAGING_ARGS)
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_one_of=[["name", "datastore_id"]])
    try:
        run(module)
    except Exception as e:  # anything unexpected ends as a failure with its traceback, never raised
        module.fail_json(msg="Unexpected error in medimg.imaging.ahi_datastore: %s" % e, exception=traceback.format_exc())


if __name__ == "__main__":
    main()

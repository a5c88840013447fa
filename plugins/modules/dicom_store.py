#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: dicom_store
short_description: Send DICOM files to a peer (C-STORE), only those it does not hold yet
version_added: 1.0.0
description:
  - Sends DICOM Part 10 files, folders (recursive) and glob patterns to a DICOM peer with C-STORE.
  - Idempotent by default (O(mode=missing)) - before sending, it asks the peer which SOP Instance UIDs
    it already holds, with one IMAGE-level C-FIND per series, and sends only the missing instances.
    C(changed) is V(false) when nothing was sent.
  - Files are read header-only (pixel data is never decoded) and their bytes are sent as stored when the
    peer accepts their transfer syntax. Otherwise, uncompressed files are converted to Explicit or Implicit
    VR Little Endian; compressed files the peer does not accept are reported as failed with the reason.
  - More than 128 SOP class and transfer syntax combinations are sent over several associations.
    Several associations run in parallel (O(parallel)). TCP_NODELAY is set on every socket.
  - A lost C-STORE response, a DIMSE timeout or a dropped connection aborts that association; the instance is
    sent again on a fresh association (up to O(retries) times). Peers store a resent SOP Instance once.
  - Results carry paths, UIDs, statuses, counts and timings, never patient names, IDs or pixel data.
author:
  - medimg.imaging contributors (@medimg)
extends_documentation_fragment:
  - medimg.imaging.dicom
options:
  src:
    description:
      - Files, folders and glob patterns (for example V(/data/study/*.dcm)) to send.
    type: list
    elements: path
    required: true
  recursive:
    description: Descend into sub-folders of folders in O(src).
    type: bool
    default: true
  patterns:
    description: Shell patterns that file names found in folders must match.
    type: list
    elements: str
    default: ['*']
  mode:
    description:
      - V(missing) asks the peer which instances it holds (C-FIND, Study Root, IMAGE level) and sends only the others.
        The module fails with a clear message when the peer cannot be queried (for example dcmtk C(storescp)).
      - V(always) sends every instance without asking (not idempotent; use for peers without C-FIND).
    type: str
    choices: [missing, always]
    default: missing
  parallel:
    description: Number of associations that send at the same time.
    type: int
    default: 2
  convert:
    description: Convert uncompressed files to a transfer syntax the peer accepts when it does not accept the stored one.
    type: bool
    default: true
  allow_partial:
    description: Do not fail when some instances failed; RV(counts) and RV(instances) tell which.
    type: bool
    default: false
  invalid_files:
    description:
      - What to do with files that are not DICOM, are truncated or lack SOP Class/Instance UIDs.
        They are never sent and never stop the valid files from being sent.
      - V(warn) reports them in RV(invalid) and as a warning, V(fail) also fails the task, V(ignore) only reports them.
    type: str
    choices: [warn, fail, ignore]
    default: warn
  return_instances:
    description: Which per-instance outcomes to return in RV(instances).
    type: str
    choices: [all, problems, none]
    default: all
attributes:
  check_mode:
    support: full
    description: Scans the files and queries the peer, then reports what would be sent; sends nothing.
  diff_mode:
    support: full
    description: Shows how many of the instances are on the peer before and after.
  platform:
    support: full
    platforms: posix
    description: "Runs where pynetdicom is installed and the files are, usually the controller (C(delegate_to: localhost))."
'''

EXAMPLES = r'''
- name: Send a study to the PACS, only what it does not hold yet
  medimg.imaging.dicom_store:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    src:
      - /srv/import/study-0001/
  delegate_to: localhost
  register: sent

- name: Show what happened
  ansible.builtin.debug:
    msg: "{{ sent.counts.sent }} sent, {{ sent.counts.already_present }} already there, {{ sent.instances_per_second }} instances/s"

- name: Send to a listener without C-FIND (dcmtk storescp), every file, four associations at once
  medimg.imaging.dicom_store:
    host: 127.0.0.1
    port: 11113
    called_ae_title: STORESCP
    src: /srv/import/*/*.dcm
    mode: always
    parallel: 4
    allow_partial: true
  delegate_to: localhost

- name: Same connection for every DICOM task of the play, over TLS
  module_defaults:
    group/medimg.imaging.dicom:
      host: pacs.example.org
      port: 2762
      called_ae_title: PACS
      tls: true
      tls_ca_cert: /etc/pki/hospital-ca.pem
  block:
    - name: What would be sent
      medimg.imaging.dicom_store:
        src: /srv/import/study-0002
        return_instances: none
      check_mode: true
      diff: true
      delegate_to: localhost
'''

RETURN = r'''
counts:
  description: How many instances ended how.
  returned: always
  type: dict
  contains:
    files:
      description: Files found in O(src).
      type: int
    instances:
      description: Valid DICOM instances among them (duplicates of one SOP Instance UID counted once).
      type: int
    already_present:
      description: Instances the peer already held (not sent).
      type: int
    to_send:
      description: Instances that were (or, in check mode, would be) sent.
      type: int
    sent:
      description: Instances the peer acknowledged (stored plus warning).
      type: int
    stored:
      description: Instances stored with status 0x0000.
      type: int
    warning:
      description: Instances stored with a warning status (0xB000, 0xB006, 0xB007...).
      type: int
    failed:
      description: Instances not stored.
      type: int
    invalid_files:
      description: Files that are not DICOM, truncated or lack UIDs.
      type: int
    duplicates:
      description: Files with a SOP Instance UID already seen in another file (not sent twice).
      type: int
  sample: {files: 12, instances: 10, already_present: 0, to_send: 10, sent: 10, stored: 10, warning: 0,
           failed: 0, invalid_files: 2, duplicates: 0}
instances:
  description: Per-instance outcome (see O(return_instances)); no patient data.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: File.
      type: str
    sop_instance_uid:
      description: SOP Instance UID.
      type: str
    sop_class_uid:
      description: SOP Class UID.
      type: str
    outcome:
      description: V(stored), V(warning), V(failed), V(present) (already on the peer) or V(would_send) (check mode).
      type: str
    status:
      description: C-STORE response status (absent when there was none).
      type: int
    status_hex:
      description: The status as 0xNNNN.
      type: str
    status_text:
      description: Meaning of the status, or why the instance failed.
      type: str
    converted_to:
      description: Transfer syntax the instance was converted to, when it was.
      type: str
    attempts:
      description: How many times it was sent, when more than once.
      type: int
  sample:
    - path: /srv/import/study-0001/ct_s01_i0001.dcm
      sop_instance_uid: 1.2.826.0.1.3680043.8.498.1
      sop_class_uid: 1.2.840.10008.5.1.4.1.1.2
      outcome: stored
      status: 0
      status_hex: "0x0000"
      status_text: Success
invalid:
  description: Files that were not sent because they are not valid DICOM, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{path: /srv/import/README.txt, reason: not a DICOM Part 10 file (no DICM prefix)}]
duplicates:
  description: Files skipped because another file has the same SOP Instance UID.
  returned: always
  type: list
  elements: dict
  sample: []
bytes_sent:
  description: Dataset bytes acknowledged by the peer.
  returned: always
  type: int
  sample: 5263360
elapsed_seconds:
  description: Seconds the whole module took (scan, query, send).
  returned: always
  type: float
  sample: 1.62
send_seconds:
  description: Seconds spent sending.
  returned: always
  type: float
  sample: 1.21
instances_per_second:
  description: Instances sent per second of sending.
  returned: always
  type: float
  sample: 410.5
associations:
  description: Associations opened to send (not counting the query).
  returned: always
  type: int
  sample: 2
lost_responses:
  description: C-STORE responses not received (lost, timeout or dropped connection), each followed by a resend on a fresh association.
  returned: always
  type: int
  sample: 0
mode:
  description: The O(mode) used.
  returned: always
  type: str
  sample: missing
'''

import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medimg.imaging.plugins.module_utils._dicom import (
    check_dicom_libs,
    dicom_argument_spec,
    settings_from_params,
)
from ansible_collections.medimg.imaging.plugins.module_utils._dicom_store import (
    Outcome,
    QueryError,
    StoreRun,
    collect_files,
    existing_instances,
    scan_files,
    summarize,
)


def run_module(module):
    params = module.params
    settings = settings_from_params(params)
    errors = settings.validate()
    if params['parallel'] < 1 or params['parallel'] > 32:
        errors.append('parallel must be between 1 and 32, got %s.' % params['parallel'])
    if errors:
        module.fail_json(msg='dicom_store cannot run with these options: %s' % ' '.join(errors))

    start = time.time()
    paths, missing_paths = collect_files(params['src'], params['recursive'], params['patterns'])
    instances, invalid, duplicates = scan_files(paths)
    invalid = missing_paths + invalid

    present = set()
    if params['mode'] == 'missing':
        series_keys = sorted(set((i.study, i.series) for i in instances if i.study and i.series))
        try:
            present = existing_instances(settings, series_keys)
        except QueryError as exc:
            if exc.kind == 'no_find':
                module.fail_json(msg='dicom_store cannot tell which instances %s:%s already holds: %s Use mode=always to send every file without asking.' % (
                    settings.host, settings.port, exc.message), invalid=invalid)
            module.fail_json(msg='dicom_store could not query %s:%s for the instances it holds: %s' % (
                settings.host, settings.port, exc.message), invalid=invalid)
    to_send = [i for i in instances if i.sop_instance not in present]
    already = [i for i in instances if i.sop_instance in present]

    send_start = time.time()
    run = None
    if module.check_mode:
        outcomes = [Outcome(i, 'would_send') for i in to_send]
    elif to_send:
        run = StoreRun(settings, to_send, parallel=params['parallel'], convert=params['convert'])
        outcomes = run.run()
    else:
        outcomes = []
    send_seconds = time.time() - send_start
    elapsed = time.time() - start

    counts, nbytes, _rate = summarize(outcomes, invalid, duplicates, len(already), elapsed)
    counts.update(files=len(paths), instances=len(instances), to_send=len(to_send))
    rate = round(counts['sent'] / send_seconds, 1) if send_seconds > 0 and counts['sent'] else 0.0

    which = params['return_instances']
    listed = []
    if which != 'none':
        for o in outcomes:
            if which == 'all' or o.outcome in ('failed', 'warning'):
                listed.append(o.as_dict())
        if which == 'all':
            listed.extend(Outcome(i, 'present').as_dict() for i in already)

    changed = counts['sent'] > 0 or (module.check_mode and len(to_send) > 0)
    result = dict(
        changed=changed,
        mode=params['mode'],
        counts=counts,
        instances=listed,
        invalid=invalid,
        duplicates=duplicates,
        bytes_sent=nbytes,
        elapsed_seconds=round(elapsed, 3),
        send_seconds=round(send_seconds, 3),
        instances_per_second=rate,
        associations=run.associations if run else 0,
        lost_responses=run.lost_responses if run else 0,
    )
    if module._diff:
        before = len(already)
        after = before + (len(to_send) if module.check_mode else counts['sent'])
        result['diff'] = dict(
            before='instances of src on %s:%s: %d of %d\n' % (settings.host, settings.port, before, len(instances)),
            after='instances of src on %s:%s: %d of %d\n' % (settings.host, settings.port, after, len(instances)),
        )
    if invalid and params['invalid_files'] == 'warn':
        module.warn('dicom_store skipped %d file(s) that are not valid DICOM; see the invalid list.' % len(invalid))
    if counts['failed'] and not params['allow_partial']:
        reasons = sorted(set(o.reason or '' for o in outcomes if o.outcome == 'failed'))
        module.fail_json(msg='dicom_store: %d of %d instance(s) were not stored on %s:%s (%s).' % (
            counts['failed'], len(to_send), settings.host, settings.port, '; '.join(reasons[:3])), **result)
    if invalid and params['invalid_files'] == 'fail':
        module.fail_json(msg='dicom_store: %d file(s) in src are not valid DICOM.' % len(invalid), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dicom_argument_spec(
            src=dict(type='list', elements='path', required=True),
            recursive=dict(type='bool', default=True),
            patterns=dict(type='list', elements='str', default=['*']),
            mode=dict(type='str', choices=['missing', 'always'], default='missing'),
            parallel=dict(type='int', default=2),
            convert=dict(type='bool', default=True),
            allow_partial=dict(type='bool', default=False),
            invalid_files=dict(type='str', choices=['warn', 'fail', 'ignore'], default='warn'),
            return_instances=dict(type='str', choices=['all', 'problems', 'none'], default='all'),
        ),
        supports_check_mode=True,
    )
    check_dicom_libs(module)
    try:
        run_module(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='dicom_store failed unexpectedly: %s' % exc, exception=traceback.format_exc())


if __name__ == '__main__':
    main()

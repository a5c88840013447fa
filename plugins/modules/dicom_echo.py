#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: dicom_echo
short_description: Check that a DICOM peer answers (C-ECHO)
version_added: 1.0.0
description:
  - Opens an association with a DICOM peer and sends a C-ECHO (Verification SOP class).
  - Returns whether the peer is reachable, the status, the latency and what was negotiated.
  - Never changes anything.
  - When the peer cannot be reached the module fails with a sentence that says why (nothing listening,
    timeout, association rejected because the called or calling AE title is unknown, TLS handshake failure),
    unless O(fail_on_unreachable=false).
author:
  - medimg.imaging contributors (@medimg)
extends_documentation_fragment:
  - medimg.imaging.dicom
options:
  fail_on_unreachable:
    description:
      - Fail when the peer does not answer the C-ECHO with a success status.
      - When V(false), the module succeeds and RV(reachable) and RV(error) say what happened.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module changes nothing; it sends the C-ECHO in check mode too.
  diff_mode:
    support: none
    description: Nothing to compare, the module changes nothing.
  platform:
    support: full
    platforms: posix
    description: "Runs where pynetdicom is installed, usually the controller (C(delegate_to: localhost))."
'''

EXAMPLES = r'''
- name: C-ECHO the PACS
  medimg.imaging.dicom_echo:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    calling_ae_title: ANSIBLE
  delegate_to: localhost

- name: Set the connection once for the DICOM modules, then check a TLS peer without failing
  module_defaults:
    group/medimg.imaging.dicom:
      host: pacs.example.org
      port: 2762
      called_ae_title: PACS
      tls: true
      tls_ca_cert: /etc/pki/hospital-ca.pem
  block:
    - name: Echo over TLS
      medimg.imaging.dicom_echo:
        fail_on_unreachable: false
      delegate_to: localhost
      register: pacs_echo

    - name: Report the peer
      ansible.builtin.debug:
        msg: "PACS reachable={{ pacs_echo.reachable }} in {{ pacs_echo.latency_ms }} ms ({{ pacs_echo.error | default('ok') }})"
'''

RETURN = r'''
reachable:
  description: Whether the peer accepted the association and answered the C-ECHO with status 0x0000.
  returned: always
  type: bool
  sample: true
status:
  description: DIMSE status of the C-ECHO response; null when there was none.
  returned: always
  type: int
  sample: 0
status_text:
  description: Meaning of RV(status).
  returned: always
  type: str
  sample: Success
latency_ms:
  description: Milliseconds between sending the C-ECHO and its response.
  returned: always
  type: float
  sample: 0.84
association_ms:
  description: Milliseconds to connect and have the association accepted.
  returned: always
  type: float
  sample: 3.2
error:
  description: Why the peer is not reachable; null when it is.
  returned: always
  type: str
  sample: >-
    Association with 127.0.0.1:11112 (called AE WRONG, calling AE ANSIBLE) rejected (permanent):
    the called AE title is not recognised (called AE unknown).
error_kind:
  description: One of V(refused), V(timeout), V(tls), V(rejected), V(aborted), V(no_context), V(status), V(error); null when reachable.
  returned: always
  type: str
  sample: rejected
negotiated:
  description: What the association negotiated.
  returned: when the association was accepted
  type: dict
  contains:
    peer_ae_title:
      description: AE title the peer answered with.
      type: str
    peer_max_pdu:
      description: Largest PDU the peer accepts (bytes, 0 is no limit).
      type: int
    local_max_pdu:
      description: Largest PDU this side accepts.
      type: int
    implementation_class_uid:
      description: Peer's implementation class UID.
      type: str
    implementation_version_name:
      description: Peer's implementation version name.
      type: str
    transfer_syntax:
      description: Transfer syntax accepted for the Verification context.
      type: str
    accepted_contexts:
      description: Number of accepted presentation contexts.
      type: int
    rejected_contexts:
      description: Number of rejected presentation contexts.
      type: int
    tls:
      description: Whether the association ran over TLS.
      type: bool
  sample:
    peer_ae_title: ORTHANC
    peer_max_pdu: 16384
    implementation_class_uid: 1.2.276.0.7230010.3.0.3.6.7
    implementation_version_name: OFFIS_DCMTK_367
    transfer_syntax: 1.2.840.10008.1.2
    accepted_contexts: 1
    rejected_contexts: 0
    tls: false
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medimg.imaging.plugins.module_utils._dicom import (
    check_dicom_libs,
    dicom_argument_spec,
    echo_with_settings,
    settings_from_params,
)


def main():
    module = AnsibleModule(
        argument_spec=dicom_argument_spec(fail_on_unreachable=dict(type='bool', default=True)),
        supports_check_mode=True,
    )
    check_dicom_libs(module)
    settings = settings_from_params(module.params)
    errors = settings.validate()
    if errors:
        module.fail_json(msg='dicom_echo cannot run with these options: %s' % ' '.join(errors))
    try:
        result = echo_with_settings(settings)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='C-ECHO to %s:%s failed unexpectedly: %s' % (settings.host, settings.port, exc),
                         exception=traceback.format_exc())
    result['changed'] = False
    if not result['reachable'] and module.params['fail_on_unreachable']:
        module.fail_json(msg='C-ECHO to %s:%s (called AE %s) failed: %s' % (
            settings.host, settings.port, settings.called_ae_title, result['error']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()

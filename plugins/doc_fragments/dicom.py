# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options shared by the DICOM modules (medimg.imaging.dicom_*)."""

    DOCUMENTATION = r'''
options:
  host:
    description:
      - Host name or address of the DICOM peer (the SCP).
      - Can be set with the E(DICOM_HOST) environment variable.
    type: str
    required: true
  port:
    description:
      - TCP port of the DICOM peer.
      - Can be set with E(DICOM_PORT).
    type: int
    default: 104
  calling_ae_title:
    description:
      - AE title this module uses (the SCU). The peer must know it when it restricts callers.
      - 1 to 16 printable ASCII characters. Can be set with E(DICOM_CALLING_AE_TITLE).
    type: str
    default: ANSIBLE
  called_ae_title:
    description:
      - AE title of the peer.
      - Can be set with E(DICOM_CALLED_AE_TITLE).
    type: str
    default: ANY-SCP
  tls:
    description:
      - Use DICOM over TLS (PS3.15 Annex B).
      - Can be set with E(DICOM_TLS).
    type: bool
    default: false
  tls_ca_cert:
    description:
      - PEM file with the certificate authorities that sign the peer's certificate.
      - When not set, the system's trust store is used.
      - Can be set with E(DICOM_TLS_CA_CERT).
    type: path
  tls_client_cert:
    description:
      - PEM client certificate, for peers that require mutual TLS.
      - Can be set with E(DICOM_TLS_CLIENT_CERT).
    type: path
  tls_client_key:
    description:
      - PEM private key of O(tls_client_cert) (if not in the same file).
      - Can be set with E(DICOM_TLS_CLIENT_KEY).
    type: path
  tls_client_key_passphrase:
    description:
      - Passphrase of O(tls_client_key). Never logged.
      - Can be set with E(DICOM_TLS_CLIENT_KEY_PASSPHRASE).
    type: str
  tls_verify:
    description:
      - Verify the peer's certificate and host name. Turn off only for tests.
      - Can be set with E(DICOM_TLS_VERIFY).
    type: bool
    default: true
  tls_server_hostname:
    description:
      - Name to check the peer's certificate against (and send as SNI), when it differs from O(host).
    type: str
  connection_timeout:
    description: Seconds to wait for the TCP connection (and TLS handshake).
    type: float
    default: 10.0
  acse_timeout:
    description: Seconds to wait for the answer to an association request or release.
    type: float
    default: 30.0
  dimse_timeout:
    description: Seconds to wait for each DIMSE response (C-ECHO, C-STORE, C-FIND).
    type: float
    default: 60.0
  network_timeout:
    description: Seconds without any network traffic after which an association is aborted.
    type: float
    default: 60.0
  max_pdu:
    description:
      - Largest PDU this side accepts, in bytes (V(0) is no limit). What is sent is limited by the peer's own maximum.
    type: int
    default: 262144
  retries:
    description:
      - How many times to try again to open an association after a refused connection, a timeout or a transient rejection.
      - Permanent rejections (unknown AE titles) and TLS failures are not retried.
    type: int
    default: 2
  retry_delay:
    description: Seconds before the first retry; doubled before each further retry.
    type: float
    default: 1.0
requirements:
  - "pynetdicom >= 3.0 and pydicom >= 3.0 on the host that runs the module (usually the controller, with C(delegate_to: localhost))."
notes:
  - Set these options once per site with C(module_defaults) and the action group C(group/medimg.imaging.dicom).
  - The module opens the association from the host that runs it; that host needs network access to the peer.
  - TCP_NODELAY is set on every socket the module opens.
'''

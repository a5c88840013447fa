# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the shared DICOM connection layer, with the real pynetdicom."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

import pytest

from ansible_collections.medimg.imaging.plugins.module_utils import _dicom

from pynetdicom import AE
from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def echo_scp():
    ae = AE(ae_title='UNITSCP')
    ae.add_supported_context(Verification)
    ae.require_called_aet = True
    port = free_port()
    server = ae.start_server(('127.0.0.1', port), block=False)
    yield port
    server.shutdown()


@pytest.mark.parametrize('status,category', [
    (0x0000, 'success'), (0xB000, 'warning'), (0xB007, 'warning'), (0x0001, 'warning'),
    (0xA700, 'failure'), (0xA7FF, 'failure'), (0xC123, 'failure'), (0x0110, 'failure'),
    (0xFE00, 'cancel'), (0xFF00, 'pending'), (0xFF01, 'pending'), (None, 'failure'),
])
def test_status_category(status, category):
    assert _dicom.status_category(status) == category


def test_status_text():
    assert _dicom.status_text(0) == 'Success'
    assert 'coercion' in _dicom.status_text(0xB000)
    assert 'out of resources' in _dicom.status_text(0xA7F3)
    assert 'cannot understand' in _dicom.status_text(0xC001)
    assert 'no response' in _dicom.status_text(None)
    assert _dicom.status_text(0x1234).endswith('0x1234')


def test_settings_validate_collects_every_error():
    settings = _dicom.DicomSettings(host='', port=70000, calling_ae_title='X' * 17, called_ae_title='A\\B',
                                    acse_timeout=0, max_pdu=100, retries=-1)
    errors = ' '.join(settings.validate())
    for word in ('host', 'port', 'calling_ae_title', 'called_ae_title', 'acse_timeout', 'max_pdu', 'retries'):
        assert word in errors


def test_settings_from_params_ignores_other_keys():
    settings = _dicom.settings_from_params({'host': 'pacs', 'port': 11112, 'src': ['x'], 'tls': None})
    assert settings.host == 'pacs' and settings.port == 11112
    assert settings.tls is False and settings.tls_verify is True
    assert settings.validate() == []


def test_argument_spec_has_no_log_passphrase_and_env_fallback():
    spec = _dicom.dicom_argument_spec(extra=dict(type='str'))
    assert spec['tls_client_key_passphrase']['no_log'] is True
    assert spec['host']['fallback'][1] == ['DICOM_HOST']
    assert 'extra' in spec and 'extra' not in _dicom.DICOM_COMMON_ARGS


def test_echo_refused():
    result = _dicom.echo('127.0.0.1', free_port(), timeout=2)
    assert result['reachable'] is False
    assert result['error_kind'] == 'refused'
    assert 'nothing listens' in result['error']


def test_echo_ok_and_negotiated(echo_scp):
    result = _dicom.echo('127.0.0.1', echo_scp, called_ae_title='UNITSCP', timeout=5)
    assert result['reachable'] is True, result
    assert result['status'] == 0
    assert result['latency_ms'] >= 0
    assert result['negotiated']['accepted_contexts'] == 1
    assert result['negotiated']['peer_max_pdu'] >= 0


def test_echo_called_ae_unknown(echo_scp):
    result = _dicom.echo('127.0.0.1', echo_scp, called_ae_title='WRONG', timeout=5)
    assert result['reachable'] is False
    assert result['error_kind'] == 'rejected'
    assert 'called AE unknown' in result['error']


def test_echo_invalid_settings():
    result = _dicom.echo('127.0.0.1', 104, calling_ae_title='', timeout=1)
    assert result['error_kind'] == 'invalid'


def test_echo_tls_bad_ca_file(tmp_path):
    bad = tmp_path / 'ca.pem'
    bad.write_text('not a certificate')
    result = _dicom.echo('127.0.0.1', free_port(), tls=True, tls_ca_cert=str(bad), timeout=1)
    assert result['error_kind'] == 'tls'


def test_echo_acse_timeout_on_a_silent_listener():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(5)  # accepts TCP (kernel backlog) but never answers the association request
    try:
        result = _dicom.echo('127.0.0.1', sock.getsockname()[1], timeout=1)
    finally:
        sock.close()
    assert result['reachable'] is False
    assert result['error_kind'] == 'timeout'
    assert 'acse_timeout' in result['error']

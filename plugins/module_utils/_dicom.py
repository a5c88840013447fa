# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared DICOM connection layer of medimg.imaging (pynetdicom + pydicom).

PRIVATE to the collection: the name starts with an underscore, it may change
without notice; do not import it from outside medimg.imaging.

Public helpers (used by the dicom_* modules, the inventory plugin and roles' tests):

``DICOM_COMMON_ARGS``
    argument_spec entries for the connection options, documented once in
    ``plugins/doc_fragments/dicom.py``; merge with ``dicom_argument_spec(**extra)``.
``HAS_DICOM_LIBS``, ``DICOM_IMPORT_ERROR``, ``check_dicom_libs(module)``
    guarded imports; ``check_dicom_libs`` fails the module with the pip command.
``settings_from_params(params)`` -> ``DicomSettings``
    connection settings from module params (or any dict with the same keys).
``open_association(settings, contexts, evt_handlers=None)`` -> ``pynetdicom.Association``
    opens an association (TCP_NODELAY on, TLS, timeouts, retries with backoff);
    raises ``DicomConnectionError`` whose ``kind`` is one of ``refused``, ``timeout``,
    ``tls``, ``rejected``, ``aborted``, ``no_context``, ``error`` and whose message
    says why (called AE unknown, calling AE not allowed...).
``echo(host, port, calling_ae_title='ANSIBLE', called_ae_title='ANY-SCP', timeout=10, ...)`` -> dict
    C-ECHO usable without AnsibleModule: ``reachable``, ``status``, ``status_text``,
    ``latency_ms``, ``error``, ``error_kind``, ``negotiated``.
``status_category(status)`` / ``status_text(status, service)``
    map a DIMSE status to ``success``/``warning``/``failure``/``cancel``/``pending``
    and to a sentence.
``pause_reactor(assoc)`` / ``resume_reactor(assoc)``
    park pynetdicom's reactor thread reliably (works around pynetdicom issue #875,
    lost C-STORE responses with fast peers) so a caller can run DIMSE exchanges itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os
import socket
import threading
import time
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

DICOM_IMPORT_ERROR = None
try:
    import pydicom
    import pynetdicom
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification  # pylint: disable=no-name-in-module
    HAS_DICOM_LIBS = True
except ImportError:
    DICOM_IMPORT_ERROR = traceback.format_exc()
    HAS_DICOM_LIBS = False

PIP_HINT = ("pynetdicom and pydicom (pip install 'pynetdicom>=3.0' 'pydicom>=3.0' on the host that runs the module, "
            "usually the controller with delegate_to: localhost)")

DICOM_COMMON_ARGS = dict(
    host=dict(type='str', required=True, fallback=(env_fallback, ['DICOM_HOST'])),
    port=dict(type='int', default=104, fallback=(env_fallback, ['DICOM_PORT'])),
    calling_ae_title=dict(type='str', default='ANSIBLE', fallback=(env_fallback, ['DICOM_CALLING_AE_TITLE'])),
    called_ae_title=dict(type='str', default='ANY-SCP', fallback=(env_fallback, ['DICOM_CALLED_AE_TITLE'])),
    tls=dict(type='bool', default=False, fallback=(env_fallback, ['DICOM_TLS'])),
    tls_ca_cert=dict(type='path', fallback=(env_fallback, ['DICOM_TLS_CA_CERT'])),
    tls_client_cert=dict(type='path', fallback=(env_fallback, ['DICOM_TLS_CLIENT_CERT'])),
    tls_client_key=dict(type='path', fallback=(env_fallback, ['DICOM_TLS_CLIENT_KEY'])),
    tls_client_key_passphrase=dict(type='str', no_log=True, fallback=(env_fallback, ['DICOM_TLS_CLIENT_KEY_PASSPHRASE'])),
    tls_verify=dict(type='bool', default=True, fallback=(env_fallback, ['DICOM_TLS_VERIFY'])),
    tls_server_hostname=dict(type='str'),
    connection_timeout=dict(type='float', default=10.0),
    acse_timeout=dict(type='float', default=30.0),
    dimse_timeout=dict(type='float', default=60.0),
    network_timeout=dict(type='float', default=60.0),
    max_pdu=dict(type='int', default=262144),
    retries=dict(type='int', default=2),
    retry_delay=dict(type='float', default=1.0),
)

SETTING_KEYS = tuple(DICOM_COMMON_ARGS)


def dicom_argument_spec(**extra):
    """Return the connection argument_spec merged with a module's own options."""
    spec = dict((k, dict(v)) for k, v in DICOM_COMMON_ARGS.items())
    spec.update(extra)
    return spec


def check_dicom_libs(module):
    """Fail the module with what to pip install when pynetdicom/pydicom are missing."""
    if not HAS_DICOM_LIBS:
        module.fail_json(msg=missing_required_lib(PIP_HINT, url='https://pypi.org/project/pynetdicom/'),
                         exception=DICOM_IMPORT_ERROR)


class DicomSettings(object):
    """Connection settings; attributes are the keys of DICOM_COMMON_ARGS."""

    def __init__(self, **kwargs):
        for key, spec in DICOM_COMMON_ARGS.items():
            setattr(self, key, kwargs.get(key, spec.get('default')))

    def validate(self):
        """Return a list of sentences for bad settings (empty when all is fine)."""
        errors = []
        if not self.host:
            errors.append('host must name the DICOM peer (a host name or an address).')
        if self.port is None or not 1 <= int(self.port) <= 65535:
            errors.append('port must be between 1 and 65535, got %s.' % self.port)
        for key in ('calling_ae_title', 'called_ae_title'):
            value = getattr(self, key) or ''
            if not 1 <= len(value.strip()) <= 16:
                errors.append('%s must be 1 to 16 characters, got %r.' % (key, value))
            elif '\\' in value or any(ord(c) < 32 or ord(c) > 126 for c in value):
                errors.append('%s may hold only printable ASCII characters without a backslash, got %r.' % (key, value))
        for key in ('connection_timeout', 'acse_timeout', 'dimse_timeout', 'network_timeout'):
            if getattr(self, key) is None or getattr(self, key) <= 0:
                errors.append('%s must be a positive number of seconds.' % key)
        if self.max_pdu is None or (self.max_pdu != 0 and self.max_pdu < 4096):
            errors.append('max_pdu must be 0 (no limit) or at least 4096 bytes, got %s.' % self.max_pdu)
        if self.retries is None or self.retries < 0:
            errors.append('retries must be 0 or more.')
        if self.retry_delay is None or self.retry_delay < 0:
            errors.append('retry_delay must be 0 or more seconds.')
        if self.tls:
            for key in ('tls_ca_cert', 'tls_client_cert', 'tls_client_key'):
                path = getattr(self, key)
                if path and not os.path.isfile(path):
                    errors.append('%s %s is not a readable file.' % (key, path))
            if bool(self.tls_client_key) and not self.tls_client_cert:
                errors.append('tls_client_key needs tls_client_cert.')
        return errors


def settings_from_params(params):
    """Build DicomSettings from module params (extra keys are ignored)."""
    return DicomSettings(**dict((k, params.get(k)) for k in SETTING_KEYS if params.get(k) is not None))


class DicomConnectionError(Exception):
    """An association could not be opened; ``kind`` says how it failed."""

    def __init__(self, kind, message, details=None):
        super(DicomConnectionError, self).__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


class _LogCapture(logging.Handler):
    """Collect pynetdicom's log records (errors) while an association is opened."""

    def __init__(self):
        logging.Handler.__init__(self, level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:  # pylint: disable=broad-except
            pass


_LOGGER_LOCK = threading.Lock()


def _quiet_pynetdicom():
    """Keep pynetdicom from writing to stderr (Python's last-resort handler)."""
    logger = logging.getLogger('pynetdicom')
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def build_ssl_context(settings):
    """Return an ssl.SSLContext for the TLS settings (verify on unless told otherwise)."""
    import ssl
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.tls_ca_cert or None)
    if not settings.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.tls_client_cert:
        ctx.load_cert_chain(settings.tls_client_cert, settings.tls_client_key or None,
                            password=settings.tls_client_key_passphrase or None)
    return ctx


def _on_conn_open(event):
    """EVT_CONN_OPEN: disable Nagle; small PDUs otherwise wait up to 40 ms for ACKs."""
    try:
        sock = event.assoc.dul.socket.socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    except Exception:  # pylint: disable=broad-except
        pass


def make_ae(settings, contexts):
    """Return a pynetdicom AE with the settings' timeouts and the requested contexts.

    ``contexts`` is a list of ``(abstract_syntax, [transfer_syntax, ...])`` pairs or
    of pynetdicom PresentationContext objects (at most 128).
    """
    ae = AE(ae_title=settings.calling_ae_title)
    ae.acse_timeout = settings.acse_timeout
    ae.dimse_timeout = settings.dimse_timeout
    ae.network_timeout = settings.network_timeout
    ae.connection_timeout = settings.connection_timeout
    ae.maximum_pdu_size = settings.max_pdu
    for cx in contexts:
        if isinstance(cx, tuple):
            ae.add_requested_context(cx[0], list(cx[1]) if cx[1] else None)
        else:
            ae.add_requested_context(cx.abstract_syntax, cx.transfer_syntax)
    return ae


_REJECT_HINTS = {
    # (source, reason) -> sentence; DICOM PS3.8 9.3.4
    (1, 1): 'no reason given by the peer',
    (1, 2): 'the application context name is not supported',
    (1, 3): 'the calling AE title is not recognised (calling AE not allowed)',
    (1, 7): 'the called AE title is not recognised (called AE unknown)',
    (2, 1): 'no reason given by the peer (ACSE)',
    (2, 2): 'the protocol version is not supported',
    (3, 1): 'the peer is temporarily congested',
    (3, 2): 'the peer reached a local limit',
}


def _classify_connect_failure(messages, settings):
    text = ' '.join(messages)
    low = text.lower()
    where = '%s:%s' % (settings.host, settings.port)
    if 'ssl' in low or 'certificate' in low or 'tls' in low or 'handshake' in low:
        return DicomConnectionError('tls', 'TLS handshake with %s failed: %s' % (where, _last_line(messages)))
    if 'refused' in low:
        return DicomConnectionError('refused', 'Connection to %s refused: nothing listens on that port.' % where)
    if 'timed out' in low or 'timeout' in low:
        return DicomConnectionError('timeout', 'Connection to %s timed out after %ss.' % (where, settings.connection_timeout))
    if 'name or service not known' in low or 'nodename nor servname' in low or 'name resolution' in low:
        return DicomConnectionError('refused', 'Host name %s could not be resolved.' % settings.host)
    return DicomConnectionError('refused', 'Could not connect to %s: %s' % (where, _last_line(messages) or 'unknown error'))


def _last_line(messages):
    for message in reversed(messages):
        if message and 'Traceback' not in message:
            return message.strip().splitlines()[-1]
    return ''


def open_association(settings, contexts, evt_handlers=None, retries=None):
    """Open an association; raise DicomConnectionError with a clear reason on failure.

    Retries ``settings.retries`` times (or ``retries``) on connection failures,
    timeouts and transient rejections, waiting ``retry_delay`` seconds, doubled each time.
    Permanent rejections, TLS failures and missing contexts are not retried.
    """
    _quiet_pynetdicom()
    attempts = (settings.retries if retries is None else retries) + 1
    delay = settings.retry_delay
    last = None
    for attempt in range(attempts):
        try:
            return _open_once(settings, contexts, evt_handlers)
        except DicomConnectionError as exc:
            last = exc
            if exc.kind in ('tls', 'no_context') or (exc.kind == 'rejected' and exc.details.get('result') == 1):
                raise
        if attempt + 1 < attempts:
            time.sleep(delay)
            delay *= 2
    raise last


def _open_once(settings, contexts, evt_handlers):
    ae = make_ae(settings, contexts)
    state = {'opened': False}

    def _opened(event):
        state['opened'] = True
        _on_conn_open(event)

    handlers = [(evt.EVT_CONN_OPEN, _opened)] + list(evt_handlers or [])
    tls_args = None
    if settings.tls:
        try:
            tls_args = (build_ssl_context(settings), settings.tls_server_hostname or settings.host)
        except Exception as exc:  # pylint: disable=broad-except
            raise DicomConnectionError('tls', 'TLS settings could not be loaded (CA, client certificate or key): %s' % exc)
    capture = _LogCapture()
    logger = logging.getLogger('pynetdicom')
    with _LOGGER_LOCK:
        logger.addHandler(capture)
    try:
        assoc = ae.associate(settings.host, int(settings.port), ae_title=settings.called_ae_title,
                             max_pdu=settings.max_pdu, tls_args=tls_args, evt_handlers=handlers)
    except Exception as exc:  # pylint: disable=broad-except
        raise DicomConnectionError('error', 'Association with %s:%s failed: %s' % (settings.host, settings.port, exc))
    finally:
        with _LOGGER_LOCK:
            logger.removeHandler(capture)
    if assoc.is_established:
        return install_reactor_gate(assoc)
    where = '%s:%s (called AE %s, calling AE %s)' % (settings.host, settings.port, settings.called_ae_title, settings.calling_ae_title)
    if assoc.is_rejected:
        rsp = assoc.acceptor.primitive
        result, source, reason = getattr(rsp, 'result', None), getattr(rsp, 'result_source', None), getattr(rsp, 'diagnostic', None)
        hint = _REJECT_HINTS.get((source, reason), getattr(rsp, 'reason_str', 'unknown reason'))
        raise DicomConnectionError(
            'rejected', 'Association with %s rejected (%s): %s.' % (
                where, 'permanent' if result == 1 else 'transient', hint),
            details={'result': result, 'source': source, 'reason': reason})
    if not state['opened']:
        raise _classify_connect_failure(capture.messages, settings)
    text = ' '.join(capture.messages).lower()
    if 'no accepted presentation contexts' in text:
        raise DicomConnectionError('no_context', 'Association with %s: the peer accepted none of the proposed presentation contexts '
                                   '(SOP classes / transfer syntaxes).' % where)
    if 'acse timeout' in text:
        raise DicomConnectionError('timeout', 'Association with %s: no answer to the association request within acse_timeout (%ss).'
                                   % (where, settings.acse_timeout))
    if settings.tls and ('ssl' in text or 'certificate' in text or 'eof occurred' in text):
        raise DicomConnectionError('tls', 'TLS handshake with %s failed: %s' % (where, _last_line(capture.messages)))
    raise DicomConnectionError(
        'aborted', 'Association with %s was dropped by the peer before it was accepted; the calling AE title may not be allowed there '
        '(Orthanc drops unknown calling AEs), or the peer expects TLS.' % where)


# --- DIMSE statuses (PS3.4 annexes, PS3.7 C) ---------------------------------------------

_STATUS_TEXT = {
    0x0000: 'Success',
    0x0001: 'Warning: requested optional attributes are not supported',
    0x0107: 'Warning: attribute list error',
    0x0116: 'Warning: attribute value out of range',
    0x0110: 'Failure: processing failure',
    0x0111: 'Failure: duplicate SOP instance',
    0x0112: 'Failure: no such SOP instance',
    0x0117: 'Failure: invalid object instance',
    0x0118: 'Failure: no such SOP class',
    0x0119: 'Failure: class-instance conflict',
    0x0122: 'Failure: SOP class not supported',
    0x0124: 'Failure: refused, not authorized',
    0x0211: 'Failure: unrecognized operation',
    0x0212: 'Failure: mistyped argument',
    0x0213: 'Failure: resource limitation',
    0xA700: 'Failure: refused, out of resources',
    0xA900: 'Failure: identifier does not match SOP class',
    0xB000: 'Warning: coercion of data elements',
    0xB006: 'Warning: elements discarded',
    0xB007: 'Warning: data set does not match SOP class',
    0xFE00: 'Cancel: matching terminated due to cancel request',
    0xFF00: 'Pending: matches are continuing',
    0xFF01: 'Pending: matches are continuing, optional keys not supported',
}


def status_category(status):
    """Return success, warning, failure, cancel or pending for a DIMSE status (None: failure)."""
    if status is None:
        return 'failure'
    status = int(status)
    if status == 0x0000:
        return 'success'
    if status in (0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007) or 0xB000 <= status <= 0xBFFF:
        return 'warning'
    if status == 0xFE00:
        return 'cancel'
    if status in (0xFF00, 0xFF01):
        return 'pending'
    return 'failure'


def status_text(status, service='C-STORE'):
    """Return a sentence for a DIMSE status."""
    if status is None:
        return 'Failure: no response from the peer (DIMSE timeout or connection lost)'
    status = int(status)
    if status in _STATUS_TEXT:
        return _STATUS_TEXT[status]
    if 0xA700 <= status <= 0xA7FF:
        return 'Failure: refused, out of resources'
    if 0xA900 <= status <= 0xA9FF:
        return 'Failure: data set does not match SOP class'
    if 0xC000 <= status <= 0xCFFF:
        return 'Failure: cannot understand' if service == 'C-STORE' else 'Failure: unable to process'
    if 0xB000 <= status <= 0xBFFF:
        return 'Warning'
    return '%s: status 0x%04X' % (status_category(status).capitalize(), status)


# --- reactor gate (pynetdicom issue #875) ---------------------------------------------------

class _ReactorGate(object):
    """Stand-in for Association._reactor_checkpoint whose clear() returns only once the
    reactor thread is parked, so it can no longer take a DIMSE response off the queue
    meant for the caller (the lost C-STORE response of pynetdicom 3.0.4, issue #875)."""

    def __init__(self, assoc):
        self._assoc = assoc
        self._cond = threading.Condition()
        self._open = True
        self._parked = False

    def is_set(self):
        return self._open

    def set(self):
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def clear(self):
        with self._cond:
            self._open = False
            if threading.current_thread() is self._assoc:
                return
            deadline = time.time() + 10
            while not self._parked and time.time() < deadline:
                if getattr(self._assoc, '_kill', False) or not self._assoc.is_alive():
                    break
                self._cond.wait(0.05)

    def wait(self, timeout=None):
        with self._cond:
            while not self._open:
                self._parked = True
                self._cond.notify_all()
                self._cond.wait(timeout if timeout is not None else 0.5)
                if timeout is not None:
                    break
            self._parked = False
            return self._open


def install_reactor_gate(assoc):
    """Replace the association's reactor checkpoint with a race-free gate."""
    if not isinstance(getattr(assoc, '_reactor_checkpoint', None), _ReactorGate):
        assoc._reactor_checkpoint = _ReactorGate(assoc)
    return assoc


def pause_reactor(assoc):
    """Park the association's reactor (call resume_reactor when done)."""
    install_reactor_gate(assoc)
    assoc._reactor_checkpoint.clear()


def resume_reactor(assoc):
    assoc._reactor_checkpoint.set()


def close_association(assoc, abort=False):
    """Release (or abort) an association, never raising."""
    if assoc is None:
        return
    try:
        if abort:
            assoc.abort()
        elif assoc.is_established:
            assoc.release()
    except Exception:  # pylint: disable=broad-except
        try:
            assoc.abort()
        except Exception:  # pylint: disable=broad-except
            pass


def negotiated_info(assoc):
    """What was negotiated: peer max PDU, implementation, accepted context count."""
    acceptor = assoc.acceptor
    info = {
        'peer_ae_title': str(getattr(acceptor, 'ae_title', '') or '').strip(),
        'peer_max_pdu': getattr(acceptor, 'maximum_length', None),
        'local_max_pdu': getattr(assoc.requestor, 'maximum_length', None),
        'implementation_class_uid': str(getattr(acceptor, 'implementation_class_uid', '') or ''),
        'implementation_version_name': str(getattr(acceptor, 'implementation_version_name', '') or '').strip() or None,
        'accepted_contexts': len(assoc.accepted_contexts),
        'rejected_contexts': len(assoc.rejected_contexts),
        'tls': bool(getattr(assoc, 'tls_args', None)),
    }
    if assoc.accepted_contexts:
        info['transfer_syntax'] = str(assoc.accepted_contexts[0].transfer_syntax[0])
    return info


def echo_with_settings(settings):
    """C-ECHO with DicomSettings; returns the same dict as echo()."""
    result = {'reachable': False, 'status': None, 'status_text': None, 'latency_ms': None,
              'association_ms': None, 'error': None, 'error_kind': None, 'negotiated': {}}
    errors = settings.validate()
    if errors:
        result.update(error=' '.join(errors), error_kind='invalid')
        return result
    if not HAS_DICOM_LIBS:
        result.update(error=missing_required_lib(PIP_HINT), error_kind='missing_library')
        return result
    start = time.time()
    try:
        assoc = open_association(settings, [(Verification, None)])
    except DicomConnectionError as exc:
        result.update(error=exc.message, error_kind=exc.kind)
        return result
    assoc_done = time.time()
    result['association_ms'] = round((assoc_done - start) * 1000.0, 2)
    try:
        result['negotiated'] = negotiated_info(assoc)
        result['negotiated']['tls'] = bool(settings.tls)
        t0 = time.time()
        rsp = assoc.send_c_echo()
        latency = time.time() - t0
        status = rsp.get('Status') if rsp is not None else None
        if status is None:
            result.update(error='The peer sent no answer to the C-ECHO within dimse_timeout (%ss).' % settings.dimse_timeout,
                          error_kind='timeout')
            close_association(assoc, abort=True)
            return result
        result.update(status=int(status), status_text=status_text(status, 'C-ECHO'),
                      latency_ms=round(latency * 1000.0, 2), reachable=int(status) == 0)
        if int(status) != 0:
            result.update(error='The peer answered the C-ECHO with status 0x%04X.' % int(status), error_kind='status')
    finally:
        close_association(assoc)
    return result


def echo(host, port, calling_ae_title='ANSIBLE', called_ae_title='ANY-SCP', timeout=10.0,
         tls=False, tls_ca_cert=None, tls_client_cert=None, tls_client_key=None,
         tls_client_key_passphrase=None, tls_verify=True, tls_server_hostname=None, retries=0, max_pdu=262144):
    """C-ECHO a peer without AnsibleModule (inventory plugins, scripts).

    Returns dict(reachable, status, status_text, latency_ms, association_ms, error,
    error_kind, negotiated); never raises for network problems.
    """
    settings = DicomSettings(
        host=host, port=port, calling_ae_title=calling_ae_title, called_ae_title=called_ae_title,
        connection_timeout=timeout, acse_timeout=timeout, dimse_timeout=timeout, network_timeout=timeout,
        tls=tls, tls_ca_cert=tls_ca_cert, tls_client_cert=tls_client_cert, tls_client_key=tls_client_key,
        tls_client_key_passphrase=tls_client_key_passphrase, tls_verify=tls_verify,
        tls_server_hostname=tls_server_hostname, retries=retries, retry_delay=0.5, max_pdu=max_pdu)
    try:
        return echo_with_settings(settings)
    except Exception as exc:  # pylint: disable=broad-except
        return {'reachable': False, 'status': None, 'status_text': None, 'latency_ms': None,
                'association_ms': None, 'error': 'C-ECHO to %s:%s failed: %s' % (host, port, exc),
                'error_kind': 'error', 'negotiated': {}}


def library_versions():
    if not HAS_DICOM_LIBS:
        return {}
    return {'pynetdicom': pynetdicom.__version__, 'pydicom': pydicom.__version__}

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the C-STORE engine: files, grouping into associations, wire encoding,
result building, and a send to an in-process pynetdicom storage SCP."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import threading
from io import BytesIO

import numpy as np
import pytest

from ansible_collections.medimg.imaging.plugins.module_utils import _dicom, _dicom_store as store

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         JPEGBaseline8Bit, generate_uid)
from pynetdicom import AE, evt

CT = str(CTImageStorage)
MR = '1.2.840.10008.5.1.4.1.1.4'
EXPLICIT = str(ExplicitVRLittleEndian)
IMPLICIT = str(ImplicitVRLittleEndian)
JPEG = str(JPEGBaseline8Bit)


def write_ct(path, rows=16, series=None, study=None, syntax=ExplicitVRLittleEndian):
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.PatientName = 'SYNTHETIC^UNIT'
    ds.Rows = ds.Columns = rows
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.PixelData = np.arange(rows * rows, dtype=np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True, implicit_vr=syntax == ImplicitVRLittleEndian)
    return uid


# --- grouping into associations ---------------------------------------------------------

def contexts_needed(group):
    return len(store.contexts_for(group))


def test_plan_one_class_one_syntax():
    assert store.plan_associations([(CT, EXPLICIT)] * 5) == [[(CT, EXPLICIT)]]


def test_plan_many_classes_fit_128_contexts():
    keys = [('1.2.3.%d' % i, EXPLICIT) for i in range(130)]
    groups = store.plan_associations(keys)
    assert sorted(k for g in groups for k in g) == sorted(keys)
    assert all(contexts_needed(g) <= 128 for g in groups)
    assert len(groups) == 3  # two contexts per class (stored + fallback): 64 classes per association


def test_plan_class_with_more_syntaxes_than_fit():
    keys = [(CT, '1.2.840.10008.1.2.4.%d' % i) for i in range(200)]
    groups = store.plan_associations(keys)
    assert sorted(k for g in groups for k in g) == sorted(keys)
    assert all(len(g) + 1 <= 128 for g in groups)
    assert len(groups) == 2


def test_contexts_fallback_only_for_convertible():
    contexts = store.contexts_for([(CT, EXPLICIT), (MR, JPEG)])
    assert (CT, [EXPLICIT]) in contexts and (MR, [JPEG]) in contexts
    fallbacks = [c for c in contexts if len(c[1]) == 2]
    assert fallbacks == [(CT, [EXPLICIT, IMPLICIT])]


# --- files ----------------------------------------------------------------------------------

def test_collect_files_recursive_patterns_and_globs(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'b').mkdir()
    for name in ('a/1.dcm', 'a/b/2.dcm', 'a/b/notes.txt', 'top.dcm'):
        (tmp_path / name).write_bytes(b'x')
    paths, problems = store.collect_files([str(tmp_path / 'a')], recursive=True, patterns=['*.dcm'])
    assert [os.path.basename(p) for p in paths] == ['1.dcm', '2.dcm']
    paths, _problems = store.collect_files([str(tmp_path / 'a')], recursive=False)
    assert [os.path.basename(p) for p in paths] == ['1.dcm']
    paths, _problems = store.collect_files([str(tmp_path / '*.dcm'), str(tmp_path / 'top.dcm')])
    assert [os.path.basename(p) for p in paths] == ['top.dcm']
    _paths, problems = store.collect_files([str(tmp_path / 'missing'), str(tmp_path / 'none*.dcm')])
    assert [p['reason'] for p in problems] == ['no such file or folder', 'no file matches this pattern']


def test_scan_file_reads_header_and_offset(tmp_path):
    path = tmp_path / 'ok.dcm'
    uid = write_ct(path)
    inst = store.scan_file(str(path))
    assert inst.sop_instance == uid and inst.sop_class == CT and inst.transfer_syntax == EXPLICIT
    with open(str(path), 'rb') as fp:
        fp.seek(inst.offset)
        ds = read_dataset(BytesIO(fp.read()), False, True)
    assert ds.SOPInstanceUID == uid


def test_scan_file_problems(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    good = tmp_path / 'good.dcm'
    write_ct(good, rows=64)
    truncated = tmp_path / 'truncated.dcm'
    truncated.write_bytes(good.read_bytes()[:2000])
    no_uid = tmp_path / 'no_uid.dcm'
    ds = dcmread(str(good))
    del ds.SOPInstanceUID
    ds.file_meta.MediaStorageSOPInstanceUID = ''
    ds.save_as(str(no_uid))
    instances, problems, duplicates = store.scan_files([str(text), str(truncated), str(no_uid), str(good), str(good)])
    reasons = dict((os.path.basename(p['path']), p['reason']) for p in problems)
    assert 'not a DICOM' in reasons['notes.txt']
    assert 'truncated' in reasons['truncated.dcm']
    assert 'SOP Instance UID' in reasons['no_uid.dcm']
    assert len(instances) == 1 and len(duplicates) == 1


# --- wire encoding --------------------------------------------------------------------------

def test_store_rq_command_decodes_with_pydicom():
    raw = store.encode_store_rq(7, CT, '1.2.3.4.5')
    ds = read_dataset(BytesIO(raw), True, True)
    assert ds.CommandGroupLength == len(raw) - 12
    assert ds.CommandField == 0x0001 and ds.MessageID == 7 and ds.Priority == 2
    assert ds.AffectedSOPClassUID == CT and ds.AffectedSOPInstanceUID == '1.2.3.4.5'
    assert ds.CommandDataSetType != 0x0101
    assert store.decode_command(raw)[0x1000] == '1.2.3.4.5'


def test_pdata_buffers_split_and_flags():
    from pynetdicom.pdu import P_DATA_TF
    data = bytes(range(256)) * 100  # 25,600 bytes
    bufs = store.pdata_buffers(3, b'C' * 10, data, 16384)
    stream = b''.join(bytes(b) for b in bufs)
    pdus, pos = [], 0
    while pos < len(stream):
        length = int.from_bytes(stream[pos + 2:pos + 6], 'big')
        pdu = P_DATA_TF()
        pdu.decode(stream[pos:pos + 6 + length])
        pdus.append(pdu)
        assert length <= 16384
        pos += 6 + length
    items = [pdv for pdu in pdus for pdv in pdu.presentation_data_value_items]
    headers = [pdv.presentation_data_value[0] for pdv in items]
    assert headers == [0x03, 0x00, 0x02]
    assert all(pdv.presentation_context_id == 3 for pdv in items)
    assert b''.join(pdv.presentation_data_value[1:] for pdv in items[1:]) == data


def test_outcomes_and_summary():
    assert store.outcome_for_status(0) == 'stored'
    assert store.outcome_for_status(0xB007) == 'warning'
    assert store.outcome_for_status(0xA700) == 'failed'
    inst = store.Instance('/x.dcm', CT, '1.2', EXPLICIT, None, None, 10, 132)
    outcomes = [store.Outcome(inst, 'stored', 0, nbytes=100), store.Outcome(inst, 'warning', 0xB000, nbytes=50),
                store.Outcome(inst, 'failed', 0xA700, nbytes=70)]
    counts, nbytes, rate = store.summarize(outcomes, [{'path': 'a'}], [], 4, 2.0)
    assert counts['sent'] == 2 and counts['failed'] == 1 and counts['already_present'] == 4
    assert counts['invalid_files'] == 1 and nbytes == 150 and rate == 1.0
    as_dict = outcomes[2].as_dict()
    assert as_dict['status_hex'] == '0xA700' and 'out of resources' in as_dict['status_text']
    assert 'SYNTHETIC' not in repr(as_dict)


# --- a real send to pynetdicom's storage SCP ------------------------------------------------

def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def store_scp():
    received = []
    lock = threading.Lock()

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        with lock:
            received.append((str(ds.SOPInstanceUID), str(event.context.transfer_syntax), ds.Rows))
        return 0xB000 if ds.Rows == 8 else 0x0000

    ae = AE(ae_title='UNITSTORE')
    ae.add_supported_context(CTImageStorage, [ImplicitVRLittleEndian])
    port = free_port()
    server = ae.start_server(('127.0.0.1', port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    yield port, received
    server.shutdown()


def test_store_run_sends_converts_and_maps_statuses(tmp_path, store_scp):
    port, received = store_scp
    uids = [write_ct(tmp_path / ('%d.dcm' % i), rows=16 if i else 8, syntax=ImplicitVRLittleEndian if i % 2 else ExplicitVRLittleEndian)
            for i in range(6)]
    instances, problems, _dups = store.scan_files(sorted(str(p) for p in tmp_path.iterdir()))
    assert not problems
    settings = _dicom.DicomSettings(host='127.0.0.1', port=port, called_ae_title='UNITSTORE', dimse_timeout=10, retries=0)
    run = store.StoreRun(settings, instances, parallel=2)
    outcomes = run.run()
    by_uid = dict((o.instance.sop_instance, o) for o in outcomes)
    assert sorted(by_uid) == sorted(uids)
    assert sorted(u for u, _ts, _rows in received) == sorted(uids)
    assert set(ts for _u, ts, _rows in received) == {IMPLICIT}
    assert by_uid[uids[0]].outcome == 'warning' and by_uid[uids[0]].status == 0xB000
    assert by_uid[uids[0]].converted_to == IMPLICIT  # explicit file, peer takes implicit only
    assert by_uid[uids[1]].outcome == 'stored' and by_uid[uids[1]].converted_to is None
    assert run.lost_responses == 0 and 1 <= run.associations <= 2


def test_store_run_compressed_refused(tmp_path, store_scp):
    port, _received = store_scp
    path = tmp_path / 'jpeg.dcm'
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uid
    ds.save_as(str(path), enforce_file_format=True)
    instances, _p, _d = store.scan_files([str(path)])
    settings = _dicom.DicomSettings(host='127.0.0.1', port=port, called_ae_title='UNITSTORE', retries=0)
    outcomes = store.StoreRun(settings, instances).run()
    assert outcomes[0].outcome == 'failed'
    assert 'cannot convert compressed' in outcomes[0].reason
    assert 'JPEG Baseline' in outcomes[0].reason


def test_store_run_nothing_listens(tmp_path):
    write_ct(tmp_path / 'a.dcm')
    instances, _p, _d = store.scan_files([str(tmp_path / 'a.dcm')])
    settings = _dicom.DicomSettings(host='127.0.0.1', port=free_port(), retries=0, connection_timeout=2)
    outcomes = store.StoreRun(settings, instances).run()
    assert outcomes[0].outcome == 'failed' and 'nothing listens' in outcomes[0].reason


# --- header scan fast path and raw C-FIND ---------------------------------------------------

@pytest.mark.parametrize('syntax', [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_fast_scan_matches_pydicom(tmp_path, syntax):
    path = tmp_path / 'a.dcm'
    write_ct(path, syntax=syntax)
    fast = store._fast_scan(str(path))
    slow = store._pydicom_scan(str(path))
    assert fast is not None
    for key in store.Instance.__slots__:
        assert getattr(fast, key) == getattr(slow, key), key


def test_find_rq_and_identifier_decode_with_pydicom():
    cmd = read_dataset(BytesIO(store.encode_find_rq(3, '1.2.840.10008.5.1.4.1.2.2.1')), True, True)
    assert cmd.CommandField == 0x0020 and cmd.MessageID == 3 and cmd.CommandDataSetType != 0x0101
    ident = read_dataset(BytesIO(store.encode_image_query('1.2.3', '1.2.3.4')), True, True)
    assert ident.QueryRetrieveLevel == 'IMAGE' and ident.SeriesInstanceUID == '1.2.3.4' and ident.SOPInstanceUID == ''
    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.SOPInstanceUID = '1.2.3.4.5'
    ds.QueryRetrieveLevel = 'IMAGE'
    from pynetdicom.dsutils import encode
    assert store.implicit_uid(encode(ds, True, True)) == '1.2.3.4.5'
    del ds.SOPInstanceUID
    assert store.implicit_uid(encode(ds, True, True)) is None


def test_existing_instances_raw_equals_pynetdicom():
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # pylint: disable=no-name-in-module
    uids = ['1.2.826.0.1.%d' % i for i in range(25)]

    def on_find(event):
        series = event.identifier.SeriesInstanceUID
        for uid in (uids if series == '9.9' else []):
            ds = Dataset()
            ds.QueryRetrieveLevel = 'IMAGE'
            ds.SOPInstanceUID = uid
            ds.SeriesInstanceUID = series
            yield 0xFF00, ds
        yield 0x0000, None

    ae = AE(ae_title='UNITQR')
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(('127.0.0.1', port), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)])
    try:
        settings = _dicom.DicomSettings(host='127.0.0.1', port=port, called_ae_title='UNITQR', retries=0)
        keys = [('1.1', '9.9'), ('1.1', '8.8')]
        assert store.existing_instances(settings, keys) == set(uids)
        assert store.existing_instances_pynetdicom(settings, keys) == set(uids)
    finally:
        server.shutdown()


def test_existing_instances_no_find(store_scp):
    port, _received = store_scp
    settings = _dicom.DicomSettings(host='127.0.0.1', port=port, called_ae_title='UNITSTORE', retries=0)
    with pytest.raises(store.QueryError) as err:
        store.existing_instances(settings, [('1', '2')])
    assert err.value.kind == 'no_find'


def test_store_run_resends_after_a_lost_response(tmp_path):
    """The peer answers the first C-STORE of one instance too late (as when pynetdicom loses a
    response): the association is aborted and the instance is sent again on a fresh one."""
    import time as _time
    calls = []

    def on_store(event):
        uid = str(event.request.AffectedSOPInstanceUID)
        calls.append(uid)
        if calls.count(uid) == 1 and uid == slow_uid[0]:
            _time.sleep(2.5)
        return 0x0000

    ae = AE(ae_title='UNITSLOW')
    ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian])
    port = free_port()
    server = ae.start_server(('127.0.0.1', port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        uids = [write_ct(tmp_path / ('%d.dcm' % i)) for i in range(4)]
        slow_uid = [uids[1]]
        instances, _p, _d = store.scan_files(sorted(str(p) for p in tmp_path.iterdir()))
        settings = _dicom.DicomSettings(host='127.0.0.1', port=port, called_ae_title='UNITSLOW',
                                        dimse_timeout=1, retries=1, retry_delay=0.1)
        run = store.StoreRun(settings, instances, parallel=1)
        outcomes = dict((o.instance.sop_instance, o) for o in run.run())
    finally:
        server.shutdown()
    assert all(o.outcome == 'stored' for o in outcomes.values())
    assert outcomes[uids[1]].attempts == 2
    assert run.lost_responses == 1 and run.associations == 2

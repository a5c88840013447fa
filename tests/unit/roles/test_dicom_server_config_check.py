# Copyright (c) 2026, medimg.imaging maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Orthanc configuration folder checker shipped by the dicom_server role."""

from __future__ import annotations

import importlib.util
import os

import pytest

CHECKER = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'dicom_server', 'files',
                       'dicom_server_config_check.py')


@pytest.fixture(name='check')
def fixture_check():
    spec = importlib.util.spec_from_file_location('dicom_server_config_check', CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_comments_are_stripped_but_not_inside_strings(check):
    text = '// head\n{ /* c */ "Url" : "http://x/*y*/", // tail\n "A": 1 }'
    assert check.load_text(text) == {'Url': 'http://x/*y*/', 'A': 1}


def test_folder_without_duplicates_passes(check, tmp_path, capsys):
    write(tmp_path, 'orthanc.json', '//\n// Ansible managed\n//\n{"DicomAet": "PACS"}')
    write(tmp_path, 'credentials.json', '{"RegisteredUsers": {}}')
    assert check.main(['x', str(tmp_path)]) == 0
    assert '2 files, 2 settings, no duplicates' in capsys.readouterr().out


def test_setting_in_two_files_is_refused(check, tmp_path, capsys):
    write(tmp_path, 'orthanc.json', '{"DicomAet": "PACS", "DicomPort": 4242}')
    write(tmp_path, 'extra.json', '{"DicomPort": 104}')
    assert check.main(['x', str(tmp_path)]) == 1
    assert 'setting "DicomPort" is in both extra.json and orthanc.json' in capsys.readouterr().err


def test_candidate_replaces_the_file_of_the_same_name(check, tmp_path):
    write(tmp_path, 'orthanc.json', '{"DicomAet": "OLD", "DicomModalities": {}}')
    write(tmp_path, 'modalities.json', '{}')
    candidate = write(tmp_path, 'candidate.tmp', '{"DicomAet": "NEW"}')
    assert check.main(['x', str(tmp_path), 'orthanc.json', candidate]) == 0
    clash = write(tmp_path, 'clash.tmp', '{"DicomAet": "NEW"}')
    assert check.main(['x', str(tmp_path), 'modalities.json', clash]) == 1


def test_invalid_json_and_non_object_are_refused(check, tmp_path, capsys):
    write(tmp_path, 'a.json', '{"A": 1,}')
    write(tmp_path, 'b.json', '[1, 2]')
    write(tmp_path, 'c.json', '{"C": 1 /* open')
    assert check.main(['x', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'a.json: not valid Orthanc JSON' in err
    assert 'b.json: not valid Orthanc JSON: the top level is not a JSON object' in err
    assert 'c.json: not valid Orthanc JSON: unterminated /* comment' in err


def test_usage(check, capsys):
    assert check.main(['x']) == 2
    assert 'DIR' in capsys.readouterr().err

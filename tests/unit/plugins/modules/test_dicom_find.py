# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for dicom_find's identifier building and PHI filtering."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pydicom.dataset import Dataset

from ansible_collections.medimg.imaging.plugins.modules import dicom_find


def test_identifier_level_keys_defaults_and_query():
    ds, errors = dicom_find.build_identifier('SERIES', {'StudyInstanceUID': '1.2.3', 'SeriesNumber': 4}, [])
    assert errors == []
    assert ds.QueryRetrieveLevel == 'SERIES'
    assert ds.StudyInstanceUID == '1.2.3' and ds.SeriesInstanceUID == ''
    assert 'Modality' in ds and 'PatientName' not in ds
    assert str(ds.SeriesNumber) == '4'


def test_identifier_rejects_unknown_keywords():
    _ds, errors = dicom_find.build_identifier('STUDY', {'NotAKeyword': 'x'}, ['AlsoNot'])
    assert len(errors) == 2 and 'AlsoNot' in errors[0]


def test_match_to_dict_filters_phi():
    ds = Dataset()
    ds.PatientName = 'SYNTHETIC^TEST'
    ds.PatientID = 'SYN1'
    ds.StudyInstanceUID = '1.2.3'
    ds.ModalitiesInStudy = ['CT', 'MR']
    ds.NumberOfStudyRelatedInstances = '12'
    out = dicom_find.match_to_dict(ds, include_phi=False)
    assert out == {'StudyInstanceUID': '1.2.3', 'ModalitiesInStudy': ['CT', 'MR'], 'NumberOfStudyRelatedInstances': '12'}
    out = dicom_find.match_to_dict(ds, include_phi=True)
    assert out['PatientName'] == 'SYNTHETIC^TEST' and out['PatientID'] == 'SYN1'

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, medimg.imaging contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: dicom_find
short_description: Query a DICOM peer (C-FIND) at patient, study, series or image level
version_added: 1.0.0
description:
  - Sends one C-FIND to a DICOM peer and returns the matches with the keys you ask for.
  - Patient data (names, IDs, birth dates, accession numbers, physicians...) is returned only with O(include_phi=true).
    Matching on such keys in O(query) is allowed; their values are not returned without O(include_phi).
  - Never changes anything.
author:
  - medimg.imaging contributors (@medimg)
extends_documentation_fragment:
  - medimg.imaging.dicom
options:
  level:
    description: Query/Retrieve level.
    type: str
    choices: [PATIENT, STUDY, SERIES, IMAGE]
    default: STUDY
  model:
    description:
      - Information model. V(study) is Study Root, V(patient) is Patient Root.
      - O(level=PATIENT) needs V(patient).
    type: str
    choices: [study, patient]
    default: study
  query:
    description:
      - "Matching keys: DICOM keywords to values, for example V(StudyDate=20260101-20260131) and V(ModalitiesInStudy=CT)."
      - Wildcards V(*) and V(?) and date ranges work as the peer supports them.
    type: dict
    default: {}
  return_keys:
    description:
      - DICOM keywords to return for each match, added to the level's unique keys.
      - When empty, a set without patient data is returned for the level (UIDs, dates, modality, counts).
    type: list
    elements: str
    default: []
  include_phi:
    description:
      - Allow patient data keywords in O(return_keys) and in the results.
      - Protect results that carry patient data, for example with C(no_log) on the task.
    type: bool
    default: false
  max_results:
    description: Stop after this many matches (RV(truncated) tells), V(0) for no limit.
    type: int
    default: 1000
attributes:
  check_mode:
    support: full
    description: The module changes nothing; it queries in check mode too.
  diff_mode:
    support: none
    description: Nothing to compare, the module changes nothing.
  platform:
    support: full
    platforms: posix
    description: "Runs where pynetdicom is installed, usually the controller (C(delegate_to: localhost))."
'''

EXAMPLES = r'''
- name: Studies of January with CT
  medimg.imaging.dicom_find:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    level: STUDY
    query:
      StudyDate: 20260101-20260131
      ModalitiesInStudy: CT
  delegate_to: localhost
  register: studies

- name: Series of one study, with their descriptions
  medimg.imaging.dicom_find:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    level: SERIES
    query:
      StudyInstanceUID: "{{ studies.matches[0].StudyInstanceUID }}"
    return_keys: [SeriesDescription, BodyPartExamined]
  delegate_to: localhost

- name: Count the instances of a series
  medimg.imaging.dicom_find:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    level: IMAGE
    query:
      StudyInstanceUID: 1.2.826.0.1.3680043.8.498.1
      SeriesInstanceUID: 1.2.826.0.1.3680043.8.498.2
    max_results: 0
  delegate_to: localhost
  register: images

- name: Patient names of matching studies (patient data, asked for on purpose)
  medimg.imaging.dicom_find:
    host: pacs.example.org
    port: 11112
    called_ae_title: PACS
    query:
      AccessionNumber: ACC123
    return_keys: [PatientName, PatientID]
    include_phi: true
  delegate_to: localhost
  no_log: true
'''

RETURN = r'''
matches:
  description: One dict per match, DICOM keyword to value (strings, lists for multi-valued elements, numbers for US/UL/SS/SL).
  returned: always
  type: list
  elements: dict
  sample:
    - QueryRetrieveLevel: STUDY
      StudyInstanceUID: 1.2.826.0.1.3680043.8.498.1
      StudyDate: "20260101"
      ModalitiesInStudy: CT
      NumberOfStudyRelatedInstances: "10"
count:
  description: Number of matches returned.
  returned: always
  type: int
  sample: 1
truncated:
  description: Whether O(max_results) stopped the query before the peer sent every match.
  returned: always
  type: bool
  sample: false
elapsed_seconds:
  description: Seconds the query took.
  returned: always
  type: float
  sample: 0.05
level:
  description: The level queried.
  returned: always
  type: str
  sample: STUDY
'''

import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medimg.imaging.plugins.module_utils._dicom import (
    DicomConnectionError,
    HAS_DICOM_LIBS,
    check_dicom_libs,
    close_association,
    dicom_argument_spec,
    open_association,
    settings_from_params,
    status_category,
    status_text,
)

if HAS_DICOM_LIBS:
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataset import Dataset
    from pydicom.multival import MultiValue
    from pynetdicom.sop_class import (  # pylint: disable=no-name-in-module
        PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelFind,
    )

PHI_KEYWORDS = frozenset([
    'PatientName', 'PatientID', 'IssuerOfPatientID', 'OtherPatientIDs', 'OtherPatientIDsSequence',
    'OtherPatientNames', 'PatientBirthName', 'PatientBirthDate', 'PatientBirthTime', 'PatientSex', 'PatientAge',
    'PatientAddress', 'PatientTelephoneNumbers', 'PatientMotherBirthName', 'MilitaryRank', 'EthnicGroup',
    'PatientComments', 'PatientWeight', 'PatientSize', 'MedicalRecordLocator', 'ResponsiblePerson',
    'AccessionNumber', 'ReferringPhysicianName', 'PerformingPhysicianName', 'NameOfPhysiciansReadingStudy',
    'PhysiciansOfRecord', 'OperatorsName', 'RequestingPhysician', 'InstitutionName', 'InstitutionAddress',
    'StudyID', 'AdmissionID', 'PatientInsurancePlanCodeSequence', 'CountryOfResidence', 'RegionOfResidence',
])

LEVEL_KEYS = {
    'PATIENT': [],
    'STUDY': ['StudyInstanceUID'],
    'SERIES': ['StudyInstanceUID', 'SeriesInstanceUID'],
    'IMAGE': ['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID'],
}

DEFAULT_KEYS = {
    'PATIENT': ['NumberOfPatientRelatedStudies'],
    'STUDY': ['StudyDate', 'StudyTime', 'ModalitiesInStudy', 'StudyDescription',
              'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances'],
    'SERIES': ['Modality', 'SeriesNumber', 'SeriesDescription', 'NumberOfSeriesRelatedInstances'],
    'IMAGE': ['SOPClassUID', 'InstanceNumber'],
}


def build_identifier(level, query, return_keys):
    """Return (Dataset, errors): the C-FIND identifier for the level, query and keys."""
    errors = []
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    keys = list(LEVEL_KEYS[level]) + list(return_keys or DEFAULT_KEYS[level])
    for keyword in keys:
        if tag_for_keyword(keyword) is None:
            errors.append('%s is not a DICOM keyword.' % keyword)
            continue
        if keyword not in ds:
            setattr(ds, keyword, [] if dictionary_VR(keyword) == 'SQ' else '')
    for keyword, value in (query or {}).items():
        if tag_for_keyword(keyword) is None:
            errors.append('query key %s is not a DICOM keyword.' % keyword)
            continue
        try:
            vr = dictionary_VR(keyword)
            if vr in ('US', 'UL', 'SS', 'SL') and value not in (None, ''):
                value = int(value)
            elif isinstance(value, list):
                value = [str(v) for v in value]
            elif value is None:
                value = ''
            else:
                value = str(value)
            setattr(ds, keyword, value)
        except Exception as exc:  # pylint: disable=broad-except
            errors.append('query key %s cannot take the value %r: %s' % (keyword, value, exc))
    return ds, errors


def to_python(elem):
    """A JSON-friendly value for a data element."""
    value = elem.value
    if elem.VR == 'SQ':
        return [dict((e.keyword or str(e.tag), to_python(e)) for e in item) for item in value]
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        return [v if isinstance(v, (int, float)) else str(v) for v in value]
    if isinstance(value, (int, float)) and elem.VR in ('US', 'UL', 'SS', 'SL', 'FL', 'FD'):
        return value
    return str(value)


def match_to_dict(ds, include_phi):
    out = {}
    for elem in ds:
        keyword = elem.keyword
        if not keyword or elem.tag.group == 0x7FE0:
            continue
        if keyword in PHI_KEYWORDS and not include_phi:
            continue
        out[keyword] = to_python(elem)
    return out


def run_module(module):
    params = module.params
    settings = settings_from_params(params)
    errors = settings.validate()
    level, model = params['level'], params['model']
    if level == 'PATIENT' and model != 'patient':
        errors.append('level PATIENT needs model patient (Patient Root).')
    if params['max_results'] < 0:
        errors.append('max_results must be 0 or more.')
    phi = sorted(k for k in params['return_keys'] if k in PHI_KEYWORDS)
    if phi and not params['include_phi']:
        errors.append('return_keys %s are patient data; set include_phi=true to return them.' % ', '.join(phi))
    identifier, id_errors = build_identifier(level, params['query'], params['return_keys'])
    errors.extend(id_errors)
    if errors:
        module.fail_json(msg='dicom_find cannot run with these options: %s' % ' '.join(errors))

    model_uid = StudyRootQueryRetrieveInformationModelFind if model == 'study' else PatientRootQueryRetrieveInformationModelFind
    start = time.time()
    try:
        assoc = open_association(settings, [(model_uid, None)])
    except DicomConnectionError as exc:
        if exc.kind == 'no_context':
            module.fail_json(msg='dicom_find: %s:%s (called AE %s) does not answer C-FIND for the %s model.' % (
                settings.host, settings.port, settings.called_ae_title, 'Study Root' if model == 'study' else 'Patient Root'))
        module.fail_json(msg='dicom_find could not open an association: %s' % exc.message, error_kind=exc.kind)
    matches, truncated, abort = [], False, False
    limit = params['max_results']
    try:
        for status, ident in assoc.send_c_find(identifier, model_uid):
            if status is None or 'Status' not in status:
                abort = True
                module.fail_json(msg='dicom_find: %s:%s sent no C-FIND response within dimse_timeout (%ss) or dropped the association.' % (
                    settings.host, settings.port, settings.dimse_timeout))
            code = int(status.Status)
            category = status_category(code)
            if category == 'pending':
                if ident is not None:
                    if limit and len(matches) >= limit:
                        truncated = True
                        abort = True
                        break
                    matches.append(match_to_dict(ident, params['include_phi']))
            elif category in ('success', 'warning', 'cancel'):
                break
            else:
                module.fail_json(msg='dicom_find: %s:%s answered the C-FIND with %s (0x%04X).' % (
                    settings.host, settings.port, status_text(code, 'C-FIND'), code))
    finally:
        close_association(assoc, abort=abort)
    module.exit_json(changed=False, matches=matches, count=len(matches), truncated=truncated,
                     elapsed_seconds=round(time.time() - start, 3), level=level)


def main():
    module = AnsibleModule(
        argument_spec=dicom_argument_spec(
            level=dict(type='str', choices=['PATIENT', 'STUDY', 'SERIES', 'IMAGE'], default='STUDY'),
            model=dict(type='str', choices=['study', 'patient'], default='study'),
            query=dict(type='dict', default={}),
            return_keys=dict(type='list', elements='str', default=[], no_log=False),
            include_phi=dict(type='bool', default=False),
            max_results=dict(type='int', default=1000),
        ),
        supports_check_mode=True,
    )
    check_dicom_libs(module)
    try:
        run_module(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='dicom_find failed unexpectedly: %s' % exc, exception=traceback.format_exc())


if __name__ == '__main__':
    main()

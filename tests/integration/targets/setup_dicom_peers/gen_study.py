"""Write a synthetic CT study (pydicom + numpy); no real patient data, random pixels.

gen_study.py OUT_DIR [--series N] [--instances M] [--rows R] [--cols C]
                     [--syntax explicit|implicit|jpeg] [--prefix ct]
Prints the StudyInstanceUID.
"""
import argparse
import os

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         JPEGBaseline8Bit, PYDICOM_IMPLEMENTATION_UID, generate_uid)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--series', type=int, default=2)
    p.add_argument('--instances', type=int, default=5)
    p.add_argument('--rows', type=int, default=64)
    p.add_argument('--cols', type=int, default=64)
    p.add_argument('--syntax', default='explicit', choices=['explicit', 'implicit', 'jpeg'])
    p.add_argument('--prefix', default='ct')
    p.add_argument('--study-uid', default=None)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(7)
    study = a.study_uid or generate_uid()
    ts = {'explicit': ExplicitVRLittleEndian, 'implicit': ImplicitVRLittleEndian, 'jpeg': JPEGBaseline8Bit}[a.syntax]
    pixels = rng.integers(0, 4096, size=(a.rows, a.cols), dtype=np.uint16)
    for s in range(a.series):
        series = generate_uid()
        for i in range(a.instances):
            uid = generate_uid()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            meta.MediaStorageSOPInstanceUID = uid
            meta.TransferSyntaxUID = ts
            meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = CTImageStorage
            ds.SOPInstanceUID = uid
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            ds.Modality = 'CT'
            ds.PatientName = 'SYNTHETIC^TEST'
            ds.PatientID = 'SYN0001'
            ds.StudyID = '1'
            ds.StudyDate = '20260101'
            ds.AccessionNumber = 'SYN1'
            ds.SeriesNumber = s + 1
            ds.InstanceNumber = i + 1
            ds.Rows, ds.Columns = a.rows, a.cols
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = 'MONOCHROME2'
            ds.ImageType = ['ORIGINAL', 'PRIMARY', 'AXIAL']
            if a.syntax == 'jpeg':
                ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
                # Not a decodable JPEG: enough for a peer that only stores it.
                ds.PixelData = encapsulate([b'\xff\xd8' + bytes(rng.integers(0, 255, 64, dtype=np.uint8)) + b'\xff\xd9'])
                ds['PixelData'].VR = 'OB'
            else:
                ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
                ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
                ds.PixelData = pixels.tobytes()
            ds.save_as(os.path.join(a.out, '%s_s%02d_i%04d.dcm' % (a.prefix, s + 1, i + 1)),
                       enforce_file_format=True, implicit_vr=(a.syntax == 'implicit'), little_endian=True)
    print(study)


if __name__ == '__main__':
    main()

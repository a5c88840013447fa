"""Write N small synthetic DICOM Part 10 files (no patient data) and optionally one non-DICOM file."""

import argparse
import os

from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--bad", type=int, default=0, help="also write this many files that are not DICOM")
    a = p.parse_args()
    os.makedirs(a.folder, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    for i in range(a.count):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientID, ds.PatientName = "TEST-%03d" % i, "Synthetic^Test"
        ds.Modality, ds.InstanceNumber = "OT", i + 1
        ds.Rows = ds.Columns = 4
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit, ds.PixelRepresentation = 7, 0
        ds.PixelData = bytes(16)
        ds.save_as(os.path.join(a.folder, "img%03d.dcm" % i), enforce_file_format=True)
    for i in range(a.bad):
        with open(os.path.join(a.folder, "notes%d.txt" % i), "w") as f:
            f.write("not a DICOM file\n")


if __name__ == "__main__":
    main()

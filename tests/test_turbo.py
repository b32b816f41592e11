"""JPEG baseline through libjpeg-turbo: which images it decodes, and that it gives pydicom's values."""
from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from pydicom.pixels import get_decoder

from scrubber.pixels import turbo
from scrubber.pixels.decode import as_array

from .util import data_path


@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_jpeg_no_color_transform.dcm"])
def test_turbo_gives_the_stored_components_pydicom_gives(name):
    ds = pydicom.dcmread(data_path(name))
    assert turbo.decodes_first(ds)
    ours, meta = as_array(ds)
    theirs, their_meta = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    assert meta["photometric_interpretation"] == their_meta["photometric_interpretation"]
    assert ours.size == theirs.size and ours.dtype == theirs.dtype
    differ = np.abs(ours.astype(int).reshape(theirs.shape) - theirs)
    assert differ[..., 0].max() <= 1 and differ.max() <= 3


def test_other_images_and_syntaxes_stay_with_pydicom():
    ds = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    signed = copy.deepcopy(ds)
    signed.PixelRepresentation = 1
    palette = copy.deepcopy(ds)
    palette.PhotometricInterpretation = "PALETTE COLOR"
    assert not turbo.decodes_first(signed) and not turbo.decodes_first(palette)
    for name in ("JPGExtended.dcm", "JPEG-LL.dcm", "US1_J2KR.dcm", "US1_UNCR.dcm"):
        assert not turbo.decodes_first(pydicom.dcmread(data_path(name))), name


def test_a_frame_of_another_size_is_refused():
    """Frames are decoded into one array made for the first one's shape: a fragment that decodes to
    another is an error (the decoder's failure, a quarantine), not a crop or a broadcast."""
    from pydicom.encaps import encapsulate, generate_frames

    clip = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    small = pydicom.dcmread(data_path("SC_rgb_jpeg_dcmtk.dcm"))
    fragments = list(generate_frames(clip.PixelData, number_of_frames=int(clip.NumberOfFrames)))[:2]
    clip.PixelData = encapsulate([fragments[0], next(generate_frames(small.PixelData, number_of_frames=1))])
    clip.NumberOfFrames = 2
    with pytest.raises(ValueError, match="frame 1 decodes to"):
        turbo.as_array(clip)

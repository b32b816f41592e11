"""Connected components through 16-bit labels: the same as OpenCV's 32-bit call, and past 65534
components the 32-bit call itself; a sparse mask labelled within its bounding rectangle gives the
whole mask's result, label for label."""
import cv2
import numpy as np

from scrubber.detect.blobs import components_with_stats


def _reference(mask: np.ndarray, connectivity: int):
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=connectivity, ltype=cv2.CV_32S)
    return count, labels, stats


def test_same_components_as_32_bit_labels():
    rng = np.random.default_rng(3)
    for density in (0.0, 0.05, 0.4):
        mask = (rng.random((480, 640)) < density).astype(np.uint8)
        for connectivity in (4, 8):
            count, labels, stats = components_with_stats(mask, connectivity)
            want_count, want_labels, want_stats = _reference(mask, connectivity)
            assert count == want_count
            assert np.array_equal(stats, want_stats)
            assert np.array_equal(labels.astype(np.int32), want_labels)


def test_a_sparse_mask_gives_the_whole_masks_labels_in_their_order():
    """Pieces at odd and even offsets, touching each side or none, some single rows or columns: the
    labels' order, every stats row (the background's too) and the labels match OpenCV's on the
    whole mask."""
    rng = np.random.default_rng(5)
    for trial in range(400):
        rows, cols = (int(v) for v in rng.integers(1, 160, 2))
        mask = np.zeros((rows, cols), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            y, x = int(rng.integers(0, rows)), int(rng.integers(0, cols))
            mask[y:y + int(rng.integers(1, 50)), x:x + int(rng.integers(1, 50))] = 1
        mask &= (rng.random((rows, cols)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        for connectivity in (4, 8):
            count, labels, stats = components_with_stats(mask, connectivity)
            want_count, want_labels, want_stats = _reference(mask, connectivity)
            assert count == want_count, trial
            assert np.array_equal(stats, want_stats), trial
            assert np.array_equal(labels.astype(np.int32), want_labels), trial


def test_more_components_than_16_bit_labels_hold():
    mask = np.zeros((480, 640), np.uint8)
    mask[::2, ::2] = 1  # 76,800 isolated pixels: more labels than 16 bits give
    count, labels, stats = components_with_stats(mask, 8)
    assert count == 240 * 320 + 1
    assert labels.dtype == np.int32 and int(labels.max()) == 240 * 320
    assert stats[1:, cv2.CC_STAT_AREA].tolist() == [1] * (240 * 320)


def test_an_empty_mask_is_not_labelled(monkeypatch):
    """An empty mask (most of a later image's masks of rules and new strokes) gives OpenCV's
    result, background row and 16-bit labels alike, without a call to OpenCV."""
    wants = {}
    for shape in ((480, 640), (7, 3), (1, 1)):
        for connectivity in (4, 8):
            wants[shape, connectivity] = cv2.connectedComponentsWithStats(
                np.zeros(shape, np.uint8), connectivity=connectivity, ltype=cv2.CV_16U)[:3]
    calls = []
    monkeypatch.setattr(cv2, "connectedComponentsWithStats", lambda *a, **k: calls.append(a))
    for (shape, connectivity), (want_count, want_labels, want_stats) in wants.items():
        count, labels, stats = components_with_stats(np.zeros(shape, np.uint8), connectivity)
        assert count == want_count == 1
        assert labels.dtype == want_labels.dtype and np.array_equal(labels, want_labels)
        assert stats.dtype == want_stats.dtype and np.array_equal(stats, want_stats)
    assert calls == []

"""Boxes over the frames of a clip: static overlays everywhere, transient text where it shows.

A box seen in at least ``static_fraction`` of the frames is a burned-in overlay: it is blanked in
every frame, which also covers frames where the detector flickered. A box seen in fewer frames
(a label shown for a moment) is blanked in those frames and in the short gaps between them.
"""
from __future__ import annotations

from collections.abc import Sequence

from .boxes import Box, simplify


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller area: 1.0 when one box holds the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / smaller


def spread(frames: Sequence[Sequence[Box]], static_fraction: float = 0.5, max_gap: int = 2,
           same: float = 0.5) -> list[list[Box]]:
    """Per-frame boxes to blank, from per-frame detections (see the module docstring)."""
    count = len(frames)
    tracks: list[tuple[dict[Box, None], set[int]]] = []  # distinct member boxes (in order), frames
    track_of: dict[Box, int] = {}
    for index, boxes in enumerate(frames):
        for box in boxes:
            known = track_of.get(box)
            if known is None:
                known = next((t for t, (members, _) in enumerate(tracks)
                              if any(_overlap(box, m) >= same for m in members)), None)
            if known is None:
                tracks.append(({box: None}, {index}))
                track_of[box] = len(tracks) - 1
            else:
                tracks[known][0].setdefault(box, None)
                tracks[known][1].add(index)
                track_of.setdefault(box, known)
    out: list[list[Box]] = [[] for _ in range(count)]
    for members, seen in tracks:
        if len(seen) >= static_fraction * count:
            shown = range(count)
        else:
            ordered = sorted(seen)
            shown = set(ordered)
            for a, b in zip(ordered, ordered[1:]):
                if b - a - 1 <= max_gap:
                    shown.update(range(a, b))
        for index in shown:
            out[index].extend(members)
    return [simplify(boxes) for boxes in out]

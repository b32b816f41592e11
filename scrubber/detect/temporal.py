"""Boxes over the frames of a clip: static overlays everywhere, transient text where it shows.

A box seen in at least ``static_fraction`` of the frames is a burned-in overlay: it is blanked in
every frame, which also covers frames where the detector flickered. A box seen in fewer frames
(a label shown for a moment) is blanked in those frames and in the short gaps between them, each
run of such frames with the boxes of its track seen in that run: the same line read whole in one
frame and in part in the next is blanked whole in both, while a label shown at the same place at
another moment, longer or shorter, leaves its own boxes in its own frames (a track joins all the
boxes ever seen at a place; blanked in every frame of it, they changed 1.6-3.6 % of a clip's pixels
outside its text in the recall sweep's "clip" cases, which show labels at the same three places in
turn: 1.6-2.2 % when each moment keeps its own).
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
    tracks: list[dict[Box, set[int]]] = []  # per track: its distinct member boxes (in order), each with its frames
    track_of: dict[Box, int] = {}
    for index, boxes in enumerate(frames):
        for box in boxes:
            known = track_of.get(box)
            if known is None:
                known = next((t for t, members in enumerate(tracks) if any(_overlap(box, m) >= same for m in members)),
                             None)
            if known is None:
                tracks.append({})
                known = len(tracks) - 1
            tracks[known].setdefault(box, set()).add(index)
            track_of.setdefault(box, known)
    out: list[list[Box]] = [[] for _ in range(count)]
    for members in tracks:
        seen = sorted(set().union(*members.values()))
        if len(seen) >= static_fraction * count:
            for index in range(count):
                out[index].extend(members)
            continue
        for first, last in _runs(seen, max_gap):
            boxes = [box for box, at in members.items() if any(first <= frame <= last for frame in at)]
            for index in range(first, last + 1):
                out[index].extend(boxes)
    return [simplify(boxes) for boxes in out]


def _runs(seen: Sequence[int], max_gap: int) -> list[tuple[int, int]]:
    """(first, last) frame of each run of ``seen`` (sorted frame indices) whose gaps are at most
    ``max_gap`` frames."""
    runs = [[seen[0], seen[0]]] if seen else []
    for frame in seen[1:]:
        if frame - runs[-1][1] - 1 <= max_gap:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return [(first, last) for first, last in runs]

"""Pixel data: decode to frames, render for display, fill text boxes, re-encode per transfer syntax.

Nothing here knows how text is found; the pipeline hands boxes in.
"""

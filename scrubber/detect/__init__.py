"""Ways of finding burned-in text. Each backend returns boxes per image and says who found them.

Detectors see 8-bit RGB renderings only; they never import a codec.
"""
from .boxes import Box, Detection

__all__ = ["Box", "Detection"]

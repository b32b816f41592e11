"""Known-location rule files (``*.toml``), read by ``scrubber.detect.rules``.

``ctp.toml`` is generated from RSNA CTP's region table (``standard/``) by ``import_ctp``.
"""

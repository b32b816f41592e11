"""Model weights manifest: the sha256 of every weight file scrubber will load.

Shipped inside the package as ``scrubber.models`` so an installed scrubber can verify
weights without the source tree.
"""

"""`scrubber serve`: a DICOM node that receives C-STORE, scrubs each instance, and forwards it.

Built on the public API only; see ``node.Node`` for the flow and ``spool.Spool`` for the states.
"""
from .forward import Address
from .node import Node, NodeConfig, serve
from .status import Totals

__all__ = ["Address", "Node", "NodeConfig", "Totals", "serve"]

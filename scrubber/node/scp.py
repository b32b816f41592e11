"""The receiving end: a storage SCP that answers success only once an instance is on disk.

It accepts the image storage classes the pipeline cleans, in every transfer syntax the pipeline
reads (``scrubber/pixels/syntaxes.toml``; a sender that can also offer another syntax is steered
to one we can clean), and C-ECHO. Nothing is decoded here: the bytes as received, with their
file meta, go to the spool.
"""
from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence

from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from ..header import digest
from ..pixels.syntax import readable_syntaxes
from .spool import Spool
from .status import Counters, log

# Image storage classes whose instances are pixel data plus a header the pipeline cleans:
# ultrasound and secondary capture first, then the other single- and multi-frame image IODs.
IMAGE_STORAGE: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.6",  # Ultrasound Image (retired)
    "1.2.840.10008.5.1.4.1.1.3",  # Ultrasound Multi-frame Image (retired)
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.77.1.1",  # VL Endoscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.2",  # VL Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.3",  # VL Slide-Coordinates Microscopic Image
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # Ophthalmic Photography 8 Bit Image
    "1.2.840.10008.5.1.4.1.1.77.1.5.2",  # Ophthalmic Photography 16 Bit Image
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.3",  # Digital Intra-Oral X-Ray Image - For Presentation
    "1.2.840.10008.5.1.4.1.1.12.1",  # X-Ray Angiographic Image
    "1.2.840.10008.5.1.4.1.1.12.2",  # X-Ray Radiofluoroscopic Image
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image
    "1.2.840.10008.5.1.4.1.1.4",  # MR Image
    "1.2.840.10008.5.1.4.1.1.20",  # Nuclear Medicine Image
    "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
)

OUT_OF_RESOURCES = 0xA700  # C-STORE failure status: the instance was not stored


def server_tls(cert: str, key: str, ca: str | None = None) -> ssl.SSLContext:
    """TLS 1.2+ with our certificate; with ``ca``, callers must show a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if ca:
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Receiver:
    """Listens for associations; each C-STORE goes to ``spool`` and then to ``received(name)``."""

    def __init__(self, aet: str, bind: str, port: int, spool: Spool, key: bytes, counters: Counters,
                 received: Callable[[str], None], allow: Sequence[str] = (),
                 tls: ssl.SSLContext | None = None) -> None:
        self.aet, self.bind, self.port = aet, bind, port
        self.spool, self.key, self.counters, self._received = spool, key, counters, received
        self.ae = AE(ae_title=aet)
        syntaxes = list(readable_syntaxes())
        for sop_class in IMAGE_STORAGE:
            self.ae.add_supported_context(sop_class, syntaxes)
        self.ae.add_supported_context(Verification)
        self.ae.require_calling_aet = list(allow)
        self.tls = tls
        self.server: ThreadedAssociationServer | None = None

    def start(self) -> None:
        handlers = [(evt.EVT_C_STORE, self._store), (evt.EVT_REJECTED, self._rejected)]
        self.server = self.ae.start_server((self.bind, self.port), block=False, evt_handlers=handlers,
                                           ssl_context=self.tls)

    def _store(self, event: evt.Event) -> int:
        instance = digest(self.key, str(event.request.AffectedSOPInstanceUID or ""))
        try:
            name = self.spool.receive(event.encoded_dataset(), instance)
        except Exception as exc:  # a full or broken disk: the sender keeps its copy
            self.counters.add(refused=1)
            log.error(f"instance={instance} not stored: spool write failed ({type(exc).__name__}); "
                      f"answered 0x{OUT_OF_RESOURCES:04X}")
            return OUT_OF_RESOURCES
        self._received(name)
        return 0x0000

    def _rejected(self, event: evt.Event) -> None:
        calling = str(event.assoc.requestor.ae_title).strip()
        log.warning(f"association from calling AE title {calling!r} rejected")

    def stop(self, grace: float = 10.0) -> None:
        """Take no new association; give the open ones ``grace`` seconds to finish, then abort them."""
        if self.server is not None:
            self.server.shutdown()
        deadline = time.monotonic() + grace
        while self.ae.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ae.shutdown()

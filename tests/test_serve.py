"""`scrubber serve`, the DICOM node, against dcmtk as the independent peer (127.0.0.1 only).

storescu sends real files to the node (the real CLI, in a subprocess), which forwards to dcmtk's
storescp: what arrives must be clean, complete, in the syntax the pipeline's table says, and
arrive exactly once across a destination outage and a restart of the node. Every wait is bounded.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless

from scrubber.header.pseudonym import uid_for
from scrubber.node.forward import Address, Backoff, DestinationDown, Forwarder, Refused
from scrubber.node.node import NodeConfig
from scrubber.node.spool import Spool
from scrubber.pixels.syntax import rule_for

from .util import ROOT, SAMPLE, data_path, video

sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmark's SC builder (as test_benchmarks does)
from inputs import secondary_capture  # noqa: E402

DCMTK = ("storescu", "storescp", "echoscu")
needs_dcmtk = pytest.mark.skipif(any(shutil.which(t) is None for t in DCMTK),
                                 reason="dcmtk (storescu, storescp, echoscu) is not installed")
KEY = "5c" * 32
STARTUP_S = 180  # interpreter, worker process and model load on a slow shared machine
SCRUB_S = 240  # three 640x480 frames, one worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def small_sc(path: Path, text: str = "DOE^JOHN", rows: int = 64, cols: int = 96) -> Path:
    """A small Secondary Capture image with burned-in text and a patient name in the header."""
    pixels = np.full((rows, cols), 40, np.uint8)
    cv2.putText(pixels, text, (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255, 1)
    secondary_capture(pixels, "DOE^JOHN", "12345").save_as(path, enforce_file_format=True)
    return path


class Dest:
    """dcmtk's storescp: unique file names, so an instance that arrives twice shows as two files."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port, self.proc = folder, port, None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> "Dest":
        self.proc = subprocess.Popen(["storescp", "--fork", "+xa", "+uf", "-aet", "DEST", "-od", str(self.folder),
                                      str(self.port)], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["echoscu", "-aec", "DEST", "127.0.0.1", str(self.port)],
                                        capture_output=True).returncode == 0, 20, "storescp to listen")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # storescp and its forked children
            self.proc.wait(timeout=20)
        self.proc = None

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file() and not p.name.startswith("."))


class Serve:
    """`scrubber serve` in a subprocess, as an operator would run it; its log in a file."""

    def __init__(self, root: Path, port: int, *args: str) -> None:
        self.root, self.port, self.args = root, port, args
        self.log = root / "serve.log"
        self.proc = None

    def start(self) -> "Serve":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.handle = self.log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scrubber.cli", "serve", "--bind", "127.0.0.1", "--port", str(self.port),
             "--device", "cpu", "--key-file", str(self.root / "key"), "--status-interval", "600", *self.args],
            cwd=self.root, env=env, stdout=self.handle, stderr=subprocess.STDOUT)
        started = self.text().count("listening on")
        wait_for(lambda: self.text().count("listening on") > started or self.proc.poll() is not None,
                 STARTUP_S, "scrubber serve to listen")
        assert self.proc.poll() is None, self.text()
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def status(self) -> dict[str, int]:
        """The totals, asked for with SIGUSR1 and read from the log line it writes."""
        before = self.text().count(" status ")
        self.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: self.text().count(" status ") > before, 20, "a status line")
        line = [ln for ln in self.text().splitlines() if " status " in ln][-1]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.handle.close()
        self.proc = None
        return code


def storescu(port: int, files: list[Path], *options: str, aet: str = "SENDER") -> subprocess.CompletedProcess:
    return subprocess.run(["storescu", *options, "-aet", aet, "-aec", "SCRUBBER", "127.0.0.1", str(port),
                           *map(str, files)], capture_output=True, text=True, timeout=60)


def echoscu(port: int, *options: str, aet: str = "SENDER") -> int:
    return subprocess.run(["echoscu", *options, "-aet", aet, "-aec", "SCRUBBER", "127.0.0.1", str(port)],
                          capture_output=True, timeout=60).returncode


def by_uid(files: list[Path]) -> Counter:
    return Counter(str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files)


# -- without the network: the spool's states, the retry schedule, the command's checks ----------

def test_spool_recover_resumes_each_state_once(tmp_path):
    spool = Spool(tmp_path / "spool")
    received = spool.receive(b"received", "a" * 16)
    scrubbed = spool.receive(b"scrubbed", "b" * 16)
    spool.outgoing(scrubbed).write_bytes(b"clean")  # scrubbed, stopped before the received copy went
    both_left = spool.receive(b"sent?", "c" * 16)
    spool.outgoing(both_left).write_bytes(b"clean")
    spool.scrubbed(both_left)
    (spool.incoming_dir / f".{received}.x.part").write_bytes(b"half")
    (spool.outgoing_dir / ".y.dcm.z.part").write_bytes(b"half")
    to_scrub, to_send = spool.recover()
    assert to_scrub == [received]
    assert to_send == sorted([scrubbed, both_left])
    assert not spool.incoming(scrubbed).exists()  # sent from outgoing/, never scrubbed again
    assert not list(tmp_path.rglob("*.part"))
    assert received < scrubbed < both_left  # names keep arrival order
    assert Spool.received_at(received) == pytest.approx(time.time(), abs=60)


def test_backoff_doubles_to_a_minute_and_resets():
    backoff = Backoff()
    assert [backoff.failed() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    assert backoff.failed() == 1


class FlakyDestination:
    """Down for its first ``down`` sessions; refuses the instances named in ``refuse``."""

    def __init__(self, down: int, refuse: set[str]) -> None:
        self.down, self.refuse, self.stored, self.sessions = down, refuse, [], 0

    def fit(self, paths):
        return paths

    @contextmanager
    def session(self, paths):
        self.sessions += 1
        if self.sessions <= self.down:
            raise DestinationDown("connection refused")

        def send(path):
            if path.name in self.refuse:
                raise Refused("C-STORE status 0xA700")
            self.stored.append(path.name)

        yield send


def test_forwarder_waits_for_the_destination_and_a_refused_instance_holds_up_no_other(tmp_path):
    for name in "abc":
        (tmp_path / name).write_bytes(b"clean")
    destination = FlakyDestination(down=1, refuse={"b"})
    sent = []
    forwarder = Forwarder(destination, lambda name: tmp_path / name, sent.append)
    forwarder.start()
    try:
        for name in "abc":
            forwarder.add(name)
        wait_for(lambda: sent == ["a", "c"], 10, "a and c sent after one retry")
        assert destination.sessions == 2 and forwarder.pending() == 1  # b waits on its own schedule
        destination.refuse.clear()
        wait_for(lambda: sent == ["a", "c", "b"], 10, "b sent on its retry")
        assert destination.stored == ["a", "c", "b"] and forwarder.pending() == 0
    finally:
        forwarder.stop()


def test_addresses_and_config_are_checked(tmp_path):
    assert Address.parse("DEST@127.0.0.1:104") == Address("DEST", "127.0.0.1", 104)
    for bad in ("DEST127.0.0.1:104", "DEST@127.0.0.1", "@h:1", "DEST@h:0", "A" * 17 + "@h:1"):
        with pytest.raises(ValueError):
            Address.parse(bad)
    common = {"aet": "SCRUBBER", "port": 11112, "spool": tmp_path, "quarantine": tmp_path / "q"}
    with pytest.raises(ValueError):
        NodeConfig(**common)  # neither --forward nor --out
    with pytest.raises(ValueError):
        NodeConfig(**common, out=tmp_path / "o", tls_cert="cert.pem")  # a certificate without its key
    NodeConfig(**common, out=tmp_path / "o")


def test_serve_refuses_a_place_it_cannot_write_before_listening(tmp_path):
    (tmp_path / "plain").write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "scrubber.cli", "serve", "--port", str(free_port()),
                           "--spool", str(tmp_path / "spool"), "--out", str(tmp_path / "plain" / "out"),
                           "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "plain/out cannot be written" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_serve_refuses_a_spool_inside_its_output_folder(tmp_path):
    """The spool holds every instance as it was received; written under the folder of clean
    files, it would be handed on with them."""
    done = subprocess.run([sys.executable, "-m", "scrubber.cli", "serve", "--port", str(free_port()),
                           "--spool", str(tmp_path / "out" / "spool"), "--out", str(tmp_path / "out"),
                           "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "inside the output folder" in done.stderr
    assert list(tmp_path.iterdir()) == []


# -- the node between dcmtk peers ------------------------------------------------------------------

@needs_dcmtk
def test_forwards_clean_complete_and_exactly_once_across_outage_and_restart(tmp_path):
    (tmp_path / "key").write_text(KEY + "\n")
    key = bytes.fromhex(KEY)
    dest = Dest(tmp_path / "dest", free_port())
    node = Serve(tmp_path, free_port(), "--forward", f"DEST@127.0.0.1:{dest.port}", "--spool", "spool")
    spool = Spool(tmp_path / "spool")
    # one transfer syntax family per storescu run: uncompressed, RLE, JPEG 2000 lossless
    sends = [(data_path("US1_UNCR.dcm"), ()), (SAMPLE / "us_single.dcm", ("-xr",)),
             (data_path("US1_J2KR.dcm"), ("-xv",))]
    try:
        dest.start()
        node.start()
        assert echoscu(node.port) == 0
        for path, options in sends:
            assert storescu(node.port, [path], *options).returncode == 0
        wait_for(lambda: len(dest.files()) >= len(sends), SCRUB_S, "the first instances at the destination")

        arrived = {str(pydicom.dcmread(p).SOPInstanceUID): pydicom.dcmread(p) for p in dest.files()}
        for path, _ in sends:
            original = pydicom.dcmread(path)
            out = arrived[uid_for(key, str(original.SOPInstanceUID))]
            assert str(out.PatientName).startswith("ANON^") and out.PatientName != original.PatientName
            assert out.PatientIdentityRemoved == "YES" and out.BurnedInAnnotation == "NO"
            assert out.file_meta.TransferSyntaxUID == rule_for(original.file_meta.TransferSyntaxUID).write_uid
            assert out.PixelData != original.PixelData  # every one of them has burned-in text

        # the destination goes away: clean instances wait in the spool
        dest.stop()
        waiting = [small_sc(tmp_path / f"wait{i}.dcm") for i in range(2)]
        assert storescu(node.port, waiting).returncode == 0
        wait_for(lambda: len(list(spool.outgoing_dir.glob("*.dcm"))) == 2, 60, "two clean instances spooled")
        totals = node.status()
        assert totals["pending"] == 2 and totals["received"] == 5 and totals["delivered"] == 3
        wait_for(lambda: "unavailable" in node.text(), 30, "a retry line")

        # a clean stop keeps them; an instance received before a crash (and a half-written temp
        # file) is picked up by the next start too
        assert node.stop() == 0
        assert "pending=2" in node.text().splitlines()[-1]
        crashed = small_sc(tmp_path / "crashed.dcm")
        shutil.copy(crashed, spool.incoming(f"{time.time_ns():020d}-{'f' * 16}.dcm"))
        (spool.incoming_dir / ".half.dcm.abc.part").write_bytes(b"half")
        node.start()
        dest.start()
        expected = {uid_for(key, str(pydicom.dcmread(p).SOPInstanceUID))
                    for p in [p for p, _ in sends] + waiting + [crashed]}
        wait_for(lambda: len(dest.files()) >= len(expected), 120, "every instance at the destination")
        wait_for(lambda: node.status()["pending"] == 0, 30, "an empty spool")
        time.sleep(2)  # anything sent twice would arrive now
        assert by_uid(dest.files()) == Counter({uid: 1 for uid in expected})
        assert not [p for p in spool.root.rglob("*") if p.is_file()]
        totals = node.status()
        assert totals["delivered"] == 3 and totals["quarantined"] == 0 and totals["received"] == 0
        lines = [ln for ln in node.text().splitlines() if "decision=delivered" in ln]
        assert len(lines) == len(expected)
        assert all(re.search(r"instance=[0-9a-f]{16} decision=delivered seconds=\d+\.\d\d$", ln) for ln in lines)
        assert "DOE" not in node.text() and "JOHN" not in node.text()
    finally:
        node.stop()
        dest.stop()


@pytest.fixture(scope="module")
def gatekeeper(tmp_path_factory):
    """A node that takes TLS associations from SENDER only and writes clean instances to a folder."""
    if any(shutil.which(t) is None for t in DCMTK) or shutil.which("openssl") is None:
        pytest.skip("dcmtk or openssl is not installed")
    root = tmp_path_factory.mktemp("gatekeeper")
    (root / "key").write_text(KEY + "\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")], check=True, capture_output=True,
                   timeout=60)
    node = Serve(root, free_port(), "--out", "out", "--spool", "spool", "--allow", "SENDER,OTHER",
                 "--tls-cert", "cert.pem", "--tls-key", "key.pem")
    node.start()
    yield node
    assert node.stop() == 0


def tls(node: Serve) -> tuple[str, ...]:
    return ("+tla", "+cf", str(node.root / "cert.pem"))


@needs_dcmtk
def test_echo_over_tls_and_the_allow_list(gatekeeper):
    assert echoscu(gatekeeper.port, *tls(gatekeeper)) == 0
    assert echoscu(gatekeeper.port, *tls(gatekeeper), aet="OTHER") == 0
    assert echoscu(gatekeeper.port, *tls(gatekeeper), aet="INTRUDER") != 0
    wait_for(lambda: "'INTRUDER' rejected" in gatekeeper.text(), 10, "the rejection logged")
    assert echoscu(gatekeeper.port) != 0  # no TLS: no association


@needs_dcmtk
def test_an_instance_that_cannot_be_cleaned_is_quarantined_never_delivered(gatekeeper, tmp_path):
    good = small_sc(tmp_path / "good.dcm")
    bad = small_sc(tmp_path / "bad.dcm")
    ds = pydicom.dcmread(bad)
    ds.PixelData = ds.PixelData[:-64]  # shorter than Rows x Columns
    ds.save_as(bad, enforce_file_format=True)
    assert storescu(gatekeeper.port, [bad, good], *tls(gatekeeper)).returncode == 0
    quarantine = gatekeeper.root / "spool.quarantine"
    reasons = wait_for(lambda: list(quarantine.glob("*.reason.json")), 60, "a reason file")
    assert '"reason_code": "inconsistent_image"' in reasons[0].read_text()
    out = gatekeeper.root / "out"
    delivered = wait_for(lambda: list(out.rglob("*.dcm")), 60, "the clean instance in the output folder")
    assert by_uid(delivered) == Counter({uid_for(bytes.fromhex(KEY), str(pydicom.dcmread(good).SOPInstanceUID)): 1})
    time.sleep(1)
    assert len(list(out.rglob("*.dcm"))) == 1  # the bad one never
    totals = gatekeeper.status()
    assert totals["quarantined"] == 1 and totals["delivered"] == 1 and totals["pending"] == 0
    assert "decision=quarantined seconds=" in gatekeeper.text() and "reason=inconsistent_image" in gatekeeper.text()


@needs_dcmtk
def test_a_video_clip_is_received_in_its_syntax_and_written_clean_losslessly(gatekeeper, tmp_path):
    """storescu offers an H.264 clip in its own syntax; the node takes it (it accepts every syntax
    the pipeline reads) and writes it clean, whole, in JPEG 2000 Lossless (tests/test_video.py)."""
    path = tmp_path / "clip.dcm"
    clip = video(pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm")).pixel_array[:8])
    clip.save_as(path, enforce_file_format=True)
    out = gatekeeper.root / "out"
    before = set(out.rglob("*.dcm"))
    assert storescu(gatekeeper.port, [path], "-xn", *tls(gatekeeper)).returncode == 0
    written = wait_for(lambda: [p for p in out.rglob("*.dcm") if p not in before], 60, "the clean clip")
    clean = pydicom.dcmread(written[0])
    assert (clean.file_meta.TransferSyntaxUID, int(clean.NumberOfFrames)) == (JPEG2000Lossless, 8)
    assert clean.SOPInstanceUID == uid_for(bytes.fromhex(KEY), str(pydicom.dcmread(path).SOPInstanceUID))


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@needs_dcmtk
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_ca_admits_only_callers_with_a_certificate_it_signed(tmp_path):
    """--tls-ca: a caller without a certificate, or with one the CA did not sign, gets no
    association; one whose certificate the CA signed does (dcmtk's echoscu as the caller)."""
    def pair(name: str, subject: str, signed_by: str | None) -> None:
        if signed_by is None:
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject,
                     "-keyout", str(tmp_path / f"{name}.key"), "-out", str(tmp_path / f"{name}.pem"))
            return
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(tmp_path / f"{name}.key"),
                 "-out", str(tmp_path / f"{name}.csr"))
        _openssl("x509", "-req", "-in", str(tmp_path / f"{name}.csr"), "-CA", str(tmp_path / f"{signed_by}.pem"),
                 "-CAkey", str(tmp_path / f"{signed_by}.key"), "-CAcreateserial", "-days", "1",
                 "-out", str(tmp_path / f"{name}.pem"))

    pair("server", "/CN=localhost", None)
    pair("ca", "/CN=scrubber test CA", None)
    pair("client", "/CN=SENDER", "ca")
    pair("stranger", "/CN=SENDER", None)
    (tmp_path / "key").write_text(KEY + "\n")
    node = Serve(tmp_path, free_port(), "--out", "out", "--spool", "spool", "--tls-cert", "server.pem",
                 "--tls-key", "server.key", "--tls-ca", "ca.pem")
    node.start()
    try:
        trust = ("+cf", str(tmp_path / "server.pem"))
        assert echoscu(node.port, "+tls", str(tmp_path / "client.key"), str(tmp_path / "client.pem"), *trust) == 0
        assert echoscu(node.port, "+tla", *trust) != 0
        assert echoscu(node.port, "+tls", str(tmp_path / "stranger.key"), str(tmp_path / "stranger.pem"), *trust) != 0
    finally:
        assert node.stop() == 0

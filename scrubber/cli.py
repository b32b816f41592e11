"""The `scrubber` command: run, serve, inspect, keygen, rules.

Output to the operator names files by their path relative to the input root and never prints a
header value; errors are one line per file on stderr.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import NoReturn

from .api import Policy, default_audit, default_quarantine, scrub_paths
from .audit import FileReport, write_table
from .batch import RunSummary
from .detect.rules import Header, RuleError, RuleSet, load_rules
from .errors import ScrubError
from .header.clean import option_names
from .places import check_places
from .policy import MAX_SAMPLES
from .quiet import no_warnings, silence_pydicom_logging
from .resume import RESUMED
from .workers import AUTO, auto_workers, parse_memory, parse_workers, scaled

EXIT_OK, EXIT_NOT_ALL_DELIVERED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


def _policy(args: argparse.Namespace) -> Policy:
    rules_dirs = tuple(args.rules or ())
    if rules_dirs and args.no_known_locations:
        _usage("--rules and --no-known-locations exclude each other")
    changes: dict = {"device": args.device, "backend": args.backend, "text_model": args.text_model,
                     "jpeg_dct": getattr(args, "jpeg_dct", True),
                     "keep_syntax": getattr(args, "keep_syntax", "auto"),
                     "header_options": frozenset(o.replace("-", "_") for o in args.option or ()),
                     "rules_dirs": rules_dirs, "known_locations": not args.no_known_locations,
                     "outside_regions": "blank" if args.blank_outside_regions else "ocr",
                     "reuse_layouts": not args.no_layout_reuse, "max_samples": args.max_samples}
    if getattr(args, "key_file", None):
        changes["key"] = read_key(Path(args.key_file))
    try:
        policy = Policy(**changes)
        if policy.known_locations:
            load_rules(policy.rules_dirs)  # a missing folder or bad rule file stops the run up front
        return policy
    except ValueError as exc:
        _usage(str(exc))


def _ruleset(args: argparse.Namespace) -> RuleSet:
    try:
        return load_rules(tuple(args.rules or ()))
    except RuleError as exc:
        _usage(str(exc))


def read_key(path: Path) -> bytes:
    """A key file holds hex (as written by `scrubber keygen`); at least 16 bytes of key."""
    try:
        key = bytes.fromhex(path.read_text().strip())
    except OSError as exc:
        return _usage(f"cannot read the key file {path} ({exc.strerror or exc}); `scrubber keygen FILE` makes one")
    except ValueError:
        return _usage(f"{path} is not a key file (expected hex, see `scrubber keygen`)")
    if len(key) < 16:
        return _usage(f"{path} holds fewer than 16 bytes of key")
    return key


def _usage(message: str) -> NoReturn:
    print(f"scrubber: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class Progress:
    """A one-line progress bar on a terminal (files, frames/s, files left); sparse lines otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = self.done = self.frames = self.not_delivered = 0
        self.started = time.perf_counter()
        self.last_line = -1

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.perf_counter()
        self.stream.write(f"scrubber: {total} file(s) to scrub\n")

    def __call__(self, report: FileReport) -> None:
        self.done += 1
        if report.reason_code != RESUMED:  # the rate of this run's work
            self.frames += report.frames
        if report.decision != "delivered":
            self.not_delivered += 1
            self._clear()
            self.stream.write(f"scrubber: {report.decision.upper()} {report.rel}: {report.reason}\n")
        rate = self.frames / max(time.perf_counter() - self.started, 1e-9)
        bar_width = 24
        filled = int(bar_width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (bar_width - filled)}] {self.done}/{self.total} files, "
                f"{rate:.2f} frames/s, {self.total - self.done} left, {self.not_delivered} not delivered")
        if self.tty:
            self.stream.write("\r" + line)
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done * 10 // max(self.total, 1) != self.last_line or self.done == self.total:
            self.last_line = self.done * 10 // max(self.total, 1)
            self.stream.write(line + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")


def summary_table(summary: RunSummary) -> str:
    rows = [("delivered", "delivered"), ("quarantined", "quarantined"), ("failed", "failed")]
    lines = [f"{'':14s}{'files':>8s}{'frames':>9s}{'boxes removed':>15s}"]
    for label, decision in rows:
        reports = [r for r in summary.reports if r.decision == decision]
        frames = sum(r.frames for r in reports)
        boxes = sum(r.boxes_removed for r in reports)
        lines.append(f"{label:14s}{len(reports):8d}{frames:9d}{boxes:15d}")
    lines.append(f"{'skipped':14s}{len(summary.skipped):8d}   (DICOMDIR)")
    resumed = [r for r in summary.reports if r.reason_code == RESUMED]
    if resumed:
        lines.append(f"{len(resumed)} of the delivered file(s) were delivered by an earlier run (--resume)")
    scrubbed = summary.frames - sum(r.frames for r in resumed)  # this run's work
    rate = scrubbed / summary.seconds if summary.seconds else 0.0
    workers = f"{summary.workers} worker" + ("s" if summary.workers != 1 else "")
    lines.append(f"time {summary.seconds:.1f} s, {rate:.2f} frames/s, {workers}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    quarantine = Path(args.quarantine) if args.quarantine else default_quarantine(out)
    audit = Path(args.audit) if args.audit else default_audit(out)
    progress = Progress()
    policy = _policy(args)
    if args.resume and not args.key_file:
        print("scrubber: --resume needs the interrupted run's --key-file (with another key the audit cannot be "
              "matched and the files left would get other pseudonyms)", file=sys.stderr)
        return EXIT_USAGE
    if not args.resume and audit.is_file() and audit.stat().st_size > 0:
        print(f"scrubber: {audit} holds an earlier run's lines: this run adds its own and writes its files over "
              f"theirs in {out} (--resume with that run's --key-file skips what it delivered)", file=sys.stderr)
    if args.memory is not None and args.dask is not None:
        print("scrubber: --memory is for the local runner; a Dask cluster sets its workers' memory itself",
              file=sys.stderr)
        return EXIT_USAGE
    options = dict(quarantine=quarantine, qa=args.qa, audit=audit, progress=progress, on_start=progress.start,
                   rename=args.rename, resume=args.resume)
    try:
        check_places(args.inputs, [], [args.table and Path(args.table)], out=out,
                     private=[args.table and Path(args.table)])
        if args.dask is not None:
            summary = _run_on_dask(args, out, policy, options)
        else:
            summary = scrub_paths(args.inputs, out, policy, workers=args.workers, memory=args.memory, **options)
    except (FileNotFoundError, ValueError) as exc:
        print(f"scrubber: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        how = ("the same command with --resume goes on from there" if args.key_file else
               "this run's key was random, so it cannot be resumed: run it again (with --key-file to resume later)")
        print(f"\nscrubber: interrupted; the audit ({audit}) lists every file delivered so far; {how}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if not summary.reports:
        print("scrubber: no files found in the inputs", file=sys.stderr)
    print(summary_table(summary))
    print(f"output:     {out}")
    if not summary.ok:
        print(f"quarantine: {quarantine} (a .reason.json beside each file)")
    print(f"audit:      {audit}")
    if args.table:
        write_table(summary.reports, args.table)
        print(f"table:      {args.table} (CSV, one row per file)")
    if not args.key_file:
        print("pseudonyms: random key for this run only (--key-file KEY keeps them consistent across runs)")
    if args.qa:
        print(f"qa:         {args.qa} (before/after PNG per file: the before side shows the input's text)")
    named = [r for r in summary.reports if r.decision == "delivered" and r.path_holds]
    if named:
        held = ", ".join(sorted({keyword for r in named for keyword in r.path_holds}))
        print(f"scrubber: {len(named)} output path(s) hold a value of their input's header ({held}): the output "
              f"mirrors the input's names; --rename uid names each file by its cleaned header", file=sys.stderr)
    return EXIT_OK if summary.ok else EXIT_NOT_ALL_DELIVERED


def memory_arg(text: str) -> int:
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def samples_arg(text: str) -> int:
    """``--max-samples``: a count, or a number with K, M or G (powers of 1024), such as 2G."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)\s*", text, re.IGNORECASE)
    count = scaled(match.group(1), match.group(2)) if match else 0
    if count <= 0:
        raise argparse.ArgumentTypeError(f"--max-samples takes a positive count such as 2G or 500M, not {text!r}")
    return count


def workers_arg(text: str) -> int | str:
    try:
        return parse_workers(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    """A DICOM node until SIGINT/SIGTERM: receive, scrub, forward (scrubber.node)."""
    from .node import Address, Node, NodeConfig, serve
    from .node.status import log, setup_logging

    setup_logging()
    spool = Path(args.spool)
    try:
        config = NodeConfig(
            aet=args.aet, port=args.port, bind=args.bind, spool=spool,
            quarantine=Path(args.quarantine) if args.quarantine else default_quarantine(spool),
            audit=Path(args.audit) if args.audit else default_audit(spool),
            forward=Address.parse(args.forward) if args.forward else None,
            out=Path(args.out) if args.out else None,
            allow=tuple(a.strip() for a in (args.allow or "").split(",") if a.strip()),
            tls_cert=args.tls_cert, tls_key=args.tls_key, tls_ca=args.tls_ca,
            workers=auto_workers() if args.workers == AUTO else args.workers)
        check_places([], [config.spool, config.quarantine, config.out], [config.audit], out=config.out,
                     private=[config.spool, config.quarantine])
    except ValueError as exc:
        print(f"scrubber: {exc}", file=sys.stderr)
        return EXIT_USAGE
    policy = _policy(args)
    if not args.key_file:
        log.warning("pseudonyms: random key for this process only; a restart gives other pseudonyms "
                    "(--key-file KEY keeps them)")
    try:
        node = Node(config, policy)
        serve(node, args.status_interval)
    except (OSError, RuntimeError, ValueError) as exc:
        log.error(f"cannot serve: {exc}")
        return EXIT_USAGE
    return EXIT_OK


def _run_on_dask(args: argparse.Namespace, out: Path, policy: Policy, options: dict) -> RunSummary:
    """The run on a Dask cluster: ``local`` starts one of --workers processes, an address joins one."""
    try:
        from . import dask as on_dask
    except ImportError as exc:
        if exc.name not in ("dask", "distributed"):
            raise
        raise ValueError("--dask needs dask and distributed installed (pip install 'scrubber[dask]')") from None
    address = on_dask.check_address(args.dask)
    workers = auto_workers() if args.workers == AUTO else args.workers
    client = on_dask.local_client(workers) if address == "local" else on_dask.connect(address)
    with client as connected:
        return on_dask.scrub_paths(args.inputs, out, policy, client=connected, **options)


def cmd_inspect(args: argparse.Namespace) -> int:
    from .pipeline import scrub_dataset
    from .read import read

    try:
        ds = read(Path(args.file))
        result = scrub_dataset(ds, _policy(args))
    except ScrubError as exc:
        print(f"scrubber: {args.file}: would be QUARANTINED: {exc.message} [{exc.code}]", file=sys.stderr)
        return EXIT_NOT_ALL_DELIVERED
    print(f"{args.file}: {result.frames} frame(s), {result.boxes_removed} box(es) would be blacked out "
          f"(nothing written)")
    for index, detections in enumerate(result.detections):
        if detections or args.all_frames:
            print(f"frame {index}: {len(detections)} detection(s)")
            for det in detections:
                x0, y0, x1, y1 = det.box
                print(f"  x {x0}-{x1} y {y0}-{y1}  {det.detector}/{det.rendering}")
    if result.frames > 1 and result.boxes:
        print(f"blacked out in every frame (union of all frames, padded): {len(result.boxes[0])} box(es)")
    print(f"transfer syntax: {result.syntax_in} -> {result.syntax_out}")
    return EXIT_OK


def cmd_rules_list(args: argparse.Namespace) -> int:
    ruleset = _ruleset(args)
    for rule in ruleset:
        print(f"{rule.name}  {rule.origin}  {len(rule.regions)} region(s)")
        print(f"    when {rule.when.describe()}")
    print(f"{len(ruleset)} rule(s)")
    return EXIT_OK


def _boxes(boxes: tuple) -> str:
    if not boxes:
        return "every region lies outside the image"
    return "; ".join(f"x {x0}-{x1} y {y0}-{y1}" for x0, y0, x1, y1 in boxes)


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Which rules match each file, from its header alone; prints the path as given, rule names
    and box coordinates, never a header value. Headers are read as ``run`` reads them (a data set
    without the Part 10 preamble too), and a file ``run`` refuses at reading gets its reason."""
    from .read import read

    ruleset = _ruleset(args)
    origins = {rule.name: rule.origin for rule in ruleset}
    code = EXIT_OK
    for name in args.files:
        with no_warnings():
            try:
                ds = read(Path(name), header_only=True)
            except ScrubError as exc:
                print(f"scrubber: {name}: {exc.message}", file=sys.stderr)
                code = EXIT_NOT_ALL_DELIVERED
                continue
            matches = ruleset.match(ds)
            sized = Header(ds).size() is not None
        if not sized:
            print(f"{name}: no Rows/Columns in the header, no rule applies")
        elif not matches:
            print(f"{name}: no rule matches")
        else:
            print(f"{name}: {len(matches)} rule(s) match")
            for match in matches:
                print(f"  {match.name} ({origins[match.name]}): {_boxes(match.boxes)}")
    return code


def cmd_keygen(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if path.exists():
        print(f"scrubber: {path} exists; refusing to overwrite a key", file=sys.stderr)
        return EXIT_USAGE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    print(f"key written to {path} (keep it secret; the same key gives the same pseudonyms)")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scrubber", description="Remove burned-in text from DICOM images.")
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                       help="text detector runtime: onnx (onnxruntime, CPU), torch (CPU or CUDA); "
                            "auto (default): onnx on the CPU when onnxruntime is installed, else torch")
        p.add_argument("--text-model", choices=("auto", "db", "craft"), default="auto",
                       help="network that finds words and lines: db (PP-OCRv4's small detector, about 15x "
                            "cheaper; CRAFT still looks at lone characters; both on the chosen backend and "
                            "device), craft (CRAFT for all: faster on a GPU, finds less); auto (default): db")
        p.add_argument("--key-file", help="hex key for consistent pseudonyms (scrubber keygen)")
        p.add_argument("--option", action="append", metavar="NAME",
                       choices=[n.replace("_", "-") for n in option_names()],
                       help="PS3.15 Annex E option on top of the Basic Profile, repeatable: "
                            + ", ".join(n.replace("_", "-") for n in option_names()))
        rules_arg(p)
        p.add_argument("--no-known-locations", action="store_true",
                       help="apply no known-location rule (built-in or --rules)")
        p.add_argument("--blank-outside-regions", action="store_true",
                       help="ultrasound: also blank everything outside the calibrated image regions")
        p.add_argument("--max-samples", type=samples_arg, default=MAX_SAMPLES, metavar="N",
                       help="refuse (too_large) a file of more than N samples, Rows x Columns x Frames x Samples "
                            "per Pixel, such as 2G (default 1G: a 640x480 colour clip of 1165 frames). A file is "
                            "held whole: an 8-bit colour clip peaks at 2.3-3.3 bytes a sample "
                            "(benchmarks/clip_memory.py)")
        p.add_argument("--no-layout-reuse", action="store_true",
                       help="read every single-frame file whole instead of comparing it with the first file of "
                            "its layout (slower; the boxes do not depend on the order of the inputs)")

    def rules_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rules", action="append", metavar="DIR",
                       help="folder of known-location rule files (*.toml) on top of the built-in ones, repeatable")

    run = sub.add_parser("run", help="scrub files and folders into an output folder")
    run.add_argument("inputs", nargs="+", help="DICOM files or folders (walked recursively)")
    run.add_argument("-o", "--output", required=True, help="output folder (same relative paths)")
    run.add_argument("--quarantine", help="folder for files that cannot be cleaned (default OUT.quarantine)")
    run.add_argument("--audit", help="audit file, JSONL without PHI (default OUT.audit.jsonl)")
    run.add_argument("--workers", type=workers_arg, default=AUTO, metavar="N|auto",
                     help="worker processes (model loaded once each); on CUDA, threads sharing one model "
                          "whose network passes hold frames of several files. auto (default): one a core, as "
                          "many as the memory holds (1.5 GB each) and the input repays (one per 4 files or "
                          "MiB). The outputs are the same for any number")
    run.add_argument("--memory", type=memory_arg, metavar="SIZE",
                     help="the most memory the run may use, such as 8G: fewer workers under auto, and long "
                          "clips wait for each other (default: what is available when it starts)")
    run.add_argument("--dask", metavar="local|tcp://HOST:PORT",
                     help="run on Dask: local starts a LocalCluster of --workers processes; an address uses "
                          "that scheduler (workers must see the same paths)")
    run.add_argument("--resume", action="store_true",
                     help="go on with an interrupted run: inputs that the audit says were delivered, under the same "
                          "settings, whose outputs are there, are not scrubbed again (needs its --key-file)")
    run.add_argument("--table", metavar="FILE", help="also write one CSV row per file (decision, reason, boxes, time)")
    run.add_argument("--qa", help="folder for before/after PNGs with the removed boxes outlined")
    run.add_argument("--rename", choices=("keep", "uid"), default="keep",
                     help="output names: keep the input's relative path (default), or uid: "
                          "OUT/PatientID/StudyUID/SeriesUID/SOPUID.dcm from the cleaned header")
    run.add_argument("--jpeg-dct", action=argparse.BooleanOptionalAction, default=True,
                     help="keep JPEG baseline/extended in their syntax, whole 8-16 px blocks blanked in the DCT "
                          "domain (default); --no-jpeg-dct: write them as Explicit VR Little Endian, exact boxes")
    run.add_argument("--keep-syntax", choices=("auto", "strict"), default="auto",
                     help="auto (default): write each file in the syntax the table says, which may be another; "
                          "strict: quarantine a file that would leave in another transfer syntax (syntax_not_kept)")
    common(run)
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="a DICOM node: receive C-STORE, scrub, forward (or write to a folder)")
    serve.add_argument("--aet", default="SCRUBBER", help="our AE title (default SCRUBBER)")
    serve.add_argument("--port", type=int, default=11112, help="port to listen on (default 11112)")
    serve.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all)")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--forward", metavar="AET@HOST:PORT", help="send clean instances to this node (C-STORE)")
    where.add_argument("--out", metavar="DIR", help="write clean instances under DIR (PatientID/Study/Series/SOP.dcm)")
    serve.add_argument("--spool", default="scrubber-spool",
                       help="folder for instances received and not yet delivered (default ./scrubber-spool)")
    serve.add_argument("--quarantine", help="folder for instances that cannot be cleaned (default SPOOL.quarantine)")
    serve.add_argument("--audit", help="audit file, JSONL without PHI (default SPOOL.audit.jsonl)")
    serve.add_argument("--allow", metavar="AET,...", help="accept associations only from these calling AE titles")
    serve.add_argument("--tls-cert", metavar="FILE", help="TLS: our certificate (PEM); needs --tls-key")
    serve.add_argument("--tls-key", metavar="FILE", help="TLS: its private key (PEM)")
    serve.add_argument("--tls-ca", metavar="FILE", help="TLS: accept only callers with a certificate signed by these")
    serve.add_argument("--workers", type=workers_arg, default=1, metavar="N|auto",
                       help="scrub worker processes (model loaded once each; default 1); auto: one a core, as "
                            "many as the memory holds")
    serve.add_argument("--status-interval", type=float, default=60.0, metavar="SECONDS",
                       help="log the totals this often when they changed (default 60; also on SIGUSR1)")
    serve.add_argument("--jpeg-dct", action=argparse.BooleanOptionalAction, default=True,
                       help="keep JPEG baseline/extended in their syntax, whole 8-16 px blocks blanked (default); "
                            "--no-jpeg-dct: Explicit VR Little Endian, exact boxes")
    serve.add_argument("--keep-syntax", choices=("auto", "strict"), default="auto",
                       help="strict: quarantine an instance that would leave in another transfer syntax")
    common(serve)
    serve.set_defaults(func=cmd_serve)

    inspect = sub.add_parser("inspect", help="show what would be removed from one file; writes nothing")
    inspect.add_argument("file")
    inspect.add_argument("--all-frames", action="store_true", help="list frames without detections too")
    common(inspect)
    inspect.set_defaults(func=cmd_inspect)

    rules = sub.add_parser("rules", help="known-location rules: list them, or check which match files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    listing = rules_sub.add_parser("list", help="every rule: name, file, regions, conditions")
    rules_arg(listing)
    listing.set_defaults(func=cmd_rules_list)
    check = rules_sub.add_parser("check", help="which rules match each file (header only) and their boxes")
    check.add_argument("files", nargs="+", metavar="FILE")
    rules_arg(check)
    check.set_defaults(func=cmd_rules_check)

    keygen = sub.add_parser("keygen", help="create a secret key file for consistent pseudonyms")
    keygen.add_argument("file")
    keygen.set_defaults(func=cmd_keygen)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    silence_pydicom_logging()
    with no_warnings():  # the whole command: a library warning can quote a header value (PHI)
        return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

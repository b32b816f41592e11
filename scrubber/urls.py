"""Inputs named by fsspec URLs (s3://, gs://, az://, https://, file://, ...) for the Dask runner.

An archive export often sits in object storage, not on a file system every worker mounts. The
client lists the files under each URL (in ``batch.walk``'s order) and reads their
headers to group them by layout; the worker that scrubs a file copies it to a private temporary
file first, so the pipeline reads a local file as always, and removes the copy afterwards.
Outputs, quarantine and QA files still go to folders that the workers share. Credentials come
from fsspec's usual sources (environment, config files), never from scrubber.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

URL_SEPARATOR = "://"


def is_url(text: str | os.PathLike[str]) -> bool:
    """A string with a protocol (``s3://bucket/key``); ``Path`` objects are never URLs."""
    return isinstance(text, str) and URL_SEPARATOR in text


def _filesystem(url: str):
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ValueError("URL inputs need fsspec (pip install 'scrubber[dask]')") from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its package missing
        raise ValueError(f"cannot open {url.split(URL_SEPARATOR)[0]}:// URLs ({exc})") from None


def list_url(url: str, prefix: bool) -> list[tuple[str, str]]:
    """(file URL, output-relative path) for the file at ``url`` or every file under it, in the
    order ``batch.walk`` lists a folder (layout groups depend on it); ``prefix`` puts the folder's
    own name in front (several inputs, as ``batch.walk`` does)."""
    fs, root = _filesystem(url)
    root = root.rstrip("/")
    if not fs.exists(root):
        raise FileNotFoundError(f"input {url} does not exist")
    if fs.isfile(root):
        return [(url, posixpath.basename(root))]
    base = posixpath.basename(root) if prefix else ""
    found: list[str] = []
    for folder, dirs, names in fs.walk(root):  # os.walk's order, as batch.walk: a folder's files, then its folders
        dirs.sort()
        found.extend(posixpath.join(folder, name) for name in sorted(names))
    return [(fs.unstrip_protocol(path), posixpath.join(base, posixpath.relpath(path, root))) for path in found]


@contextlib.contextmanager
def local_copy(url: str) -> Iterator[Path]:
    """A private temporary copy of the file at ``url``, removed on exit."""
    fs, path = _filesystem(url)
    folder = tempfile.mkdtemp(prefix="scrubber-fetch-")
    try:
        target = Path(folder) / "input.dcm"
        with fs.open(path, "rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_url(url: str):
    """A binary file object for the file at ``url`` (reads fetch only the bytes asked for)."""
    fs, path = _filesystem(url)
    return fs.open(path, "rb")

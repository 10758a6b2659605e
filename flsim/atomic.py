"""Directories written all at once: filled in a hidden staging folder beside the target, then renamed.

A staging folder is named ``.<target>~staging~<host>~<pid>~<token>``, and an
earlier result being replaced is first renamed to ``.<target>~replaced~...``.
Writers killed mid-way (kill -9) leave such folders behind; the next write into
the same parent directory removes the staging folders of writers that are gone
and puts a replaced result back if its replacement never arrived, so a reader
always finds the old result or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

STAGING, REPLACED = "staging", "replaced"
STALE_SECONDS = 24 * 3600  # a folder left by another host's writer is taken as abandoned after this


def _hidden(target: Path, kind: str) -> Path:
    host = socket.gethostname().replace("~", "-")
    return target.parent / f".{target.name}~{kind}~{host}~{os.getpid()}~{secrets.token_hex(4)}"


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to fill; removed on exit unless :func:`publish` moved it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_abandoned(target.parent)
    folder = _hidden(target, STAGING)
    folder.mkdir()  # the user's umask applies, as for any folder they create
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def publish(folder: Path, target: Path, replace: bool) -> bool:
    """Rename the filled ``folder`` to ``target``; True if it is now there.

    If ``target`` holds something already: with ``replace``, it is swapped out
    (renamed aside, the new folder renamed in, the old one removed); without,
    the first complete copy wins and ``folder`` is left to be discarded (False).
    """
    try:
        os.rename(folder, target)  # succeeds onto a missing or empty directory
        return True
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not replace:
        return False
    old = _hidden(target, REPLACED)
    os.rename(target, old)
    os.rename(folder, target)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _abandoned(entry: Path) -> tuple[str, str] | None:
    """(target name, kind) if ``entry`` is a staging or replaced folder whose writer is gone: a process
    of this host that no longer runs, or any writer silent for STALE_SECONDS."""
    parts = entry.name.rsplit("~", 4)
    if len(parts) != 5 or not parts[0].startswith(".") or parts[1] not in (STAGING, REPLACED):
        return None
    target, kind, host, pid = parts[0][1:], parts[1], parts[2], parts[3]
    here = host == socket.gethostname().replace("~", "-")
    try:
        old = time.time() - entry.stat().st_mtime > STALE_SECONDS  # also covers a reused pid
    except OSError:
        return None
    gone = old or (here and pid.isdigit() and not _alive(int(pid)))
    return (target, kind) if gone else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_abandoned(parent: Path) -> None:
    """Remove the staging folders of writers that are gone; put back a replaced result whose
    replacement never arrived."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        found = _abandoned(entry)
        if found is None:
            continue
        target, kind = found
        with contextlib.suppress(OSError):
            if kind == REPLACED and not (parent / target).exists():
                os.rename(entry, parent / target)
            else:
                shutil.rmtree(entry)

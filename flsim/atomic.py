"""Directories written all at once: filled in a hidden staging folder beside the target, then renamed.

A writer's staging folder ``.<target>~staging~<token>`` is locked by the writer
(``flock`` on the folder itself) from before it has that name until the writer is
done; the kernel drops the lock when the writer ends, however it ends (kill -9
too), whatever pid namespace, container or host (on a shared filesystem with
locks) it ran in. The next write into the same parent directory removes the
staging folders whose lock it can take: their writers are gone. A folder is made
as ``.<target>~opening~<token>``, locked and only then renamed to its staging
name, so no cleaner sees a staging folder its writer does not hold yet; an
``opening`` folder (a writer killed in that instant) is removed once
``STALE_SECONDS`` old, as is any folder where the system or filesystem has no
``flock`` (Windows, some network filesystems): there only age tells.

Replacing an earlier result is one rename of a directory entry: the staging
folder and the target are exchanged in one step (Linux ``renameat2`` with
``RENAME_EXCHANGE``, macOS ``renamex_np`` with ``RENAME_SWAP``), so the target
holds a complete result at every moment, the old one and then the new one; the
old one, now under the staging name, is removed. Where the filesystem cannot
exchange (NFS, say), the old result is renamed aside to
``.<target>~replaced~<token>`` (locked by the writer too) and the new one renamed
in; a reader that finds the target missing (a writer killed between the two
renames) puts the old result back (:func:`clean_abandoned`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; abandoned folders are then told by their age alone
    fcntl = None

OPENING, STAGING, REPLACED = "opening", "staging", "replaced"
STALE_SECONDS = 24 * 3600  # an opening folder (or one an older flsim left) is taken as abandoned after this
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}


def _hidden(target: Path, kind: str, token: str) -> Path:
    return target.parent / f".{target.name}~{kind}~{token}"


def _lock(path: Path, wait: bool = False) -> tuple[int | None, bool]:
    """(an open descriptor of the directory ``path``, whether it holds the directory's exclusive flock):
    (None, False) where another process holds it or ``path`` is no directory of its own (gone, a file, a
    link); (descriptor, False) where this system or filesystem has no flock (then only age tells)."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None, False
    if fcntl is None:
        return handle, False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(handle)
        return None, False
    except OSError:  # ENOLCK, EOPNOTSUPP: a filesystem without locks
        return handle, False
    return handle, True


@contextlib.contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to fill, locked by this process; removed on exit unless
    :func:`publish` moved it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_abandoned(target.parent)
    token = secrets.token_hex(8)
    opening, folder = _hidden(target, OPENING, token), _hidden(target, STAGING, token)
    opening.mkdir()  # the user's umask applies, as for any folder they create
    handle, _ = _lock(opening)  # not locked only on a filesystem without locks: age tells there
    try:
        if handle is None:
            raise OSError(errno.ENOLCK, f"cannot open {opening}")
        os.rename(opening, folder)  # the lock goes with the folder
    except BaseException:
        shutil.rmtree(opening, ignore_errors=True)
        if handle is not None:
            os.close(handle)
        raise
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # after an exchange: the old result
        os.close(handle)


def publish(folder: Path, target: Path, replace: bool) -> bool:
    """Rename the filled ``folder`` to ``target``; True if it is now there.

    If ``target`` holds something already: with ``replace``, the two are exchanged
    in one rename (``folder`` then holds the old result, removed when its
    :func:`staging` ends); without, the first complete copy wins and ``folder`` is
    left to be discarded (False).
    """
    try:
        os.rename(folder, target)  # succeeds onto a missing or empty directory
        return True
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not replace:
        return False
    if not _exchange(folder, target):
        _replace_in_two_renames(folder, target)
    return True


def _exchange_function():
    """The C library's atomic exchange of two paths, or None where there is none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        renameat2 = libc.renameat2
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return lambda a, b: renameat2(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        renamex_np = libc.renamex_np
        renamex_np.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        return lambda a, b: renamex_np(a, b, 2)  # RENAME_SWAP
    return None


_EXCHANGE = _exchange_function()


def _exchange(a: Path, b: Path) -> bool:
    """Swap the directory entries ``a`` and ``b`` in one step; False where this system or filesystem cannot."""
    if _EXCHANGE is None:
        return False
    if _EXCHANGE(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace_in_two_renames(folder: Path, target: Path) -> None:
    """Where no exchange is possible: the old result aside (locked, so that no cleaner puts it back
    while this writer runs), the new one in, the old one removed."""
    handle, _ = _lock(target, wait=True)  # a writer that published it may hold it for an instant more
    if handle is None:
        raise OSError(errno.ENOLCK, f"cannot lock {target} to replace it")
    old = _hidden(target, REPLACED, secrets.token_hex(8))
    try:
        os.rename(target, old)
        os.rename(folder, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(handle)


def _parse(name: str) -> tuple[str, str, bool] | None:
    """(target name, kind, named by an older flsim) of a hidden folder this module makes, else None."""
    if not name.startswith("."):
        return None
    parts = name[1:].rsplit("~", 4)
    if len(parts) == 5 and parts[1] in (STAGING, REPLACED) and parts[3].isdigit():  # .t~kind~host~pid~token
        return parts[0], parts[1], True
    parts = name[1:].rsplit("~", 2)
    if len(parts) == 3 and parts[1] in (OPENING, STAGING, REPLACED) and parts[0]:
        return parts[0], parts[1], False
    return None


def _old(entry: Path) -> bool:
    try:
        return time.time() - entry.lstat().st_mtime > STALE_SECONDS
    except OSError:
        return False


def clean_abandoned(parent: Path) -> None:
    """Remove the staging folders of writers that are gone (their lock is free); put back a replaced
    result whose replacement never arrived."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        found = _parse(entry.name)
        if found is None:
            continue
        target, kind, legacy = found
        if (kind == OPENING or legacy) and not _old(entry):  # no lock to ask: only age tells
            continue
        handle, locked = _lock(entry)
        if handle is None:  # a writer holds it, or it is gone already
            continue
        if not locked and not _old(entry):  # no locks here: a writer may be at work
            os.close(handle)
            continue
        try:
            with contextlib.suppress(OSError):
                if kind == REPLACED and not os.path.lexists(parent / target):
                    os.rename(entry, parent / target)
                else:
                    shutil.rmtree(entry)
        finally:
            os.close(handle)

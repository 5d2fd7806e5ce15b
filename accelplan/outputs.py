"""Outputs a user can rely on: atomic files, atomically replaced folders, a checked output path, strict JSON.

- :func:`write_atomic`: one file through a temporary file in the same folder and a rename.
- :func:`staged_folder`: a command's whole set of files is written into a hidden staging folder
  beside its output folder and swapped in with one ``renameat2(RENAME_EXCHANGE)`` (Linux): a
  reader, or a run killed with SIGKILL at any moment, sees the folder all old or all new. A
  staging folder left by a killed run is removed by the next run into the same parent.
- :func:`check_out_dir`: the output path is checked before any work (an existing file, a path
  under a file, a name longer than the file system allows, a read-only folder).
- :func:`json_text` / :func:`stdout_to_stderr`: ``--json`` prints strict JSON (no ``NaN`` or
  ``Infinity``: they become ``null``) and nothing else on stdout, even from C libraries.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import AccelplanError, SpecError, SpecIssue

class OutputError(AccelplanError):
    """An output folder that could not be written (the disk full, a folder removed under the run); nothing replaced."""


STAGING_TAG = ".accelplan-"  # staging folders: .<folder>.accelplan-<pid>-<random>
_RENAME_EXCHANGE = 2  # linux/fs.h


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (text as UTF-8, or bytes) to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have created it (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _out_error(path: Path, message: str) -> SpecError:
    return SpecError(str(path), [SpecIssue(message, "output folder (-o)")])


def check_out_dir(path: Path, replaced: bool = True) -> Path:
    """Check that ``path`` can become (or already is) a writable folder; raise :class:`SpecError` saying why not.

    Checked: every name within the file system's name length limit and the whole path within its
    path limit, no part of the path an existing file, and the nearest existing folder writable
    (by creating and removing a probe folder there: permission bits, read-only mounts and root
    alike); when the folder exists and is ``replaced`` as a whole (:func:`staged_folder`), its parent,
    where the staging folder goes.
    """
    full = Path(os.path.abspath(path))
    existing, missing = Path(full.anchor), False  # the deepest existing folder on the path
    for i, part in enumerate(full.parts[1:], start=2):
        size, limit = len(os.fsencode(part)), os.pathconf(existing, "PC_NAME_MAX")
        reserve = len(STAGING_TAG) + 32 if i == len(full.parts) else 0  # the staging folder's name beside it
        if size + reserve > limit:
            raise _out_error(path, f"the name {part[:24]}... is {size} bytes long; this file system allows {limit}"
                                   + (f" (less {reserve} for accelplan's staging folder)" if reserve else ""))
        step = existing / part
        if missing or step.is_dir():
            existing = existing if missing else step
            continue
        if step.is_symlink() and not step.exists():
            raise _out_error(path, f"{step} is a dangling symbolic link")
        if step.exists():
            where = "is an existing file" if step == full else f"is under {step}, which is a file"
            raise _out_error(path, f"{where}; give a folder path")
        missing = True
    path_max = os.pathconf(existing, "PC_PATH_MAX")
    if len(os.fsencode(str(full))) + 256 > path_max:
        raise _out_error(path, f"the path is {len(os.fsencode(str(full)))} bytes long; this file system allows "
                               f"{path_max} (less 256 for the files written into it)")
    if replaced and existing == full:
        existing = full.parent
    try:
        Path(tempfile.mkdtemp(prefix=".accelplan-probe-", dir=existing)).rmdir()
    except OSError as exc:
        raise _out_error(path, f"cannot write into {existing}: {exc.strerror or exc}") from None
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_staging(folder: Path) -> None:
    """Remove staging folders of ``folder`` left by runs that were killed (their process is gone); an old set
    moved aside by the two-rename fallback and not yet replaced is put back first."""
    for stale in sorted(folder.parent.glob(f".{folder.name}{STAGING_TAG}*")):
        pid = stale.name[len(folder.name) + 1 + len(STAGING_TAG):].split("-", 1)[0]
        if not stale.is_dir() or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if stale.name.endswith("-old") and not folder.exists():
            os.rename(stale, folder)
        else:
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with ``renameat2(RENAME_EXCHANGE)``; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` (a directory), so that two runs swap one after the other."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _swap_in(staging: Path, folder: Path) -> None:
    """Make ``staging`` the new ``folder`` in one step; the old folder (if any) is removed afterwards."""
    with _locked(folder.parent):
        if not folder.exists():
            os.rename(staging, folder)
        elif _exchange(staging, folder):
            shutil.rmtree(staging)  # now the old set
        else:  # no atomic exchange here: two renames, a window in which the folder is absent
            old = staging.with_name(staging.name + "-old")
            os.rename(folder, old)
            os.rename(staging, folder)
            shutil.rmtree(old)
        _fsync_dir(folder.parent)


@contextmanager
def staged_folder(folder: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside ``folder``; write the whole set there; on success it replaces ``folder``.

    On an error (or when the caller raises) ``folder`` is left as it was and the staging folder
    removed. Paths written into the staging folder keep their names relative to it.
    """
    check_out_dir(folder)
    folder = Path(os.path.abspath(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists() and not folder.is_dir():
        raise _out_error(folder, "is an existing file; give a folder path")
    _remove_stale_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}{STAGING_TAG}{os.getpid()}-", dir=folder.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # as mkdir would have made it (mkdtemp makes 0700)
        _fsync_dir(staging)
        _swap_in(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"{folder}: could not write the outputs ({exc.strerror or exc}); the folder is left as "
                          "it was") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def moved(paths: list[Path], staging: Path, folder: Path) -> list[Path]:
    """``paths`` written under ``staging``, named where they are once ``folder`` replaced it."""
    return [Path(folder) / p.relative_to(staging) for p in paths]


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None (JSON ``null``), recursively."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def json_text(data: Any) -> str:
    """Strict JSON: non-finite numbers become ``null`` (``NaN``/``Infinity`` are not JSON)."""
    return json.dumps(finite(data), allow_nan=False)


def _c_flush() -> None:
    """Flush C stdio buffers (a library's printf output still buffered for the redirected stdout)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python and C libraries alike, e.g. a solver's log) to stderr."""
    sys.stdout.flush()
    _c_flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        old, sys.stdout = sys.stdout, sys.stderr
        try:
            yield
        finally:
            sys.stdout = old
            try:
                sys.stderr.flush()
                _c_flush()
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)

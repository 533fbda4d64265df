"""Atomic file writes: readers never see a half-written file, and a failure leaves nothing behind; and the
checks, made before the work, that an output file or folder can be written at all."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`, with the same suffix (writers that infer the format from it keep
    working); when the block ends without an error the file replaces `path`, else it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.resolve().parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() would give, not mkstemp's private 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_writable(path, what, suffixes=()):
    """ValueError unless a file `what` can be written at `path`: call it before the work that makes the file,
    so that a missing or read-only folder, a folder given as the file, or a wrong suffix is refused at once."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {path} must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder: give a file name")
    folder = path.resolve().parent
    if not folder.is_dir():
        problem = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"folder {folder} of the {what} {path} {problem}: create it or choose another")
    _probe(folder, f"folder {folder} of the {what} {path}")


def check_writable_folder(folder, what):
    """ValueError unless `folder` (made if missing, by the caller) can hold new files: it is a folder, or its
    nearest existing parent is, and files can be created there."""
    folder = Path(folder)
    existing = folder.resolve()
    while not existing.exists():
        existing = existing.parent
    named = existing == folder.resolve()
    if not existing.is_dir():
        raise ValueError(
            f"{what} {folder} "
            + ("is a file" if named else f"cannot be made: {existing} is a file")
            + ": give a folder"
        )
    _probe(existing, f"{what} {folder}" if named else f"folder {existing} of the {what} {folder}")


def _probe(folder, what):
    """Create and remove a file in `folder`: permissions, read-only file systems and quotas all show up."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=folder)
    except OSError as error:
        raise ValueError(f"{what} is not writable ({error.strerror}): choose another") from None
    os.close(fd)
    os.remove(probe)

"""Atomic file writes: readers never see a half-written file, and a failure leaves nothing behind; the checks,
made before the work, that an output file or folder can be written at all; and the opening of an input file
that refuses anything but a regular file (a FIFO named like one would block its reader for ever)."""

import glob
import os
import stat
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

RANDOM_CHARACTERS = 8  # of tempfile's names
# A temporary name beyond this many bytes keeps only the start of the file's name. 255 is what every common
# Linux and macOS file system allows in one name; check_writable asks the file system itself for the final one.
TEMPORARY_NAME_BYTES = 255
NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _temporary(path):
    """(prefix, suffix) of path's temporary names: '.NAME.XXXXXXXX.SUFFIX', NAME cut short enough that the
    whole fits in TEMPORARY_NAME_BYTES (a name near the limit would otherwise fail only after the work)."""
    suffix = path.suffix if len(os.fsencode(path.suffix)) <= 16 else ""
    room = TEMPORARY_NAME_BYTES - 2 - RANDOM_CHARACTERS - len(os.fsencode(suffix))
    return f".{os.fsdecode(os.fsencode(path.name)[:room])}.", suffix


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`, with the same suffix (writers that infer the format from it keep
    working); when the block ends without an error the file replaces `path`, else it is removed."""
    path = Path(path)
    prefix, suffix = _temporary(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.resolve().parent)
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


@contextmanager
def atomic_files(folder):
    """Yield output(name): a temporary path for the file `name` in `folder` (atomic_path's). When the block ends
    without an error every file written replaces its old one, at the end and together; else none does and the
    temporaries are removed, so several outputs are never left half old and half new."""
    with ExitStack() as stack:
        yield lambda name: stack.enter_context(atomic_path(Path(folder) / name))


def stale_temporaries(path):
    """Temporary files atomic_path left beside `path` when its process was killed mid-write."""
    path = Path(path)
    prefix, suffix = _temporary(path)
    folder = path.resolve().parent
    return [f for f in folder.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}") if f.is_file()]


def check_writable(path, what, suffixes=(), make_folder=False):
    """ValueError unless a file `what` can be written at `path`: call it before the work that makes the file,
    so that a missing or read-only folder, a folder given as the file, a wrong suffix or a name too long for
    the file system is refused at once. make_folder: the writer makes a missing folder, so that it only has
    to be possible to make."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} {path} must end in {' or '.join(suffixes)}")
    folder = path.resolve().parent
    if make_folder and not folder.exists():
        check_writable_folder(folder, f"folder of the {what} {path}")
        _check_name(_nearest_existing(folder), path.name, what)
        return
    if not folder.is_dir():
        problem = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"folder {folder} of the {what} {path} {problem}: create it or choose another")
    _check_name(folder, path.name, what)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder: give a file name")
    _probe(folder, f"folder {folder} of the {what} {path}", *_temporary(path))


def _check_name(folder, name, what):
    try:
        most = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        most = TEMPORARY_NAME_BYTES
    size = len(os.fsencode(name))
    if size > most:
        raise ValueError(
            f"the name of the {what} {name[:40]}... is {size} bytes, more than the {most} its file system allows "
            "in one name: choose a shorter one"
        )


def check_writable_folder(folder, what):
    """ValueError unless `folder` (made if missing, by the caller) can hold new files: it is a folder, or its
    nearest existing parent is, and files can be created there."""
    folder = Path(folder)
    existing = _nearest_existing(folder)
    named = existing == folder.resolve()
    if not existing.is_dir():
        raise ValueError(
            f"{what} {folder} "
            + ("is a file" if named else f"cannot be made: {existing} is a file")
            + ": give a folder"
        )
    _probe(existing, f"{what} {folder}" if named else f"folder {existing} of the {what} {folder}")


def _nearest_existing(folder):
    existing = Path(folder).resolve()
    while not existing.exists():
        existing = existing.parent
    return existing


def _probe(folder, what, prefix=".write-check.", suffix=""):
    """Create and remove a file in `folder`, named as the real temporary file will be: permissions, read-only
    file systems, quotas and names too long all show up."""
    try:
        fd, probe = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as error:
        raise ValueError(f"{what} is not writable ({error.strerror}): choose another") from None
    os.close(fd)
    os.remove(probe)


def open_regular(path, what):
    """`path` opened for reading in binary, if it is a regular file (or a link to one); ValueError naming it
    otherwise, at once: opening is non-blocking, so a FIFO without a writer cannot stall the reader. OSError
    (FileNotFoundError, PermissionError) as open() raises it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in NOT_REGULAR if test(mode)), "a device")
            raise ValueError(f"{what} {path} is {kind}, not a regular file: give a file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, what):
    """The bytes of the regular file `path` (see open_regular)."""
    with open_regular(path, what) as f:
        return f.read()

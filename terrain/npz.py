"""Reading `.npz` archives with every array's size checked against a limit before anything is allocated.

An `.npz` is a zip of `.npy` files, and a few megabytes of compressed zeros can declare a 20000 x 20000
array. `read_npz` reads each wanted array's header (shape and dtype) first, refuses one beyond its limit
with a one-line ValueError, and only then reads the data. Arrays not asked for are never read. The limits
of terrain and motion files are in docs/motion_format.md ("Limits").
"""

from __future__ import annotations

import functools
import math
import zipfile
import zlib
from lzma import LZMAError
from typing import NamedTuple

import numpy as np
from numpy.lib import format as npy

from terrain.atomic import open_regular

MAX_ITEM_BYTES = 256  # bytes of one element: numbers, and names of up to 64 characters


class Header(NamedTuple):
    """What an `.npy` header declares."""

    shape: tuple
    dtype: np.dtype


class Limit(NamedTuple):
    """The largest array accepted: at most shape[i] along dimension i, and at most `elements` in all
    (default: as many as `shape` holds). A plain tuple in a limits mapping stands for Limit(tuple)."""

    shape: tuple
    elements: int | None = None

    @property
    def most(self) -> int:
        return math.prod(self.shape) if self.elements is None else self.elements

    def admits(self, shape: tuple) -> bool:
        """An array of `shape` (which may have fewer dimensions) fits."""
        return math.prod(shape) <= self.most and all(n <= most for n, most in zip(shape, self.shape))


def _header(member) -> Header:
    version = npy.read_magic(member)
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _, dtype = read(member)
    return Header(tuple(shape), dtype)


def _refusal(source, key, header: Header, limit: Limit) -> str | None:
    if header.dtype.hasobject:
        return f"{source}: array '{key}' holds Python objects; only plain numeric and text arrays are read"
    if header.dtype.itemsize > MAX_ITEM_BYTES:
        return (
            f"{source}: array '{key}' has {header.dtype.itemsize}-byte elements ({header.dtype}), more than "
            f"the {MAX_ITEM_BYTES} bytes allowed"
        )
    if not limit.admits(header.shape):
        return (
            f"{source}: array '{key}' has shape {header.shape}, beyond the limit of {limit.shape} and "
            f"{limit.most} elements in all (docs/motion_format.md, Limits): crop, coarsen or split it"
        )
    return None


# What zipfile and its decompressors raise for a damaged, truncated, encrypted (RuntimeError) or unsupported
# (NotImplementedError) member; OSError is bz2's "Invalid data stream".
DAMAGED = (ValueError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, OSError, LZMAError)


def _read(archive, name, reader, source, what):
    """reader(member) of the archive's member `name`; ValueError if the member is damaged or no `.npy`."""
    try:
        with archive.open(name) as member:
            return reader(member)
    except DAMAGED as error:
        raise ValueError(f"{source} is not a {what}: its {name} cannot be read ({_short(error)})") from error


def _short(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _what_it_is(file, error):
    """Why a file is no zip archive, in the user's terms: a lone .npy array, an empty file, or zipfile's reason."""
    file.seek(0)
    start = file.read(6)
    if start == npy.MAGIC_PREFIX:
        return "it holds one array (.npy), not an .npz archive of named arrays"
    return "the file is empty" if not start else _short(error)


def read_npz(path, limits: dict, what: str) -> dict:
    """The arrays of the `.npz` at `path` whose names are keys of `limits`, {name: ndarray}; names missing
    from the file are missing from the result (the caller names what it needs).

    limits: {name: Limit or largest shape}; an array may have fewer dimensions than the limit's shape.
    what: what the file should be ("motion file"), for the messages. ValueError for a file that is no `.npz`
    (a damaged, truncated or encrypted archive, an unknown compression, no regular file) or an array beyond
    its limit; OSError if the file cannot be read.
    """
    source = str(path)
    with open_regular(path, what) as file:
        try:
            archive = zipfile.ZipFile(file)
        except DAMAGED as error:
            raise ValueError(f"{source} is not a {what} (.npz): {_what_it_is(file, error)}") from error
        with archive:
            return _arrays(archive, limits, source, what)


def _arrays(archive, limits, source, what):
    names = {n[: -len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
    wanted = [key for key in limits if key in names]
    for key in wanted:
        limit = limits[key] if isinstance(limits[key], Limit) else Limit(tuple(limits[key]))
        refusal = _refusal(source, key, _read(archive, names[key], _header, source, what), limit)
        if refusal:
            raise ValueError(refusal)
    read = functools.partial(npy.read_array, allow_pickle=False)
    return {key: _read(archive, names[key], read, source, what) for key in wanted}

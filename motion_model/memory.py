"""Freed memory kept for reuse: glibc's malloc and the large temporaries of network passes and crowd steps.

A network pass for a crowd, a controller step's terrain and body queries for 16-64 characters and a training
step make temporaries of 0.5-10 MB many times a second. glibc serves a block above its mmap threshold with
fresh pages from the kernel and returns freed memory above its trim threshold at the top of its heap: those
temporaries were then faulted in again, page by page, at every use. A network pass for 32 characters took 30
ms instead of 21, and 32 characters in two worker processes ran at 560x real time instead of 654x
(bench-speed). Raising both thresholds keeps up to TRIM_THRESHOLD of freed memory in the process for reuse.
"""

import ctypes
import ctypes.util
import functools

MMAP_THRESHOLD = 64 << 20  # bytes: a block larger than this still gets its own mapping (and goes back when freed)
TRIM_THRESHOLD = 256 << 20  # bytes of free memory at the top of the heap kept rather than given back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory():
    """Raise this process's malloc thresholds (once; later calls do nothing). True if they were set, False where
    the C library has no glibc mallopt (then nothing changes)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

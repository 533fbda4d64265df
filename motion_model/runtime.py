"""Process-wide runtime settings: torch's intra-op thread count and Python's thread switch interval.

Both are global to the process, so library functions leave them alone and entry points (the command line's
commands, worker processes as they start, benchmark mains) choose them: `threads` for a block that restores
them on exit, `set_threads` for a worker process's initialiser, which keeps them for the process's life.
"""

from __future__ import annotations

import contextlib
import sys
from typing import NamedTuple

import torch


class ThreadSettings(NamedTuple):
    torch_threads: int  # torch.get_num_threads()
    switch_interval: float  # s, sys.getswitchinterval()


def set_threads(torch_threads=None, switch_interval=None):
    """Set torch's thread count and the thread switch interval (s); None leaves one as it is. Returns the
    ThreadSettings from before."""
    previous = ThreadSettings(torch_threads=torch.get_num_threads(), switch_interval=sys.getswitchinterval())
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    return previous


@contextlib.contextmanager
def threads(torch_threads=None, switch_interval=None):
    """Within the block, torch runs `torch_threads` intra-op threads and Python hands the GIL over every
    `switch_interval` s (None: as they are); both are restored on exit."""
    previous = set_threads(torch_threads, switch_interval)
    try:
        yield
    finally:
        set_threads(previous.torch_threads, previous.switch_interval)

"""motion_model/memory.py: with the malloc thresholds raised, a loop of large temporaries (a network layer's,
in numpy) reuses freed memory instead of faulting fresh pages in at every pass. Each case runs in a fresh
process: the setting is process-wide and for good."""

import subprocess
import sys

import pytest

from motion_model.memory import keep_freed_memory

LOOP = """
import resource, sys
import numpy as np
from motion_model.memory import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
rng = np.random.default_rng(0)
x, w1, w2 = rng.random((1472, 192)), rng.random((192, 768)), rng.random((768, 192))
def layer():  # 9 MB of temporaries, as a feed-forward block for 32 characters
    h = x @ w1
    return ((np.tanh(h) * h) @ w2).sum()
layer()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    layer()
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True).stdout
    tuned, faults = out.split()
    return tuned, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_is_reused_once_the_thresholds_are_raised():
    if not keep_freed_memory():
        pytest.skip("this C library has no glibc mallopt")
    tuned, faults = page_faults("tuned")
    assert tuned == "True" and faults < 200  # a 9-MB working set is 2300 pages
    _, untuned = page_faults("untuned")
    assert untuned > 10 * max(faults, 100)  # glibc's defaults give the pages back and fault them in again

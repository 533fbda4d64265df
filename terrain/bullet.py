"""Putting a Heightfield into PyBullet so that Bullet's collision surface is exactly `Heightfield`'s."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import numpy as np

from terrain.heightfield import Heightfield

_libc = ctypes.CDLL(None)


@contextlib.contextmanager
def quiet(fd):
    """Silence file descriptor `fd` (1, stdout, or 2, stderr): pybullet prints banners and warnings from C
    straight to them, which contextlib.redirect_stdout cannot catch. C's own buffers are flushed inside, or they
    would print later."""
    stream = sys.stdout if fd == 1 else sys.stderr
    stream.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        _libc.fflush(None)
        stream.flush()
        os.dup2(saved, fd)
        os.close(saved)


def quiet_stdout():
    return quiet(1)


# The import prints "pybullet build time: ..." on stderr, before any error of a command that uses it: the one
# place pybullet is imported (every module takes `p` from here).
with quiet(1), quiet(2):
    import pybullet as p


def connect_direct() -> int:
    """A new headless (p.DIRECT) physics client, connected without printing anything."""
    with quiet_stdout():
        return p.connect(p.DIRECT)


def add_heightfield_body(client: int, hf: Heightfield) -> int:
    """Create a static body whose GEOM_HEIGHTFIELD surface puts vertex (ix, iy) at world
    (origin + (ix, iy) * cell, heights[ix, iy]); returns the body id.

    Bullet takes the data x-fastest with "rows" along X, and centres the shape on its bounding box (vertically
    too), so the body goes to the grid's centre at mid-height. A new shape is made each time:
    replaceHeightfieldIndex keeps the old centring.
    """
    nx, ny = hf.shape
    lo, hi = hf.bounds()
    centre = [*(0.5 * (lo + hi)), 0.5 * (hf.heights.min() + hf.heights.max())]
    with quiet_stdout():
        shape = p.createCollisionShape(
            p.GEOM_HEIGHTFIELD,
            meshScale=[hf.cell, hf.cell, 1.0],
            heightfieldData=np.asarray(hf.heights).ravel(order="F").tolist(),
            numHeightfieldRows=nx,
            numHeightfieldColumns=ny,
            physicsClientId=client,
        )
        # A body without a visual shape is drawn from its collision shape, and PyBullet's OpenGL window then
        # draws nothing at all once the heightfield passes about 0.4 M vertices (a 36 m field at 5 cm): an
        # invisible speck is its visual instead (sim/bullet/scene.py draws the surface as a mesh).
        speck = p.createVisualShape(p.GEOM_SPHERE, radius=1e-3, rgbaColor=[0, 0, 0, 0], physicsClientId=client)
        return p.createMultiBody(0, shape, baseVisualShapeIndex=speck, basePosition=centre, physicsClientId=client)

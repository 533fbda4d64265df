"""The committed frames made to move as a body under gravity could, before their stance feet are pinned.

The network's segments are kinematic: its running flights hover (the centre of mass falls at a third to a half
of g). `settled_roots` moves the root so that the whole body's centre of mass takes the nearest path that falls
at g while both feet are off the ground (motion_model/body/momentum.py), continuing smoothly from the frames
already committed, which stay as they are.

Airborne means both soles more than NEAR_GROUND above the terrain, from the frames' own feet: the network's
contact labels are no guide in a run (they miss whole stances). Only stretches at running speed count as
flights: a walk has no flight, and the parabola through the ends of a walking stretch with no foot down would
lift the feet further. The legs are not solved here: the foot lock (foot_lock.py), which runs next on the new
roots, pins the stance feet and keeps the swing feet where the network put them (carried along with the root
in flight). World frame: Z up, metres, seconds.
"""

from __future__ import annotations

import numpy as np

from controller.frames import Frames
from motion_model.body.inertia import LinkInertia
from motion_model.body.momentum import MomentumConfig, centre_of_mass, filtered_com
from motion_model.body.skeleton import Skeleton

HELD_FRAMES = 8  # committed frames the filter continues from: about its jerk term's reach
NEAR_GROUND = 0.05  # m: a sole this near the terrain could push (the dynamic metrics' contact rule)
RUN_SPEED = 2.0  # m/s of the root: below it the body walks
FLIGHT_FRAMES = (2, 20)  # frames a flight may last: shorter is a sole's flicker, longer no run's stride


def flight_frames(links, terrain, fps, skeleton):
    """(T,) bool: the frames of Links (Skeleton.fk) in flight, both soles above NEAR_GROUND at running speed."""
    soles = skeleton.sole_points(*links)
    gap = (soles[..., 2] - terrain.height(soles[..., :2])).min(-1)
    root_xy = links.pos[:, 0, :2]
    speed = np.linalg.norm(np.gradient(root_xy, axis=0), axis=-1) * fps if len(root_xy) > 1 else np.zeros(1)
    up = (gap >= NEAR_GROUND).all(1)
    out = np.zeros_like(up)
    edges = np.flatnonzero(np.diff(np.r_[0, up.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        if FLIGHT_FRAMES[0] <= stop - start <= FLIGHT_FRAMES[1] and speed[start:stop].mean() >= RUN_SPEED:
            out[start:stop] = True
    return out


def settled_roots(held, frames, terrain, fps, config=MomentumConfig()):
    """Root positions (T, 3) of `frames` (Frames over `terrain`) whose centre of mass follows
    body.momentum.filtered_com, continuing from `held` (the last committed Frames, or None), and which of the
    frames (T,) are in flight."""
    skeleton, inertia = Skeleton.load(), LinkInertia.load()
    run = frames if held is None else Frames.concatenate([held, frames])
    links = skeleton.fk(run.root_pos, run.root_quat, run.joint_quat)
    com = centre_of_mass(links, inertia)
    kept = 0 if held is None else len(held)
    flying = flight_frames(links, terrain, fps, skeleton)
    goal = filtered_com(com, flying, fps, config, held=kept)
    return frames.root_pos + (goal - com)[kept:], flying[kept:]

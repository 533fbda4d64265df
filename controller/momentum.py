"""The committed frames made to move as a body under gravity could, before their stance feet are pinned.

The network's segments are kinematic: its running flights hover (the centre of mass falls at a third to a half
of g). `settled_roots` moves the root so that the whole body's centre of mass takes the nearest path that falls
at g while both feet are off the ground and leans as an inverted pendulum over a single supporting foot
(motion_model/body/momentum.py), continuing smoothly from the frames already committed, which stay as they are.

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
from motion_model.body import quaternion as quat
from motion_model.body.inertia import LinkInertia
from motion_model.body.legs import FOOT_LINKS, SOLE_HALF, sole_offset
from motion_model.body.momentum import MomentumConfig, centre_of_mass, filtered_com, single_support
from motion_model.body.skeleton import Links, Skeleton
from terrain.stack import TerrainStack

HELD_FRAMES = 8  # committed frames the filter continues from: about its jerk term's reach
NEAR_GROUND = 0.05  # m: a sole this near the terrain could push (the dynamic metrics' contact rule)
RUN_SPEED = 1.5  # m/s of the root: below it the body walks (a run slowing into a corner still flies)
FLIGHT_FRAMES = (2, 20)  # frames a flight may last: shorter is a sole's flicker, longer no run's stride


def flight_frames(links, gap, fps):
    """(T,) bool: the frames of Links (Skeleton.fk) in flight: both soles' lowest points (gap (T, 2) above the
    terrain) over NEAR_GROUND, at running speed, for FLIGHT_FRAMES."""
    root_xy = links.pos[:, 0, :2]
    speed = np.linalg.norm(np.gradient(root_xy, axis=0), axis=-1) * fps if len(root_xy) > 1 else np.zeros(1)
    up = (gap >= NEAR_GROUND).all(1)
    out = np.zeros_like(up)
    edges = np.flatnonzero(np.diff(np.r_[0, up.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        if FLIGHT_FRAMES[0] <= stop - start <= FLIGHT_FRAMES[1] and speed[start:stop].mean() >= RUN_SPEED:
            out[start:stop] = True
    return out


def settled_roots(helds, frames, links, terrains, fps, config=MomentumConfig(), pinned=None):
    """For each character: root positions (T, 3) of its `frames` whose centre of mass follows
    body.momentum.filtered_com, continuing from its `helds` (last committed Frames, or None), and which of the
    frames (T,) are in flight. links: the Links of each one's frames; terrains: each one's Heightfield;
    pinned: each one's (T,) bool frames to leave where they are (keyframes), or None. The arithmetic before
    the filter runs once for all of them (one FK for the held frames, one terrain query)."""
    skeleton, inertia = Skeleton.load(), LinkInertia.load()
    runs = [Links(*(np.concatenate([a, b]) for a, b in zip(h, k))) for h, k in zip(_held_links(skeleton, helds), links)]
    lengths = [len(r.pos) for r in runs]
    every = Links(*(np.concatenate(a) for a in zip(*runs)))
    corners = _sole_corners(every)
    owner = np.repeat(np.arange(len(runs)), lengths)
    gap = (corners[..., 2] - TerrainStack.of(list(terrains)).rows(owner).height(corners[..., :2])).min(-1)
    cuts = np.cumsum(lengths)[:-1]
    out = []
    soles = corners.mean(2)  # (T, 2, 3) sole centres
    parts = (np.split(a, cuts) for a in (gap, centre_of_mass(every, inertia), soles))
    pinned = pinned or [None] * len(runs)
    for h, f, run, g, com, sole, pins in zip(helds, frames, runs, *parts, pinned):
        kept = 0 if h is None else len(h)
        flying = flight_frames(run, g, fps)
        support = single_support(sole, g < NEAR_GROUND)
        fixed = np.r_[np.ones(kept, bool), np.zeros(len(f), bool) if pins is None else pins]
        goal = filtered_com(com, flying, fps, config, fixed=fixed, support=support)
        out.append((f.root_pos + (goal - com)[kept:], flying[kept:]))
    return out


def _sole_corners(links):
    """World positions (T, 2, 4, 3) of the 4 corners of each [left, right] sole: a flat sole's lowest points."""
    rots = links.rot[:, list(FOOT_LINKS)]
    local = sole_offset() + np.array(
        [[x, 0.0, z] for x in (-SOLE_HALF[0], SOLE_HALF[0]) for z in (-SOLE_HALF[1], SOLE_HALF[1])]
    )
    return links.pos[:, list(FOOT_LINKS), None] + quat.rotate(
        rots[:, :, None], np.broadcast_to(local, rots.shape[:2] + (4, 3))
    )


def _held_links(skeleton, helds):
    """The Links of each held Frames (no frames for None), from one FK of all of them."""
    links = len(skeleton.offsets)
    none = Links(pos=np.zeros((0, links, 3)), rot=np.zeros((0, links, 4)))
    present = [h for h in helds if h is not None]
    if not present:
        return [none] * len(helds)
    joined = Frames.concatenate(present)
    pos, rot = skeleton.fk(joined.root_pos, joined.root_quat, joined.joint_quat)
    cuts = np.cumsum([len(h) for h in present])[:-1]
    parts = iter(zip(np.split(pos, cuts), np.split(rot, cuts)))
    return [none if h is None else Links(*next(parts)) for h in helds]

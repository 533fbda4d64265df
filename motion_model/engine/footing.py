"""Passes 3 to 6 of the synthesis engine (motion_model/engine/synthesis.py): a blended pose carried along the path,
fitted to the terrain.

3. Footsteps. Each stance of the blended contact schedule becomes one foothold: where the nominal pose puts
   the foot at mid-stance, moved along the foot (up to `max_foot_shift`) until the whole sole rests on one
   plane of the terrain (a full stair tread, never across an edge), lifted so that no sole point is below
   the surface, and tilted with the surface.
4. Feet and pelvis. Stance feet stay exactly on their footholds; swing feet follow the clip's swing timing
   and lift between footholds, raised further wherever the terrain under the sole (plus a margin) demands.
   The pelvis follows a smoothed ground height from the footholds and drops where a leg could not reach.
5. Leg IK. Analytic two-bone IK (hip ball joint, knee hinge) puts each ankle where its sole must be and the
   ankle joint turns the sole to the foothold's orientation. Torso and arms keep the clip's motion.
6. Momentum. The whole body's centre of mass is moved to the nearest path a body under gravity could take
   (motion_model/body/momentum.py): a parabola falling at g whenever neither foot is in stance, smooth
   loading and unloading of the feet, little horizontal acceleration; the legs are solved again so that the
   stance feet stay on their footholds.

A planned body (motion_model/engine/stepping.py) also stands: its Settling says where, and there the feet are placed
as the standing pose has them, its legs may stretch further, and in sharp turns its feet keep to their own
sides of each other.

World frame: Z up, metres, seconds; +X is the character's forward at rest. Quaternions xyzw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_model.body import quaternion as quat
from motion_model.body.clips import Q_Y2Z
from motion_model.body.legs import (
    FOOT_LINKS,
    ankle_targets,
    footprint,
    leg_ik,
    place_foothold,
    reach_lowering,
    rotate2,
    sole_offset,
    wrap_angle,
)
from motion_model.body.momentum import ballistic_body
from motion_model.body.motion import Motion
from motion_model.body.skeleton import Skeleton
from motion_model.engine.gait import SWING_SAMPLES, standing_pose

# --------------------------------------------------------------------------------------------------------
# Pass 3: footholds


@dataclass
class Foothold:
    foot: int
    start: int  # first and last frame of the stance
    stop: int
    sole: np.ndarray  # (3,) sole centre on the surface
    rot: np.ndarray  # (4,) foot link's world rotation


class Stance(NamedTuple):
    """One stance of a foot: its first and last frame."""

    foot: int
    start: int
    stop: int


def stance_intervals(mask):
    """[first, last] frame of each run of True in a boolean series."""
    edges = np.diff(np.r_[0, mask.astype(int), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def plan_footholds(terrain, stance_masks, nominal_soles, nominal_yaw, config, settled=None, heading=None):
    """One Foothold per stance interval of each foot, in time order, from the nominal pose at mid-stance.

    settled: optional (T,) bool, the frames where the body stands still; a stance holding some is placed where
    the nominal pose has the foot at the first of them (a foot that comes to a stand stays where it stands).
    heading: optional (T,) body heading (rad); each foot then lands at least behaviour.step_width to its own
    side of the other foot, across the heading at touchdown, so that the feet never cross in sharp turns.
    """
    stances = (Stance(foot=f, start=a, stop=b) for f in range(2) for a, b in stance_intervals(stance_masks[:, f]))
    holds = []
    for f, a, b in sorted(stances, key=lambda stance: (stance.start + stance.stop) / 2):
        still = np.flatnonzero(settled[a : b + 1]) if settled is not None else ()
        mid = a + still[0] if len(still) else (a + b) // 2
        centre = nominal_soles[mid, f, :2]
        other = [h for h in holds if h.foot != f]
        if heading is not None and other:
            centre = _own_side(centre, f, other[-1].sole[:2], heading[a], config.behaviour.step_width)
        sole, tilt = place_foothold(terrain, centre, nominal_yaw[mid, f], config.max_foot_shift, config.flat_tolerance)
        rot = quat.multiply(tilt, quat.multiply(quat.about_z(np.asarray(nominal_yaw[mid, f])), Q_Y2Z))
        holds.append(Foothold(foot=f, start=a, stop=b, sole=sole, rot=rot))
    return holds


def _own_side(centre, foot, other, yaw, width):
    """The sole centre (2,) moved across the heading `yaw` to lie `width` m to its foot's side of `other`."""
    left = np.array([-np.sin(yaw), np.cos(yaw)])
    side = 1.0 if foot == 0 else -1.0
    return centre + side * max(width - side * float((centre - other) @ left), 0.0) * left


# --------------------------------------------------------------------------------------------------------
# Pass 4: feet and pelvis


def foot_trajectories(terrain, holds, lift, progress, nominal_rots, config, heading=None):
    """Sole centres (T, 2, 3) and foot rotations (T, 2, 4): fixed on footholds, swinging between them.

    A swing interpolates between its footholds with the clip's timing and lift; the foot turns from the
    foothold's orientation to the clip's own swing orientation (toe-off, dorsiflexion) and back. Wherever the
    sole, dilated by 3 cm, would pass within swing_margin of the terrain, the swing is raised by a smooth
    bump (and at least by the deficit). heading: optional (T,) body heading; a swing then bows out (a smooth
    bump across the heading) so as to pass the other foot at least behaviour.step_width to its own side.
    """
    num_frames = len(nominal_rots)
    soles = np.zeros((num_frames, 2, 3))
    rots = np.zeros((num_frames, 2, 4))
    latest = _latest_footholds(holds, num_frames)
    for f in range(2):
        mine = sorted((h for h in holds if h.foot == f), key=lambda h: h.start)
        for h in mine:
            soles[h.start : h.stop + 1, f] = h.sole
            rots[h.start : h.stop + 1, f] = h.rot
        soles[: mine[0].start, f], rots[: mine[0].start, f] = mine[0].sole, mine[0].rot
        soles[mine[-1].stop + 1 :, f], rots[mine[-1].stop + 1 :, f] = mine[-1].sole, mine[-1].rot
        for prev, nxt in zip(mine[:-1], mine[1:]):
            frames = np.arange(prev.stop + 1, nxt.start)
            if not len(frames):
                continue
            u = (frames - prev.stop) / (nxt.start - prev.stop)
            prog = np.array([np.interp(ui, U_GRID, progress[t, f]) for ui, t in zip(u, frames)])
            up = np.array([np.interp(ui, U_GRID, lift[t, f]) for ui, t in zip(u, frames)])
            pos = prev.sole + prog[:, None] * (nxt.sole - prev.sole)
            pos[:, 2] += up
            if heading is not None:
                pos[:, :2] = _pass_on_own_side(
                    pos[:, :2], f, latest[frames, 1 - f], heading[frames], u, config.behaviour.step_width
                )
            flat = quat.slerp(prev.rot, nxt.rot, prog)
            rot = quat.slerp(flat, nominal_rots[frames, f], np.sin(np.pi * u) ** 2)
            pos[:, 2] += _swing_raise(terrain, pos, rot, u, frames, config)
            soles[frames, f], rots[frames, f] = pos, rot
    return soles, rots


U_GRID = np.linspace(0.0, 1.0, SWING_SAMPLES)


def _swing_raise(terrain, pos, rot, u, frames, config):
    """How far (N,) a swing must rise so that its sole, dilated by 3 cm, clears the terrain by swing_margin."""
    outline = np.c_[footprint(nx=5, ny=3, margin=0.03), np.zeros(15)]
    # Clearance of every point of the dilated sole outline, measured where the foot really is.
    foot_frame = quat.multiply(rot, quat.conjugate(Q_Y2Z))
    points = pos[:, None] + quat.rotate(foot_frame[:, None], np.broadcast_to(outline, (len(u),) + outline.shape))
    fade = np.clip(np.minimum(u, 1 - u) / 0.2, 0.0, 1.0)
    deficit = (terrain.height(points[..., :2]) - points[..., 2]).max(-1) + config.swing_margin * fade
    deficit = np.maximum(deficit, 0.0)
    if not deficit.any():
        return deficit
    # Rise ahead of an obstacle and come down after it at no more than swing_climb_speed: the raise is the
    # upper envelope of cones under each frame's deficit.
    dt = np.abs(frames[:, None] - frames[None, :]) / config.fps
    return (deficit[None, :] - config.swing_climb_speed * dt).max(-1).clip(min=0.0)


def _latest_footholds(holds, num_frames):
    """(T, 2, 2): per frame, where each foot's latest foothold begun by then lies (its first before any)."""
    latest = np.zeros((num_frames, 2, 2))
    for f in range(2):
        mine = sorted((h for h in holds if h.foot == f), key=lambda h: h.start)
        latest[:, f] = mine[0].sole[:2]
        for h in mine:
            latest[h.start :, f] = h.sole[:2]
    return latest


def _pass_on_own_side(xy, foot, other, yaw, u, width):
    """Swing sole centres (N, 2) bowed out across the headings (N,) by the smallest bump sin(pi u) * b that
    keeps them `width` m to their foot's side of the other foot's soles (N, 2)."""
    left = np.stack([-np.sin(yaw), np.cos(yaw)], -1)
    side = 1.0 if foot == 0 else -1.0
    need = width - side * ((xy - other) * left).sum(-1)
    bump = np.sin(np.pi * u)
    reach = min(float(np.max(need / np.maximum(bump, 0.3), initial=0.0)), 0.25)
    return xy + side * reach * bump[:, None] * left


def ground_height(holds, num_frames, config):
    """The pelvis's ground reference (T,): foothold heights at mid-stance, interpolated and smoothed."""
    mids = np.array([(h.start + h.stop) / 2 for h in holds])
    z = np.array([h.sole[2] for h in holds])
    order = np.argsort(mids)
    ground = np.interp(np.arange(num_frames), mids[order], z[order])
    return gaussian_filter1d(ground, config.pelvis_smoothing * config.fps, mode="nearest")


class Settling(NamedTuple):
    """Where a planned body comes to rest (motion_model/engine/stepping.py), per frame (T,): standing, the frames where
    it stands still; feet, how far the feet's placement has moved from the cycles' to the standing pose's
    (1 at rest, stepping on the spot included); reach, the fraction of the leg each frame may stretch to."""

    standing: np.ndarray
    feet: np.ndarray
    reach: np.ndarray


def nominal_feet(skeleton, root_pos, root_quat, joints):
    """Where a pose puts the feet: sole centres (T, 2, 3), toe directions (T, 2) and foot rotations (T, 2, 4)."""
    link_pos, link_rot = skeleton.fk(root_pos, root_quat, joints)
    offset = np.broadcast_to(sole_offset(), root_pos.shape)
    soles = np.stack([link_pos[:, k] + quat.rotate(link_rot[:, k], offset) for k in FOOT_LINKS], 1)
    rots = link_rot[:, list(FOOT_LINKS)]
    return soles, quat.heading(rots), rots


def settle_feet(soles, toe_yaw, ground_xy, yaw, weight):
    """Nominal soles (T, 2, 3) and toe directions (T, 2) moved by weight (T,) to where the standing pose puts
    the feet about ground points (T, 2) with headings (T,)."""
    stand, w = standing_pose(), weight[:, None]
    at_rest = ground_xy[:, None] + rotate2(yaw[:, None], stand.soles)
    soles = soles.copy()
    soles[..., :2] += w[..., None] * (at_rest - soles[..., :2])
    return soles, toe_yaw + w * wrap_angle(yaw[:, None] + stand.foot_yaw - toe_yaw)


def fit_to_terrain(terrain, ground_xy, yaw, pose, masks, config, keep, path, settling=None):
    """Passes 2 to 6: the Motion (its frames `keep`, a slice) of a blended pose carried along ground points
    (T, 2) with headings (T,) and stance masks (T, 2), over the terrain; `settling` for a planned body.
    """
    skeleton = Skeleton.load()
    root_xy = ground_xy + rotate2(yaw, pose.offset)
    root_quat = quat.multiply(quat.about_z(yaw), pose.root_rel)
    root_pos = np.c_[root_xy, pose.height]
    soles, toe_yaw, foot_rots = nominal_feet(skeleton, root_pos, root_quat, pose.joints)
    planned = settling is not None
    if planned:
        soles, toe_yaw = settle_feet(soles, toe_yaw, ground_xy, yaw, settling.feet)
    heading = yaw if planned else None
    holds = plan_footholds(terrain, masks, soles, toe_yaw, config, settling.standing if planned else None, heading)
    soles, rots = foot_trajectories(terrain, holds, pose.lift, pose.progress, foot_rots, config, heading)
    ankles = ankle_targets(soles, rots)

    root_pos[:, 2] = ground_height(holds, len(yaw), config) + pose.height
    reach = settling.reach if planned else config.max_reach
    root_pos[:, 2] -= reach_lowering(skeleton, root_pos, root_quat, ankles, reach, config.fps)
    joints = leg_ik(skeleton, root_pos, root_quat, pose.joints, ankles, rots)
    still = settling.standing if planned else None
    root_pos, joints = ballistic_body(
        root_pos, root_quat, joints, ankles, rots, masks, config.fps, config.momentum, still, reach
    )
    return Motion(
        config.fps,
        root_pos[keep],
        root_quat[keep],
        joints[keep],
        masks[keep].astype(float),
        terrain=terrain,
        path=path,
        goal=path[-1],
    )

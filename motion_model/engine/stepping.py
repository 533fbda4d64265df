"""The planned engine: the gait over a Travel (motion_model/engine/travel.py), blended into the standing pose where
the body slows and stands, then fitted to the terrain by footing.fit_to_terrain.

The gait phase advances at the blended cycles' cadence scaled by (speed / natural speed) ** cadence_exponent,
as in the legacy timeline, but never slower than step_cadence (turn_cadence when turning on the spot at
turn_rate; stair_cadence on stairs, where travel.py caps the speed to one tread a step), so that the feet
keep stepping while the root slows to rest or turns on the spot; it stops while the body stands. Each stretch
of stepping that ends in a stand has its cadence scaled (by a few percent over a long stretch) so that the
phase arrives in a double support of the walk exactly when the root comes to rest: the last step lands
beside the other foot, and both stay there. The body blends toward the standing pose (gait.standing_pose) as
the root slows below stand_speed, up to stand_stepping while the feet still step, and fully once it stands.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motion_model.body import quaternion as quat
from motion_model.engine.footing import Settling, fit_to_terrain, stance_intervals
from motion_model.engine.gait import run_cycle, standing_pose, walk_cycles
from motion_model.engine.speed_plan import run_weight
from motion_model.engine.timeline import Timeline, blend_pose, stance_masks, turn_weights
from motion_model.engine.travel import plan_travel

IDLE_SWAY = (0.008, 4.0)  # m and s: a standing body shifts its weight from foot to foot this far, this slowly


def gait_timeline(travel, config):
    """The Timeline (phase, arc length, run weight, cycle weights) of the gait over a Travel."""
    behaviour, exponent = config.behaviour, config.cadence_exponent
    cycles = walk_cycles() + [run_cycle()]
    walk_n = len(cycles) - 1
    walk = cycles[walk_n // 2]  # the straight walk: the cycles are sorted by their turn
    run = run_weight(travel.speed)
    turning = np.clip(np.abs(travel.turn) / behaviour.turn_rate, 0.0, 1.0)
    slowest = behaviour.step_cadence + turning * (behaviour.turn_cadence - behaviour.step_cadence)
    slowest = np.where(travel.stairs, np.maximum(slowest, behaviour.stair_cadence), slowest)
    # The turn per cycle picks the turning walks; it needs the cadence, which the picked cycles set: the
    # straight walk's cadence is near enough.
    walk_rate = np.maximum((travel.speed / walk.speed) ** exponent, slowest) / walk.duration
    weights = np.zeros((len(travel.s), len(cycles)))
    for t, (turn, rate) in enumerate(zip(travel.turn, walk_rate)):
        weights[t, :walk_n] = (1 - run[t]) * turn_weights(cycles[:walk_n], turn / rate)
    weights[:, walk_n] = run
    natural = weights @ np.array([c.speed for c in cycles])
    cadence = weights @ np.array([1.0 / c.duration for c in cycles])
    rate = np.where(travel.standing, 0.0, cadence * np.maximum((travel.speed / natural) ** exponent, slowest))
    phase = halting_phase(rate, travel.standing, walk.rest_phases(), 1.0 / config.fps)
    return Timeline(phase=phase, s=travel.s, run=run, weights=weights, cycles=cycles)


def halting_phase(rate, standing, rest, dt):
    """Phase per frame, the integral of `rate` (cycles/s): each stretch of stepping that ends in a stand is
    scaled to end on one of the `rest` phases (mod 1), the nearest one at least a step ahead."""
    rate = rate.copy()
    start = rest[0] if standing[0] else 0.0
    phase, first = start, 0
    for stand in np.flatnonzero(standing[1:] & ~standing[:-1]) + 1:
        arrive = phase + rate[first:stand].sum() * dt
        candidates = (np.floor(arrive) + np.arange(-1, 2)[:, None] + rest).ravel()
        candidates = candidates[candidates >= phase + 0.25]
        target = candidates[np.argmin(np.abs(candidates - arrive))]
        rate[first:stand] *= (target - phase) / (arrive - phase)
        phase, first = target, stand
    return start + np.r_[0.0, np.cumsum(rate[:-1]) * dt]


def held_stances(masks, phase, stance):
    """Stance masks (T, 2) in which each stance lasts no longer (in phase) than the cycles at its touchdown
    give it: a foot that lands running lifts off as a runner's does while the body slows into a walk, instead
    of staying planted for the walk's long stance while the root runs on."""
    masks = masks.copy()
    for f in range(2):
        for a, b in stance_intervals(masks[:, f]):
            over = np.flatnonzero(phase[a : b + 1] >= phase[a] + stance[a, f, 1] - stance[a, f, 0])
            masks[a + over[0] if len(over) else b + 1 : b + 1, f] = False
    return masks


def settling(travel, config):
    """How far (T,) the body has blended into the standing pose (by slowness, up to stand_stepping while the
    feet still step, 1 standing), and the Settling of the feet: placed as standing at rest, stepping or not."""
    behaviour = config.behaviour
    slowness = np.clip(1.0 - travel.speed / behaviour.stand_speed, 0.0, 1.0)
    smooth = lambda w: np.clip(gaussian_filter1d(w, behaviour.stand_blend * config.fps, mode="nearest"), 0.0, 1.0)
    body = smooth(np.where(travel.standing, 1.0, slowness * behaviour.stand_stepping))
    reach = config.max_reach + body * (behaviour.stand_reach - config.max_reach)
    return body, Settling(standing=travel.standing, feet=smooth(np.where(travel.standing, 1.0, slowness)), reach=reach)


def with_standing(pose, body, feet, fps):
    """The CyclePose blended toward the standing pose by `body` (T,); its sway and surge about the path fade
    with `feet` (T,), so that a body stepping on the spot stays over its spot, and a standing body sways a
    little instead (IDLE_SWAY). Stance and swings stay the cycles'."""
    stand = standing_pose()
    amplitude, period = IDLE_SWAY
    idle = amplitude * np.sin(2 * np.pi * np.arange(len(body)) / (period * fps))
    return pose._replace(
        height=pose.height + body * (stand.root_height - pose.height),
        offset=pose.offset * (1.0 - feet[:, None]) + np.c_[np.zeros(len(body)), body * idle],
        root_rel=quat.slerp(pose.root_rel, stand.root_rel, body),
        joints=quat.slerp(pose.joints, stand.joints, body[:, None]),
    )


def synthesize_planned(terrain, path, plan, config):
    """synthesize() with a SpeedPlan: the Motion of the plan along `path` (P, 2) over `terrain`."""
    travel = plan_travel(terrain, path, plan, config)
    timeline = gait_timeline(travel, config)
    body, settled = settling(travel, config)
    pose = with_standing(blend_pose(timeline), body, settled.feet, config.fps)
    masks = held_stances(stance_masks(timeline.phase, pose.stance), timeline.phase, pose.stance)
    masks |= travel.standing[:, None]
    return fit_to_terrain(
        terrain, travel.xy, travel.yaw, pose, masks, config, travel.keep, np.asarray(path, dtype=float), settled
    )

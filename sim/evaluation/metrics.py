"""Plausibility metrics of a `Motion`, measured against the terrain surface.

Definitions: the README's Metrics section.

`evaluate(motion)` returns one flat dict of numbers; `evaluate_files`, `format_table` and `main_eval` serve
`terrain-mdm eval`. Everything is vectorised over frames: one FK pass, one height look-up per point set, and
one `sdf` call on the body points that are below the surface.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from motion_model.body.motion import FILE_LIMITS, Motion, check_file_numbers
from motion_model.body.skeleton import Skeleton
from sim.evaluation.dynamics import dynamic_metrics
from terrain.heightfield import Heightfield
from terrain.npz import read_npz
from terrain.sdf import SignedDistance

# Contact and skating thresholds of GMD / OmniControl (`calculate_skating_ratio`), also used for the
# motion-decided contacts, so that the drift and the skating ratio agree on what "in contact" means.
CONTACT_GAP = 0.05  # m, lowest sole point above the surface
CONTACT_SPEED = 0.5  # m/s, horizontal speed of the sole centroid
SKATE_WINDOW = 5  # frames of the moving average in GMD's skating ratio
PENETRATION_LEVELS_MM = (10, 30)
# Labels in [0, 1] may be soft (network outputs); a foot counts as labelled in contact from 0.5.
LABEL_THRESHOLD = 0.5
# Grid margin around the motion when standing in for a missing terrain with flat ground (flat_ground=True).
FLAT_MARGIN = 5.0  # m

# Columns of format_table: result key, header, format.
COLUMNS = (
    ("frames", "frames", "{:.0f}"),
    ("duration_s", "dur s", "{:.1f}"),
    ("distance_m", "dist m", "{:.2f}"),
    ("penetration_mean_mm", "pen mean", "{:.1f}"),
    ("penetration_p95_mm", "pen p95", "{:.1f}"),
    ("penetration_max_mm", "pen max", "{:.1f}"),
    ("penetration_frac_10mm", ">10mm", "{:.3f}"),
    ("penetration_frac_30mm", ">30mm", "{:.3f}"),
    ("float_mean_mm", "float mm", "{:.1f}"),
    ("drift_label_mm", "drift lbl", "{:.2f}"),
    ("drift_auto_mm", "drift auto", "{:.2f}"),
    ("sliding_ratio", "sliding", "{:.3f}"),
    ("skate_ratio", "skate", "{:.3f}"),
    ("skate_ratio_avg5", "skate avg5", "{:.3f}"),
    ("jerk_m_s3", "jerk m/s3", "{:.1f}"),
    ("goal_dist_root_m", "goal root m", "{:.2f}"),
    ("goal_dist_foot_m", "goal foot m", "{:.2f}"),
    ("nan_frames", "NaN frames", "{:.0f}"),
)
# The columns `eval --dynamics` adds (sim.evaluation.dynamics; definitions: docs/guide.md, Metrics).
DYNAMIC_COLUMNS = (
    ("residual_force_mean_bw", "res F bw", "{:.3f}"),
    ("residual_force_frac_0p1", ">0.1bw", "{:.3f}"),
    ("residual_moment_mean", "res M", "{:.3f}"),
    ("flight_count", "flights", "{:.0f}"),
    ("flight_accel_error_mean", "|a-g|/g", "{:.3f}"),
    ("no_foot_walk_frac", "no foot", "{:.3f}"),
    ("zmp_outside_mean_m", "zmp out m", "{:.3f}"),
)

# Every key _metrics may fill; all NaN when the motion holds NaN (goal distances also without a goal).
METRIC_KEYS = (
    "penetration_mean_mm",
    "penetration_p95_mm",
    "penetration_max_mm",
    *(f"penetration_frac_{level}mm" for level in PENETRATION_LEVELS_MM),
    "off_terrain_frac",
    "float_mean_mm",
    "contact_frac_label",
    "contact_frac_auto",
    "drift_label_mm",
    "drift_auto_mm",
    "sliding_ratio",
    "skate_ratio",
    "skate_ratio_avg5",
    "jerk_m_s3",
    "distance_m",
    "speed_m_s",
    "goal_dist_root_m",
    "goal_dist_foot_m",
)


def ground_under(motion, cell=None, most=256):
    """A flat z = 0 Heightfield covering the motion's root path with FLAT_MARGIN to spare on every side.

    sdf measures from the grid's clamped border, so the grid must extend beyond every body point; two
    vertices per axis (cell None) are enough for a plane. A picture needs cells to draw its 1 m grid on:
    `cell` m, coarser where more than `most` vertices a side would be needed.
    """
    xy = motion.root_pos[:, :2]
    finite = np.all(np.isfinite(xy), axis=1)
    lo, hi = (xy[finite].min(0), xy[finite].max(0)) if finite.any() else (np.zeros(2), np.zeros(2))
    size = float((hi - lo).max()) + 2 * FLAT_MARGIN
    if cell is None:
        return Heightfield(np.zeros((2, 2)), size, lo - FLAT_MARGIN)
    cell = max(cell, size / (most - 1))
    side = math.ceil(size / cell) + 1
    return Heightfield(np.zeros((side, side)), cell, lo - FLAT_MARGIN)


def _choose_terrain(motion, terrain, flat_ground):
    if terrain is not None:
        return terrain, "argument"
    if motion.terrain is not None:
        return motion.terrain, "motion"
    if flat_ground:
        return ground_under(motion), "flat z=0"
    raise ValueError(
        "the motion has no terrain: pass terrain=..., or flat_ground=True to measure against flat ground at z = 0"
    )


def _choose_goal(motion, terrain, goal):
    for candidate in (goal, motion.goal, getattr(terrain, "goal", None)):
        if candidate is not None:
            return np.asarray(candidate, dtype=np.float64)
    return None


def _quat_norm_error(motion):
    norms = np.concatenate(
        [np.linalg.norm(motion.root_quat, axis=-1).ravel(), np.linalg.norm(motion.joint_quat, axis=-1).ravel()]
    )
    with np.errstate(invalid="ignore"):
        error = np.abs(norms - 1.0)
    return float(np.nanmax(error)) if np.isfinite(error).any() else math.nan


def _nonfinite_frames(motion):
    bad = ~np.isfinite(motion.root_pos).all(1)
    bad |= ~np.isfinite(motion.root_quat).all(1)
    bad |= ~np.isfinite(motion.joint_quat).all((1, 2))
    bad |= ~np.isfinite(motion.contacts).all(1)
    return int(bad.sum())


def _mean(values, mask):
    return float(values[mask].mean()) if mask.any() else math.nan


def _fraction(values):
    return float(values.mean()) if values.size else math.nan


def evaluate(motion, terrain=None, goal=None, flat_ground=False, skeleton=None):
    """Plausibility metrics of `motion` as a flat dict of numbers (keys and definitions: README, Metrics).

    terrain: the surface to measure against, by default the motion's own; a motion without one raises
    ValueError unless flat_ground=True (flat ground at z = 0). goal: world xy, by default the motion's goal,
    else the terrain's goal pad; goal distances are NaN without one. A motion holding NaN or infinite values
    is reported (nan_frames > 0) with its other metrics NaN, rather than raising.
    """
    skeleton = skeleton or Skeleton.load()
    terrain, terrain_source = _choose_terrain(motion, terrain, flat_ground)
    goal = _choose_goal(motion, terrain, goal)
    frames, fps = motion.num_frames, motion.fps
    result = {
        "frames": frames,
        "fps": fps,
        "duration_s": (frames - 1) / fps,
        "terrain": terrain_source,
        "nan_frames": _nonfinite_frames(motion),
        "quat_norm_error": _quat_norm_error(motion),
    }
    metrics = {key: math.nan for key in METRIC_KEYS}
    if result["nan_frames"] == 0:
        metrics.update(_metrics(motion, terrain, goal, skeleton))
    result.update(metrics)
    return result


def _metrics(motion, terrain, goal, skeleton):
    link_pos, link_rot = motion.fk(skeleton)
    body = skeleton.body_points(link_pos, link_rot)  # (T, N, 3)
    feet = _FeetTrack.of(motion, terrain, skeleton.sole_points(link_pos, link_rot))
    return {
        **_penetration(body, terrain),
        **_foot_contact(motion, feet),
        **_skating(feet),
        **_jerk(link_pos, motion.fps),
        **_travel(motion, feet, goal),
    }


def penetration_depth(body, terrain, sdf=None):
    """Per frame, the depth (m) of the deepest of the body points `body` (T, N, 3) below the surface of
    `terrain`, max(0, -sdf): (T,). sdf: a terrain.sdf.SignedDistance of the terrain, to hold for many calls
    (default: one made for this call)."""
    # Heightfields have no overhangs, so sdf < 0 exactly where a point is below the surface vertically (sdf
    # takes its sign from the vertical gap): only those points need the expensive sdf.
    body_gap = body[..., 2] - terrain.height(body[..., :2])
    below = body_gap < 0
    depth = np.zeros(body_gap.shape)
    if below.any():
        depth[below] = -(SignedDistance(terrain) if sdf is None else sdf)(body[below])
    return depth.max(1)


def _penetration(body, terrain):
    depth_mm = penetration_depth(body, terrain) * 1000.0
    out = {
        "penetration_mean_mm": float(depth_mm.mean()),
        "penetration_p95_mm": float(np.percentile(depth_mm, 95)),
        "penetration_max_mm": float(depth_mm.max()),
    }
    for level in PENETRATION_LEVELS_MM:
        out[f"penetration_frac_{level}mm"] = float((depth_mm > level).mean())
    # Outside the grid, height and sdf measure from its clamped border: flag the frames that leave it.
    lo, hi = terrain.bounds()
    out["off_terrain_frac"] = float(((body[..., :2].min(1) < lo) | (body[..., :2].max(1) > hi)).any(1).mean())
    return out


@dataclass(frozen=True)
class _FeetTrack:
    """Per frame and foot: vertical gap of the lowest sole point (T, 2), the sole centroid (T, 2, 2) for
    horizontal motion (the lowest point jumps between heel and toe as the foot rolls, which would read as
    sliding), its step between frames (T-1, 2) in m and its central-difference speed (T, 2) in m/s."""

    gap: np.ndarray
    centre: np.ndarray
    step: np.ndarray
    speed: np.ndarray
    fps: float

    @classmethod
    def of(cls, motion, terrain, soles):
        gap = (soles[..., 2] - terrain.height(soles[..., :2])).min(-1)
        centre = soles[..., :2].mean(-2)
        step = np.linalg.norm(np.diff(centre, axis=0), axis=-1)
        speed = (
            np.linalg.norm(np.gradient(centre, axis=0), axis=-1) * motion.fps
            if len(centre) > 1
            else np.zeros(gap.shape)
        )
        return cls(gap, centre, step, speed, motion.fps)


def _foot_contact(motion, feet):
    labelled = motion.contacts >= LABEL_THRESHOLD
    decided = (feet.gap < CONTACT_GAP) & (feet.speed < CONTACT_SPEED)
    # A labelled foot slides when it moves both into and out of the frame: the first and last frame of a
    # contact, where the foot arrives or leaves, would otherwise count as sliding by the swing's speed.
    edge = np.full((1, 2), np.inf)
    through = np.minimum(np.r_[edge, feet.step], np.r_[feet.step, edge]) * feet.fps
    through[np.isinf(through)] = 0.0  # a one-frame motion does not move
    return {
        "float_mean_mm": _mean(np.maximum(feet.gap, 0.0) * 1000.0, labelled),
        "contact_frac_label": float(labelled.mean()),
        "contact_frac_auto": float(decided.mean()),
        "drift_label_mm": _mean(feet.step * 1000.0, labelled[:-1] & labelled[1:]),
        "drift_auto_mm": _mean(feet.step * 1000.0, decided[:-1] & decided[1:]),
        "sliding_ratio": _mean(through > CONTACT_SPEED, labelled),
    }


def _skating(feet):
    # GMD / OmniControl skating ratio: per frame pair, either foot near the surface in both frames and moving
    # faster than CONTACT_SPEED; the averaged form also needs the zero-padded moving average of that speed
    # above it (their code's mode="constant").
    near = (feet.gap[:-1] < CONTACT_GAP) & (feet.gap[1:] < CONTACT_GAP)
    pair_speed = feet.step * feet.fps
    skating = near & (pair_speed > CONTACT_SPEED)
    out = {"skate_ratio": _fraction(skating.any(1)), "skate_ratio_avg5": math.nan}
    if len(pair_speed):
        average = uniform_filter1d(pair_speed, size=SKATE_WINDOW, axis=0, mode="constant")
        out["skate_ratio_avg5"] = _fraction((skating & (average > CONTACT_SPEED)).any(1))
    return out


def _jerk(link_pos, fps):
    """Mean jerk of the 15 link origins (joint centres, pelvis included) over all frames, m/s^3."""
    if len(link_pos) < 4:
        return {"jerk_m_s3": math.nan}
    third = np.diff(link_pos, n=3, axis=0)
    return {"jerk_m_s3": float(np.linalg.norm(third, axis=-1).mean() * fps**3)}


def _travel(motion, feet, goal):
    root_xy = motion.root_pos[:, :2]
    distance = float(np.linalg.norm(np.diff(root_xy, axis=0), axis=-1).sum())
    duration = (motion.num_frames - 1) / motion.fps
    out = {"distance_m": distance, "speed_m_s": distance / duration if duration > 0 else math.nan}
    if goal is not None:
        out["goal_dist_root_m"] = float(np.linalg.norm(root_xy[-1] - goal))
        out["goal_dist_foot_m"] = float(np.linalg.norm(feet.centre[-1] - goal, axis=-1).min())
    return out


# --------------------------------------------------------------------------------------------------------
# Files and the command line


def load_motion(path):
    """Motion.load, except that a file whose arrays hold NaN or infinities is still returned, unchecked.

    Motion.load rejects such files, but a diverged generator writes them and `eval` must report them.
    """
    try:
        return Motion.load(path)
    except ValueError:
        arrays = _raw_arrays(path)
        keys = ("root_pos", "root_quat", "joint_quat", "contacts")
        if arrays is None or all(np.all(np.isfinite(arrays[k])) for k in keys):
            raise
    check_file_numbers(path, arrays)
    motion = object.__new__(Motion)
    motion.fps = float(arrays["fps"])
    for key in keys:
        setattr(motion, key, np.asarray(arrays[key], dtype=np.float64))
    terrain = {k: v for k, v in arrays.items() if k.startswith("terrain_")}
    motion.terrain = Heightfield.from_arrays(terrain, source=str(path)) if terrain else None
    motion.path = arrays.get("path")
    motion.goal = arrays.get("goal")
    return motion


def _raw_arrays(path):
    """The file's arrays if it is an .npz with every key Motion needs in numeric form, else None."""
    try:
        arrays = read_npz(path, FILE_LIMITS, "motion file")
    except (OSError, ValueError):
        return None
    keys = ("fps", "root_pos", "root_quat", "joint_quat", "contacts")
    if not all(k in arrays and np.issubdtype(arrays[k].dtype, np.number) for k in keys):
        return None
    return arrays


def evaluate_files(paths, flat_ground=False, dynamics=False):
    """evaluate() of each motion file, with its path under "file"; ValueError for a file that is no motion.
    dynamics: add the dynamic metrics (sim.evaluation.dynamics.dynamic_metrics) against the same ground."""
    results = []
    for path in paths:
        motion = load_motion(path)
        result = {"file": str(path), **evaluate(motion, flat_ground=flat_ground)}
        if dynamics:
            result.update(dynamic_metrics(motion))
        results.append(result)
    return results


def mean_row(results, columns=COLUMNS):
    """Per-column mean over the results, ignoring NaN (a column NaN everywhere stays NaN)."""
    row = {}
    for key, _, _ in columns:
        values = np.array([r.get(key, math.nan) for r in results], dtype=np.float64)
        row[key] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return row


def format_table(results, columns=COLUMNS):
    """A plain-text table: one row per result (named by its "file"), then the mean row."""

    def cells(result):
        return [fmt.format(result[key]) if np.isfinite(result.get(key, math.nan)) else "-" for key, _, fmt in columns]

    rows = [[str(r.get("file", f"#{i}"))] + cells(r) for i, r in enumerate(results)]
    if len(results) > 1:
        rows.append(["mean"] + cells(mean_row(results, columns)))
    header = ["file"] + [h for _, h, _ in columns]
    widths = [max(len(row[c]) for row in rows + [header]) for c in range(len(header))]

    def line(row):
        return "  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])])

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(row) for row in rows])


def json_ready(result):
    # JSON has no NaN: a missing value becomes null.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in result.items()}


def main_eval(paths, as_json=False, flat_ground=False, stream=None, dynamics=False):
    """`terrain-mdm eval`: print the table, or one JSON object per file (dynamics: with the dynamic metrics
    added). Returns the exit status."""
    stream = stream or sys.stdout
    results = evaluate_files(paths, flat_ground=flat_ground, dynamics=dynamics)
    if as_json:
        for result in results:
            print(json.dumps(json_ready(result)), file=stream)
    else:
        print(format_table(results, COLUMNS + (DYNAMIC_COLUMNS if dynamics else ())), file=stream)
    return 0

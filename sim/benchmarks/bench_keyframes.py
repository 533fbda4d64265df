"""Keyframes and end poses: how closely the controller meets them, and at what cost to the motion.

For a handful of seeded cases (flat ground, a slope, stairs, a course; passing through keyframes, waiting at
one, arriving in a standing and in a mid-stride end pose), with the controller's settings at 1 and 3 denoising
steps, prints one row per keyframe and end pose:
  root m, heading deg   the root's distance from the keyframe's place and its facing's from the keyframe's
                        heading, at the keyframe's frame (floors 0.10 m, 10 deg)
  pose m                the mean distance of the 15 links from the end pose's, placed on the goal, at the
                        last frame (floor 0.05 m)
  seam mm / typical mm  the largest jump (second difference of the link positions, mean over links) within
                        KEY_WINDOW frames of the keyframe (or over the end pose's fade-in), against the
                        motion's typical frame-to-frame link motion (the mean); floor: seam <= typical.
                        "elsewhere" is the largest jump away from every keyframe, for comparison.
and one row per episode of the quality metrics (sim/evaluation/metrics.py evaluate): penetration, float, skating, jerk,
beside those of the same terrain and seed without keyframes or end pose.

    python -m sim.benchmarks.bench_keyframes [--steps 1 3] [--strips DIR]

--strips writes a frame strip around each case's first keyframe (or its end) as DIR/CASE_STEPS.png.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from controller.end_pose import EndPose
from controller.follower import wrap
from controller.inpaint import END_LEAD, KEY_HOLD, KEY_RAMP
from controller.keyframes import Keyframe, keyframe_errors
from controller.path_controller import ControllerConfig, PathController
from motion_model.body import quaternion as quat
from motion_model.body.clips import load_clip
from motion_model.body.skeleton import Skeleton
from motion_model.learner.checkpoint import load_model
from sim.evaluation.metrics import evaluate
from terrain.generators import make_terrain

KEY_WINDOW = KEY_HOLD + KEY_RAMP + 2  # frames either side of a keyframe over which its seam is sought


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    seed: int
    keyframes: tuple = ()
    end_pose: str | None = None  # "standing" or "stride"
    end_heading: float = 0.0  # deg of world yaw of the end pose


CASES = (
    Case("flat, pass 2", "flat", 101, (Keyframe(4.0, (4.0, 1.0), 0.0), Keyframe(9.0, (8.0, -1.0), math.radians(-45)))),
    Case("flat, wait", "flat", 102, (Keyframe(7.0, (4.0, 0.5), math.radians(90)),)),
    Case("flat, run", "flat", 103, (Keyframe(3.5, (8.0, -1.0), math.radians(-20)),)),
    Case("slope", "slope", 104, (Keyframe(5.0, (5.0, 0.3), 0.0),)),
    Case("stairs", "stairs", 105, (Keyframe(6.0, (6.0, 0.0), 0.0),)),
    Case("course", "course", 106, (Keyframe(5.0, (5.0, 0.5), None), Keyframe(12.0, (11.0, -0.5), 0.0))),
    Case("end standing", "flat", 107, (), "standing", 90.0),
    Case("end stride", "flat", 108, (Keyframe(5.0, (5.0, 0.0), 0.0),), "stride", 0.0),
)


def end_pose(kind, terrain, heading_deg):
    """An EndPose on the terrain's goal facing `heading_deg`: a standing pose (the controller's last frame
    on another episode) or a walk clip's frame mid-stride."""
    if kind == "standing":
        motion = PathController(load_model("default"), make_terrain("flat", seed=1), seed=1).run().motion
        frame = -1
    else:
        motion, frame = load_clip("walk"), 15
    pose = EndPose.from_motion(motion, frame)
    turn = quat.about_z(np.float64(math.radians(heading_deg) - pose.heading))
    return replace(pose, xy=np.asarray(terrain.goal, float), root_quat=quat.multiply(turn, pose.root_quat))


def link_positions(motion):
    return Skeleton.load().fk(motion.root_pos, motion.root_quat, motion.joint_quat).pos


def seams(links):
    """Per-frame jump (T,) m: the mean over links of the second difference (0 at the ends), and the typical
    frame-to-frame link motion (m, the mean over the motion)."""
    jump = np.zeros(len(links))
    jump[1:-1] = np.linalg.norm(links[2:] - 2 * links[1:-1] + links[:-2], axis=-1).mean(-1)
    return jump, float(np.linalg.norm(np.diff(links, axis=0), axis=-1).mean())


def run_case(case, steps, model, strips=None):
    """(rows, quality row) of one case at `steps` denoising steps."""
    terrain = make_terrain(case.kind, seed=case.seed)
    pose = end_pose(case.end_pose, terrain, case.end_heading) if case.end_pose else None
    config = ControllerConfig(ddim_steps=steps)
    start = time.perf_counter()
    controller = PathController(model, terrain, config=config, seed=case.seed, keyframes=case.keyframes, end_pose=pose)
    result = controller.run()
    wall = time.perf_counter() - start
    motion = result.motion
    links = link_positions(motion)
    jump, typical = seams(links)
    fps = motion.fps
    near = np.zeros(len(jump), bool)
    rows = []
    for i, (key, error) in enumerate(zip(case.keyframes, keyframe_errors(motion, case.keyframes))):
        n = int(round(key.t * fps))
        window = slice(max(n - KEY_WINDOW, 0), n + KEY_WINDOW + 1)
        near[window] = True
        heading = math.nan if error.heading is None else error.heading
        seam = float(jump[window].max()) if n < len(jump) else math.nan
        rows.append((f"key {i + 1} t={key.t:g}", error.root, heading, math.nan, seam))
    if pose is not None:
        arrival = int(round(controller.follower.goal_time * fps)) if controller.follower.goal_time else len(jump) - 1
        window = slice(max(arrival - END_LEAD - 2, 0), None)
        near[window] = True
        final_heading = abs(math.degrees(wrap(quat.heading(motion.root_quat[-1]) - pose.heading)))
        root = float(np.linalg.norm(motion.root_pos[-1, :2] - pose.xy))
        rows.append(("end pose", root, final_heading, pose.error(motion, terrain), float(jump[window].max())))
    elsewhere = float(jump[~near].max()) if (~near).any() else math.nan
    quality = evaluate(motion)
    plain = evaluate(PathController(model, terrain, config=config, seed=case.seed).run().motion)
    if strips is not None:
        write_strip(motion, case, steps, strips)
    summary = {
        "status": result.status,
        "seconds": motion.duration,
        "wall": wall,
        "typical": typical,
        "elsewhere": elsewhere,
        **{k: quality[k] for k in QUALITY},
        **{f"plain_{k}": plain[k] for k in QUALITY},
    }
    return rows, summary


QUALITY = ("penetration_mean_mm", "float_mean_mm", "skate_ratio", "jerk_m_s3")


def write_strip(motion, case, steps, folder):
    """A frame strip around the case's first keyframe (every other frame), or its last 24 frames."""
    from sim.formats.preview import frame_strip

    folder.mkdir(parents=True, exist_ok=True)
    if case.keyframes:
        n = int(round(case.keyframes[0].t * motion.fps))
        frames = np.clip(np.arange(n - 10, n + 12, 2), 0, len(motion.root_pos) - 1)
    else:
        frames = np.arange(len(motion.root_pos) - 44, len(motion.root_pos), 4)
    name = case.name.replace(", ", "_").replace(" ", "_")
    frame_strip(motion, folder / f"{name}_{steps}.png", frames=frames, columns=6)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 3], help="denoising steps to measure with")
    parser.add_argument("--strips", type=Path, help="folder for frame strips around the keyframes")
    parser.add_argument("--cases", nargs="*", help="names of the cases to run (default: all)")
    args = parser.parse_args(argv)
    model = load_model("default")
    cases = [c for c in CASES if not args.cases or c.name in args.cases]
    head = f"{'case':<14} {'steps':>5}  {'what':<12} {'root m':>7} {'head deg':>8} {'pose m':>7} {'seam mm':>8}"
    print(head + f" {'typ mm':>7}")
    summaries = []
    for case in cases:
        for steps in args.steps:
            rows, summary = run_case(case, steps, model, args.strips)
            summaries.append((case.name, steps, summary))
            for what, root, heading, pose, seam in rows:
                print(
                    f"{case.name:<14} {steps:>5}  {what:<12} {root:>7.3f} {heading:>8.1f} {pose:>7.3f} "
                    f"{seam * 1000:>8.1f} {summary['typical'] * 1000:>7.1f}"
                )
    print()
    print(
        f"{'case':<14} {'steps':>5}  {'status':<10} {'motion s':>8} {'wall s':>6} {'elsewhere mm':>12} "
        f"{'pen mm':>6} {'float mm':>8} {'skate':>5} {'jerk':>6}   (without keyframes: pen, float, skate, jerk)"
    )
    for name, steps, s in summaries:
        print(
            f"{name:<14} {steps:>5}  {s['status']:<10} {s['seconds']:>8.1f} {s['wall']:>6.1f} "
            f"{s['elsewhere'] * 1000:>12.1f} {s['penetration_mean_mm']:>6.2f} {s['float_mean_mm']:>8.1f} "
            f"{s['skate_ratio']:>5.2f} {s['jerk_m_s3']:>6.0f}   {s['plain_penetration_mean_mm']:>6.2f} "
            f"{s['plain_float_mean_mm']:>8.1f} {s['plain_skate_ratio']:>5.2f} {s['plain_jerk_m_s3']:>6.0f}"
        )


if __name__ == "__main__":
    main()

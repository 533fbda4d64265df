"""One controller step for many characters at once, in named stages over small records.

The characters are protocols.SteppedCharacter: PathControllers or LiveControllers, of one class per step.

  segment_starts    the characters' condition rows and reference frames (their class's conditions, e.g.
                    PathController.conditions: the previous frames' features of all at once, terrain grids once
                    per terrain, each one's follower plans its command) and last committed frames
  best_candidates   `candidates` segments per character from one network call for all, in the world frame
                    with their seams blended, scored by the collision check; characters none of whose
                    candidates pass sample again, up to `max_retries` times; each keeps its best so far
  committed_frames  the first frames_to_commit() frames of each character's best candidate, with their links
  settle_bodies     flights fall at g: the roots move (controller/momentum.py) where the config asks for it
                    (momentum)
  lock_feet         stance feet pinned and swing feet where the network put them: targets of all characters'
                    FootLocks at once (foot_lock.lock_targets), the pelvis lowered where a leg could not reach its
                    foothold, then one IK solve for all
  commit            each controller appends its frames and updates its status (PathController.commit)

Everything after the network runs on arrays of all characters at once, and every terrain query once per
terrain (controller/grouping.py: a crowd's characters share theirs); only the path follower's plan, the centre
of mass's filter, the foot locks' contact runs, the pelvis's drop and the commits go character by character. The
characters share a model and the settings of the shared work (config.BATCH_SETTINGS): shared_setup refuses a
batch that does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from controller.collision import Scores, score_candidates
from controller.foot_lock import lock_targets
from controller.frames import Frames
from controller.momentum import HELD_FRAMES, settled_roots
from controller.seam import blend_seam
from motion_model.body.legs import MAX_REACH, leg_ik, reach_lowering
from motion_model.body.skeleton import Links, Skeleton
from motion_model.learner.ddim import Known, sample
from motion_model.learner.features import features_to_motion
from motion_model.learner.network import autocast

FALLBACK_COST = 1e3  # added to the cost of a candidate that fails the check: a passing one beats any other
DROP_FADE = 10  # frames over which the drop fades out before a keyframe or an end pose
MAX_DROP = 0.2  # m the pelvis may drop for it (a stair riser and more): deeper folds the other knee into the ground


@dataclass
class Starts:
    """Where the next segment of each of B characters starts."""

    cond: dict  # the network's condition, one row per character (SteppedCharacter.conditions)
    ref_xy: np.ndarray  # (B, 1, 2) reference frames, shaped to broadcast over the candidates
    ref_yaw: np.ndarray  # (B, 1)
    ref_z: np.ndarray  # (B, 1)
    tails: list  # the last two committed Frames (where the segment must start; its jump is scored), or None


@dataclass
class Candidate:
    """A character's best segment: committed length, world frame, seam blended, feet not yet locked."""

    frames: Frames
    links: Links  # of its frames (T, 15, ...) (Skeleton.fk)
    attempt: int  # 0 for the first batch of candidates
    scores: Scores  # its collision scores (scalars)
    rank: float  # its cost, plus FALLBACK_COST if it fails the check


def advance(controllers):
    """One step for every controller (SteppedCharacter, all of one class) still going, with one network call per
    attempt for all of them.

    Returns the committed segment (Motion) of each controller in order (None for those already done).
    """
    active = [c for c in controllers if not c.done]
    if not active:
        return [None] * len(controllers)
    start = time.perf_counter()
    model, config = shared_setup(active)
    skeleton = Skeleton.load()
    starts = segment_starts(active)
    best = best_candidates(active, starts, model, config, skeleton)
    frames, links = committed_frames(active, best)
    imposed = [_imposed(c.known, len(f)) for c, f in zip(active, frames)]
    frames, links = settle_bodies(active, frames, links, imposed, model.window.fps)
    frames = lock_feet(active, frames, links, imposed, skeleton, model.window.fps)
    seconds = (time.perf_counter() - start) / len(active)
    committed = {id(c): c.commit(f, diagnostics(b, seconds)) for c, f, b in zip(active, frames, best)}
    return [committed.get(id(c)) for c in controllers]


def shared_setup(controllers):
    """The model and step_config of characters stepped together; ValueError unless they share the model and the
    settings of the shared work (config.BATCH_SETTINGS), naming the settings that differ."""
    first = controllers[0]
    for other in controllers[1:]:
        if other.model is not first.model:
            raise ValueError(
                "characters stepped together must share one model: load it once (load_model) and "
                "give the same one to every PathController"
            )
        differ = first.step_config.batch_differences(other.step_config)
        if differ:
            raise ValueError(
                f"characters stepped together must share the controller settings {', '.join(differ)} "
                "(one network call and one check for all); run those that differ in separate batches"
            )
    return first.model, first.step_config


def segment_starts(controllers):
    """The Starts of the controllers' next segments."""
    cond, *refs = type(controllers[0]).conditions(controllers)
    ref_xy, ref_yaw, ref_z = (r[:, None] for r in refs)  # (B, 1, ...)
    return Starts(cond, ref_xy, ref_yaw, ref_z, [c.last_frames(2) for c in controllers])


def best_candidates(controllers, starts, model, config, skeleton):
    """Each character's best Candidate: the first that passes the collision check, else the cheapest."""
    best = [None] * len(controllers)
    pending = np.arange(len(controllers))
    for attempt in range(config.max_retries + 1):
        candidates = sample_candidates(controllers, starts, pending, model, config)
        links, last_links = links_after_tails(skeleton, candidates, [starts.tails[i] for i in pending])
        scores = score_candidates(
            [controllers[i].terrain for i in pending],
            [controllers[i].tracker.arc_length for i in pending],
            *candidates.arrays(),
            last_links,
            config.check,
            links=links,
        )
        ranks = np.where(scores.passed, scores.cost, scores.cost + FALLBACK_COST)
        for row, i in enumerate(pending):
            j = int(ranks[row].argmin())
            if best[i] is None or ranks[row, j] < best[i].rank:
                best[i] = Candidate(
                    frames=candidates[row, j],
                    links=Links(pos=links.pos[row, j], rot=links.rot[row, j]),
                    attempt=attempt,
                    scores=scores.at(row, j),
                    rank=ranks[row, j],
                )
        pending = pending[~scores.passed.any(1)]
        if not len(pending):
            break
    return best


def sample_candidates(controllers, starts, pending, model, config):
    """Frames (P, candidates, commit_frames, ...) of new segments for the characters `pending` (P indices), in
    the world frame, each starting where its character's committed motion left off."""
    k = config.candidates
    rows = torch.as_tensor(pending)
    cond = {key: value[rows].repeat_interleave(k, 0) for key, value in starts.cond.items()}
    noise = torch.cat(
        [
            torch.randn((k, model.window.frames, model.network.config.features), generator=controllers[i].generator)
            for i in pending
        ]
    )
    # inference_mode rather than sample's no_grad: the same numbers, 10-15% less time per pass at batch 1
    # (sim/benchmarks/bench_batch1.py; README, Speed).
    known = _stack_known([controllers[i].known for i in pending], k, noise.shape)
    network = model.sampling_network(config.precision)
    with torch.inference_mode(), autocast(config.precision):
        x0 = sample(
            network, cond, model.schedule, config.ddim_steps, guidance=config.guidance, noise=noise, known=known
        )
    features = model.normalizer.denormalize(x0.float()).numpy().astype(np.float64)
    if config.smoothing > 0:  # the whole segment, so the committed frames are smoothed with their future
        features = gaussian_filter1d(features, config.smoothing, axis=1, mode="nearest")
    features = features.reshape((len(pending), k) + features.shape[1:])[:, :, : config.commit_frames]
    root_pos, root_quat, joint_quat, contacts = features_to_motion(
        features, starts.ref_xy[pending], starts.ref_yaw[pending], starts.ref_z[pending]
    )
    seam = [row for row, i in enumerate(pending) if starts.tails[i] is not None]
    if seam:
        tail = Frames.stack([starts.tails[pending[row]] for row in seam])
        root_pos[seam], root_quat[seam], joint_quat[seam] = blend_seam(
            tail.root_pos[:, None],
            tail.root_quat[:, None],
            tail.joint_quat[:, None],
            root_pos[seam],
            root_quat[seam],
            joint_quat[seam],
            config.seam_frames,
        )
    return Frames(root_pos, root_quat, joint_quat, contacts)


def links_after_tails(skeleton, candidates, tails):
    """One FK (Skeleton.fk) of every frame of the candidates (P, k, T) (for the check, which reads every
    frame_stride-th, and the committed frames) and of each character's last committed frame (its tail's second;
    the seam's jump): the Links of the candidates' frames, and the link positions (15, 3) of each last
    frame (None without a tail)."""
    arrays = (candidates.root_pos, candidates.root_quat, candidates.joint_quat)
    heads = [a[:, :, :1].copy() for a in arrays]  # the candidates' own first frame stands in where there is no tail
    with_tail = [row for row, tail in enumerate(tails) if tail is not None]
    if with_tail:
        last = Frames.stack([tails[row] for row in with_tail])[:, 1]
        for head, value in zip(heads, (last.root_pos, last.root_quat, last.joint_quat)):
            head[with_tail] = value[:, None, None]
    link_pos, link_rot = skeleton.fk(*(np.concatenate([h, a], 2) for h, a in zip(heads, arrays)))
    last_links = [None if tail is None else link_pos[row, 0, 0] for row, tail in enumerate(tails)]
    return Links(pos=link_pos[:, :, 1:], rot=link_rot[:, :, 1:]), last_links


def committed_frames(controllers, best):
    """The Frames each controller keeps of its best candidate (frames_to_commit) and their Links."""
    frames, links = [], []
    for c, b in zip(controllers, best):
        n = c.frames_to_commit()
        frames.append(b.frames[:n])
        links.append(Links(pos=b.links.pos[:n], rot=b.links.rot[:n]))
    return frames, links


def settle_bodies(controllers, frames, links, imposed, fps):
    """The Frames with their roots moved (controller/momentum.py) for the controllers whose config asks for
    momentum, and the Links lock_feet keeps the feet by: the network's, carried along with the root in flight
    (on the ground the feet stay where the network put them while the root moves). Each one's imposed (T,)
    frames (keyframes, an end pose: _imposed) stay where they are."""
    settling = [i for i, c in enumerate(controllers) if c.step_config.momentum]
    if not settling:
        return frames, links
    frames, links = list(frames), list(links)
    moved = settled_roots(
        [controllers[i].last_frames(HELD_FRAMES) for i in settling],
        [frames[i] for i in settling],
        [links[i] for i in settling],
        [controllers[i].terrain for i in settling],
        fps,
        pinned=[imposed[i] for i in settling],
    )
    for i, (root_pos, flying) in zip(settling, moved):
        shift = np.where(flying[:, None], root_pos - frames[i].root_pos, 0.0)
        frames[i] = replace(frames[i], root_pos=root_pos)
        links[i] = Links(pos=links[i].pos + shift[:, None], rot=links[i].rot)
    return frames, links


def _imposed(known, frames):
    """(frames,) bool: the first `frames` frames of a segment on which ddim.Known imposes anything (None: none)."""
    if known is None:
        return np.zeros(frames, bool)
    return known.mask[0, :frames].amax(-1).numpy() > 0


def lock_feet(controllers, frames, links, imposed, skeleton, fps):
    """The Frames with the stance feet pinned, for the controllers that lock feet: the targets of all of them
    (foot_lock.lock_targets: each one's FootLock state, one terrain query per terrain), the pelvis lowered
    where a leg would have to stretch beyond MAX_REACH to its target (legs.reach_lowering: the network sometimes
    carries the body a few centimetres too high on stairs, and a pinned foot would hang in the air), then one
    IK solve. links: the Links settle_bodies gives, by which the feet are kept."""
    locking = [i for i, c in enumerate(controllers) if c.foot_lock is not None]
    if not locking:
        return frames
    runs = [frames[i] for i in locking]
    locks = [controllers[i].foot_lock for i in locking]
    ankles, foot_rots = zip(*lock_targets(locks, [f.contacts for f in runs], [links[i] for i in locking]))
    runs = [_reached(f, a, skeleton, fps, imposed[i]) for f, a, i in zip(runs, ankles, locking)]
    solved = leg_ik(
        skeleton,
        *(
            np.concatenate(a)
            for a in (
                [f.root_pos for f in runs],
                [f.root_quat for f in runs],
                [f.joint_quat for f in runs],
                ankles,
                foot_rots,
            )
        ),
    )
    frames = list(frames)
    for i, run, joints in zip(locking, runs, np.split(solved, np.cumsum([len(f) for f in runs])[:-1])):
        frames[i] = replace(run, joint_quat=joints)
    return frames


def _reached(run, ankles, skeleton, fps, imposed):
    """Frames `run` with the root lowered where a leg could not reach its ankle target (T, 2, 3), except on
    the frames a keyframe or end pose imposed (T,) bool."""
    drop = np.minimum(reach_lowering(skeleton, run.root_pos, run.root_quat, ankles, MAX_REACH, fps), MAX_DROP)
    if imposed.any():  # fade out towards the imposed frames over DROP_FADE frames, so that nothing jumps
        near = np.abs(np.arange(len(run))[:, None] - np.flatnonzero(imposed)[None]).min(1)
        drop *= np.clip(near / DROP_FADE, 0.0, 1.0)
    return replace(run, root_pos=run.root_pos - np.c_[np.zeros((len(run), 2)), drop])


def diagnostics(candidate, seconds):
    """A committed segment's entry of Result.segments."""
    s = candidate.scores
    return {
        "attempts": candidate.attempt + 1,
        "passed": bool(s.passed),
        "fallback": not s.passed,
        "depth_max_mm": float(s.depth_max * 1000),
        "depth_mean_mm": float(s.depth_mean * 1000),
        "foot_error_mm": float(s.foot_error * 1000),
        "progress_m": float(s.progress),
        "seam_mm": float(s.seam * 1000),
        "cost": float(s.cost),
        "seconds": seconds,
    }


def _stack_known(knowns, k, shape):
    """One ddim.Known (P * k, frames, features) of the characters' own (each repeated for its k candidates),
    nothing known for those with none; None when none has any (a SteppedCharacter's `known`: keyframes,
    inpaint.py)."""
    if all(known is None for known in knowns):
        return None
    none = torch.zeros((1,) + tuple(shape[1:]))
    mask = torch.cat([none if known is None else known.mask for known in knowns]).repeat_interleave(k, 0)
    values = torch.cat([none if known is None else known.values for known in knowns]).repeat_interleave(k, 0)
    return Known(mask, values)

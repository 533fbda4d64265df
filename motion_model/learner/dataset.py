"""Training data: episodes on disk, feature statistics, and the window sampler that cuts training examples.

A dataset directory holds `episodes/*.npz` (Motion files with terrain, path and goal embedded) and `stats.npz`
(feature mean and std, see write_stats). A training example is a window around a reference frame r (the
last previous frame): the n_prev frames r - n_prev + 1 .. r, the segment r + 1 .. r + frames (x0), the local
heightfield around the reference root and the target, the window's own command (command.py: the episode's
future root positions and facings at the command times, and the segment's mean root speed), all in the
reference frame of features.py, built with the helpers of condition.py that the controller uses too.
"""

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from motion_model.body import quaternion as quat
from motion_model.body.motion import Motion
from motion_model.engine.episodes import build_episodes
from motion_model.learner.command import Command
from motion_model.learner.condition import grid_shape, local_heightfield
from motion_model.learner.features import NUM_FEATURES, Normalizer, joint_features, root_features
from motion_model.learner.window import WindowConfig
from terrain.atomic import atomic_path
from terrain.npz import read_npz

FACING_SMOOTHING = 0.3  # s, Gaussian sigma over which the commanded facing is averaged


def load_episodes(directory):
    """All Motion episodes in `directory`/episodes/*.npz, sorted by file name."""
    files = sorted((Path(directory) / "episodes").glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"no episodes in {Path(directory) / 'episodes'} (build them with terrain-mdm dataset)")
    return [Motion.load(f) for f in files]


# --------------------------------------------------------------------------------------------------------
# Window sampling


class WindowSampler:
    """Cuts training windows at random reference frames of a list of episodes (vectorised over a batch).

    Frame-independent joint features and the ground under every root are computed once; a batch then only
    re-expresses the roots in each window's reference frame and samples the terrain grids.
    """

    def __init__(self, episodes, config: WindowConfig, normalizer=None):
        self.config = config
        self.normalizer = normalizer
        for e in episodes:
            if e.terrain is None or e.path is None:
                raise ValueError("every training episode needs its terrain and path")
            if abs(e.fps - config.fps) > 1e-6:
                raise ValueError(f"episode at {e.fps} fps; the model is configured for {config.fps} fps")
        self.episodes = episodes
        lengths = np.array([e.num_frames for e in episodes])
        self.start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.root_pos = np.concatenate([e.root_pos for e in episodes])
        self.root_quat = np.concatenate([e.root_quat for e in episodes])
        self.joints = np.concatenate([joint_features(e.joint_quat) for e in episodes]).astype(np.float32)
        self.contacts = np.concatenate([e.contacts for e in episodes]).astype(np.float32)
        self.yaw = quat.heading(self.root_quat)
        # The commanded facing is the heading averaged over the gait cycle: the pelvis swings by 6 degrees
        # walking and 10 running with every step, which a follower's command, made without a gait phase, lacks.
        sigma = FACING_SMOOTHING * config.fps
        self.facing = np.concatenate(
            [gaussian_filter1d(np.unwrap(quat.heading(e.root_quat)), sigma, mode="nearest") for e in episodes]
        )
        self.last = self.start + lengths - 1
        self.ground = np.concatenate([e.terrain.height(e.root_pos[:, :2]) for e in episodes])
        self.episode_of = np.repeat(np.arange(len(episodes)), lengths)
        # Reference frames with a whole segment after them; those too early for n_prev history are kept (with
        # the history masked out in training) because they hold the episode starts, i.e. cold starts.
        self.refs = np.concatenate(
            [s + np.arange(n - config.frames) for s, n in zip(self.start, lengths) if n > config.frames]
        )
        if len(self.refs) == 0:
            raise ValueError(f"no episode is longer than a segment ({config.frames} frames)")

    def sample(self, batch_size, rng):
        """A batch of windows at reference frames drawn uniformly with numpy Generator `rng`."""
        return self.windows(rng.choice(self.refs, batch_size))

    def windows(self, refs):
        """Windows at global reference frame indices refs (B,): a dict of float32 tensors.

        x0 (B, frames, 63) and prev (B, n_prev, 63) features (standardised if the sampler has a normalizer),
        terrain (B, nx, ny) m, target (B, target_dim) (the command's, see command.py), has_prev (B,) bool.
        """
        c = self.config
        refs = np.asarray(refs)
        episode = self.episode_of[refs]
        first = self.start[episode]
        index = np.maximum(refs[:, None] + np.arange(-c.n_prev + 1, c.frames + 1), first[:, None])
        ref_xy, ref_yaw, ref_z = self.root_pos[refs, :2], self.yaw[refs], self.ground[refs]
        pos, rot = root_features(self.root_pos[index], self.root_quat[index], ref_xy, ref_yaw, ref_z)
        features = np.concatenate(
            [pos.astype(np.float32), rot.astype(np.float32), self.joints[index], self.contacts[index]], -1
        )
        if self.normalizer is not None:
            features = self.normalizer.normalize(features)
        xy = self.root_pos[index[:, c.n_prev - 1 :], :2]
        speed = np.linalg.norm(np.diff(xy, axis=1), axis=-1).mean(1) * c.fps
        terrain = np.empty((len(refs),) + grid_shape(c), np.float32)
        for e in np.unique(episode):
            rows = episode == e
            ep = self.episodes[e]
            terrain[rows] = local_heightfield(ep.terrain, ref_xy[rows], ref_yaw[rows], ref_z[rows], c)
        target = self.command(refs, speed).target()
        return {
            "x0": torch.from_numpy(np.ascontiguousarray(features[:, c.n_prev :])),
            "prev": torch.from_numpy(np.ascontiguousarray(features[:, : c.n_prev])),
            "terrain": torch.from_numpy(terrain),
            "target": torch.from_numpy(target),
            "has_prev": torch.from_numpy(refs - first >= c.n_prev - 1),
        }

    def command(self, refs, speed):
        """The Commands (B, K) of the windows at reference frames refs (B,) with segment speeds (B,) m/s: the
        episode's own root positions and facings at the command frames (past its end, its last frame)."""
        index = np.minimum(
            refs[:, None] + np.asarray(self.config.command_frames), self.last[self.episode_of[refs], None]
        )
        return Command.from_world(
            self.root_pos[index, :2], self.facing[index], self.root_pos[refs, :2], self.yaw[refs], speed
        )


# --------------------------------------------------------------------------------------------------------
# Statistics


def compute_stats(episodes, config: WindowConfig = WindowConfig(), windows=20000, seed=0, std_floor=0.02):
    """Normalizer from the raw features of all frames (previous and segment) of `windows` random windows."""
    sampler = WindowSampler(episodes, config)
    rng = np.random.default_rng(seed)
    refs = rng.choice(sampler.refs, windows)
    total = np.zeros(NUM_FEATURES)
    total_sq = np.zeros(NUM_FEATURES)
    count = 0
    for chunk in np.array_split(refs, max(1, windows // 1000)):
        batch = sampler.windows(chunk)
        f = torch.cat([batch["prev"], batch["x0"]], 1).reshape(-1, NUM_FEATURES).double().numpy()
        total += f.sum(0)
        total_sq += (f * f).sum(0)
        count += len(f)
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    return Normalizer(mean, std, std_floor)


def build_dataset(config, out_dir, workers=None):
    """The dataset of a DataConfig in out_dir: the engine's episodes (episodes.build_episodes: those not there
    yet, in parallel) and their feature statistics. Returns how many episodes were new and their seconds."""
    built, seconds = build_episodes(config, out_dir, workers)
    write_stats(out_dir)
    return built, seconds


def write_stats(directory, config: WindowConfig = WindowConfig(), windows=20000, seed=0):
    """Compute the feature statistics of the episodes in `directory` and write `directory`/stats.npz."""
    normalizer = compute_stats(load_episodes(directory), config, windows, seed)
    with atomic_path(Path(directory) / "stats.npz") as tmp:
        np.savez(
            tmp, mean=normalizer.mean.numpy(), std=normalizer.std.numpy(), n_prev=config.n_prev, frames=config.frames
        )
    return normalizer


def load_stats(directory):
    """The Normalizer in `directory`/stats.npz; ValueError naming the file and how to rebuild it if it is not
    one (a mean and a std of NUM_FEATURES finite numbers, the std positive)."""
    path = Path(directory) / "stats.npz"
    rebuild = f"delete it and train again: training computes it from the episodes in {directory}"
    try:
        data = read_npz(path, dict.fromkeys(("mean", "std"), (NUM_FEATURES,)), "stats file")
    except ValueError as error:
        raise ValueError(f"{error}; {rebuild}") from None
    for key in ("mean", "std"):
        value = data.get(key)
        if value is None or value.shape != (NUM_FEATURES,) or value.dtype.kind not in "fiu":
            problem = f"no '{key}' array of {NUM_FEATURES} numbers"
        elif not np.isfinite(value).all() or (key == "std" and not (value > 0).all()):
            problem = f"its '{key}' is not {'positive and ' if key == 'std' else ''}finite everywhere"
        else:
            continue
        raise ValueError(f"{path} is not a valid stats file ({problem}): {rebuild}")
    return Normalizer(data["mean"], data["std"], std_floor=0.0)

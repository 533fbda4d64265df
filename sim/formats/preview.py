"""Quick matplotlib previews of a motion over its terrain: a side-view frame strip (PNG) and a 3D video.

These need no OpenGL and are what `terrain-mdm preview` writes; the PyBullet renderer gives the real look.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from motion_model.body import quaternion as quat  # noqa: E402
from motion_model.body.skeleton import Skeleton  # noqa: E402
from terrain.atomic import atomic_path  # noqa: E402

MAX_COLUMNS = 24  # panels per row of a frame strip: a figure 2.6 inches wide each


def check_columns(columns):
    """ValueError unless a frame strip can have `columns` panels per row."""
    if not 1 <= columns <= MAX_COLUMNS:
        raise ValueError(f"a frame strip has 1..{MAX_COLUMNS} columns (--columns), got {columns}")


# Frames per second of a video (the encoders' and players' useful range).
VIDEO_FPS = (1.0, 240.0)


def check_video_fps(fps):
    """ValueError unless a video at `fps` frames per second lies within VIDEO_FPS."""
    lo, hi = VIDEO_FPS
    number = isinstance(fps, (int, float, np.integer, np.floating)) and not isinstance(fps, bool)
    if not (number and lo <= fps <= hi):
        shown = f"{fps:g}" if number else repr(fps)
        raise ValueError(f"video fps {shown} is out of range: it must lie in [{lo:g}, {hi:g}] frames per second")


def _bones(skeleton):
    return [(i, p) for i, p in enumerate(skeleton.parents) if p >= 0]


def frame_strip(motion, out_png, frames=None, terrain=None, columns=6, window=2.0):
    """Side views (along the character's travel, X-Z in the plane of the path) of chosen frames, one panel
    each, with the terrain profile under the character and the feet coloured by their contact label."""
    check_columns(columns)
    terrain = terrain if terrain is not None else motion.terrain
    skeleton = Skeleton.load()
    link_pos, link_rot = skeleton.fk(motion.root_pos, motion.root_quat, motion.joint_quat)
    frames = np.linspace(0, motion.num_frames - 1, columns * 2).astype(int) if frames is None else np.asarray(frames)
    rows = int(np.ceil(len(frames) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), dpi=80, squeeze=False)
    for ax, t in zip(axes.ravel(), frames):
        centre = motion.root_pos[t]
        # View from the character's right side: horizontal axis = its travel direction.
        d = motion.root_pos[min(t + 5, motion.num_frames - 1), :2] - motion.root_pos[max(t - 5, 0), :2]
        if np.linalg.norm(d) < 0.02:  # standing or turning on the spot: along the body's facing instead
            yaw = quat.heading(motion.root_quat[t])
            d = np.array([np.cos(yaw), np.sin(yaw)])
        d = d / max(np.linalg.norm(d), 1e-9)
        along = lambda p, centre=centre, d=d: (p[..., :2] - centre[:2]) @ d
        if terrain is not None:
            s = np.linspace(-window, window, 400)
            xy = centre[:2] + s[:, None] * d
            inside = terrain.contains(xy)
            ax.fill_between(s[inside], terrain.height(xy[inside]), centre[2] - 1.2, color="0.75")
        for i, p in _bones(skeleton):
            a, b = link_pos[t, p], link_pos[t, i]
            ax.plot([along(a), along(b)], [a[2], b[2]], color="tab:blue", lw=2)
        soles = skeleton.sole_points(link_pos[t], link_rot[t])
        for f, color in enumerate(("tab:green", "tab:red")):
            c = "k" if motion.contacts[t, f] > 0.5 else color
            ax.plot(along(soles[f]), soles[f, :, 2], ".", color=c, ms=2)
        ax.set_xlim(-window * 0.6, window * 0.6)
        ax.set_ylim(centre[2] - 1.1, centre[2] + 0.9)
        ax.set_aspect("equal")
        ax.set_title(f"frame {t}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(frames) :]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=fig.dpi)
    plt.close(fig)


def preview_video(motion, out, fps=None, terrain=None, size=(480, 360), every=1):
    """A 3D matplotlib animation (.gif or .mp4) of the skeleton over the terrain patch around it, with the
    path drawn; the camera follows the character. Frames are written atomically with imageio."""
    from tqdm import tqdm

    fps = fps or motion.fps / every
    check_video_fps(fps)
    terrain = terrain if terrain is not None else motion.terrain
    skeleton = Skeleton.load()
    link_pos, _ = skeleton.fk(motion.root_pos, motion.root_quat, motion.joint_quat)
    fig = plt.figure(figsize=(size[0] / 80, size[1] / 80), dpi=80)
    ax = fig.add_subplot(projection="3d")
    frames = []
    for t in tqdm(range(0, motion.num_frames, every), desc="preview", unit="frame"):
        ax.cla()
        centre = motion.root_pos[t]
        if terrain is not None:
            g = np.linspace(-1.5, 1.5, 31)
            X, Y = np.meshgrid(centre[0] + g, centre[1] + g, indexing="ij")
            Z = terrain.height(np.stack([X, Y], -1))
            ax.plot_surface(X, Y, Z, cmap="terrain", linewidth=0, alpha=0.8, rstride=1, cstride=1)
        if motion.path is not None:
            ax.plot(motion.path[:, 0], motion.path[:, 1], np.full(len(motion.path), np.nan), "k--")
        for i, p in _bones(skeleton):
            a, b = link_pos[t, p], link_pos[t, i]
            ax.plot([a[0], b[0]], [a[1], b[1]], [a[2], b[2]], color="tab:blue", lw=3)
        ax.set_xlim(centre[0] - 1.5, centre[0] + 1.5)
        ax.set_ylim(centre[1] - 1.5, centre[1] + 1.5)
        ax.set_zlim(centre[2] - 1.5, centre[2] + 1.5)
        ax.set_box_aspect((1, 1, 1))
        ax.set_title(f"t = {t / motion.fps:.2f} s", fontsize=9)
        fig.canvas.draw()
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    write_video(frames, out, fps)


def write_video(frames, out, fps):
    """Write RGB frames (any iterable: they are streamed, not held) as .gif or .mp4 (H.264 through
    imageio-ffmpeg) into a temporary file that replaces `out` only when complete. Returns the frame count."""
    import imageio.v2 as imageio

    ext = os.path.splitext(out)[1].lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"video file {out} must end in .gif or .mp4")
    check_video_fps(fps)
    options = (
        {"duration": 1000.0 / fps, "loop": 0}
        if ext == ".gif"
        else {"fps": fps, "codec": "libx264", "macro_block_size": 8}
    )
    count = 0
    with atomic_path(out) as tmp, imageio.get_writer(tmp, mode="I", **options) as writer:
        for frame in frames:
            writer.append_data(frame)
            count += 1
    return count

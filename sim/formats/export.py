"""Motion export: BVH for animation tools and DeepMimic `.txt` for PyBullet's DeepMimic code.

Both formats live in the Y-up world of the URDF and of the clip files: a Z-up world point (x, y, z) is
(x, z, -y) there (motion_model.body.clips.to_y_up), forward stays +X.

BVH: the humanoid's hierarchy with the URDF's joint offsets in centimetres (link frames are the URDF's, so
the rest pose is the URDF's zero pose), ROOT = the pelvis with Xposition Yposition Zposition in cm, every
joint with Zrotation Xrotation Yrotation in degrees: local rotation = Rz Rx Ry, applied to column vectors.
The fixed wrists are End Sites; the neck and the ankles end in End Sites at the centre of their collision
shapes (head, foot). Knees and elbows get three channels too, of which only Z moves.

DeepMimic: JSON {"Loop": "none", "Frames": [[1 / fps, root position Y-up m, root quaternion w,x,y,z, then
per joint in MOVABLE_JOINTS order w,x,y,z or a hinge angle in rad]]}, as in pybullet_data/data/motions.
"""

from __future__ import annotations

import json

import numpy as np

from motion_model.body import quaternion as quat
from motion_model.body.clips import to_clip_frames, to_y_up
from motion_model.body.skeleton import MOVABLE_LINKS, Skeleton
from terrain.atomic import atomic_path, check_writable

BVH_UNITS = 100.0  # BVH lengths are centimetres
FORMATS = {"bvh": ".bvh", "deepmimic": ".txt"}
FPS_RANGE = (1.0, 1000.0)  # frame rates exported: a frame time of 1 s down to 1 ms


def _write_text(out, text):
    """Write `text` to `out` through a temporary file in the same folder, so readers never see a partial file."""
    with atomic_path(out) as tmp, open(tmp, "w") as f:
        f.write(text)


def euler_zxy(q):
    """Angles (..., 3) in degrees [z, x, y] with rotation(q) = Rz(z) Rx(x) Ry(y), for quaternions q (..., 4)
    xyzw. At x = +-90 degrees (gimbal lock) y is set to 0."""
    m = quat.to_matrix(q)
    cos_x = np.hypot(m[..., 0, 1], m[..., 1, 1])
    x = np.arctan2(m[..., 2, 1], cos_x)  # arcsin loses half the digits near +-90 degrees
    locked = cos_x < 1e-9
    z = np.where(locked, np.arctan2(m[..., 1, 0], m[..., 0, 0]), np.arctan2(-m[..., 0, 1], m[..., 1, 1]))
    y = np.where(locked, 0.0, np.arctan2(-m[..., 2, 0], m[..., 2, 2]))
    return np.degrees(np.stack([z, x, y], -1))


def bvh_text(motion, skeleton=None):
    """The motion as BVH text (see the module docstring for units, axes and channels)."""
    skeleton = skeleton or Skeleton.load()
    children = [[k for k, parent in enumerate(skeleton.parents) if parent == i] for i in range(len(skeleton.parents))]
    # Local rotation per link: the movable joints' from the motion, identity for fixed ones.
    local = np.broadcast_to(np.array([0.0, 0.0, 0.0, 1.0]), (motion.num_frames, len(skeleton.parents), 4)).copy()
    local[:, MOVABLE_LINKS] = motion.joint_quat
    lines, channels = [], []

    def offset(v):
        return " ".join(f"{c * BVH_UNITS:.6f}" for c in v)

    def node(i, depth):
        pad = "  " * depth
        name = skeleton.link_names[i]
        if skeleton.parents[i] < 0:
            lines.extend(
                [
                    f"ROOT {name}",
                    "{",
                    f"  OFFSET {offset(np.zeros(3))}",
                    "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                ]
            )
        else:
            lines.extend(
                [
                    f"{pad}JOINT {name}",
                    f"{pad}{{",
                    f"{pad}  OFFSET {offset(skeleton.offsets[i])}",
                    f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation",
                ]
            )
        channels.append(i)
        for k in children[i]:
            if children[k] or skeleton.joint_types[k] != "fixed":
                node(k, depth + 1)
            else:
                lines.extend(
                    [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {offset(skeleton.offsets[k])}", f"{pad}  }}"]
                )
        if not children[i]:
            lines.extend(
                [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {offset(skeleton.shapes[i][0].pos)}", f"{pad}  }}"]
            )
        lines.append(f"{pad}}}")

    (root,) = [i for i, parent in enumerate(skeleton.parents) if parent < 0]
    lines.append("HIERARCHY")
    node(root, 0)
    link_pos, _ = motion.fk(skeleton)
    root_pos, root_quat = to_y_up(link_pos[:, root], motion.root_quat)
    local[:, root] = quat.multiply(root_quat, local[:, root])
    values = np.concatenate([root_pos * BVH_UNITS, euler_zxy(local[:, channels]).reshape(motion.num_frames, -1)], 1)
    lines.extend(["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"])
    lines.extend(" ".join(f"{v:.6f}" for v in row) for row in values)
    return "\n".join(lines) + "\n"


def deepmimic_text(motion):
    """The motion as a DeepMimic clip file (JSON, see the module docstring), played once ("Loop": "none")."""
    frames = np.round(to_clip_frames(motion), 9).tolist()
    return json.dumps({"Loop": "none", "Frames": frames}, separators=(",", ":")) + "\n"


def export(motion, out, fmt):
    """Write `motion` to `out` as fmt "bvh" (.bvh) or "deepmimic" (.txt), atomically. ValueError for an
    unknown format, a file name with another extension, a folder that is missing or cannot be written, or a
    frame rate outside FPS_RANGE."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    check_writable(out, f"{fmt} file", (FORMATS[fmt],))
    if not FPS_RANGE[0] <= motion.fps <= FPS_RANGE[1]:
        raise ValueError(
            f"the motion's {motion.fps:g} fps is out of range for export: it must lie in "
            f"[{FPS_RANGE[0]:g}, {FPS_RANGE[1]:g}] frames per second"
        )
    _write_text(out, bvh_text(motion) if fmt == "bvh" else deepmimic_text(motion))


def main_export(file, fmt, out):
    """`terrain-mdm export FILE --format bvh|deepmimic --out OUT`; returns the exit status."""
    from motion_model.body.motion import Motion

    motion = Motion.load(file)
    export(motion, out, fmt)
    print(f"{fmt} written to {out}: {motion.num_frames} frames at {motion.fps:g} fps")
    return 0

"""The network's condition rows of many characters at once, each on its own terrain with its own past.

Both controllers build their step's conditions here (PathController.conditions, LiveController.conditions):
each character supplies its reference frame, its last frames and its command; the previous frames' features
of all warm characters are one computation, and the local heightfields one query of all their terrains
(terrain/stack.py: the same numbers as asking each terrain). A character without frames starts cold: no
previous frames, masked out of the network's attention.
"""

from __future__ import annotations

import numpy as np
import torch

from controller.frames import Frames
from controller.grouping import groups
from motion_model.learner.command import Command
from motion_model.learner.condition import make_condition
from motion_model.learner.features import motion_to_features


def condition_rows(model, terrains, ref_xy, ref_yaw, ref_z, recents, commands):
    """The condition dict (network.MDM.forward), one row per character, in order.

    terrains: a TerrainStack with one row per character; ref_xy (B, 2), ref_yaw (B,), ref_z (B,): their
    reference frames; recents: each one's last model.window.n_prev Frames, or None for a cold start;
    commands: each one's Command in its reference frame.
    """
    warm = [i for i, recent in enumerate(recents) if recent is not None]
    prev = {}
    if warm:
        recent = Frames.stack([recents[i] for i in warm])
        features = motion_to_features(*recent.arrays(), ref_xy[warm], ref_yaw[warm], ref_z[warm])
        prev = dict(zip(warm, model.normalizer.normalize(features.astype(np.float32))))
    parts, order = [], []
    for first, rows in groups(range(len(recents)), key=lambda i: recents[i] is not None):
        rows_prev = np.stack([prev[i] for i in rows]) if recents[first] is not None else None
        command = Command.stack([commands[i] for i in rows])
        grid = terrains.rows(rows)
        parts.append(make_condition(grid, command, ref_xy[rows], ref_yaw[rows], ref_z[rows], model.window, rows_prev))
        order.extend(rows)
    return concatenate_conditions(parts, np.argsort(order, kind="stable"))


def concatenate_conditions(conds, order):
    """Condition dicts' rows one after another, then taken in `order`; a missing "prev" is zeros (and its keep
    mask column is False already)."""
    prev = next((c["prev"] for c in conds if "prev" in c), None)
    out = {}
    for key in conds[0].keys() | ({"prev"} if prev is not None else set()):
        rows = [c[key] if key in c else prev.new_zeros((len(c["keep"]),) + prev.shape[1:]) for c in conds]
        out[key] = torch.cat(rows)[torch.as_tensor(order)]
    return out

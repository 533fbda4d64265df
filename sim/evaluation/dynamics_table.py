"""report.md's Dynamics tables: the dynamic metrics (sim.evaluation.dynamics; definitions: docs/guide.md, Metrics,
"Dynamic metrics") of a batch run's episodes, means per group of episodes."""

from __future__ import annotations

import math

import numpy as np

# (key, header, format): means over the episodes that produced a motion and have a value (a motion without
# flights has no flight error, one that never walks no no-foot fraction, one off flat ground no ZMP).
DYNAMICS_TABLE = (
    ("residual_force_mean_bw", "residual force bw", "{:.3f}"),
    ("residual_force_frac_0p1", "frames > 0.1 bw", "{:.3f}"),
    ("residual_moment_mean", "residual moment", "{:.3f}"),
    ("flight_count", "flights", "{:.1f}"),
    ("flight_accel_error_mean", "flight accel error g", "{:.3f}"),
    ("no_foot_walk_frac", "no-foot walking frames", "{:.4f}"),
    ("zmp_outside_mean_m", "ZMP outside m", "{:.3f}"),
    ("zmp_outside_max_m", "ZMP outside max m", "{:.3f}"),
)


def dynamics_row(records):
    """{key: mean} of DYNAMICS_TABLE over the records that produced a motion (NaN where none has a value)."""
    made = [r for r in records if r["status"] != "error"]
    row = {}
    for key, _, _ in DYNAMICS_TABLE:
        values = np.array([math.nan if (v := r["metrics"].get(key)) is None else v for r in made], dtype=float)
        row[key] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    return row


def dynamics_table(groups, first):
    """A markdown table, one row per (label, records) of groups, the first column headed `first`."""
    header = [first] + [h for _, h, _ in DYNAMICS_TABLE]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, records in groups:
        row = dynamics_row(records)
        cells = [fmt.format(row[k]) if math.isfinite(row[k]) else "-" for k, _, fmt in DYNAMICS_TABLE]
        lines.append("| " + " | ".join([label] + cells) + " |")
    return "\n".join(lines)

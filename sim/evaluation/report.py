"""Reports of batch runs (sim/evaluation/batch.py): summary.csv, report.md with a table per terrain kind (and Dynamics
tables, sim/evaluation/dynamics_table.py), and plots (the side-by-side comparison of two runs is
sim/evaluation/compare.py). Every input is read before any output is written, and the outputs replace the old ones
together, so a damaged run folder leaves the old report whole.

Table cells are means over the episodes that produced a motion; success counts every episode (an error is a
failure); "x real time" is seconds of motion over seconds spent generating them (each episode's share of its
batch's network and collision-check time), summed over the episodes, not wall time.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from motion_model.body.motion import Motion
from sim.evaluation.batch import load_run, read_record
from sim.evaluation.dynamics_table import dynamics_table
from sim.evaluation.suite import GAITS
from sim.formats.preview import frame_strip
from terrain.atomic import atomic_files
from terrain.generators import KINDS
from terrain.plot import draw_terrain

# (key, header, format) of the tables: the COUNTED ones are counted over the records, the rest are metric means.
TABLE = (
    ("episodes", "episodes", "{:.0f}"),
    ("errors", "errors", "{:.0f}"),
    ("success", "success", "{:.2f}"),
    ("penetration_mean_mm", "penetration mm", "{:.2f}"),
    ("penetration_frac_10mm", "frames > 10 mm", "{:.3f}"),
    ("float_mean_mm", "float mm", "{:.1f}"),
    ("skate_ratio", "skating ratio", "{:.3f}"),
    ("drift_label_mm", "drift mm/frame (labels)", "{:.2f}"),
    ("drift_auto_mm", "drift mm/frame (motion)", "{:.2f}"),
    ("jerk_m_s3", "jerk m/s^3", "{:.0f}"),
    ("speed_m_s", "speed m/s", "{:.2f}"),
    ("realtime_x", "x real time", "{:.1f}"),
)
COUNTED = ("episodes", "errors", "success", "realtime_x")
# Distributions plotted per kind (success is drawn as bars).
PLOTTED = (
    ("penetration_mean_mm", "penetration mean (mm)"),
    ("penetration_frac_10mm", "frames > 10 mm"),
    ("float_mean_mm", "float (mm)"),
    ("skate_ratio", "skating ratio"),
    ("drift_auto_mm", "drift, motion-decided (mm/frame)"),
    ("jerk_m_s3", "jerk (m/s^3)"),
    ("speed_m_s", "speed (m/s)"),
)
EPISODE_COLUMNS = (
    "id",
    "kind",
    "gait",
    "goal_distance",
    "seed",
    "params",
    "method",
    "status",
    "success",
    "error",
    "segments",
    "fallbacks",
)
PATHS_PER_KIND = 4  # panels per terrain kind in the paths picture
WORST = 3  # frame strips of the episodes with the deepest mean penetration
COLOURS = ("tab:red", "tab:blue")


def load_records(run):
    """(suite, records) of a run folder: the records of its suite's episodes that are done, in suite order."""
    suite = load_run(run)
    folder = Path(run) / "episodes"
    records = []
    for episode in suite.episodes:
        file = folder / f"{episode.id}.json"
        if file.is_file():
            records.append(read_record(file))
    return suite, records


def aggregate(records):
    """One table row (keys of TABLE) over records."""
    made = [r for r in records if r["status"] != "error"]
    row = {
        "episodes": len(records),
        "errors": len(records) - len(made),
        "success": float(np.mean([r["success"] for r in records])) if records else math.nan,
    }
    for key in (k for k, _, _ in TABLE if k not in COUNTED):
        values = np.array([_value(r["metrics"].get(key)) for r in made], dtype=float)
        row[key] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    generated = sum(r["timings"]["generate_s"] for r in made)
    row["realtime_x"] = sum(r["timings"]["motion_s"] for r in made) / generated if generated > 0 else math.nan
    return row


def _value(value):
    return math.nan if value is None else value


def kinds_of(records):
    present = {r["episode"]["kind"] for r in records}
    return [k for k in KINDS if k in present]


def markdown_table(rows, first="kind"):
    """rows: [(label cells, aggregate row)]; label cells is a tuple of the first columns' texts."""
    width = len(rows[0][0])
    header = [first, "run"][:width] + [h for _, h, _ in TABLE]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for labels, row in rows:
        cells = [fmt.format(row[k]) if math.isfinite(row[k]) else "-" for k, _, fmt in TABLE]
        lines.append("| " + " | ".join(list(labels) + cells) + " |")
    return "\n".join(lines)


def write_summary_csv(records, path):
    metric_keys = list(dict.fromkeys(k for r in records if r["status"] != "error" for k in r["metrics"]))
    timing_keys = list(dict.fromkeys(k for r in records if r["status"] != "error" for k in r["timings"]))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(EPISODE_COLUMNS) + metric_keys + timing_keys)
        for r in records:
            e = r["episode"]
            params = {k: v for k, v in e["params"].items() if k != "length"}
            cells = [
                r["id"],
                e["kind"],
                e["gait"],
                e["goal_distance"],
                e["seed"],
                json.dumps(params),
                r["method"],
                r["status"],
                int(r["success"]),
                r["error"] or "",
                r.get("segments", ""),
                r.get("fallbacks", ""),
            ]
            cells += [_cell(r.get("metrics", {}).get(k)) for k in metric_keys]
            cells += [_cell(r.get("timings", {}).get(k)) for k in timing_keys]
            writer.writerow(cells)


def _cell(value):
    return "" if value is None else value


# -- plots ---------------------------------------------------------------------------------------------------


def _figure(width, height):
    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format="png")


def distributions_figure(runs, path):
    """Success per kind (bars) and box plots of PLOTTED per kind, one colour per run; runs: [(label, records)]."""
    kinds = kinds_of([r for _, records in runs for r in records])
    fig = _figure(20, 8.5)
    axes = fig.subplots(2, 4).ravel()
    width = 0.8 / len(runs)
    x = np.arange(len(kinds))
    for n, (label, records) in enumerate(runs):
        offset = (n - (len(runs) - 1) / 2) * width
        by_kind = [[r for r in records if r["episode"]["kind"] == k] for k in kinds]
        axes[0].bar(x + offset, [aggregate(rs)["success"] for rs in by_kind], width, color=COLOURS[n], label=label)
        for ax, (key, _) in zip(axes[1:], PLOTTED):
            data = [
                [v for v in (_value(r["metrics"].get(key)) for r in rs if r["status"] != "error") if math.isfinite(v)]
                for rs in by_kind
            ]
            ax.boxplot(
                data,
                positions=x + offset,
                widths=width * 0.85,
                patch_artist=True,
                manage_ticks=False,
                boxprops={"facecolor": COLOURS[n], "alpha": 0.45},
                medianprops={"color": "black"},
                flierprops={"markersize": 3},
            )
    for ax, title in zip(axes, ["success"] + [t for _, t in PLOTTED]):
        ax.set_xticks(x, kinds, fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="lower left")
    _save(fig, path)


def path_panels(records):
    """Episode ids of the paths picture, a row per terrain kind: up to PATHS_PER_KIND, failures first (they are
    what a reader looks for)."""
    ordered = sorted(records, key=lambda r: r["success"])
    return [[r["id"] for r in ordered if r["episode"]["kind"] == k][:PATHS_PER_KIND] for k in kinds_of(records)]


def read_motions(run, records, ids):
    """{id: Motion} of the episodes `ids` among `records` that made a motion, read before any output is written;
    ValueError naming a motion file that is missing or damaged, and the fix."""
    made = {r["id"] for r in records if r["status"] != "error"}
    motions = {}
    for episode_id in sorted(made & set(ids)):
        file = Path(run) / "episodes" / f"{episode_id}.npz"
        try:
            motions[episode_id] = Motion.load(file)
        except (OSError, ValueError) as error:
            raise ValueError(
                f"{_one_line(error)}; it is the motion {file.with_suffix('.json').name} records: delete that record "
                "and rerun batch to redo the episode; nothing was written"
            ) from None
    return motions


def paths_figure(runs, records, path):
    """Top-down panels of the terrains of `records`' episodes (path_panels) with the planned path and each run's
    root path; runs: [(label, {id: Motion} of read_motions)]."""
    rows = path_panels(records)
    columns = max(len(row) for row in rows)
    fig = _figure(4.6 * columns, 2.6 * len(rows))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for row, panels in zip(axes, rows):
        for ax, episode_id in zip(row, panels):
            drawn = False
            for n, (label, motions) in enumerate(runs):
                motion = motions.get(episode_id)
                if motion is None:
                    continue
                if not drawn:
                    draw_terrain(ax, motion.terrain, motion.path, legend=False, marker_scale=0.5)
                    drawn = True
                ax.plot(motion.root_pos[:, 0], motion.root_pos[:, 1], color=COLOURS[n], lw=1.2, label=label)
            ax.set_title(episode_id, fontsize=8)
            ax.tick_params(labelsize=6)
            if not drawn:
                ax.text(0.5, 0.5, "no motion (error)", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
        for ax in row[len(panels) :]:
            ax.axis("off")
    axes[0, 0].legend(fontsize=7, loc="best")
    _save(fig, path)


# -- reports -------------------------------------------------------------------------------------------------


def groups_of(records, field="kind"):
    """[(label, records)] per terrain kind (field "kind") or gait (field "gait"), then "all"."""
    values = (
        kinds_of(records) if field == "kind" else [g for g in GAITS if any(r["episode"]["gait"] == g for r in records)]
    )
    return [(v, [r for r in records if r["episode"][field] == v]) for v in values] + [("all", records)]


def table_rows(records, field="kind"):
    """Table rows per terrain kind (field "kind") or gait (field "gait"), then overall."""
    return [((label,), aggregate(group)) for label, group in groups_of(records, field)]


def describe(suite):
    if suite.method == "engine":
        return "the synthesis engine"
    return f"model `{suite.model}`" + (", terrain-blind" if suite.method == "blind" else "")


def write_report(run):
    """summary.csv, report.md and its pictures in the run folder; returns the path of report.md. Every input
    is read first, and the outputs replace the old ones together at the end: an error leaves them all as they
    were."""
    run = Path(run)
    suite, records = load_records(run)
    if not records:
        raise ValueError(f"{run} has no finished episodes to report on")
    made = [r for r in records if r["status"] != "error" and r["metrics"]["penetration_mean_mm"] is not None]
    worst = sorted(made, key=lambda r: -r["metrics"]["penetration_mean_mm"])[:WORST]
    check_motion_files(run, records)
    motions = read_motions(run, records, [i for row in path_panels(records) for i in row] + [r["id"] for r in worst])
    label = f"{suite.name} ({suite.method})"
    with atomic_files(run) as output:
        write_summary_csv(records, output("summary.csv"))
        distributions_figure([(label, records)], output("metrics.png"))
        paths_figure([(label, motions)], records, output("paths.png"))
        for rank, r in enumerate(worst, 1):
            frame_strip(motions[r["id"]], output(f"worst_{rank}.png"))
        lines = _report_tables(run, suite, records) + _report_pictures(worst)
        Path(output("report.md")).write_text("\n".join(lines))
    return run / "report.md"


def check_motion_files(run, records):
    """ValueError naming the first episode whose record says it made a motion but whose motion file is not
    there (a stat each, not a read: every file is not needed)."""
    for r in records:
        file = Path(run) / "episodes" / f"{r['id']}.npz"
        if r["status"] != "error" and not file.is_file():
            raise ValueError(
                f"{file} is missing, though {file.with_suffix('.json').name} records a motion: delete that record "
                "and rerun batch to redo the episode; nothing was written"
            )


def _one_line(error):
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def _report_tables(run, suite, records):
    """report.md's heading, tables per terrain kind and gait, statuses and errors, as lines."""
    statuses = {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    missing = len(suite.episodes) - len(records)
    source = describe(suite)
    lines = [
        f"# Batch run {run.name}: suite {suite.name}, method {suite.method}",
        "",
        f"{source[0].upper()}{source[1:]}; {len(records)} of {len(suite.episodes)} episodes done"
        + (f" ({missing} missing: rerun the batch command to finish them)" if missing else "")
        + "; settings in `run.yaml`, one row per episode in `summary.csv`.",
        "",
        "## Per terrain kind",
        "",
        markdown_table(table_rows(records)),
        "",
        "## Per gait",
        "",
        markdown_table(table_rows(records, "gait"), first="gait"),
        "",
        "Means over the episodes that produced a motion; success counts every episode (an error is a failure); "
        "x real time is seconds of motion over seconds spent generating them.",
        "",
        "## Dynamics",
        "",
        dynamics_table(groups_of(records), "kind"),
        "",
        dynamics_table(groups_of(records, "gait"), "gait"),
        "",
        "Means over the episodes with a value; definitions in docs/guide.md, Metrics, Dynamic metrics.",
        "",
        "Statuses: " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())),
        "",
    ]
    errors = [r for r in records if r["status"] == "error"]
    if errors:
        lines += (
            ["## Errors", ""]
            + [f"- `{r['id']}`: {r['error']}" for r in errors]
            + ["", "Tracebacks are in `episodes/<id>.json`.", ""]
        )
    return lines


def picture_sections(paths_caption):
    """The metrics.png and paths.png sections of report.md and compare.md, as lines; `paths_caption` says what
    the paths picture draws besides the planned path."""
    return [
        "## Metric distributions per terrain kind",
        "",
        "![metrics](metrics.png)",
        "",
        "## Paths",
        "",
        f"Planned path (white) and {paths_caption}, up to {PATHS_PER_KIND} episodes per kind.",
        "",
        "![paths](paths.png)",
        "",
    ]


def _report_pictures(worst):
    """report.md's picture sections (metrics.png, paths.png, worst_N.png), as lines."""
    lines = picture_sections("root path") + [
        "## Worst episodes by mean penetration",
        "",
    ]
    for rank, r in enumerate(worst, 1):
        lines += [
            f"{rank}. `{r['id']}`: {r['metrics']['penetration_mean_mm']:.2f} mm mean, "
            f"{r['metrics']['penetration_max_mm']:.1f} mm max, status {r['status']}",
            "",
            f"   ![worst {rank}](worst_{rank}.png)",
            "",
        ]
    return lines

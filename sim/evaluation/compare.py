"""The side-by-side comparison of two batch runs (sim/evaluation/batch.py) on the episodes both have: compare.md,
a table per terrain kind (kinematic and dynamic metrics), and the plots of sim/evaluation/report.py for both
runs."""

from __future__ import annotations

from pathlib import Path

from sim.evaluation.dynamics_table import dynamics_table
from sim.evaluation.report import (
    aggregate,
    check_motion_files,
    describe,
    distributions_figure,
    kinds_of,
    load_records,
    markdown_table,
    path_panels,
    paths_figure,
    picture_sections,
    read_motions,
)
from terrain.atomic import atomic_files, check_writable_folder


def compare_runs(a, b, out=None):
    """compare.md and pictures for two run folders on the episodes both have done; returns compare.md's path.
    Default folder: compare-A-B beside A."""
    a, b = Path(a), Path(b)
    out = Path(out) if out else a.parent / f"compare-{a.name}-{b.name}"
    (suite_a, records_a), (suite_b, records_b) = load_records(a), load_records(b)
    in_b = {r["id"]: r for r in records_b}
    common = [r["id"] for r in records_a if r["id"] in in_b]
    if not common:
        raise ValueError(
            f"{a} and {b} have no finished episode in common (episode ids name kind, gait, goal "
            "distance, seed and terrain parameters: compare runs of the same suite)"
        )
    keep = set(common)
    runs = [
        (f"{a.name} ({suite_a.method})", [r for r in records_a if r["id"] in keep]),
        (f"{b.name} ({suite_b.method})", [in_b[i] for i in common]),
    ]
    shown = [i for row in path_panels(runs[0][1]) for i in row]
    for run, (_, records) in zip((a, b), runs):
        check_motion_files(run, records)
    motions = [read_motions(run, records, shown) for run, (_, records) in zip((a, b), runs)]
    check_writable_folder(out, "comparison folder")
    out.mkdir(parents=True, exist_ok=True)
    rows = [((kind, label), aggregate(records)) for kind, label, records in _by_kind(runs)]
    dynamics = dynamics_table([(f"{kind}: {label}", records) for kind, label, records in _by_kind(runs)], "kind: run")
    left_out = len(records_a) + len(records_b) - 2 * len(common)
    lines = [
        f"# {runs[0][0]} against {runs[1][0]}",
        "",
        f"{len(common)} episodes done in both"
        + (f" ({left_out} done in only one are left out)" if left_out else "")
        + f"; {describe(suite_a)} against {describe(suite_b)}.",
        "",
        markdown_table(rows),
        "",
        "Means over the episodes that produced a motion; success counts every episode; x real time is seconds "
        "of motion over seconds spent generating them.",
        "",
        "## Dynamics",
        "",
        dynamics,
        "",
        *picture_sections("each run's root path"),
    ]
    with atomic_files(out) as output:
        distributions_figure(runs, output("metrics.png"))
        paths_figure([(runs[0][0], motions[0]), (runs[1][0], motions[1])], runs[0][1], output("paths.png"))
        Path(output("compare.md")).write_text("\n".join(lines))
    return out / "compare.md"


def _by_kind(runs):
    """(kind, run label, the run's records of that kind) for every kind and then "all", the runs side by side."""
    for kind in kinds_of(runs[0][1]) + ["all"]:
        for label, records in runs:
            yield kind, label, records if kind == "all" else [r for r in records if r["episode"]["kind"] == kind]

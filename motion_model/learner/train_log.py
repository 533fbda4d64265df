"""A training run's log: log.csv, one row per `log_every` steps (the mean loss and its terms), and its plot,
loss.png. A resumed run keeps the rows up to the step it resumes at and redoes the rest."""

import csv

from motion_model.learner.train_config import LOSS_TERMS
from terrain.atomic import atomic_path


def start_log(path, columns, step):
    """Start a new log, or keep only the rows up to `step` of an existing one (they are redone after it)."""
    rows = []
    if step > 0 and path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if logged_by(r, step)]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:  # a kill here keeps the rows to resume with
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def logged_by(row, step):
    """Whether a log row is whole and of a step up to `step` (a kill mid-append can leave half a row)."""
    try:
        return None not in row and None not in row.values() and int(row["step"]) <= step
    except (KeyError, ValueError):
        return False


def append_log(path, columns, row):
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, columns).writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def plot_log(log_path, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 5))
    for key in ("loss", *LOSS_TERMS):
        values = [float(r[key]) for r in rows]
        ax.plot(steps, values, label=key, linewidth=2.0 if key == "loss" else 0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (physical units, unweighted terms)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)

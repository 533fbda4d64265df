"""`terrain-mdm bench-tracking`: how closely the character follows a route, the model beside its teacher.

Fixed routes (world xy on 20 m x 10 m corridors, from the start pad) on flat ground, slopes and stairs,
walking (1.2 m/s) and running (3 m/s), with the model (the path controller and its follower) and with the
synthesis engine along the same route with the same speed plan (the same cruise speed and stops, the same facing
at the start, standing still at the goal). Per run: mean and largest distance of the root from the route,
the time taken against the route's length over the speed (plus its stops), the final distance to the goal,
the root speed over the last second, how the episode ended, and the quality metrics of sim.evaluation.metrics.evaluate.
Printed as a markdown table and written to --out as tracking.json, tracking.md and tracking.png (the paths
taken over each route). The command line is sim/cli/commands/bench_tracking.py.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from configs.typed import shown
from motion_model.engine.speed_plan import Stop
from terrain.atomic import atomic_files, atomic_path, check_writable_folder
from terrain.polyline import Polyline

CORRIDOR = {"length": 20.0, "width": 10.0}
GOAL_RADIUS, REST_SPEED = 0.3, 0.05  # m, m/s: a run ends at rest on its goal


@dataclass(frozen=True)
class TrackingRoute:
    name: str
    waypoints: tuple  # ((x, y), ...) world m: the start, the corners, the goal
    heading: float | None = None  # rad, the facing at the start; None: along the first leg
    stops: tuple = ()  # speed_plan.Stop records


ROUTES = (
    TrackingRoute("corner90", ((1.0, 0.0), (10.0, 0.0), (10.0, 4.0))),
    TrackingRoute("corner135", ((1.0, -3.0), (10.0, -3.0), (10.0 - 2.5 * math.sqrt(2), -3.0 + 2.5 * math.sqrt(2)))),
    TrackingRoute("uturn", ((1.0, -0.5), (10.0, -0.5), (10.0, 0.5), (1.0, 0.5))),
    TrackingRoute("zigzag", ((1.0, 0.0), (4.0, 3.0), (7.0, 0.0), (10.0, 3.0), (13.0, 0.0))),
    TrackingRoute("behind", ((10.0, 0.0), (4.0, 0.0)), heading=0.0),  # starts facing away from its goal
    TrackingRoute("stop", ((1.0, 0.0), (15.0, 0.0)), stops=(Stop(at=7.0, seconds=2.0),)),
)
# Terrain kind: (seed, parameters), chosen so that the routes cross the features: slope seed 3 rises over
# x 2.45..6.45 m and falls over 9.45..13.45 m; the stairs of seed 2 rise over 4.7..6.45 m and fall over 8.45..10.25 m.
TERRAINS = {
    "flat": (0, {}),
    "slope": (3, {"direction": "up_down", "angle": 12.0, "run": 4.0, "platform": 3.0}),
    "stairs": (2, {"direction": "up_down", "step_height": 0.15, "tread": 0.35, "num_steps": 6, "landing": 2.0}),
}
GAITS = {"walk": 1.2, "run": 3.0}  # m/s
QUICK = {"routes": ("corner90",), "terrains": ("flat",), "gaits": ("walk",)}
QUALITY = (
    "penetration_mean_mm",
    "penetration_frac_10mm",
    "float_mean_mm",
    "drift_label_mm",
    "sliding_ratio",
    "skate_ratio",
    "jerk_m_s3",
)
DYNAMICS = ("residual_force_mean_bw", "flight_accel_error_mean", "no_foot_walk_frac")  # sim.evaluation.dynamics


END_STAND = 1.0  # s the engine stands on the goal, as the controller's episodes end: after a second at rest


@dataclass(frozen=True)
class Case:
    """One route on one terrain at one gait."""

    route: TrackingRoute
    terrain_name: str
    gait: str
    terrain: object  # Heightfield

    @property
    def speed(self):
        return GAITS[self.gait]


@dataclass
class Tracking:
    """The measures of one run."""

    route: str
    terrain: str
    gait: str
    method: str
    status: str  # the controller's ("goal", "unsettled", ...); the engine's runs end with the route: "end"
    length_m: float  # the route's
    time_s: float  # of motion
    nominal_s: float  # length / speed, plus the stops the method was told to make
    path_mean_m: float  # distance of the root from the route, mean and largest over the frames
    path_max_m: float
    goal_m: float  # final distance of the root from the goal
    last_speed: float | None  # m/s, mean horizontal root speed over the last second (None: a shorter motion)
    quality: dict  # sim.evaluation.metrics.evaluate's QUALITY entries


def cases(routes, terrains, gaits):
    from terrain.generators import make_terrain

    by_name = {r.name: r for r in ROUTES}
    out = []
    for terrain_name in terrains:
        seed, params = TERRAINS[terrain_name]
        terrain = make_terrain(terrain_name, seed=seed, **CORRIDOR, **params)
        out += [Case(by_name[r], terrain_name, g, terrain) for g in gaits for r in routes]
    return out


def run_model(cases_, model, config, seed):
    """(Motion, status) of the path controller on every case, all characters in batches."""
    from controller.path_controller import PathController, default_lanes, lane_threads, run_batch

    controllers = [
        PathController(
            model,
            c.terrain,
            path=np.array(c.route.waypoints),
            goal=np.array(c.route.waypoints[-1]),
            config=replace(config, speed=c.speed),
            seed=seed,
            heading=c.route.heading,
            stops=c.route.stops,
        )
        for c in cases_
    ]
    batch = 32  # characters per network call (run_batch's default)
    lanes = default_lanes(len(controllers), batch)
    with lane_threads(lanes):
        return [(r.motion, r.status) for r in run_batch(controllers, batch=batch, lanes=lanes)]


def run_engine(cases_, seed):
    """(Motion, "end") of the synthesis engine along every case's route, with its stops, its start facing
    and a stand of END_STAND s on the goal. (The engine's planned motion has no random choices: seed unused.)"""
    from motion_model.engine.speed_plan import Cruise, SpeedPlan
    from motion_model.engine.synthesis import synthesize

    def plan(c):
        steps = (Cruise(0.0, c.speed), *c.route.stops)
        return SpeedPlan(steps, end_standing=END_STAND, start_heading=c.route.heading)

    return [(synthesize(c.terrain, np.array(c.route.waypoints), plan=plan(c)), "end") for c in cases_]


def measure(case, method, motion, status, stops_made):
    """The Tracking of one run; stops_made: whether the method was told the route's stops."""
    from controller.follower import trailing_speed
    from sim.evaluation.dynamics import dynamic_metrics
    from sim.evaluation.metrics import evaluate

    line = Polyline(np.array(case.route.waypoints))
    xy = motion.root_pos[:, :2]
    distance = line.project(xy).distance
    metrics = {**evaluate(motion, goal=np.array(case.route.waypoints[-1])), **dynamic_metrics(motion)}
    stand = sum(s.seconds for s in case.route.stops) if stops_made else 0.0
    return Tracking(
        case.route.name,
        case.terrain_name,
        case.gait,
        method,
        status,
        line.length,
        (motion.num_frames - 1) / motion.fps,
        line.length / case.speed + stand,
        float(distance.mean()),
        float(distance.max()),
        float(np.linalg.norm(xy[-1] - line.points[-1])),
        _plain(trailing_speed(xy, motion.fps)[-1]),
        {k: _plain(metrics[k]) for k in QUALITY + DYNAMICS},
    )


def _plain(value):
    return None if not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------------------------------------
# Output


HEADER = (
    "route",
    "terrain",
    "gait",
    "method",
    "status",
    "path mean m",
    "path max m",
    "time s / nominal",
    "goal m",
    "last 1 s m/s",
    "pen mm",
    ">10mm",
    "float mm",
    "drift mm",
    "sliding",
    "skate",
    "jerk m/s3",
    "residual BW",
    "flight accel error",
    "no foot walking",
)


def at_rest_on_goal(row):
    """The floor of a tracked run: within GOAL_RADIUS of the goal, slower than REST_SPEED over the last second."""
    return row.goal_m <= GOAL_RADIUS and row.last_speed is not None and row.last_speed < REST_SPEED


def _cell(value, fmt):
    return "-" if value is None or not math.isfinite(value) else fmt.format(value)


def table(rows):
    """The runs as a markdown table, then the mean of each method and gait."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        q = r.quality
        cells = [
            r.route,
            r.terrain,
            r.gait,
            r.method,
            r.status,
            _cell(r.path_mean_m, "{:.2f}"),
            _cell(r.path_max_m, "{:.2f}"),
            f"{r.time_s:.1f} / {r.nominal_s:.1f}",
            _cell(r.goal_m, "{:.2f}"),
            _cell(r.last_speed, "{:.2f}"),
        ] + [
            _cell(q[k], f)
            for k, f in zip(
                QUALITY + DYNAMICS,
                ("{:.2f}", "{:.3f}", "{:.1f}", "{:.2f}", "{:.3f}", "{:.3f}", "{:.0f}", "{:.3f}", "{:.2f}", "{:.2%}"),
            )
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| method | gait | runs | at rest on the goal | path mean m | path max m (largest) | "
        "goal m (largest) | float mm | jerk m/s3 | residual BW | flight accel error | no foot walking |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(r.method for r in rows):
        for gait in dict.fromkeys(r.gait for r in rows):
            group = [r for r in rows if r.method == method and r.gait == gait]
            if group:
                lines.append(
                    f"| {method} | {gait} | {len(group)} | {sum(map(at_rest_on_goal, group))} | "
                    f"{_mean(r.path_mean_m for r in group):.2f} | {max(r.path_max_m for r in group):.2f} | "
                    f"{max(r.goal_m for r in group):.2f} | "
                    f"{_mean(r.quality['float_mean_mm'] for r in group):.1f} | "
                    f"{_mean(r.quality['jerk_m_s3'] for r in group):.0f} | "
                    f"{_cell(_mean(r.quality['residual_force_mean_bw'] for r in group), '{:.3f}')} | "
                    f"{_cell(_mean(r.quality['flight_accel_error_mean'] for r in group), '{:.2f}')} | "
                    f"{_cell(_mean(r.quality['no_foot_walk_frac'] for r in group), '{:.2%}')} |"
                )
    return "\n".join(lines)


def _mean(values):
    """Mean of the values that are not None (nan if none)."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else math.nan


def plot(cases_, runs, png):
    """One panel per route: the route, and the root's path of every run over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(c.route.name for c in cases_))
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4 * rows), squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(TERRAINS)}
    for ax, name in zip(axes.flat, names):
        route = next(c.route for c in cases_ if c.route.name == name)
        points = np.array(route.waypoints)
        ax.plot(points[:, 0], points[:, 1], "k-o", lw=2.5, alpha=0.3, label="route")
        box = np.array([points.min(0) - 1.5, points.max(0) + 1.5])  # at least the route and 1.5 m around it
        ax.plot(box[:, 0], box[:, 1], alpha=0.0)
        for case, method, motion in runs:
            if case.route.name == name:
                xy = motion.root_pos[:, :2]
                ax.plot(
                    xy[:, 0],
                    xy[:, 1],
                    "-" if method == "model" else ":",
                    color=colours[case.terrain_name],
                    lw=1.6 if case.gait == "walk" else 0.8,
                    label=f"{method} {case.terrain_name} {case.gait}",
                )
        ax.set_title(name)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def write(rows, cases_, runs, out, settings):
    """tracking.json, tracking.md and tracking.png in the folder `out`; returns the markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    markdown = table(rows)
    with atomic_files(out) as output:  # all three replace the old ones together, or none does
        Path(output("tracking.json")).write_text(
            json.dumps({"settings": settings, "runs": [asdict(r) for r in rows]}, indent=1)
        )
        Path(output("tracking.md")).write_text(
            f"# Tracking benchmark\n\nSettings: {json.dumps(settings)}\n\n{markdown}\n"
        )
        plot(cases_, runs, output("tracking.png"))
    return markdown


# --------------------------------------------------------------------------------------------------------
# The benchmark


@dataclass(frozen=True)
class Selection:
    """Which routes, terrains and gaits run (names of ROUTES, TERRAINS and GAITS)."""

    routes: tuple
    terrains: tuple
    gaits: tuple

    @classmethod
    def of(cls, routes=None, terrains=None, gaits=None, quick=False):
        """The given names (ValueError naming an unknown one), else QUICK's with quick, else all."""
        chosen = {}
        for key, names, known in (
            ("routes", routes, [r.name for r in ROUTES]),
            ("terrains", terrains, list(TERRAINS)),
            ("gaits", gaits, list(GAITS)),
        ):
            unknown = [n for n in names or () if n not in known]
            if unknown:
                raise ValueError(f"unknown {key[:-1]} {shown(unknown[0])}: choose from {', '.join(known)}")
            chosen[key] = tuple(names or (QUICK[key] if quick else known))
        return cls(**chosen)


def benchmark(model, config, methods, selection, seed, out):
    """Run the selection with `methods` ("model", "engine"; model: a name or path for load_model, config: a
    ControllerConfig), write the files in `out`; returns the markdown table."""
    check_writable_folder(out, "output folder")  # before the runs, not after them
    cases_ = cases(selection.routes, selection.terrains, selection.gaits)
    runs, rows = [], []  # (Case, method, Motion) and Tracking of every run
    if "model" in methods:
        from motion_model.learner.checkpoint import load_model

        for case, (motion, status) in zip(cases_, run_model(cases_, load_model(model), config, seed)):
            runs.append((case, "model", motion))
            rows.append(measure(case, "model", motion, status, stops_made=True))
    if "engine" in methods:
        for case, (motion, status) in zip(cases_, run_engine(cases_, seed)):
            runs.append((case, "engine", motion))
            rows.append(measure(case, "engine", motion, status, stops_made=True))
    settings = {"model": model, "seed": seed, **asdict(selection), "controller": config.to_dict()}
    return write(rows, cases_, runs, out, settings)

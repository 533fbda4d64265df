"""Headless batch runs of a benchmark suite (sim/evaluation/suite.py): every episode generated, evaluated and saved.

A run folder holds
    run.yaml             the resolved suite and controller settings; a rerun into the folder must match them
    episodes/<id>.npz    the motion, with its terrain, planned path and goal
    episodes/<id>.json   one JSON line: the episode, status, metrics (evaluate's and the dynamic ones) and timings,
                         or its error and traceback; written after the motion, so its presence means it is done
    summary.csv, report.md, *.png   (sim/evaluation/report.py)

Episodes run in the suite's fixed groups (Suite.groups), one group per task with one network call per step for
all its characters, and torch on one thread in every worker, so an episode's numbers are the same whatever the
worker count, the shard or the backend. A rerun skips what is done; a group with any episode missing is run
whole again (its batch decides the numerics) and only the missing results are written. Every file is written
atomically (terrain/atomic.py), so a run killed at any moment resumes cleanly.
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
import multiprocessing
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

import configs
from configs.typed import shown
from controller.checks import check_against_model, check_length
from controller.config import ControllerConfig
from controller.path_controller import PathController, run_batch
from motion_model.engine.synthesis import synthesize
from motion_model.learner.checkpoint import load_model
from motion_model.runtime import threads
from sim.evaluation.dynamics import dynamic_metrics
from sim.evaluation.metrics import evaluate, json_ready
from sim.evaluation.suite import MAX_EPISODES, Suite, SuiteError
from terrain.atomic import atomic_path, check_writable_folder, read_regular
from terrain.planning import plan_path

RUN_FILE = "run.yaml"
# run.yaml holds every episode: the public suite resolved is 136 bytes and 18 YAML nodes an episode
RUN_FILE_LIMITS = {"max_bytes": 64 * 2**20, "max_nodes": 40 * MAX_EPISODES}
RECORD_KEYS = ("id", "method", "episode", "status", "success", "error")  # what every result record holds
BACKENDS = ("processes", "ray")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class Failure:
    error: str
    traceback: str

    @classmethod
    def of(cls, error):
        return cls(f"{type(error).__name__}: {error}", traceback.format_exc())


# -- run folders ---------------------------------------------------------------------------------------------


def _make_folder(out):
    """Create out/episodes after checking that files can be written there (ValueError naming the fix if not)."""
    check_writable_folder(out, "run folder")
    (out / "episodes").mkdir(parents=True, exist_ok=True)


def prepare_run(suite, out):
    """Create the run folder with run.yaml, or check that an existing one was made with the same suite."""
    out = Path(out)
    _make_folder(out)
    resolved = suite.to_dict()
    run_file = out / RUN_FILE
    if run_file.exists():
        existing = configs.read_yaml(run_file, "run file", **RUN_FILE_LIMITS)
        Suite.from_dict(existing, run_file)  # a damaged one is named, not compared
        if existing != resolved:
            differ = sorted(k for k in set(existing) | set(resolved) if existing.get(k) != resolved.get(k))
            raise SuiteError(
                f"{out} holds a run made with other settings (they differ in {', '.join(differ)}): "
                f"rerun with the suite and options that made it, or give a new --out folder"
            )
        return
    with atomic_path(run_file) as tmp:
        Path(tmp).write_text(configs.dump_yaml(resolved))


def load_run(out):
    """The Suite a run folder was made with (its run.yaml); SuiteError naming the file if it is damaged."""
    run_file = Path(out) / RUN_FILE
    if not run_file.is_file():
        raise SuiteError(f"{out} is not a run folder: it has no {RUN_FILE} (make one with terrain-mdm batch)")
    return Suite.from_dict(configs.read_yaml(run_file, "run file", **RUN_FILE_LIMITS), run_file)


def read_record(file):
    """The result record in episodes/<id>.json; SuiteError naming the file and the fix if it is not one."""
    file = Path(file)
    try:
        record = json.loads(read_regular(file, "result record"))  # a FIFO named like a record would block
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = f"it cannot be read as JSON ({error})"
    else:
        missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
        problem = (
            f"it has no {', '.join(missing)}"
            if missing
            else f"it holds episode {shown(record['id'])}"
            if record["id"] != file.stem
            else None
        )
        if problem is None:
            return record
    raise SuiteError(f"{file} is not a result of this run: {problem}; delete it and rerun batch to redo the episode")


def done_ids(out, suite):
    """Ids of the suite's episodes with a result in the run folder (hidden names are unfinished atomic writes),
    every one checked by read_record, and the names of other .json files there, which the run ignores."""
    ids, others = {e.id for e in suite.episodes}, []
    done = set()
    for file in sorted((Path(out) / "episodes").glob("*.json")):
        if file.name.startswith("."):
            continue
        if file.stem in ids:
            read_record(file)
            done.add(file.stem)
        else:
            others.append(file.name)
    return done, others


def _json_safe(value):
    """value with every NaN or infinity as null, at any depth: JSON has neither, and a record that cannot be
    written would stop the run at the same episode on every rerun."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_result(out, episode, motion, record):
    folder = Path(out) / "episodes"
    if motion is not None:
        motion.save(folder / f"{episode.id}.npz")
    with atomic_path(folder / f"{episode.id}.json") as tmp:
        Path(tmp).write_text(json.dumps(_json_safe(record), allow_nan=False) + "\n")


# -- one group of episodes -----------------------------------------------------------------------------------


@functools.cache
def _model(name):
    return load_model(name)


def run_group(suite, index):
    """Generate and evaluate the episodes of group `index`: [(episode, Motion or None, record)] in group order.
    An episode that fails is returned with its error and traceback; the others go on."""
    group = suite.groups()[index]
    outcomes, setup, prepared = {}, {}, []
    for episode in group:
        start = time.perf_counter()
        try:
            terrain = episode.terrain()
            prepared.append((episode, terrain, plan_path(terrain)))
        except Exception as error:
            outcomes[episode.id] = Failure.of(error)
        setup[episode.id] = time.perf_counter() - start
    outcomes.update((_synthesize if suite.method == "engine" else _control)(suite, prepared))
    return [_finish(suite, index, episode, outcomes[episode.id], setup[episode.id]) for episode in group]


def _synthesize(suite, prepared):
    outcomes = {}
    for episode, terrain, path in prepared:
        start = time.perf_counter()
        try:
            motion = synthesize(terrain, path, gait=episode.gait, seed=episode.seed, speed=episode.speed)
            outcomes[episode.id] = (motion, None, time.perf_counter() - start, {})
        except Exception as error:
            outcomes[episode.id] = Failure.of(error)
    return outcomes


def _control(suite, prepared):
    model = _model(suite.model)
    outcomes, controllers = {}, []
    for episode, terrain, path in prepared:
        try:
            controllers.append(
                (
                    episode,
                    PathController(
                        model, terrain, path=path, seed=episode.seed, config=suite.controller_config(episode)
                    ),
                )
            )
        except Exception as error:
            outcomes[episode.id] = Failure.of(error)
    stopped = None
    try:
        # The whole group in one batch on this worker's one thread: a batch's make-up, which the numerics
        # depend on, must not depend on the machine (run_batch's default lanes follow the core count).
        run_batch([c for _, c in controllers], batch=max(len(controllers), 1), lanes=1)
    except Exception as error:
        # Which character broke the shared batch is unknown: every unfinished one carries its error.
        stopped = Failure.of(error)
    for episode, controller in controllers:
        try:
            if not controller.done:
                outcomes[episode.id] = stopped
                continue
            result = controller.result()
            outcomes[episode.id] = (
                result.motion,
                result.status,
                result.wall_seconds,
                {"segments": len(result.segments), "fallbacks": sum(bool(s["fallback"]) for s in result.segments)},
            )
        except Exception as error:
            outcomes[episode.id] = Failure.of(error)
    return outcomes


def _finish(suite, index, episode, outcome, setup_s):
    """The result record of one episode, and its Motion."""
    record = {"id": episode.id, "method": suite.method, "group": index, "episode": episode.to_dict()}
    if not isinstance(outcome, Failure):
        motion, status, generate_s, info = outcome
        start = time.perf_counter()
        try:
            metrics = {**evaluate(motion), **dynamic_metrics(motion)}
        except Exception as error:
            outcome = Failure.of(error)
    if isinstance(outcome, Failure):
        return (
            episode,
            None,
            {**record, "status": "error", "success": False, "error": outcome.error, "traceback": outcome.traceback},
        )
    if status is None:  # the engine always walks its whole path: did it end at the goal?
        radius = suite.controller_config(episode).goal_radius
        status = "goal" if metrics["goal_dist_root_m"] < radius else "missed"
    timings = {
        "setup_s": setup_s,
        "generate_s": generate_s,
        "evaluate_s": time.perf_counter() - start,
        "motion_s": motion.duration,
        "realtime_x": motion.duration / max(generate_s, 1e-9),
    }
    return (
        episode,
        motion,
        {
            **record,
            "status": status,
            "success": status == "goal",
            "error": None,
            "traceback": None,
            **info,
            "metrics": json_ready(metrics),
            "timings": timings,
        },
    )


# -- running a suite -----------------------------------------------------------------------------------------


def _task(suite, index):
    """A worker's entry point (a process or a Ray task): one group with one torch thread. The workers fill the
    cores, and a fixed thread count keeps the numerics fixed."""
    with threads(torch_threads=1):
        return run_group(suite, index)


def _die_with_parent():
    # A worker whose driver was killed (SIGKILL included) would otherwise finish its group and then wait
    # forever for the next; Linux can end it with its parent.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _process_results(suite, indices, workers):
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_die_with_parent)
    try:
        for future in as_completed([pool.submit(_task, suite, i) for i in indices]):
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "the Ray backend needs ray: pip install 'terrain-mdm[ray]' (from a checkout: "
            "pip install -c constraints.txt -e '.[ray]')"
        ) from error
    return ray


def _ray_results(suite, indices, workers, address):
    ray = _ray()
    if address:
        ray.init(address=address)
    else:
        ray.init(num_cpus=workers, include_dashboard=False)
    try:
        task = ray.remote(num_cpus=1)(_task)
        suite_ref = ray.put(suite)
        pending = [task.remote(suite_ref, i) for i in indices]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()


def _check_before_the_run(suite, backend):
    """ValueError or ImportError for what would otherwise fail every episode or stop the run after the folder
    is made (which would then refuse the corrected run): the model, its fit to the controller settings, and
    the backend's package."""
    if backend == "ray":
        _ray()
    if suite.method == "engine":
        return
    model = _model(suite.model)
    for gait in sorted({e.gait for e in suite.episodes}):
        config = replace(ControllerConfig.from_dict(suite.controller), speed=suite.speeds[gait])
        try:
            check_against_model(config, model)
            check_length(config, model)
        except ValueError as error:
            raise SuiteError(f"the suite's controller settings do not fit model {suite.model}: {error}") from None


def run_suite(suite, out, workers=None, shard=None, backend="processes", address=None, progress=True):
    """Run every episode of `suite` (of shard (i, n): the groups with index % n == i) not yet done in `out`.

    backend "processes": `workers` spawned processes (default: the cores); "ray": one Ray task per group, on
    the cluster at `address` or on a local Ray instance of `workers` CPUs. Results are written by this process
    as groups finish. Returns counts: episodes (in this shard), done_before, written, errors.
    """
    if backend not in BACKENDS:
        raise SuiteError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    _check_before_the_run(suite, backend)
    out = Path(out)
    prepare_run(suite, out)
    groups = suite.groups()
    mine = [i for i in range(len(groups)) if shard is None or i % shard[1] == shard[0]]
    done, others = done_ids(out, suite)
    if others:
        print(
            f"warning: ignoring {len(others)} file(s) in {out / 'episodes'} that are no episode of this suite: "
            f"{', '.join(others[:3])}{', ...' if len(others) > 3 else ''}",
            file=sys.stderr,
        )
    todo = [i for i in mine if any(e.id not in done for e in groups[i])]
    total = sum(len(groups[i]) for i in mine)
    missing = sum(e.id not in done for i in todo for e in groups[i])
    counts = {"episodes": total, "done_before": total - missing, "written": 0, "errors": 0}
    if not todo:
        return counts
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    results = (
        _process_results(suite, todo, workers)
        if backend == "processes"
        else _ray_results(suite, todo, workers, address)
    )
    with tqdm(
        total=total, initial=total - missing, unit="ep", desc=f"{suite.name} ({suite.method})", disable=not progress
    ) as bar:
        for group in results:
            for episode, motion, record in group:
                if episode.id in done:
                    continue
                write_result(out, episode, motion, record)
                counts["written"] += 1
                counts["errors"] += record["status"] == "error"
                bar.update(1)
    return counts

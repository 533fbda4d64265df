"""Speed benchmark of the controller (`terrain-mdm bench-speed`).

Characters follow planned paths over seeded 40-m courses with the given controller settings, at each batch size
(1 and 32 by default). After `warmup` controller steps, `steps` steps are timed: whole steps, so the collision
checks, retries, foot locking and seams are included. Hooks on the network time each denoising pass (one
forward call for every candidate of every character). The network's FLOPs per pass are counted with
torch.utils.flop_counter on a replay of a real pass (matrix products and convolutions, as that counter counts
them), and set against the peak of large square torch.mm products in fp32 and bf16 measured in the same run,
with the same thread count. Which precision the network ran in is read inside the passes (autocast state),
not assumed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from controller.path_controller import ControllerConfig, PathController, default_lanes, lane_threads, run_batch
from controller.step import advance
from motion_model import runtime
from motion_model.learner.checkpoint import load_model
from motion_model.learner.network import bf16_supported
from terrain.atomic import atomic_path
from terrain.generators import make_terrain
from terrain.numbers import whole
from terrain.planning import plan_path

MAX_MATMUL = 8192  # side of a peak matmul: its three float32 matrices take 0.8 GB
COURSE_LENGTH = 40.0  # m: long enough that no character reaches its goal during the timed steps
ENGINE_EPISODES = 4  # courses the synthesis engine walks for its speed


class NetworkTimer:
    """Times every forward call of a network (forward hooks), counts their rows, keeps the first call's inputs
    and records the autocast precision the calls ran in."""

    def __init__(self, network):
        self.network = network
        self.calls, self.rows, self.seconds = 0, 0, 0.0
        self.first, self.precisions, self._start, self._hooks = None, set(), None, []

    def _before(self, module, args):
        if self.first is None:
            x_t, t, cond = args
            self.first = (x_t, t, dict(cond), torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
        bf16 = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        self.precisions.add("bf16" if bf16 else "fp32")
        self._start = time.perf_counter()

    def _after(self, module, args, output):
        self.seconds += time.perf_counter() - self._start
        self.calls += 1
        self.rows += args[0].shape[0]

    def __enter__(self):
        self._hooks = [
            self.network.register_forward_pre_hook(self._before),
            self.network.register_forward_hook(self._after),
        ]
        return self

    def __exit__(self, *exc):
        for hook in self._hooks:
            hook.remove()

    def flops_per_row(self):
        """FLOPs of one row of a denoising pass, from a replay of the first pass timed."""
        x_t, t, cond, enabled, dtype = self.first
        with (
            torch.no_grad(),
            torch.autocast("cpu", dtype=dtype, enabled=enabled),
            FlopCounterMode(display=False) as counter,
        ):
            self.network(x_t, t, cond)
        return counter.get_total_flops() / x_t.shape[0]


def matmul_peak(dtype, size, min_seconds=0.5):
    """FLOP/s of the fastest of repeated (size x size) @ (size x size) torch.mm products (at least 3, and at
    least min_seconds of them), after one untimed product."""
    size = whole(size, "matmul size", 16, MAX_MATMUL)  # before allocating: a side of 10^6 asks for terabytes
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best, spent, repeats = float("inf"), 0.0, 0
    while repeats < 3 or spent < min_seconds:
        start = time.perf_counter()
        torch.mm(a, b)
        elapsed = time.perf_counter() - start
        best, spent, repeats = min(best, elapsed), spent + elapsed, repeats + 1
    return 2.0 * size**3 / best


def characters(model, config, seeds):
    """A PathController on its own seeded course for each seed (an int n: seeds 0 .. n - 1)."""
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    return [
        PathController(model, make_terrain("course", seed=i, length=COURSE_LENGTH), config=config, seed=i)
        for i in seeds
    ]


def measure_run_batch(model, config, batch, steps):
    """x real time of run_batch, the way batches are meant to run: `steps` segments per character, cold start
    included, with run_batch's lanes (one per core: a lane's numpy work overlaps another's network pass)."""
    segment = config.commit_frames / model.window.fps
    controllers = characters(model, replace(config, time_limit=steps * segment - 1e-6), batch)
    start = time.perf_counter()
    lanes = default_lanes(len(controllers), batch)
    with lane_threads(lanes):
        results = run_batch(controllers, batch=batch, lanes=lanes)
    return sum(r.motion.duration for r in results) / (time.perf_counter() - start)


def measure_processes(model, config, batch, steps, warmup=1, workers=None):
    """x real time of `batch` characters dealt into `workers` processes (default: one per core) with one torch
    thread each, as `terrain-mdm batch` runs them: every process advances its share as one batch, so the work
    around the network runs in parallel too (threads would share one interpreter lock). All processes start
    their `steps` timed steps together; the motion of all of them over the slowest one's time."""
    workers = max(1, min(workers or os.cpu_count() or 1, batch))
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=runtime.set_threads, initargs=(1,))
    with context.Manager() as manager, pool:
        barrier = manager.Barrier(workers)
        shares = [range(batch)[i::workers] for i in range(workers)]
        timed = list(
            pool.map(
                _timed_share,
                [model] * workers,
                [config] * workers,
                shares,
                [steps] * workers,
                [warmup] * workers,
                [barrier] * workers,
            )
        )
    return sum(motion_s for motion_s, _ in timed) / max(wall for _, wall in timed)


def _timed_share(model, config, seeds, steps, warmup, barrier):
    """In a worker process (one torch thread): (seconds of motion, wall seconds) of `steps` steps of the
    characters of `seeds`."""
    controllers = characters(model, config, seeds)
    for _ in range(warmup):
        advance(controllers)
    barrier.wait()
    start, frames = time.perf_counter(), 0
    for _ in range(steps):
        frames += sum(m.num_frames for m in advance(controllers) if m is not None)
    return frames / model.window.fps, time.perf_counter() - start


def measure_engine(config, episodes=ENGINE_EPISODES):
    """x real time of the synthesis engine, the model's teacher, on the benchmark's courses: each walked whole
    along its planned path at the controller's speed, standing on the goal at the end as the controller's
    characters do. Terrain generation and planning are not timed (nor are they for the controller)."""
    from motion_model.engine.speed_plan import SpeedPlan
    from motion_model.engine.synthesis import synthesize

    terrains = [make_terrain("course", seed=i, length=COURSE_LENGTH) for i in range(episodes)]
    paths = [plan_path(terrain) for terrain in terrains]
    plan = SpeedPlan.constant(config.speed, end_standing=1.0)
    start = time.perf_counter()
    seconds = sum(synthesize(terrain, path, plan=plan).duration for terrain, path in zip(terrains, paths))
    return seconds / (time.perf_counter() - start)


def measure(model, config, batch, steps, warmup=1):
    """Timings of `steps` controller steps of `batch` characters advanced as one batch (after `warmup` untimed
    ones), and run_batch's x real time."""
    controllers = characters(model, config, batch)
    for _ in range(warmup):
        advance(controllers)
    wall, segments, frames = 0.0, 0, 0
    with NetworkTimer(model.sampling_network(config.precision)) as timer:
        for _ in range(steps):
            start = time.perf_counter()
            committed = [m for m in advance(controllers) if m is not None]
            wall += time.perf_counter() - start
            segments += len(committed)
            frames += sum(m.num_frames for m in committed)
    if not timer.calls:
        raise RuntimeError("no network forward call was seen: has the sampler stopped calling the network module?")
    motion_s = frames / model.window.fps
    return timer, {
        "batch": batch,
        "steps": steps,
        "segments": segments,
        "motion_s": motion_s,
        "ms_per_denoising_step": 1000 * timer.seconds / timer.calls,
        "rows_per_denoising_step": timer.rows / timer.calls,
        "denoising_steps_per_controller_step": timer.calls / steps,
        "ms_per_controller_step": 1000 * wall / steps,
        "ms_per_segment": 1000 * wall / max(segments, 1),
        "ms_per_motion_second": 1000 * wall / max(motion_s, 1e-9),
        "realtime_x": motion_s / wall,
        "network_share_of_time": timer.seconds / wall,
        "run_batch_realtime_x": measure_run_batch(model, config, batch, steps),
        "processes_realtime_x": measure_processes(model, config, batch, steps, warmup) if batch > 1 else None,
    }


def run(
    model="default",
    config=None,
    batches=(1, 32),
    steps=12,
    warmup=1,
    sizes=(("fp32", 2048), ("bf16", 512)),
    threads=None,
):
    """The benchmark report (a JSON-ready dict): machine, matmul peaks, network FLOPs and precision, and one
    row of timings per batch size. threads: torch threads for everything (default: the cores); the caller's
    setting is restored afterwards."""
    for batch in batches:
        whole(batch, "batches", 1, 1024)
    whole(steps, "steps", 1)
    whole(warmup, "warmup", 0)
    for name, size in sizes:
        whole(size, f"{name} matmul size", 16, MAX_MATMUL)
    if threads is not None:
        whole(threads, "threads", 1, 1024)
    loaded = load_model(model) if isinstance(model, (str, Path)) else model
    config = config or ControllerConfig()
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    with runtime.threads(torch_threads=threads or os.cpu_count() or 1):
        peaks = {name: {"size": size, "flops": matmul_peak(dtypes[name], size)} for name, size in sizes}
        rows, precisions, flops_per_row = [], set(), None
        engine_x = measure_engine(config)
        for batch in batches:
            timer, row = measure(loaded, config, batch, steps, warmup)
            flops_per_row = flops_per_row or timer.flops_per_row()
            row["network_flops"] = flops_per_row * timer.rows / timer.seconds
            row.update({f"share_of_{name}_peak": row["network_flops"] / peak["flops"] for name, peak in peaks.items()})
            precisions |= timer.precisions
            row["engine_realtime_x"] = engine_x  # one engine walks one character at a time, whatever the batch
            rows.append(row)
        used_threads = torch.get_num_threads()
    return {
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "torch_threads": used_threads,
            "native_bf16": bf16_supported(),
        },
        "model": str(model) if isinstance(model, (str, Path)) else "(in memory)",
        "controller": config.to_dict(),
        "network": {
            "precision": "+".join(sorted(precisions)),
            "flops_per_row": flops_per_row,
            "parameters": sum(p.numel() for p in loaded.network.parameters()),
        },
        "matmul_peaks": peaks,
        "batches": rows,
    }


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return platform.processor()


def format_report(report):
    m, net, peaks = report["machine"], report["network"], report["matmul_peaks"]
    header = (
        "batch",
        "ms/denoise step",
        "rows/step",
        "ms/ctrl step",
        "ms/segment",
        "ms/motion s",
        "x real time",
        "x (run_batch)",
        "x (processes)",
        "x engine",
        "net share",
        "net GFLOP/s",
        "% fp32 peak",
        "% bf16 peak",
    )
    lines = ["".join(f"{h:>16}" for h in header)]
    for r in report["batches"]:
        cells = (
            r["batch"],
            f"{r['ms_per_denoising_step']:.1f}",
            f"{r['rows_per_denoising_step']:.0f}",
            f"{r['ms_per_controller_step']:.0f}",
            f"{r['ms_per_segment']:.1f}",
            f"{r['ms_per_motion_second']:.1f}",
            f"{r['realtime_x']:.1f}",
            f"{r['run_batch_realtime_x']:.1f}",
            "-" if r["processes_realtime_x"] is None else f"{r['processes_realtime_x']:.1f}",
            f"{r['realtime_x'] / r['engine_realtime_x']:.2f}",
            f"{100 * r['network_share_of_time']:.0f}%",
            f"{r['network_flops'] / 1e9:.1f}",
            f"{100 * r.get('share_of_fp32_peak', float('nan')):.1f}",
            f"{100 * r.get('share_of_bf16_peak', float('nan')):.0f}",
        )
        lines.append("".join(f"{c:>16}" for c in cells))
    lines.append("")
    lines.append(
        "matmul peaks ("
        + ", ".join(f"{name} {p['flops'] / 1e9:.1f} GFLOP/s at {p['size']}^2" for name, p in peaks.items())
        + f"), {m['torch_threads']} torch threads on {m['cores']} cores ({m['cpu']})"
    )
    lines.append(
        f"network: ran in {net['precision']} (native bf16 on this CPU: {'yes' if m['native_bf16'] else 'no'}"
        f", controller precision {report['controller']['precision']}); {net['flops_per_row'] / 1e6:.1f} "
        f"MFLOP per row of a denoising pass, {net['parameters'] / 1e6:.2f} M parameters"
    )
    lines.append(
        "x real time: seconds of motion committed per second of wall time, all characters together "
        "(advanced as one batch; 'x (run_batch)': run_batch's lanes, cold start included; 'x (processes)': "
        "the batch dealt into one process per core, as `terrain-mdm batch` runs); ms/segment: per character and "
        "controller step, collision checks included"
    )
    engine = report["batches"][0]["engine_realtime_x"] if report["batches"] else float("nan")
    lines.append(
        f"x engine: x real time over the synthesis engine's, measured in the same run on the same courses "
        f"({engine:.1f}x real time, one character at a time)"
    )
    return "\n".join(lines)


def write_json(report, out):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(report, indent=1))
    return out

"""How fast live steering reacts: scripted commands on flat ground, a slope and stairs, and a real-time session.

Scripted (controller/script.py, synchronous): each run starts standing in the middle of a 30-m square and walks
+X at 1.2 m/s; then
  turn     at 3 s a 90-degree turn, at 6 s a stop
  reverse  at 3 s a 180-degree turn, at 6 s a run (3 m/s; on stairs a slower walk, 0.6 m/s), at 9 s a stop
sim/evaluation/reaction.py measures each change (floors 1.5x on the slope and the stairs). The slope rises 10 degrees
along +X, the stairs 0.12 m every 0.3 m; the flat ground is a field without features. On the stairs the follower
keeps to one tread a step (as the training data does), slower than the speed asked for, so no speed reaction is
measured there.
Real time (`live_session`): a LiveStream pulled at 30 fps on a field with features, a random command every 1-3 s
(seeded): underruns and the latency from each command to its first affected frame being handed out.
Stick (`stick_session`): a LiveStream commanded every tick of a 60-Hz game loop, or at 200 Hz from a second
thread, with a direction that sweeps smoothly round (an analog stick): underruns and how far the walk lags the
stick.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict

import numpy as np

from controller.live import LiveController, LiveStream
from controller.script import TimedCommand, run_script
from sim.evaluation.reaction import RUN_FROM, format_table, measure
from terrain.generators import make_terrain
from terrain.heightfield import Heightfield

SIZE, CELL = 30.0, 0.05  # m: the square every scripted run is on
SLOPE_DEG, RISER, TREAD = 10.0, 0.12, 0.3
SCALE = {"flat": 1.0, "slope": 1.5, "stairs": 1.5}  # of the floors
LATENCY_FLOOR = 0.3  # s from a command to its first affected frame on screen
STICK_TURN_RATE = math.radians(30.0)  # rad/s the analog stick of a stick session sweeps round at
STICK_HOLD = 3.0  # s the stick holds still at a stick session's end
STICK_FINAL_FLOOR = 15.0  # degrees between the held stick and the way the character walks at the end


def terrains():
    """{name: Heightfield} of the scripted runs, each starting at the origin."""
    n = int(round(SIZE / CELL)) + 1
    x = -0.5 * SIZE + CELL * np.arange(n)
    ramp = np.tan(np.radians(SLOPE_DEG)) * np.repeat(x[:, None], n, 1)
    treads = round(TREAD / CELL)
    steps = RISER * np.repeat((np.arange(n) // treads)[:, None], n, 1).astype(float)
    origin = (-0.5 * SIZE, -0.5 * SIZE)
    return {
        "flat": make_terrain("field", 0, size=SIZE, features=0),
        "slope": Heightfield(ramp, CELL, origin, start=(0.0, 0.0)),
        "stairs": Heightfield(steps - steps[n // 2, 0], CELL, origin, start=(0.0, 0.0)),
    }


def scripts(terrain_name, walk=1.2, run=3.0):
    """{name: [(label, TimedCommand)]} of the scripted runs on a terrain."""
    faster = 0.6 if terrain_name == "stairs" else run  # on stairs a slower walk (its reaction is not measured)
    start = ("start", TimedCommand(0.0, 0.0, walk))
    return {
        "turn": [
            start,
            ("turn 90", TimedCommand(3.0, math.radians(90.0))),
            ("stop from walk", TimedCommand(6.0, speed=0.0)),
        ],
        "reverse": [
            start,
            ("turn 180", TimedCommand(3.0, math.pi)),
            (f"speed {walk:g} -> {faster:g}", TimedCommand(6.0, speed=faster)),
            (f"stop from {'run' if faster > RUN_FROM else 'walk'}", TimedCommand(9.0, speed=0.0)),
        ],
    }


def scripted(model, config, seeds, terrain_names=("flat", "slope", "stairs")):
    """Rows (dicts) of every reaction of every scripted run, each with the label of its command, and the wall
    seconds per second of motion."""
    rows, wall, motion_seconds = [], 0.0, 0.0
    grounds = terrains()
    for name in terrain_names:
        for script, labelled in scripts(name, config.walk_speed, config.run_speed).items():
            labels = {round(c.t, 6): label for label, c in labelled}
            for seed in seeds:
                live = LiveController(model, grounds[name], config=config, seed=seed)
                start = time.perf_counter()
                motion = run_script(live, [c for _, c in labelled])
                wall += time.perf_counter() - start
                motion_seconds += motion.duration
                for r in measure(motion, live.command_log, SCALE[name]):
                    if name == "stairs" and r.kind == "speed":
                        continue
                    label = labels.get(round(r.at, 6), r.kind)
                    rows.append({"terrain": name, "script": script, "label": label, "seed": seed, **asdict(r)})
                    rows[-1]["passed"] = r.passed
    return rows, wall / max(motion_seconds, 1e-9)


def table(rows):
    """Per terrain and command: the reaction of every seed, the worst, and its floor."""
    lines = [f"{'terrain':<8}{'run':<9}{'command':<18}{'seconds (per seed)':<26}{'worst':>7}{'floor':>7}  ok"]
    keys = sorted({(r["terrain"], r["script"], r["at"]) for r in rows}, key=lambda k: (list(SCALE).index(k[0]), k))
    for key in keys:
        group = [r for r in rows if (r["terrain"], r["script"], r["at"]) == key]
        values = [r["seconds"] for r in group]
        shown = " ".join("never" if v is None else f"{v:.2f}" for v in values)
        worst = math.inf if None in values else max(values)
        ok = "yes" if all(r["passed"] for r in group) else "NO"
        row = f"{key[0]:<8}{key[1]:<9}{group[0]['label']:<18}{shown:<26}{worst:>7.2f}{group[0]['floor']:>7.2f}  {ok}"
        lines.append(row)
    return "\n".join(lines)


def live_session(model, config, seconds, seed=0, lead=0.2):
    """A real-time session: {underruns, wait_s, commands, latency_*_s, ...} and its reactions table."""
    rng = np.random.default_rng(seed)
    terrain = make_terrain("field", seed)
    live = LiveController(model, terrain, config=config, seed=seed)
    fps = model.window.fps
    frames = int(round(seconds * fps))
    next_command = 0
    with LiveStream(live, lead=lead) as stream:
        start = time.perf_counter()
        for i in range(frames):
            if i >= next_command:
                speed = rng.choice([0.0, config.walk_speed, config.run_speed], p=[0.15, 0.6, 0.25])
                stream.command(direction=float(rng.uniform(-math.pi, math.pi)), speed=float(speed))
                next_command = i + int(rng.uniform(1.0, 3.0) * fps)
            stream.next_frame()
            time.sleep(max(0.0, start + (i + 1) / fps - time.perf_counter()))
        wall = time.perf_counter() - start
    latencies = np.array(stream.latencies)
    reactions = measure(live.motion(), live.command_log)
    summary = {
        "seconds": seconds,
        "frames": frames,
        "wall_s": wall,
        "underruns": stream.underruns,
        "wait_s": stream.wait_seconds,
        "commands": len(live.command_log) - 1,
        "latency_median_s": float(np.median(latencies)) if len(latencies) else None,
        "latency_max_s": float(latencies.max()) if len(latencies) else None,
        "latency_over_floor": int((latencies > LATENCY_FLOOR).sum()),
        "reactions_measured": sum(r.seconds is not None for r in reactions),
        "reactions_passed": sum(r.passed for r in reactions),
        "reactions": len(reactions),
    }
    return summary, format_table(reactions, "reactions in the session (each cut short by the next command)")


def format_live(summary):
    s = summary
    latency = "none" if s["latency_max_s"] is None else f"{s['latency_median_s']:.3f} / {s['latency_max_s']:.3f}"
    return (
        f"live session: {s['seconds']:g} s at 30 fps ({s['wall_s']:.1f} s wall), {s['commands']} commands; "
        f"underruns {s['underruns']} (floor 0; waited {s['wait_s']:.3f} s); latency to the first affected frame "
        f"median / max {latency} s (floor {LATENCY_FLOOR} s; {s['latency_over_floor']} over); reactions within "
        f"their floors {s['reactions_passed']} of {s['reactions']}"
    )


class _Stick:
    """The analog stick of a stick session: it sweeps round at STICK_TURN_RATE until `sweep` s, then holds."""

    def __init__(self, stream, speed, sweep):
        self.stream, self.speed, self.sweep = stream, speed, sweep
        self.sent = 0  # commands sent

    def direction(self, t):
        """The world direction (rad) the stick points at `t` s into the session."""
        return STICK_TURN_RATE * min(t, self.sweep)

    def send(self, t):
        self.stream.command(direction=self.direction(t), speed=self.speed)
        self.sent += 1

    def send_at(self, hz, start, stop):
        """Send every 1/hz s of wall time from `start` until `stop` is set (a second thread's commands)."""
        tick = 1
        while not stop.is_set():
            stop.wait(max(0.0, start + tick / hz - time.perf_counter()))
            self.send(time.perf_counter() - start)
            tick += 1


def stick_session(model, config, seconds, hz, threaded, seed=0):
    """A live session commanded `hz` times a second with a smoothly turning direction at walking speed: from the
    loop that pulls the frames (a game sending its stick every tick) or, `threaded`, from a second thread. The
    stick sweeps round at STICK_TURN_RATE for all but the last STICK_HOLD s, then holds still.

    Returns {underruns, wait_s, frames, commands_sent, steps, heading_error_*_deg, final_error_deg, ...}: the
    heading error is the angle between the stick and the direction the root moves (over 1/3 s), in the sweep
    after its first second; the final error the same at the session's end, after the hold."""
    fps = model.window.fps
    live = LiveController(model, make_terrain("field", seed, size=SIZE, features=0), config=config, seed=seed)
    stop = threading.Event()
    with LiveStream(live, lead=0.2) as stream:
        stick = _Stick(stream, config.walk_speed, max(seconds - STICK_HOLD, 0.0))
        stick.send(0.0)
        start = time.perf_counter()
        if threaded:
            threading.Thread(target=stick.send_at, args=(hz, start, stop), daemon=True).start()
        for i in range(int(round(seconds * fps))):
            while not threaded and stick.sent / hz <= i / fps:  # the game loop's ticks up to this frame
                stick.send(stick.sent / hz)
            stream.next_frame()
            time.sleep(max(0.0, start + (i + 1) / fps - time.perf_counter()))
        stop.set()
        wall = time.perf_counter() - start
    summary = {"seconds": seconds, "hz": hz, "from": "a second thread" if threaded else "the frame loop"}
    return {**summary, **_stick_figures(live, stream, stick), "wall_s": wall}


def _stick_figures(live, stream, stick):
    motion = live.motion()
    fps = motion.fps
    lag = max(1, round(fps / 3))
    moved = motion.root_pos[lag:, :2] - motion.root_pos[:-lag, :2]
    going = np.arctan2(moved[:, 1], moved[:, 0])
    t = (np.arange(len(going)) + lag) / fps
    # the command in force at each frame: the direction the stick pointed when that frame was shown
    error = np.degrees(np.abs(np.angle(np.exp(1j * (going - np.array([stick.direction(x) for x in t]))))))
    in_sweep = (t > 1.0) & (t <= stick.sweep)
    swept = error[in_sweep] if in_sweep.any() else error
    return {
        "frames": motion.num_frames,
        "underruns": stream.underruns,
        "wait_s": stream.wait_seconds,
        "commands_sent": stick.sent,
        "steps": len(live.segments),
        "heading_error_median_deg": float(np.median(swept)),
        "heading_error_p90_deg": float(np.percentile(swept, 90)),
        "final_error_deg": float(error[-1]),
    }


def format_stick(s):
    return (
        f"stick at {s['hz']:g} Hz from {s['from']}: {s['seconds']:g} s ({s['wall_s']:.1f} s wall), "
        f"{s['commands_sent']} commands, {s['steps']} steps; underruns {s['underruns']} (floor 0; waited "
        f"{s['wait_s']:.3f} s); heading behind the stick median / p90 {s['heading_error_median_deg']:.1f} / "
        f"{s['heading_error_p90_deg']:.1f} deg while it turns, {s['final_error_deg']:.1f} deg after it holds "
        f"(floor {STICK_FINAL_FLOOR:g})"
    )

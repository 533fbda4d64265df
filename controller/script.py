"""Timed commands for scripted, headless live play: a YAML list of commands and the loop that plays them.

    - {t: 0.0, direction: 0, speed: 1.2}   # t: s of motion; direction: degrees of world yaw; speed: m/s
    - {t: 4.0, direction: 90}              # a missing key keeps its last value
    - {t: 8.0, speed: 0}                   # 0 stops and stands

Times ascend; the first entry gives both direction and speed. A bad entry is refused with one ValueError line
naming it (its index from 0 and the problem). `run_script` applies each command to a LiveController at the
first frame at or after its time and returns the Motion up to the last command's time plus `tail` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import configs
from configs.typed import shown
from controller.live_config import MAX_SPEED
from motion_model.body.motion import MAX_FRAMES

KEYS = ("t", "direction", "speed")
MAX_TIME = 3600.0  # s of motion: a script's last command at most an hour in


@dataclass(frozen=True)
class TimedCommand:
    """At `t` s of motion: head `direction` (rad, world yaw) at `speed` m/s; None keeps the value before."""

    t: float
    direction: float | None = None
    speed: float | None = None


def load_commands(path):
    """The TimedCommands of the YAML file `path` (see parse_commands)."""
    return parse_commands(configs.read_yaml(path, "commands file"), f"commands file {path}")


def parse_commands(entries, source="commands"):
    """TimedCommands from a list of mappings {t, direction (degrees), speed}; ValueError names a bad entry."""
    if not isinstance(entries, list) or not entries:
        raise ValueError(
            f"{source} must be a non-empty list of commands such as - {{t: 0.0, direction: 0, speed: 1.2}}"
        )
    commands = []
    for index, entry in enumerate(entries):
        problem = _problem(entry, index, commands[-1].t if commands else None)
        if problem:
            raise ValueError(f"{source}: entry {index} ({shown(entry)}): {problem}")
        direction = entry.get("direction")
        commands.append(
            TimedCommand(
                float(entry["t"]),
                None if direction is None else math.radians(float(direction)),
                None if entry.get("speed") is None else float(entry["speed"]),
            )
        )
    return commands


def _problem(entry, index, last_t):
    """What is wrong with entry `index` (a string), or None."""
    if not isinstance(entry, dict):
        return "must be a mapping such as {t: 4.0, direction: 90}"
    unknown = sorted(set(map(str, entry)) - set(KEYS))
    if unknown:
        return f"unknown key {shown(unknown[0])}; the keys are t (s), direction (degrees) and speed (m/s)"
    for key in KEYS:
        value = entry.get(key)
        # Compared, not math.isfinite: an int beyond float's range (401 digits) raises OverflowError there.
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not -math.inf < value < math.inf
        ):
            return f"{key} must be a finite number, got {shown(value)}"
    if entry.get("t") is None:
        return "no t (the time in seconds of motion at which the command applies)"
    if entry["t"] > MAX_TIME:
        return f"t must be at most {MAX_TIME:g} s of motion"
    if entry["t"] < 0 or (last_t is not None and entry["t"] <= last_t):
        return (
            f"t must be >= 0 and later than the entry before's {last_t} s" if last_t is not None else "t must be >= 0"
        )
    if entry.get("speed") is not None and not 0.0 <= entry["speed"] <= MAX_SPEED:
        return f"speed must be in [0, {MAX_SPEED}] m/s (0 stands still)"
    if entry.get("direction") is not None and not -360 <= entry["direction"] <= 360:
        return "direction must be in [-360, 360] degrees of world yaw"
    if index == 0 and (entry.get("direction") is None or entry.get("speed") is None):
        return "the first command must give both direction and speed"
    if entry.get("direction") is None and entry.get("speed") is None:
        return "gives neither direction nor speed"
    return None


def run_script(live, commands, tail=3.0):
    """Play TimedCommands on a LiveController frame by frame, synchronously; the Motion of every frame up to the
    last command's time plus `tail` s."""
    return run_scripts([live], commands, tail)[0]


def run_scripts(lives, commands, tail=3.0):
    """run_script for several LiveControllers in lockstep: each command applied to all of them, every step one
    network call for all (controller.live.next_frames). Returns their Motions."""
    from controller.live import next_frames

    if not (isinstance(tail, (int, float)) and math.isfinite(tail) and tail >= 0):
        raise ValueError(f"tail must be a finite number of seconds >= 0, got {shown(tail)}")
    fps = lives[0].model.window.fps
    end = max(1, math.ceil(round((commands[-1].t + tail) * fps, 6)))
    if end > MAX_FRAMES:  # before any frame is made: the Motion would be one no motion file holds
        raise ValueError(
            f"the last command's {commands[-1].t:g} s and the tail's {tail:g} s make {end} frames at {fps:g} fps, "
            f"more than a motion file holds ({MAX_FRAMES}): end the script and tail by {MAX_FRAMES / fps:g} s"
        )
    waiting = list(commands)
    while lives[0].frame_index < end:
        now = lives[0].frame_index / fps
        while waiting and waiting[0].t <= now + 1e-9:
            command = waiting.pop(0)
            for live in lives:
                live.command(direction=command.direction, speed=command.speed)
        next_frames(lives)
    return [live.motion() for live in lives]

"""Benchmark suites: a YAML file of episode families, expanded into a fixed, ordered list of episodes.

    name: public                  # optional, shown in reports
    method: model                 # model | engine (the synthesis engine) | blind (the model, terrain tokens dropped)
    model: default                # shipped model name or checkpoint path (model and blind)
    controller: configs/controller/default.yaml   # a controller YAML, or a mapping of overrides of its defaults
    batch_size: 8                 # characters per network call
    speeds: {walk: 1.2, run: 3.0} # m/s of each gait
    episodes:
      - {kind: stairs, params: {direction: up}, seeds: [0, 1, 2], gait: [walk, run], goal_distance: [8, 14]}
      - {kind: course, seeds: {start: 100, count: 10}}

Each entry expands to every gait x goal distance x seed, in that order. `goal_distance` (m) sets the corridor
length to goal_distance + generators.PAD: the start and goal pad centres sit PAD / 2 in from each end, so the
goal lies goal_distance ahead of the start along x (and up to 1.5 m to the side); without it the kind's
default length is used. The seed seeds the terrain, the sampling noise and the engine alike.

Episode ids name the episode, not its place in the suite ("stairs-walk-8m-s2-1a2b3c", the suffix a hash of
the terrain parameters), so runs of different methods or suites can be matched episode by episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import configs
from configs.typed import SHOWN, cut, shown
from controller.path_controller import ControllerConfig
from sim.evaluation.episodes import GAITS, MAX_EPISODES, Episode, SuiteError, expand_entry, is_number

METHODS = ("model", "engine", "blind")
SUITE_KEYS = ("name", "method", "model", "controller", "batch_size", "speeds", "episodes")
DEFAULT_SPEEDS = {"walk": 1.2, "run": 3.0}
# What Suite.to_dict writes (run.yaml) and Episode.to_dict writes for each episode.
RESOLVED_TYPES = {
    "name": str,
    "method": str,
    "model": str,
    "batch_size": int,
    "speeds": dict,
    "controller": dict,
    "episodes": list,
}
EPISODE_TYPES = {
    "id": str,
    "kind": str,
    "params": dict,
    "seed": int,
    "gait": str,
    "goal_distance": (int, float),
    "speed": (int, float),
}
KIND_NAMES = {str: "text", int: "a whole number", dict: "a mapping", list: "a list"}


@dataclass(frozen=True)
class Suite:
    name: str
    method: str
    model: str
    controller: dict  # ControllerConfig.to_dict(), blind guidance included
    batch_size: int
    speeds: dict
    episodes: tuple

    def controller_config(self, episode):
        return replace(ControllerConfig.from_dict(self.controller), speed=episode.speed)

    def groups(self):
        """Episodes in fixed batches, by suite order: batch_size at most, one gait each (a batch shares its
        controller settings). Results depend on the batch an episode is in, so these never depend on the
        worker count, the shard or what is already done."""
        groups = []
        for episode in self.episodes:
            if not groups or len(groups[-1]) == self.batch_size or groups[-1][-1].gait != episode.gait:
                groups.append([])
            groups[-1].append(episode)
        return groups

    def to_dict(self):
        """Everything that decides the results, as plain YAML-ready data (written as run.yaml)."""
        return {
            "name": self.name,
            "method": self.method,
            "model": self.model,
            "batch_size": self.batch_size,
            "speeds": dict(self.speeds),
            "controller": self.controller,
            "episodes": [e.to_dict() for e in self.episodes],
        }

    @classmethod
    def from_dict(cls, data, source="run.yaml"):
        """Inverse of to_dict (a run folder's run.yaml, `source`); SuiteError naming the first part that is not
        what to_dict writes."""
        try:
            _check_resolved(data)
        except SuiteError as error:
            raise SuiteError(
                f"{source} is damaged: {error}; restore it (its episodes/ are the results of the suite it held), "
                "or run the suite again into a new --out folder"
            ) from None
        return cls(**{**data, "episodes": tuple(Episode(**e) for e in data["episodes"])})


def _check_resolved(data):
    """SuiteError naming the first part of `data` that Suite.to_dict would not have written."""
    _check_fields(data, RESOLVED_TYPES, "the suite")
    speeds = data["speeds"]
    numbers = all(isinstance(v, (int, float)) for v in speeds.values())
    if data["method"] not in METHODS or set(speeds) != set(GAITS) or not numbers or data["batch_size"] < 1:
        raise SuiteError("its method, speeds or batch_size is not one a suite can have")
    try:
        ControllerConfig.from_dict(data["controller"], "its controller settings")
    except ValueError as error:
        raise SuiteError(str(error)) from None
    for number, episode in enumerate(data["episodes"], 1):
        _check_fields(episode, EPISODE_TYPES, f"episode {number}")
        if episode["gait"] not in GAITS:
            raise SuiteError(f"episode {number} has no gait of {', '.join(GAITS)}")


def _check_fields(values, types, what):
    if not isinstance(values, dict) or set(values) != set(types):
        raise SuiteError(f"{what} must be a mapping of exactly {', '.join(types)}")
    for key, kind in types.items():
        if not isinstance(values[key], kind) or isinstance(values[key], bool):
            raise SuiteError(f"{what}'s {key} is not {KIND_NAMES.get(kind, 'a number')}")


def load_suite(path, method=None):
    """The Suite of a YAML file; `method` overrides the file's. SuiteError names what is wrong."""
    path = configs.resolve(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist (the public suite is configs/bench/suite.yaml)")
    try:
        data = configs.read_yaml(path, "suite file")
    except ValueError as error:
        raise SuiteError(str(error)) from None
    if not isinstance(data, dict):
        raise SuiteError(f"suite file {path} must be a mapping with an 'episodes' list (see configs/bench/suite.yaml)")
    if method is not None:
        data["method"] = method
    return parse_suite(data, source=str(path))


def parse_suite(data, source="suite"):
    unknown = sorted(set(data) - set(SUITE_KEYS))
    if unknown:
        raise SuiteError(f"{source}: unknown key {shown(unknown[0])}; suite keys are {', '.join(SUITE_KEYS)}")
    _refuse_non_finite(data, source)
    method = data.get("method", "model")
    if method not in METHODS:
        raise SuiteError(f"{source}: unknown method {shown(method)}; choose one of {', '.join(METHODS)}")
    batch_size = data.get("batch_size", 8)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise SuiteError(f"{source}: batch_size must be a whole number >= 1, got {shown(batch_size)}")
    given_speeds = data.get("speeds") or {}
    if not isinstance(given_speeds, dict):
        raise SuiteError(
            f"{source}: speeds must be a mapping of m/s per gait such as {{walk: 1.2, run: 3.0}}, "
            f"got a {type(given_speeds).__name__}"
        )
    speeds = {**DEFAULT_SPEEDS, **given_speeds}
    if set(speeds) != set(GAITS) or not all(is_number(v) and v > 0 for v in speeds.values()):
        raise SuiteError(f"{source}: speeds must give positive m/s for {' and '.join(GAITS)}, got {shown(speeds)}")
    controller = _controller(data.get("controller"), method, source)
    _check_speed_range(speeds, source)
    entries = data.get("episodes")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(
            f"{source}: 'episodes' must be a non-empty list of entries such as "
            "{kind: stairs, seeds: [0, 1], gait: walk, goal_distance: 8}"
        )
    episodes, seen = [], {}
    for number, entry in enumerate(entries, 1):
        room = MAX_EPISODES - len(episodes)
        for episode in expand_entry(entry, speeds, f"{source}, episodes entry {number}", room):
            if episode.id in seen:
                raise SuiteError(
                    f"{source}: episode {episode.id} is listed by entries {seen[episode.id]} and "
                    f"{number}; give one of them other seeds"
                )
            seen[episode.id] = number
            episodes.append(episode)
    return Suite(
        name=str(data.get("name") or Path(source).stem),
        method=method,
        model=str(data.get("model", "default")),
        controller=controller,
        batch_size=batch_size,
        speeds=speeds,
        episodes=tuple(episodes),
    )


def parse_shard(text):
    """(i, n) of an --shard "i/n" spec: 0-based, 0 <= i < n."""
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise SuiteError(
            f"bad shard {shown(text)}: expected i/n with 0 <= i < n, 0-based (a 4-way split is 0/4, 1/4, "
            "2/4 and 3/4; in a Slurm array: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
        )
    return i, n


def _refuse_non_finite(data, source):
    """SuiteError naming the first NaN or infinity anywhere in the suite (YAML's .nan, .inf)."""
    seen = set()  # YAML aliases share lists and mappings: visit each once

    def check(value, where, path):
        if isinstance(value, float) and not math.isfinite(value):
            raise SuiteError(f"{where}: {cut(path, 3 * SHOWN)} is {value}; give a finite number")
        if isinstance(value, (dict, list)) and id(value) not in seen:
            seen.add(id(value))
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                check(item, where, f"{path}.{key}" if path else str(key))

    for key, value in data.items():
        if key == "episodes" and isinstance(value, list):
            for number, entry in enumerate(value, 1):
                check(entry, f"{source}, episodes entry {number}", "")
        else:
            check(value, source, str(key))


def _check_speed_range(speeds, source):
    """SuiteError unless every gait's speed lies in the range a controller takes (ControllerConfig.speed),
    which the engine keeps to too: otherwise every episode would run only to fail."""
    lo, hi = next(f for f in fields(ControllerConfig) if f.name == "speed").metadata["range"]
    for gait in GAITS:
        if not lo <= speeds[gait] <= hi:
            raise SuiteError(
                f"{source}: speeds.{gait} is {speeds[gait]:g} m/s, out of the range {lo:g}..{hi:g} m/s the "
                "controller takes (the training data walk at 0.6-1.5 m/s and run at 2.5-3.8)"
            )


def _controller(spec, method, source):
    if isinstance(spec, str) and not configs.resolve(spec).is_file():
        raise SuiteError(
            f"{source}: controller file {spec} does not exist (paths are relative to the current "
            "folder; for example configs/controller/default.yaml)"
        )
    if spec is not None and not isinstance(spec, (str, dict)):
        raise SuiteError(f"{source}: controller must be a YAML path or a mapping of settings, got {shown(spec)}")
    try:
        if spec is None:
            config = ControllerConfig()
        elif isinstance(spec, str):
            config = ControllerConfig.load(spec)
        else:
            config = ControllerConfig.from_dict({**ControllerConfig().to_dict(), **spec})
    except (TypeError, ValueError) as error:
        raise SuiteError(f"{source}: bad controller settings: {error}") from error
    if method == "blind":
        config = replace(config, guidance={**config.guidance, "terrain": 0.0})
    return config.to_dict()

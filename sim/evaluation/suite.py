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

import hashlib
import json
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import configs
from configs.typed import SHOWN, cut, shown
from controller.path_controller import ControllerConfig
from terrain.generators import CORRIDOR_KINDS, PAD, make_terrain, parameter_spec, resolve_params
from terrain.numbers import MAX_SEED

METHODS = ("model", "engine", "blind")
GAITS = ("walk", "run")
SUITE_KEYS = ("name", "method", "model", "controller", "batch_size", "speeds", "episodes")
ENTRY_KEYS = ("kind", "params", "seeds", "gait", "goal_distance")
DEFAULT_SPEEDS = {"walk": 1.2, "run": 3.0}
MAX_EPISODES = 100_000  # a suite expands to at most this many episodes (checked before expanding)
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


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class Episode:
    id: str
    kind: str
    params: dict  # terrain parameters, `length` included
    seed: int
    gait: str
    goal_distance: float  # m
    speed: float  # m/s

    def terrain(self):
        return make_terrain(self.kind, seed=self.seed, **self.params)

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    if set(speeds) != set(GAITS) or not all(_is_number(v) and v > 0 for v in speeds.values()):
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
        for episode in _expand(entry, speeds, f"{source}, episodes entry {number}", room):
            if episode.id in seen:
                raise SuiteError(
                    f"{source}: episode {episode.id} is listed by entries {seen[episode.id]} and "
                    f"{number}; give one of them other seeds"
                )
            seen[episode.id] = number
            episodes.append(episode)
    return Suite(
        str(data.get("name") or Path(source).stem),
        method,
        str(data.get("model", "default")),
        controller,
        batch_size,
        speeds,
        tuple(episodes),
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


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def _as_list(value, name, where):
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SuiteError(f"{where}: {name} is an empty list")
    return values


def _seeds(spec, where):
    if isinstance(spec, dict) and set(spec) == {"start", "count"}:
        count = spec["count"]
        if isinstance(count, int) and count > MAX_EPISODES:
            raise SuiteError(
                f"{where}: seeds count {count} is more than a suite's {MAX_EPISODES} episodes; "
                "split the suite into several"
            )
        spec = (
            list(range(spec["start"], spec["start"] + count))
            if all(isinstance(v, int) and not isinstance(v, bool) for v in spec.values())
            else None
        )
    if not (
        isinstance(spec, list) and spec and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in spec)
    ):
        raise SuiteError(
            f"{where}: seeds must be a list of whole numbers >= 0 or {{start: S, count: N}}, got {shown(spec)}"
        )
    if max(spec) > MAX_SEED:
        raise SuiteError(
            f"{where}: seeds must lie in 0..{MAX_SEED} (2**32 - 1, what every generator takes); one is larger"
        )
    return spec


def _expand(entry, speeds, where, room):
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: expected a mapping such as {{kind: flat, seeds: [0]}}, got {shown(entry)}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise SuiteError(f"{where}: unknown key {shown(unknown[0])}; entry keys are {', '.join(ENTRY_KEYS)}")
    kind = entry.get("kind")
    if kind not in CORRIDOR_KINDS:  # a suite's episodes are set by a corridor's length (not the open field)
        raise SuiteError(f"{where}: unknown terrain kind {shown(kind)}; kinds are {', '.join(CORRIDOR_KINDS)}")
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise SuiteError(
            f"{where}: params must be a mapping of terrain parameters such as {{direction: up}}, "
            f"got a {type(params).__name__}"
        )
    params = dict(params)
    if "seeds" not in entry:
        raise SuiteError(f"{where}: no seeds (for example seeds: [0, 1, 2])")
    seeds = _seeds(entry["seeds"], where)
    gaits = _as_list(entry.get("gait", "walk"), "gait", where)
    if any(g not in GAITS for g in gaits):
        raise SuiteError(f"{where}: unknown gait in {shown(gaits)}; gaits are {', '.join(GAITS)}")
    lengths = parameter_spec(kind)["length"]
    if "goal_distance" in entry:
        if "length" in params:
            raise SuiteError(
                f"{where}: give goal_distance or params.length, not both (length = goal_distance + {PAD} m)"
            )
        distances = _as_list(entry["goal_distance"], "goal_distance", where)
        lo, hi = lengths["min"] - PAD, lengths["max"] - PAD
        bad = [d for d in distances if not (_is_number(d) and lo <= d <= hi)]
        if bad:
            raise SuiteError(
                f"{where}: goal_distance {shown(bad[0])} is out of range for {kind}: valid range "
                f"[{lo:g}, {hi:g}] m (the corridor length {lengths['min']}-{lengths['max']} m minus "
                f"the pads' {PAD} m)"
            )
    else:
        length = params.get("length", lengths["default"])
        if not _is_number(length):
            raise SuiteError(f"{where}: params.length must be a number of metres, got a {type(length).__name__}")
        distances = [length - PAD]
    try:
        resolve_params(kind, {**params, "length": distances[0] + PAD})
    except ValueError as error:
        raise SuiteError(f"{where}: {error}") from error
    count = len(gaits) * len(distances) * len(seeds)
    if count > room:
        raise SuiteError(
            f"{where}: its {count} episodes (gaits x goal distances x seeds) take the suite beyond "
            f"{MAX_EPISODES} episodes; split the suite into several"
        )
    given = {k: v for k, v in params.items() if k != "length"}
    tag = "-" + hashlib.sha1(json.dumps(given, sort_keys=True).encode()).hexdigest()[:6] if given else ""
    return [
        Episode(
            f"{kind}-{gait}-{distance:g}m-s{seed}{tag}",
            kind,
            {**params, "length": float(distance + PAD)},
            seed,
            gait,
            float(distance),
            float(speeds[gait]),
        )
        for gait in gaits
        for distance in distances
        for seed in seeds
    ]

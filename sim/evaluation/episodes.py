"""A suite's episodes: the Episode record, and how one entry of a suite's episodes list expands into them (every
gait x goal distance x seed, in that order; see suite.py for the file format). SuiteError names what is wrong."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

from configs.typed import shown
from terrain.generators import CORRIDOR_KINDS, PAD, make_terrain, parameter_spec, resolve_params
from terrain.numbers import MAX_SEED

GAITS = ("walk", "run")
ENTRY_KEYS = ("kind", "params", "seeds", "gait", "goal_distance")
MAX_EPISODES = 100_000  # a suite expands to at most this many episodes (checked before expanding)


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


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expand_entry(entry, speeds, where, room):
    """The episodes of one entry (a mapping of ENTRY_KEYS), at most `room` of them; `where` names the entry in
    messages and `speeds` gives each gait's m/s."""
    kind, params = _terrain(entry, where)
    if "seeds" not in entry:
        raise SuiteError(f"{where}: no seeds (for example seeds: [0, 1, 2])")
    seeds = _seeds(entry["seeds"], where)
    gaits = _as_list(entry.get("gait", "walk"), "gait", where)
    if any(g not in GAITS for g in gaits):
        raise SuiteError(f"{where}: unknown gait in {shown(gaits)}; gaits are {', '.join(GAITS)}")
    distances = _goal_distances(entry, kind, params, where)
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
            id=f"{kind}-{gait}-{distance:g}m-s{seed}{tag}",
            kind=kind,
            params={**params, "length": float(distance + PAD)},
            seed=seed,
            gait=gait,
            goal_distance=float(distance),
            speed=float(speeds[gait]),
        )
        for gait in gaits
        for distance in distances
        for seed in seeds
    ]


def _terrain(entry, where):
    """(kind, a copy of the terrain params) of an entry, after checking its keys."""
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
    return kind, dict(params)


def _goal_distances(entry, kind, params, where):
    """Goal distances (m) of an entry: its goal_distance list, or the corridor length less the pads."""
    lengths = parameter_spec(kind)["length"]
    if "goal_distance" in entry:
        if "length" in params:
            raise SuiteError(
                f"{where}: give goal_distance or params.length, not both (length = goal_distance + {PAD} m)"
            )
        distances = _as_list(entry["goal_distance"], "goal_distance", where)
        lo, hi = lengths["min"] - PAD, lengths["max"] - PAD
        bad = [d for d in distances if not (is_number(d) and lo <= d <= hi)]
        if bad:
            raise SuiteError(
                f"{where}: goal_distance {shown(bad[0])} is out of range for {kind}: valid range "
                f"[{lo:g}, {hi:g}] m (the corridor length {lengths['min']}-{lengths['max']} m minus "
                f"the pads' {PAD} m)"
            )
    else:
        length = params.get("length", lengths["default"])
        if not is_number(length):
            raise SuiteError(f"{where}: params.length must be a number of metres, got a {type(length).__name__}")
        distances = [length - PAD]
    try:
        resolve_params(kind, {**params, "length": distances[0] + PAD})
    except ValueError as error:
        raise SuiteError(f"{where}: {error}") from error
    return distances


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

"""`terrain-mdm terrain`, and how every command names a terrain: a generator or a YAML file, and key=value."""

from typing import NamedTuple

from sim.cli.commands.arguments import SEED, SEED_HELP

PARSER = {"help": "generate a procedural terrain, plan its path, save it and a picture"}
YAML_SUFFIXES = (".yaml", ".yml")


class TerrainSpec(NamedTuple):
    """A terrain as the command line names it: generator kind, seed, parameters."""

    kind: str
    seed: int
    params: dict

    def make(self):
        from terrain.generators import make_terrain

        return make_terrain(self.kind, seed=self.seed, **self.params)


def parse_overrides(items):
    """`key=value` pairs from the command line, values parsed as YAML scalars (numbers, booleans, strings)."""
    from configs import parse_yaml
    from configs.typed import shown

    params = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ValueError(f"expected key=value, got {shown(item)} (for example: step_height=0.2)")
        params[key] = parse_yaml(value, f"the value of {shown(item)}")
    return params


def terrain_spec(name, items, seed=None):
    """The terrain of generator `name` with key=value `items`, or of a YAML file naming `kind:` and its
    parameters (items override them). Seed: `seed` when given, else the file's `seed:`, else 0."""
    overrides = parse_overrides(items)
    if not name.endswith(YAML_SUFFIXES):
        return TerrainSpec(name, 0 if seed is None else seed, overrides)
    from configs import read_yaml
    from terrain import numbers

    spec = read_yaml(name, "terrain file")
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"terrain file {name} has no 'kind' key (for example: kind: stairs)")
    file_seed = numbers.seed(spec.get("seed", 0), f"terrain file {name}: seed")
    params = {k: v for k, v in spec.items() if k not in ("kind", "seed")}
    return TerrainSpec(str(spec["kind"]), file_seed if seed is None else seed, {**params, **overrides})


def add_arguments(parser):
    parser.add_argument(
        "kind", help="flat, slope, stairs, steps, rough, course, field, gaps, ledges, or a terrain YAML file"
    )
    parser.add_argument("params", nargs="*", help="generator parameters as key=value")
    parser.add_argument("--seed", type=SEED, help=SEED_HELP)
    parser.add_argument("--out", help="terrain file (.npz)")
    parser.add_argument("--png", help="top-down picture with the planned path (.png)")


def run(args):
    from terrain.atomic import check_writable
    from terrain.generators import SKILL_KINDS
    from terrain.planning import PlannerConfig, plan_route
    from terrain.plot import plot_terrain
    from terrain.polyline import Polyline
    from terrain.skill_terrains import REACH

    spec = terrain_spec(args.kind, args.params, args.seed)
    if args.out:
        check_writable(args.out, "terrain file")
    if args.png:
        check_writable(args.png, "picture", (".png",))
    terrain = spec.make()
    # The skill kinds cannot be walked: their path jumps, with a reach that crosses any of them.
    route = plan_route(terrain, config=PlannerConfig(**REACH) if spec.kind in SKILL_KINDS else PlannerConfig())
    path = route.points
    if args.out:
        terrain.save(args.out)
        print(f"terrain written to {args.out}")
    if args.png:
        plot_terrain(terrain, path=path, out_png=args.png, title=f"{args.kind} seed {spec.seed}")
        print(f"picture written to {args.png}")
    length = Polyline(path).length
    print(
        f"{args.kind}: {terrain.heights.shape[0]} x {terrain.heights.shape[1]} cells of {terrain.cell} m, "
        f"heights {terrain.heights.min():.2f}..{terrain.heights.max():.2f} m, path {length:.1f} m"
        + (f" with {len(route.jumps)} jumps" if route.jumps else "")
    )

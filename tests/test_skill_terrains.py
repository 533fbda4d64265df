"""The skill terrains (gaps, ledges) as asked, and the planner's jumps across them: real terrains, real routes."""

import re

import numpy as np
import pytest

from sim.cli import main
from terrain.generators import CORRIDOR_KINDS, MARGIN, PAD, SKILL_KINDS, make_terrain
from terrain.heightfield import Heightfield
from terrain.planning import PlannerConfig, UnreachableGoal, plan_path, plan_route, traversable
from terrain.polyline import Polyline
from terrain.skill_terrains import REACH, SOLID

JUMPER = PlannerConfig(jump_length=2.5, jump_up=0.7, jump_down=1.1)


def profile(hf):
    """(x, heights) of a terrain that spans its whole width alike: the vertices' x and one row of heights."""
    h = hf.heights[:, 0]
    assert np.all(hf.heights == h[:, None])  # the whole grid's width, margins included: no way round
    return hf.origin[0] + hf.cell * np.arange(len(h)), h


def trenches(hf):
    """(near lip x, far lip x, floor height) of each trench: the ground-level vertices either side."""
    x, h = profile(hf)
    low = np.flatnonzero(np.diff(np.r_[0, (h < 0).astype(int), 0]))
    return [(x[a - 1], x[b], h[a:b].min()) for a, b in zip(low[::2], low[1::2])]


def edges(hf):
    """(x, height change) of each wall: x of the first vertex at the new level."""
    x, h = profile(hf)
    at = np.flatnonzero(np.diff(h))
    return x[at + 1], np.diff(h)[at]


@pytest.mark.parametrize("params", [{}, {"num_gaps": 3, "gap_width": 1.5, "gap_depth": 1.5}, {"gap_width": 0.3}])
def test_gaps_are_as_wide_and_deep_as_asked_full_width_with_solid_ground_between(params):
    for seed in range(4):
        hf = make_terrain("gaps", seed, **params)
        length = hf.bounds()[1][0] - MARGIN
        found = trenches(hf)
        assert len(found) == params.get("num_gaps", len(found)) and 1 <= len(found) <= 6
        widths = np.array([far - near for near, far, _ in found])
        assert np.all(np.abs(widths - params.get("gap_width", widths[0])) <= 0.5 * hf.cell + 1e-9)
        assert 0.3 - 1e-9 <= widths.min() and widths.max() <= 1.5 + 1e-9 and np.ptp(widths) < 1e-9
        assert all(floor == -params.get("gap_depth", 2.0) for _, _, floor in found)
        lips = np.array([(near, far) for near, far, _ in found]).ravel()
        solid = np.diff(np.r_[0.0, lips, length])[::2]  # before the first, between, after the last
        assert solid.min() >= SOLID - 1e-9


def test_ledges_rise_and_drop_as_asked():
    hf = make_terrain("ledges", 2, num_ledges=3, ledge_length=2.0, ledge_height=0.45, drop_height=0.7)
    x, rise = edges(hf)
    assert np.allclose(rise, [0.45, -0.7] * 3)
    assert np.allclose(np.diff(x)[::2], 2.0) and np.diff(x)[1::2].min() >= SOLID - 1e-9
    assert x[0] >= SOLID - 1e-9 and hf.bounds()[1][0] - MARGIN - x[-1] >= SOLID - 1e-9
    _, h = profile(hf)
    assert h[-1] == pytest.approx(3 * (0.45 - 0.7))  # set heights hold for every ledge, so the ground drifts


def test_drawn_ledges_stay_in_their_ranges_and_come_back_to_the_start_height():
    for seed in range(8):
        hf = make_terrain("ledges", seed, length=30.0)
        x, rise = edges(hf)
        assert len(rise) % 2 == 0 and np.all(rise[::2] > 0) and np.all(rise[1::2] < 0)
        assert np.all((rise[::2] >= 0.3 - 1e-9) & (rise[::2] <= 0.6 + 1e-9))
        assert np.all((-rise[1::2] >= 0.3 - 1e-9) & (-rise[1::2] <= 1.0 + 1e-9))
        assert np.all((np.diff(x)[::2] >= 1.5 - 1e-9) & (np.diff(x)[::2] <= 4.0 + 1e-9))
        _, h = profile(hf)
        assert abs(h[-1]) < 1e-9 and np.abs(np.cumsum(rise)[1::2]).max() <= 0.3 + 1e-9
    # The lowest the ground can go: six of the shortest ledges with the longest drops.
    low = make_terrain("ledges", 0, length=30.0, num_ledges=6, ledge_length=1.5, ledge_height=0.3, drop_height=1.0)
    assert profile(low)[1].min() == pytest.approx(-4.2)


@pytest.mark.parametrize("kind", SKILL_KINDS)
def test_same_seed_same_terrain_and_pads_flat(kind):
    a, b, c = make_terrain(kind, 5), make_terrain(kind, 5), make_terrain(kind, 6)
    assert np.array_equal(a.heights, b.heights) and np.array_equal(a.goal, b.goal)
    assert not np.array_equal(a.heights, c.heights)
    for pad in (a.start, a.goal):
        s = np.linspace(-0.5 * PAD + 0.02, 0.5 * PAD - 0.02, 15)
        assert np.ptp(a.height(np.stack(np.meshgrid(s, s), -1).reshape(-1, 2) + pad)) == 0.0


@pytest.mark.parametrize(
    "kind, params, message",
    [
        ("gaps", {"gap_width": 2.0}, r"gap_width=2\.0 is invalid: valid range \[0\.3, 1\.5\]"),
        ("gaps", {"gap_depth": 1.0}, r"gap_depth=1\.0 is invalid: valid range \[1\.5, 5\.0\]"),
        ("gaps", {"num_gaps": 7}, r"num_gaps=7 is invalid: valid range \[1, 6\]"),
        ("gaps", {"num_gaps": 6, "gap_width": 1.5}, r"num_gaps=6 does not fit the corridor"),
        ("ledges", {"ledge_height": 0.7}, r"ledge_height=0\.7 is invalid: valid range \[0\.3, 0\.6\]"),
        ("ledges", {"drop_height": 0.2}, r"drop_height=0\.2 is invalid: valid range \[0\.3, 1\.0\]"),
        ("ledges", {"ledge_length": 5.0}, r"ledge_length=5\.0 is invalid: valid range \[1\.5, 4\.0\]"),
        ("ledges", {"num_ledges": 0}, r"num_ledges=0 is invalid: valid range \[1, 6\]"),
    ],
)
def test_parameters_out_of_range_are_refused_in_one_line(kind, params, message):
    with pytest.raises(ValueError, match=message) as refused:
        make_terrain(kind, 0, **params)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("kind", SKILL_KINDS)
def test_walking_is_refused_where_the_first_feature_blocks_and_the_fix_named_works(kind):
    for seed in range(3):
        hf = make_terrain(kind, seed)
        with pytest.raises(UnreachableGoal, match="no traversable route") as refused:
            plan_path(hf)
        where = re.search(r"blocked at x=(-?[\d.]+), y=(-?[\d.]+) m", str(refused.value))
        first = trenches(hf)[0][0] if kind == "gaps" else edges(hf)[0][0]
        assert where and abs(float(where.group(1)) - first) <= 0.2, str(refused.value)
        # The reach the message asks for passes (every setting it names, at what it names).
        fix = dict(re.findall(r"(jump_\w+) to at least ([\d.]+) m", str(refused.value)))
        assert "jump_length" in fix
        plan_route(hf, config=PlannerConfig(**{k: float(v) for k, v in fix.items()}))
        if kind == "gaps":  # a reach just short of it is refused, naming the same fix
            with pytest.raises(UnreachableGoal, match=f"jump_length to at least {fix['jump_length']} m"):
                plan_path(hf, config=PlannerConfig(jump_length=float(fix["jump_length"]) - 0.05))


def check_jumps(hf, route, config, crossings):
    """Each jump of `route` takes off before and lands beyond the x of its crossing, on ground a walker may stand
    on, straight along +X within the reach; the points between its ends lie on its line, and every other point of
    the route is walkable."""
    path = Polyline(route.points)
    assert np.allclose(route.points[0], hf.start) and np.allclose(route.points[-1], hf.goal)
    assert len(route.jumps) == len(crossings)
    inside = np.zeros(len(route.points), bool)
    for jump, (near, far) in zip(route.jumps, crossings):
        assert jump.takeoff[0] < near and jump.landing[0] > far
        assert np.all(traversable(hf, np.array([jump.takeoff, jump.landing])))
        assert jump.takeoff[1] == jump.landing[1]  # along +X, square to the walls
        assert jump.length == pytest.approx(jump.landing[0] - jump.takeoff[0]) and jump.length <= config.jump_length
        assert -config.jump_down <= jump.rise <= config.jump_up
        assert np.allclose(path.point_at([jump.start, jump.end]), [jump.takeoff, jump.landing])
        flight = (path.arc > jump.start + 1e-9) & (path.arc < jump.end - 1e-9)
        assert np.allclose(route.points[flight, 1], jump.takeoff[1])
        inside |= flight
    assert np.all(traversable(hf, route.points[~inside]))
    assert np.diff(path.arc).max() <= config.spacing + 1e-9


def test_a_jumper_crosses_every_gap():
    for seed, params in [(0, {}), (1, {}), (2, {"num_gaps": 4, "gap_width": 1.5, "length": 20.0})]:
        hf = make_terrain("gaps", seed, **params)
        route = plan_route(hf, config=JUMPER)
        found = trenches(hf)
        check_jumps(hf, route, JUMPER, [(near, far) for near, far, _ in found])
        assert all(j.kind == "gap" and j.rise == 0.0 for j in route.jumps)


def test_a_jumper_gets_onto_every_ledge_and_off_it():
    for seed in range(3):
        hf = make_terrain("ledges", seed)
        route = plan_route(hf, config=JUMPER)
        x, rise = edges(hf)
        walls = np.abs(rise) > JUMPER.max_step  # a drop of max_step or less is stepped down, not jumped
        check_jumps(hf, route, JUMPER, [(e - hf.cell, e) for e in x[walls]])
        assert [j.kind for j in route.jumps] == ["up" if r > 0 else "down" for r in rise[walls]]
        assert np.allclose([j.rise for j in route.jumps], rise[walls])


def test_routes_on_the_walkable_kinds_are_those_of_before_jumps():
    for kind in CORRIDOR_KINDS + ("field",):
        hf = make_terrain(kind, 1)
        route = plan_route(hf, config=PlannerConfig(jump_length=0.0))
        assert np.array_equal(route.points, plan_path(hf)) and route.jumps == ()


def test_a_wall_no_jump_clears_is_named_and_the_reach_is_range_checked():
    x = np.arange(201) * 0.05
    wall = np.where(np.abs(x - 5.0) < 0.1, 1.0, 0.0)[:, None] * np.ones((1, 121))
    hf = Heightfield(wall, 0.05, (0.0, -3.0), start=(1.0, -1.5), goal=(9.0, -1.0))
    with pytest.raises(UnreachableGoal, match=r"no nearer the goal than x=4\.\d+, y=.*no jump passes"):
        plan_path(hf, config=JUMPER)
    for key, value, limit in [("jump_length", -0.1, "0..10"), ("jump_up", 6.0, "0..5"), ("jump_down", np.nan, "0..10")]:
        with pytest.raises(ValueError, match=f"{key} must be a finite number in {limit}"):
            plan_route(hf, config=PlannerConfig(**{key: value}))


def test_the_terrain_command_plans_skill_kinds_with_jumps(tmp_path, capsys):
    out, png = tmp_path / "gaps.npz", tmp_path / "gaps.png"
    assert main(["terrain", "gaps", "--seed", "1", "--out", str(out), "--png", str(png)]) == 0
    assert Heightfield.load(out).heights.min() <= -1.5 and png.stat().st_size > 10_000
    assert re.search(r"path [\d.]+ m with \d+ jumps", capsys.readouterr().out)
    assert REACH["jump_length"] >= 1.5 + 0.7  # the widest gap, and the clearance kept from both lips

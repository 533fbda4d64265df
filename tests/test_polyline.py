"""Polyline: projection against brute force, arc-length round trips, degenerate paths."""

import numpy as np
import pytest

from terrain.polyline import Polyline


def brute_project(points, q):
    """Nearest point of the polyline to one query point q, segment by segment: (s, point, distance)."""
    best = (np.inf, None, None)
    s0 = 0.0
    for a, b in zip(points[:-1], points[1:]):
        e = b - a
        u = float(np.clip(np.dot(q - a, e) / np.dot(e, e), 0.0, 1.0)) if np.dot(e, e) > 0 else 0.0
        point = a + u * e
        d = float(np.linalg.norm(q - point))
        if d < best[0]:
            best = (d, s0 + u * np.linalg.norm(e), point)
        s0 += np.linalg.norm(e)
    return best[1], best[2], best[0]


def graph_polyline(rng, n=30, dim=2):
    """A random polyline whose x strictly increases: it never crosses itself, so arc length is unique."""
    x = np.cumsum(rng.uniform(0.05, 0.5, n))
    return np.column_stack([x, np.cumsum(rng.normal(0, 0.3, (n, dim - 1)), axis=0)])


@pytest.mark.parametrize("dim", [2, 3])
def test_projection_matches_brute_force_on_random_polylines(dim):
    rng = np.random.default_rng(dim)
    for _ in range(5):
        points = rng.normal(0, 1.0, (12, dim))  # crossing itself is fine here: distances are still unique
        line = Polyline(points)
        q = rng.normal(0, 1.5, (40, dim))
        got = line.project(q)
        for k in range(len(q)):
            s, point, distance = brute_project(points, q[k])
            assert got.distance[k] == pytest.approx(distance, abs=1e-12)
            np.testing.assert_allclose(got.point[k], point, atol=1e-12)
            assert got.s[k] == pytest.approx(s, abs=1e-12)
            assert line.arc[got.segment[k]] <= got.s[k] <= line.arc[got.segment[k] + 1] + 1e-12
        np.testing.assert_array_equal(line.arc_length(q), got.s)
        # Vectorised over any leading shape.
        grid = line.project(q.reshape(5, 8, dim))
        assert grid.s.shape == (5, 8) and grid.point.shape == (5, 8, dim)
        np.testing.assert_array_equal(grid.s.ravel(), got.s)


def test_point_at_and_project_are_inverse_along_the_path():
    rng = np.random.default_rng(8)
    line = Polyline(graph_polyline(rng))
    s = np.sort(rng.uniform(0.0, line.length, 200))
    points = line.point_at(s)
    back = line.project(points)
    np.testing.assert_allclose(back.s, s, atol=1e-9)
    np.testing.assert_allclose(back.distance, 0.0, atol=1e-9)
    np.testing.assert_allclose(line.point_at(line.arc), line.points, atol=1e-12)


def test_point_at_beyond_the_ends_clamps_or_continues_along_the_end_segments():
    line = Polyline(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]]))
    assert line.length == pytest.approx(3.0)
    np.testing.assert_allclose(line.point_at([-1.0, 4.5]), [[0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(line.point_at([-1.0, 1.5, 4.5], extend=True), [[-1.0, 0.0], [1.0, 0.5], [1.0, 3.5]])


def test_resample_keeps_the_ends_and_the_shape_at_equal_steps():
    rng = np.random.default_rng(9)
    line = Polyline(graph_polyline(rng, dim=3))
    for spacing in (0.05, 0.3, 100.0):
        fine = line.resample(spacing)
        steps = np.diff(fine.arc)
        assert len(fine.points) >= 2 and steps.max() <= spacing + 1e-12
        np.testing.assert_allclose(fine.points[[0, -1]], line.points[[0, -1]], atol=1e-12)
        # The new points lie on the old path at equal arc lengths along it (their chords cut the corners).
        np.testing.assert_allclose(line.project(fine.points).distance, 0.0, atol=1e-9)
        np.testing.assert_allclose(
            line.project(fine.points).s, np.linspace(0, line.length, len(fine.points)), atol=1e-9
        )
        assert fine.length <= line.length + 1e-9


def test_tangents_of_a_straight_line_are_its_direction():
    direction = np.array([3.0, 4.0]) / 5.0
    line = Polyline(np.linspace(0, 2, 7)[:, None] * direction)
    np.testing.assert_allclose(line.tangents(), np.tile(direction, (7, 1)))


def test_one_point_is_a_path_of_length_zero():
    line = Polyline(np.array([[1.0, 2.0]]))
    assert line.length == 0.0
    got = line.project(np.array([[4.0, 6.0], [1.0, 2.0]]))
    np.testing.assert_array_equal(got.s, [0.0, 0.0])
    np.testing.assert_array_equal(got.point, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_allclose(got.distance, [5.0, 0.0])
    np.testing.assert_array_equal(line.point_at([-1.0, 0.0, 3.0], extend=True), [[1.0, 2.0]] * 3)
    np.testing.assert_array_equal(line.resample(0.1).points, [[1.0, 2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(line.tangents(), [[1.0, 0.0]])


def test_repeated_points_change_nothing_but_the_vertex_count():
    rng = np.random.default_rng(10)
    points = graph_polyline(rng, n=8)
    repeated = np.repeat(points, [1, 2, 1, 3, 1, 1, 2, 1], axis=0)
    line, clean = Polyline(repeated), Polyline(points)
    assert line.length == clean.length
    np.testing.assert_array_equal(line.without_repeats(0.0).points, points)
    q = rng.normal(points.mean(0), 1.0, (100, 2))
    np.testing.assert_allclose(line.project(q).s, clean.project(q).s, atol=1e-12)
    np.testing.assert_allclose(line.project(q).distance, clean.project(q).distance, atol=1e-12)
    s = rng.uniform(-1.0, clean.length + 1.0, 100)
    np.testing.assert_allclose(line.point_at(s, extend=True), clean.point_at(s, extend=True), atol=1e-12)
    np.testing.assert_allclose(line.resample(0.1).points, clean.resample(0.1).points, atol=1e-12)
    assert np.all(np.isfinite(line.tangents()))
    # A zero-length last segment has no direction: past the end the point stays at the end.
    stuck = Polyline(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    np.testing.assert_array_equal(stuck.point_at([2.0], extend=True), [[1.0, 0.0]])


@pytest.mark.parametrize(
    "points, message",
    [
        (np.zeros((0, 2)), "P >= 1"),
        (np.zeros(4), r"\(P, 2\) or \(P, 3\)"),
        (np.zeros((3, 4)), r"\(P, 2\) or \(P, 3\)"),
        (np.array([[0.0, 0.0], [np.nan, 1.0]]), "NaN"),
    ],
)
def test_bad_points_are_refused(points, message):
    with pytest.raises(ValueError, match=message):
        Polyline(points)


def test_bad_queries_are_refused():
    line = Polyline(np.array([[0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        line.project(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="spacing must be > 0"):
        line.resample(0.0)

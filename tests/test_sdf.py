"""Signed distance and penetration depth (terrain.sdf) against brute force over every one of Bullet's triangles."""

import numpy as np
import pytest
import torch

from terrain.generators import make_terrain
from terrain.heightfield import Heightfield
from terrain.sdf import SDF_TOLERANCE, SignedDistance, depth
from terrain.sdf_tables import SDF_EXACT_RANGE
from terrain.triangle_distance import FACE, VERTICAL


def signed_distance(hf, points):
    """The signed distance of points to hf, with tables built for this one query."""
    return SignedDistance(hf)(points)


def closest_on_triangles(q, a, b, c):
    """Closest points on triangles (T, 3 each) to one point q: Ericson, Real-Time Collision Detection 5.1.5."""
    ab, ac, ap, bp, cp = b - a, c - a, q - a, q - b, q - c
    pairs = ((ab, ap), (ac, ap), (ab, bp), (ac, bp), (ab, cp), (ac, cp))
    d1, d2, d3, d4, d5, d6 = ((x * y).sum(-1) for x, y in pairs)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(all="ignore"):
        den = 1.0 / (va + vb + vc)
        candidates = [
            ((d1 <= 0) & (d2 <= 0), a),
            ((d3 >= 0) & (d4 <= d3), b),
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + (d1 / (d1 - d3))[:, None] * ab),
            ((d6 >= 0) & (d5 <= d6), c),
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + (d2 / (d2 - d6))[:, None] * ac),
            ((va <= 0) & (d4 >= d3) & (d5 >= d6), b + ((d4 - d3) / ((d4 - d3) + (d5 - d6)))[:, None] * (c - b)),
        ]
    out = a + (vb * den)[:, None] * ab + (vc * den)[:, None] * ac
    for mask, point in reversed(candidates):
        out = np.where(mask[:, None], point, out)
    return out


def brute_sdf(hf, points):
    """Signed distance to every one of Bullet's triangles (slow: small terrains only)."""
    h, c = hf.heights, hf.cell
    i, j = (a.ravel() for a in np.meshgrid(np.arange(h.shape[0] - 1), np.arange(h.shape[1] - 1), indexing="ij"))

    def vertex(ix, iy):
        return np.stack([hf.origin[0] + ix * c, hf.origin[1] + iy * c, h[ix, iy]], -1)

    triangles = [
        (vertex(i, j), vertex(i + 1, j), vertex(i, j + 1)),
        (vertex(i + 1, j + 1), vertex(i + 1, j), vertex(i, j + 1)),
    ]
    out = []
    for q in points:
        d = min(np.linalg.norm(closest_on_triangles(q, *t) - q, axis=1).min() for t in triangles)
        out.append(d if q[2] >= hf.height(q[:2]) else -d)
    return np.array(out)


def step_terrain():
    """Level ground at 0 for x < 1 m and a 0.3 m step up beyond; one cell of transition."""
    x = np.arange(41) * 0.05
    return Heightfield(np.where(x[:, None] >= 1.0, 0.3, 0.0) * np.ones((41, 21)), 0.05, (0.0, -0.5))


def test_sdf_beside_a_step_wall_is_the_distance_to_the_wall():
    hf = step_terrain()
    # The wall runs from (0.95, 0) to (1.0, 0.3): at mid height it is 0.025 m beyond x = 0.95.
    points = np.array([[0.9, 0.0, 0.15], [0.85, 0.1, 0.05], [0.6, -0.2, 0.28], [0.9, 0.0, 0.4]])
    d = signed_distance(hf, points)
    assert np.all(d > 0)
    # Far less than the vertical gap: the wall is nearer than the floor.
    assert d[0] < points[0, 2] - 0.05
    np.testing.assert_allclose(d, brute_sdf(hf, points), atol=SDF_TOLERANCE)
    # Analytic: the distance from (x, z) to the wall line through (0.95, 0) and (1.0, 0.3).
    wall = np.array([0.05, 0.3]) / np.hypot(0.05, 0.3)
    offset = np.array([0.9 - 0.95, 0.15])
    assert d[0] == pytest.approx(abs(offset[0] * wall[1] - offset[1] * wall[0]), abs=1e-6)


def test_sdf_under_a_ledge_is_negative_and_measures_to_the_nearest_face():
    hf = step_terrain()
    # Inside the raised part, just behind the wall and below its top.
    points = np.array([[1.05, 0.0, 0.2], [1.3, 0.0, 0.1], [1.02, 0.2, 0.29], [1.5, -0.1, 0.25]])
    d = signed_distance(hf, points)
    assert np.all(d < 0)
    np.testing.assert_allclose(d, brute_sdf(hf, points), atol=SDF_TOLERANCE)
    assert d[3] == pytest.approx(-0.05, abs=1e-9)  # straight up to the top


def test_sdf_matches_brute_force_on_random_and_boxy_ground():
    rng = np.random.default_rng(2)
    h = rng.normal(0, 0.05, (36, 30))
    h[10:18, 8:20] += 0.35  # a box with a ledge
    h[24:30, 5:12] -= 0.2  # a pit
    hf = Heightfield(h, 0.05, (-0.5, 0.3))
    lo, hi = hf.bounds()
    points = np.column_stack([rng.uniform(lo, hi, (600, 2)), rng.uniform(-0.5, 0.9, 600)])
    d, truth = signed_distance(hf, points), brute_sdf(hf, points)
    near = np.abs(truth) < SDF_EXACT_RANGE
    assert near.sum() > 300
    assert np.abs(d - truth)[near].max() <= SDF_TOLERANCE + 1e-9
    assert np.all(np.sign(d) == np.sign(truth))
    # Farther away it may be a bound: never nearer than the truth, and beyond the exact range.
    assert np.all(np.abs(d) >= np.abs(truth) - 1e-9)
    assert np.all(np.abs(d[~near]) >= SDF_EXACT_RANGE)


@pytest.mark.parametrize("kind", ["stairs", "steps", "slope", "rough"])
def test_sdf_matches_brute_force_on_generated_terrain(kind):
    hf = make_terrain(kind, 5, length=8.0)
    rng = np.random.default_rng(3)
    for centre in ([3.0, 0.5], [4.5, -1.0], [5.5, 1.5]):
        # Brute force over a 2 x 2 m crop: anything within 0.5 m of points within 0.4 m of the centre is in it.
        i0, j0 = ((np.array(centre) - 1.0 - hf.origin) / hf.cell).astype(int)
        crop = Heightfield(hf.heights[i0 : i0 + 41, j0 : j0 + 41], hf.cell, hf.origin + hf.cell * np.array([i0, j0]))
        xy = np.array(centre) + rng.uniform(-0.4, 0.4, (60, 2))
        points = np.column_stack([xy, hf.height(xy) + rng.uniform(-0.3, 0.7, 60)])
        d, truth = signed_distance(hf, points), brute_sdf(crop, points)
        near = np.abs(truth) < SDF_EXACT_RANGE
        assert np.abs(d - truth)[near].max() <= SDF_TOLERANCE + 1e-9


def test_depth_is_the_exact_distance_below_the_surface_and_zero_above():
    rng = np.random.default_rng(4)
    h = rng.normal(0, 0.05, (36, 30))
    h[10:18, 8:20] += 0.35  # a box: points inside it beside its walls are nearer a wall than its top
    hf = Heightfield(h, 0.05, (-0.5, 0.3))
    lo, hi = hf.bounds()
    xy = rng.uniform(lo, hi, (800, 2))
    points = np.column_stack([xy, hf.height(xy) + rng.uniform(-0.3, 0.1, 800)])
    d, truth = depth(hf, points), np.maximum(-brute_sdf(hf, points), 0.0)
    below = truth > 0
    assert 300 < below.sum() < 800 and np.all(d[~below] == 0.0)
    np.testing.assert_allclose(d, truth, atol=1e-9)  # exact, where sdf is within SDF_TOLERANCE
    assert np.abs(d - np.maximum(-signed_distance(hf, points), 0.0)).max() <= SDF_TOLERANCE + 1e-9
    assert depth(hf, points.reshape(20, 40, 3)).shape == (20, 40)


def test_sdf_torch_agrees_with_numpy_and_has_gradients():
    hf = make_terrain("course", 1)
    rng = np.random.default_rng(4)
    xy = rng.uniform([1.0, -2.5], [19.0, 2.5], (3000, 2))
    points = np.column_stack([xy, hf.height(xy) + rng.uniform(-0.2, 1.2, 3000)])
    t = torch.tensor(points, requires_grad=True)
    d = signed_distance(hf, t)
    assert isinstance(d, torch.Tensor) and d.shape == (3000,)
    np.testing.assert_allclose(d.detach().numpy(), signed_distance(hf, points), atol=1e-9)
    d.sum().backward()
    grad = t.grad.numpy()
    assert np.all(np.isfinite(grad)) and np.all(np.linalg.norm(grad, axis=1) > 0.5)
    # The gradient of a distance within the exact range is its unit direction; check one by finite differences.
    k = int(np.argmin(np.abs(d.detach().numpy() - 0.2)))
    eps = 1e-6
    sdf = SignedDistance(hf)
    numeric = [(sdf(points[k] + eps * e) - sdf(points[k] - eps * e)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(grad[k], numeric, atol=1e-4)


def test_sdf_shapes_and_clamping():
    hf = step_terrain()
    assert signed_distance(hf, np.zeros((2, 3, 3))).shape == (2, 3)
    lo, hi = hf.bounds()
    outside = np.array([[lo[0] - 1.0, 0.0, 0.2]])
    assert signed_distance(hf, outside)[0] == pytest.approx(signed_distance(hf, np.array([[lo[0], 0.0, 0.2]]))[0])


def test_a_held_signed_distance_answers_like_one_built_per_query_and_names_its_features():
    hf = step_terrain()
    sdf = SignedDistance(hf)
    rng = np.random.default_rng(6)
    lo, hi = hf.bounds()
    points = np.column_stack([rng.uniform(lo, hi, (400, 2)), rng.uniform(-0.2, 0.6, 400)])
    np.testing.assert_array_equal(sdf(points), signed_distance(hf, points))
    np.testing.assert_array_equal(sdf(points[:7]), signed_distance(hf, points[:7]))  # the same tables serve any batch
    found = sdf.search(points)
    np.testing.assert_array_equal(found.distance, signed_distance(hf, points))
    # Far out on the level floor (x < 0.5 m, more than the distance above it from the wall) the nearest
    # feature is the plane straight below: the triangle under the point, measured as a face or a vertical gap.
    level = (points[:, 0] < 0.5) & (points[:, 2] > 0) & (points[:, 2] < 0.95 - points[:, 0] - 0.05)
    under = hf.surface(points[level, :2])
    assert level.sum() > 20 and np.all(np.isin(found.feature[level], [FACE, VERTICAL]))
    np.testing.assert_array_equal(found.triangle[level], 2 * (under.i * (hf.shape[1] - 1) + under.j) + under.upper)
    np.testing.assert_allclose(found.distance[level], points[level, 2], atol=1e-12)


def test_bad_point_shapes_are_refused():
    hf = step_terrain()
    for call in (lambda p: signed_distance(hf, p), lambda p: depth(hf, p), SignedDistance(hf)):
        with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\)"):
            call(np.zeros((4, 2)))

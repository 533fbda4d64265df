"""Balls for the simulator loop: where they are dropped along a path (`ball_spawns`) and the rubber-like
sphere bodies themselves (`add_ball`), which roll over the terrain and bounce off the character.

World frame: Z up, metres, seconds (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.bullet.scene import p
from terrain import numbers
from terrain.polyline import Polyline

# Balls: rubber-like spheres. Bullet multiplies the restitutions and the lateral frictions of the two bodies
# in contact, so the terrain gets its own values (ball on terrain: restitution 0.25, friction 0.5). A ball
# landing hard loses its horizontal speed to friction, so balls drop from low and are pushed.
BALL_RADIUS = 0.1  # m
BALL_MASS = 0.4  # kg
BALL_RESTITUTION = 0.5
BALL_FRICTION = 0.5
BALL_ROLLING_FRICTION = 5e-4  # times the terrain's friction: balls roll for seconds
BALL_SPINNING_FRICTION = 5e-4
TERRAIN_RESTITUTION = 0.5
TERRAIN_FRICTION = 1.0
BALL_COLOURS = (
    (0.90, 0.15, 0.15, 1.0),
    (0.95, 0.75, 0.10, 1.0),
    (0.20, 0.45, 0.95, 1.0),
    (0.60, 0.25, 0.80, 1.0),
    (0.10, 0.70, 0.60, 1.0),
)

# Where balls go (ball_spawns): along the path beyond its first START_CLEAR m, up to LATERAL m to either
# side, at the candidates with the largest drop of the ground within PROBE m (the top of a flight of
# stairs or a slope), at least SPACING m apart; dropped from DROP_HEIGHT above the ground and pushed
# downhill at PUSH_SPEED (in a random direction on level ground) once the character's pelvis is within
# DROP_AHEAD m, so that they roll while it passes.
START_CLEAR = 1.5  # m
CANDIDATE_STEP = 0.1  # m of arc length between candidates
LATERAL = 1.0  # m
PROBE = 0.75  # m
PROBE_DIRECTIONS = 16
LEVEL_DROP = 0.03  # m: less drop than this within PROBE counts as level ground
SPACING = 1.0  # m
DROP_HEIGHT = 0.1  # m between the surface and the bottom of the ball
PUSH_SPEED = 1.0  # m/s
DROP_AHEAD = 3.0  # m
EDGE_MARGIN = 0.3  # m from the terrain's border


@dataclass
class BallSpawn:
    """A ball to drop: centre `position` (3,) m, initial `velocity` (3,) m/s; it is dropped when the
    character's pelvis comes within DROP_AHEAD m (horizontally) of `trigger` (2,) xy, or at the start
    when trigger is None."""

    position: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    trigger: np.ndarray | None = None
    radius: float = BALL_RADIUS
    mass: float = BALL_MASS


def ball_spawns(terrain, path, n, seed=0, radius=BALL_RADIUS, on_approach=True):
    """n BallSpawns along `path` (P, 2) world xy over `terrain`, preferring the tops of descents (see the
    constants above); ValueError if the path has room for fewer (a candidate place every CANDIDATE_STEP m).
    on_approach: drop each ball when the character approaches it (trigger at its xy), else all at the start.
    Deterministic for a seed."""
    if numbers.whole(n, "balls", 0) == 0:
        return []
    rng = np.random.default_rng(seed)
    line = Polyline(path)
    s = np.arange(min(START_CLEAR, 0.5 * line.length), line.length, CANDIDATE_STEP)
    centre = line.point_at(s)
    tangent = Polyline(centre).tangents() if len(s) else np.array([[1.0, 0.0]])
    left = np.stack([-tangent[:, 1], tangent[:, 0]], -1)
    xy = centre + rng.uniform(-LATERAL, LATERAL, (len(s), 1)) * left
    xy = xy[terrain.contains(xy, EDGE_MARGIN + PROBE)]
    if n > len(xy):
        raise ValueError(f"balls: this path has room for {len(xy)} balls, got {n}: ask for fewer (--balls)")
    angles = 2 * np.pi * np.arange(PROBE_DIRECTIONS) / PROBE_DIRECTIONS
    directions = np.stack([np.cos(angles), np.sin(angles)], -1)
    ground = terrain.height(xy)
    drops = ground[:, None] - terrain.height(xy[:, None, :] + PROBE * directions)  # (C, D)
    best = drops.argmax(-1)
    drop = drops[np.arange(len(xy)), best]
    order = np.argsort(-(np.maximum(drop, 0.0) + 1e-3 * rng.random(len(xy))))
    chosen = []
    spacing = SPACING
    while len(chosen) < min(n, len(xy)):  # closer spacing when the path is too short for n balls
        for i in order:
            if len(chosen) < n and all(np.linalg.norm(xy[i] - xy[j]) >= spacing for j in chosen):
                chosen.append(i)
        spacing *= 0.5
    spawns = []
    for i in chosen:
        if drop[i] >= LEVEL_DROP:
            heading = directions[best[i]]
        else:
            angle = rng.uniform(0, 2 * np.pi)
            heading = np.array([np.cos(angle), np.sin(angle)])
        position = np.array([*xy[i], ground[i] + radius + DROP_HEIGHT])
        spawns.append(
            BallSpawn(position, np.array([*(PUSH_SPEED * heading), 0.0]), xy[i].copy() if on_approach else None, radius)
        )
    return spawns


def add_ball(client, spawn: BallSpawn, colour):
    """A dynamic sphere body for `spawn` in the PyBullet `client`, moving at its velocity; its body id."""
    shape = p.createCollisionShape(p.GEOM_SPHERE, radius=spawn.radius, physicsClientId=client)
    visual = p.createVisualShape(p.GEOM_SPHERE, radius=spawn.radius, rgbaColor=colour, physicsClientId=client)
    body = p.createMultiBody(
        spawn.mass, shape, visual, basePosition=list(map(float, spawn.position)), physicsClientId=client
    )
    p.changeDynamics(
        body,
        -1,
        restitution=BALL_RESTITUTION,
        lateralFriction=BALL_FRICTION,
        rollingFriction=BALL_ROLLING_FRICTION,
        spinningFriction=BALL_SPINNING_FRICTION,
        physicsClientId=client,
    )
    p.resetBaseVelocity(body, list(map(float, spawn.velocity)), [0, 0, 0], physicsClientId=client)
    return body

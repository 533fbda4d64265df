"""The route a live command leads along, from where the character is, clipped where the terrain stops it.

A live command is a world direction and a speed. Handed to the path follower (follower.py) as a route, it is
carried out the way the training data's paths are: keep the current heading for `turn_lead` s of the current
speed, then head the new way (the follower rounds the corner and slows into it, or halts and turns on the spot
where it is sharp); a stop is a straight route along the current heading, as long as slowing at `decel` takes.
A route ends where it would come closer than `clearance` to ground a walker may not stand on (terrain.planning
Room: a wall, a step too high, ground too steep) or to the border, so that the follower brings the character
to rest there; inside that margin, moving away or along an obstacle stays allowed.
World xy in metres, angles in radians of world yaw, speeds in m/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.follower import wrap
from terrain.polyline import Polyline

SAMPLE = 0.05  # m between the samples at which a route is checked against the terrain
SHORTEST = 0.05  # m: a route no longer than this stands on the spot
STAND = 0.01  # m: the route of a stop where the character stands already (the follower needs a line)
U_TURN_SPEED = 0.3  # m/s: moving faster, a sharp turn is walked round (u_turn_width) rather than stopped for


@dataclass(frozen=True)
class CommandRoute:
    """Where a live command leads: world points (P, 2), the first the character's root xy."""

    points: np.ndarray
    clipped: bool  # it ends short of where the command leads (an obstacle or the border)
    extends: bool = False  # it leads on (a move, not clipped): extended when the character nears its end

    @property
    def length(self):
        return float(Polyline(self.points).length)


def unit(angle):
    return np.array([math.cos(angle), math.sin(angle)])


def command_route(xy, yaw, speed_now, direction, speed, room, settings, decel):
    """The CommandRoute of the command (direction, speed) for a character at root xy (2,) heading yaw moving at
    speed_now; room: a terrain.planning.Room; settings: the LiveConfig (turn_lead, reach, clearance); decel the
    follower's m/s^2."""
    xy = np.asarray(xy, dtype=np.float64)
    if speed <= 0.0:  # stop straight ahead, in the distance slowing down takes
        stop = max(speed_now**2 / (2.0 * decel), STAND)
        return clip(np.stack([xy, xy + stop * unit(yaw)]), room, settings.clearance)
    turn = wrap(direction - yaw)
    lead = settings.turn_lead * speed_now if abs(turn) > math.radians(5.0) else 0.0
    far = settings.reach * unit(direction)
    route = None
    if abs(turn) > settings.u_turn_above and speed_now > U_TURN_SPEED and settings.u_turn_width > 0:
        # Walking on round a U of two corners, each under the follower's pivot angle, rather than stopping
        # to turn on the spot (the turn rate the model learned makes that slow).
        corner = xy + max(lead, SHORTEST) * unit(yaw)
        side = corner + settings.u_turn_width * unit(yaw + math.copysign(0.5 * abs(turn), turn if turn else 1.0))
        route = clip(np.stack([xy, corner, side, side + far]), room, settings.clearance)
        if route.clipped and route.length < settings.u_turn_width + lead + 1.0:
            route = None
    if route is None and lead > SHORTEST:
        corner = xy + lead * unit(yaw)
        route = clip(np.stack([xy, corner, corner + far]), room, settings.clearance)
        route = None if route.length <= lead else route
    if route is None:  # no lead-in, or too near an obstacle for one: turn right here
        route = clip(np.stack([xy, xy + far]), room, settings.clearance)
    return CommandRoute(points=route.points, clipped=route.clipped, extends=not route.clipped)


def clip(points, room, clearance):
    """The CommandRoute along `points` (P, 2) up to the first sample that is not walkable or that comes closer than
    `clearance` m to what is not (a sample within that margin may still move away or along the obstacle)."""
    line = Polyline(points)
    s = np.arange(0.0, line.length, SAMPLE)
    s = np.append(s, line.length) if line.length - s[-1] > 1e-9 else s
    r = room.at(line.point_at(s))
    ok = (r >= clearance) | ((r > 0.0) & (np.diff(r, prepend=r[0]) >= -1e-9))
    ok[0] = True  # where the character stands
    bad = np.flatnonzero(~ok)
    if not len(bad):
        return CommandRoute(points=np.asarray(points, dtype=np.float64), clipped=False)
    end = s[bad[0] - 1]
    kept = [p for p, a in zip(line.points, line.arc) if a < end - 1e-9]
    points = np.stack(kept + [line.point_at(end)])
    if line.length < SHORTEST or end < SHORTEST:  # blocked right away: stand, facing along the route
        points = np.stack([points[0], points[0] + SHORTEST * (line.points[-1] - points[0]) / max(line.length, 1e-9)])
    return CommandRoute(points=points, clipped=True)

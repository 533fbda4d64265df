"""Where a path controller's character goes, planned before anything is generated.

A RouteRequest is what a PathController is asked beyond its terrain's default walk from the start pad to the goal
pad: another start or goal, a path to follow, a heading to start in, stops on the way, keyframes to meet and an
end pose to arrive in. plan_route turns it into a RoutePlan: the path the character follows (the terrain planner's
route, a given one checked against the terrain, or a keyed route through the keyframes, keyframes.py), the goal,
the facing at the start, and for keyframes and an end pose the follower's timing (timing.py) and what is imposed
on each segment (inpaint.py). Every impossible request is refused here (ValueError), before a segment is sampled.

World frame: Z up, metres, seconds; headings are radians of world yaw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from controller.checks import check_route
from controller.end_pose import EndPose
from controller.follower import FollowerConfig, PathFollower
from controller.inpaint import Inpainter
from controller.keyframes import check_keyframes, keyed_route
from controller.timing import KeyTiming
from terrain.planning import plan_path, traversable
from terrain.polyline import Polyline

START_LEG = 0.5  # m of the path whose direction the character faces at the start, by default


@dataclass(frozen=True)
class RouteRequest:
    """A PathController's route inputs; None or empty takes the default (PathController's docstring)."""

    goal: object = None  # world xy (2,); default the terrain's goal pad
    path: object = None  # world xy (P, 2); default the planner's route from start to goal
    start: object = None  # world xy (2,); default the terrain's start pad
    heading: float | None = None  # rad, the facing at the start; default along the path
    stops: tuple = ()  # speed_plan.Stop records
    keyframes: tuple = ()  # keyframes.Keyframe records
    end_pose: EndPose | None = None


@dataclass(frozen=True)
class RoutePlan:
    """A planned request: the path the character follows and its tracker measures, and the rest of the route."""

    path: np.ndarray  # (P, 2) world m
    goal: np.ndarray  # (2,) world m
    route: np.ndarray  # (P', 2) the path on to the goal (the goal appended where the path ends short of it)
    start_yaw: float  # rad
    stops: tuple  # speed_plan.Stop records
    timing: KeyTiming | None  # keyframes' timing, None without keyframes
    inpainter: Inpainter | None  # keyframes and the end pose imposed on the segments, None without either

    def follower(self, terrain, config, window):
        """The PathFollower along the route at config.speed, facing start_yaw at the start, standing where the
        keyframes' timing waits; window: the model's WindowConfig."""
        return PathFollower(
            self.route,
            config.speed,
            terrain,
            FollowerConfig.of(config, window),
            self.stops,
            heading=self.start_yaw,
            waits=self.timing.waits() if self.timing else (),
        )


def plan_route(terrain, model, config, request: RouteRequest) -> RoutePlan:
    """The RoutePlan of `request` on `terrain` for a checked ControllerConfig `config` and a LoadedModel `model`;
    ValueError naming what cannot be done."""
    goal = request.goal
    if request.end_pose is not None:
        goal = _end_pose_goal(goal, request.end_pose)
    start = np.asarray(terrain.start if request.start is None else request.start, dtype=np.float64)
    goal = np.asarray(terrain.goal if goal is None else goal, dtype=np.float64)
    if start.shape != (2,) or goal.shape != (2,):
        raise ValueError("start and goal must be world xy pairs (the terrain has no pads to default to)")
    timing = inpainter = None
    if request.keyframes or request.end_pose is not None:
        if request.path is not None:
            raise ValueError("keyframes and an end pose plan their own route: leave out the path (or waypoints)")
        keyed, timing = _keyed_route(terrain, start, goal, request.keyframes, request.end_pose, config)
        path = keyed.path
        inpainter = Inpainter(request.keyframes, keyed.arcs, request.end_pose, terrain, model)
    elif request.path is None:
        path = plan_path(terrain, start=start, goal=goal)
    else:
        path = check_route(terrain, request.path, goal)
    route = path if np.allclose(path[-1], goal) else np.concatenate([path, goal[None]])
    start_yaw = _start_yaw(route, request.heading)
    return RoutePlan(path, goal, route, start_yaw, request.stops, timing, inpainter)


def _start_yaw(route, heading):
    """The facing at the start: `heading`, or along the route's first START_LEG m; ValueError unless finite."""
    line = Polyline(route)
    direction = line.point_at(min(START_LEG, line.length)) - route[0]  # along the first leg
    start_yaw = float(np.arctan2(direction[1], direction[0]) if heading is None else heading)
    if not np.isfinite(start_yaw):
        raise ValueError(f"the start heading must be a finite angle, got {heading}")
    return start_yaw


def _end_pose_goal(goal, end_pose):
    """The goal an end pose sets (its root's place); ValueError if another goal is given too."""
    if goal is not None and not np.allclose(goal, end_pose.xy):
        raise ValueError("an end pose sets the goal (its root's place): leave out the goal")
    return end_pose.xy


def _keyed_route(terrain, start, goal, keyframes, end_pose, config):
    """(KeyedRoute, KeyTiming or None) of a route from start through the keyframes to the goal; ValueError
    naming an impossible keyframe."""
    check_keyframes(terrain, keyframes, config.time_limit)
    if end_pose is not None and not (terrain.contains(goal) and traversable(terrain, goal)):
        raise ValueError(
            f"the end pose's place ({goal[0]:.2f}, {goal[1]:.2f}) is off the terrain or not walkable ground: "
            "give a pose from a motion on this terrain"
        )
    route = keyed_route(terrain, start, goal, keyframes, None if end_pose is None else end_pose.heading)
    timing = KeyTiming(keyframes, route.arcs, route.path, terrain, config.speed, config.accel) if keyframes else None
    return route, timing

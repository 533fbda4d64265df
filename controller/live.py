"""Live steering: a character whose command (a world direction and a speed) may change at any frame.

    live = LiveController(model, terrain, config=LiveConfig(), seed=0)
    live.command(direction=math.radians(90), speed=1.2)   # whenever; thread-safe
    frame = live.next_frame()                             # the next 1/30 s (controller.stream.Frame)

Frames are generated `commit_frames` at a time by the path controller's step (controller/step.py `advance`,
whose protocols.SteppedCharacter this class is, so that `next_frames` steps many live characters with one
network call). A frame is final once handed out; the ones generated but not handed out yet are provisional.
A command change keeps `margin_frames` of them and regenerates from there: the new frames replace the rest once
they are ready, so the first frame the change affects is `margin_frames` after the last one handed out. Until
then the old frames are still handed out (in real time, a slow step delays the change rather than stalling the
stream); a step that comes too late is regenerated from a later frame. Commands coalesce: a step under way when
a command arrives is still committed, and the next step starts from the latest command (a game that sends its
stick every frame, or faster than steps are made, gets the newest command at every step and never a stall).
The command becomes a route (live_route.py: the current heading for a moment, then the new direction, clipped
where the terrain stops the character) that the path follower (follower.py) turns into the model's command: it
slows into corners, halts and turns on the spot at sharp ones and comes to rest at the route's end, as the
training data does. LiveStream (controller/live_stream.py) generates a fraction of a second ahead in a
background thread for real time.

World frame: Z up, metres, seconds, radians of world yaw (counter-clockwise from +X); quaternions xyzw.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import replace

import numpy as np
import torch

from controller.checks import check_against_model
from controller.conditions import condition_rows
from controller.follower import FollowerConfig, PathFollower, root_speed, wrap
from controller.foot_lock import FootLock
from controller.frames import Frame, Frames
from controller.live_config import MAX_SPEED, CommandRecord, LiveConfig
from controller.live_route import SHORTEST, command_route
from controller.live_stream import LiveStream
from controller.protocols import SteppedCharacter
from controller.step import advance
from motion_model.body import quaternion as quat
from motion_model.body.legs import FOOT_LINKS, sole_offset
from motion_model.body.skeleton import Skeleton
from motion_model.learner.checkpoint import LoadedModel, load_model
from motion_model.learner.command import Command
from terrain import numbers
from terrain.heightfield import Heightfield
from terrain.planning import Room
from terrain.polyline import Polyline
from terrain.stack import TerrainStack

__all__ = ["LiveController", "LiveConfig", "LiveStream", "CommandRecord", "next_frames"]

SPEED_WINDOW = 10  # frames over which the root's current speed is measured (for a new route's start)


class LiveController(SteppedCharacter):
    """One character on `terrain` driven by live commands; starts standing on `start` (default the terrain's
    start pad) facing `heading` (rad, world yaw; default +X).

    model: a LoadedModel or a name/path for load_model. `config` (LiveConfig) is kept as `settings`;
    `step_config` is its nested ControllerConfig with its `commit_frames`, what controller/step.py steps it
    with. room: the terrain's terrain.planning.Room, if already built (characters on one terrain share it).
    """

    def __init__(self, model, terrain, config=LiveConfig(), seed=0, start=None, heading=None, room=None):
        if not isinstance(terrain, Heightfield):
            raise ValueError(f"terrain must be a Heightfield (make_terrain, Heightfield.load), got {terrain!r:.40}")
        self.seed = numbers.seed(seed)  # before the model loads: the generator is made by the first step
        self.settings = config.checked()
        self.model = model if isinstance(model, LoadedModel) else load_model(model)
        self.step_config = replace(config.controller, commit_frames=config.commit_frames).checked()
        check_against_model(self.step_config, self.model)
        self.terrain = terrain
        start = np.asarray(terrain.start if start is None else start, dtype=np.float64)
        if start.shape != (2,) or not np.isfinite(start).all() or not terrain.contains(start):
            raise ValueError(f"start must be a world xy pair inside the terrain {terrain.bounds()}, got {start}")
        self.start = start
        self.start_yaw = 0.0 if heading is None else float(heading)
        if not math.isfinite(self.start_yaw):
            raise ValueError(f"heading must be a finite angle in radians, got {heading}")
        self.room = Room(terrain) if room is None else room  # every route is clipped by it; a crowd shares one
        self._lock = threading.RLock()
        self._version = 0  # changes with every reset: a step under way then is dropped
        self._commands = 0  # commands given (ids, never reset)
        # the ids of the commands whose frames were made, in order, and the first frame each affects
        self._effect_ids, self._effect_frames = [], []
        self.reset()

    # -- the public side ------------------------------------------------------------------------------

    def reset(self):
        """Back to the start pad, standing, with a new motion and command log (frame_index 0)."""
        with self._lock:
            # The noise generator and the foot lock are made afresh by the first step of the session
            # (condition): a step already under way when reset() is called would otherwise draw from and pin
            # feet into the new session's.
            self.generator = self.foot_lock = None
            self._chunks = []  # generated Frames, handed out or provisional
            self._total = 0  # frames in _chunks
            self._cut = None  # where a command's new frames start, replacing those after it; None: none pending
            self._cut_command = 0  # the id of the command the cut serves
            self._held_until = 0  # the frames before it are the latest command's that a later one cannot replace
            # where the latest command not yet taken up by a step wants its frames to start (None: none waiting);
            # the next step takes it up, so commands that come faster than steps coalesce
            self._requested = None
            self.frame_index = 0  # frames handed out
            self.direction, self.speed = self.start_yaw, 0.0
            self.command_log = [CommandRecord(0, self.direction, self.speed)]
            self.segments = []  # per-step diagnostics (controller/step.py)
            self._follower = None
            self._route = None
            self._replan = True
            self._version += 1

    def command(self, direction=None, speed=None):
        """Head `direction` (rad, world yaw) at `speed` m/s (0 stops and stands); None keeps the current value.
        Returns the command's id (for effect_frame), or None when nothing changed."""
        direction = self.direction if direction is None else _finite(direction, "direction")
        speed = self.speed if speed is None else _finite(speed, "speed")
        if not 0.0 <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be in [0, {MAX_SPEED}] m/s (0 stands still), got {speed}")
        with self._lock:
            if direction == self.direction and speed == self.speed:
                return None
            self.direction, self.speed = direction, speed
            self.command_log.append(CommandRecord(self.frame_index, direction, speed))
            self._requested = self.frame_index + self.settings.margin_frames
            self._commands += 1
            return self._commands

    def effect_frame(self, command_id):
        """The index of the first frame command `command_id` affects (with the commands after it, if it was
        superseded before its frames were generated); None until then."""
        with self._lock:
            first = bisect.bisect_left(self._effect_ids, command_id)  # pending commands are recent: a short tail
            return min(self._effect_frames[first:], default=None)

    @property
    def buffered(self):
        """Frames generated and not yet handed out (those a pending command will replace included)."""
        return self._total - self.frame_index

    def needs_step(self, ahead=1):
        """Whether a step is due: fewer than `ahead` frames ready, or a command's frames pending. A waiting
        command's step comes once its cut is within the margin of the frames handed out (earlier, a newer command
        may still replace it); one whose cut is the end of the frames generated is taken up by the next step."""
        waiting = self._waiting_cut()
        ripe = waiting is not None and waiting < min(self._total, self.frame_index + self.settings.margin_frames + 1)
        return self._cut is not None or ripe or self.buffered < ahead

    def take_frame(self):
        """The next frame if it is generated, else None (never generates)."""
        with self._lock:
            if self.buffered <= 0:
                return None
            frame = self._frame(self.frame_index)
            self.frame_index += 1
            return frame

    def next_frame(self):
        """The next Frame (1/30 s on), generating when none is ready or a command's frames are due."""
        while self._due():
            advance([self])
        return self.take_frame()

    def _due(self):
        """Whether the next frame must be generated first (synchronous play)."""
        cut = self._cut if self._requested is None else self._waiting_cut()
        return self.buffered <= 0 or (cut is not None and self.frame_index >= cut)

    def motion(self):
        """Every frame handed out so far as a Motion with the terrain."""
        with self._lock:
            if not self.frame_index:
                raise ValueError("no frame handed out yet: call next_frame() first")
            frames = Frames.concatenate(self._chunks)[: self.frame_index]
        return frames.motion(self.model.window.fps, terrain=self.terrain)

    # -- SteppedCharacter (controller/step.py) ------------------------------------------------------------

    done = False  # a live character never ends by itself
    known = None  # nothing is imposed on its segments

    @property
    def tracker(self):
        """The current route as a Polyline (the collision check's progress measure)."""
        return Polyline(self._route.points) if self._route is not None else Polyline(self.start[None])

    def last_frames(self, n):
        """The last n Frames the next step continues from (fewer at the start; those before a pending command's
        cut); None before the first."""
        with self._lock:
            end = self._end()
            if not end:
                return None
            tail, start = [], self._total
            for chunk in reversed(self._chunks):  # from the end: a session grows to thousands of chunks
                start -= len(chunk)
                if start < end:
                    tail.insert(0, chunk[: end - start])
                    if start <= end - n:
                        break
            return Frames.concatenate(tail)[-n:]

    def frames_to_commit(self):
        return self.step_config.commit_frames

    def prepare(self):
        """(last frames or None, reference xy (2,), reference yaw, Command) for the next step, from the end of
        what is generated; a cold start (None) also begins the session's generator and foot lock."""
        window = self.model.window
        with self._lock:
            self._take_up_command()
            self._step_version = self._version
            self._step_end = self._end()
            recent = self.last_frames(window.n_prev)
            if recent is not None and len(recent) < window.n_prev:  # a command cut early: it stood before
                recent = Frames.concatenate([recent[:1]] * (window.n_prev - len(recent)) + [recent])
            if recent is None:
                self.generator = torch.Generator().manual_seed(self.seed)
                self.foot_lock = FootLock(self.terrain) if self.step_config.foot_lock else None
                ref_xy, ref_yaw, speed_now = np.asarray(self.start, float), float(self.start_yaw), 0.0
            else:
                ref_xy, ref_yaw = recent.root_pos[-1, :2], float(quat.heading(recent.root_quat[-1]))
                speed_now = root_speed(recent.root_pos[-SPEED_WINDOW:, :2], window.fps)
            if self._needs_route(ref_xy):
                if self._replan and recent is not None and self.foot_lock is not None:
                    _reseat_feet(self.foot_lock, recent[-1:])  # the dropped frames' footholds are gone
                self._plan(ref_xy, ref_yaw, speed_now)
            return recent, ref_xy, ref_yaw, self._command(ref_xy, ref_yaw)

    @classmethod
    def conditions(cls, controllers):
        """The condition rows and reference frames xy (B, 2), yaw (B,), z (B,) of many live characters
        (SteppedCharacter.conditions): each one's prepare(), then the rest for all at once
        (conditions.condition_rows)."""
        recents, ref_xy, ref_yaw, commands = zip(*(c.prepare() for c in controllers))
        ref_xy, ref_yaw = np.stack(ref_xy), np.array(ref_yaw)
        terrains = TerrainStack.of([c.terrain for c in controllers])
        ref_z = terrains.height(ref_xy)
        cond = condition_rows(controllers[0].model, terrains, ref_xy, ref_yaw, ref_z, recents, commands)
        return cond, ref_xy, ref_yaw, ref_z

    def commit(self, frames: Frames, diagnostics):
        """Append a step's frames as provisional, unless a command or reset came in while it was generated."""
        with self._lock:
            if self._version != self._step_version or self._step_end != self._end():
                return None
            if self._cut is not None:
                late = self.frame_index - self._cut
                if late > 0:  # frames it would replace were handed out meanwhile: start later, plan afresh
                    self._cut = min(self.frame_index + self.settings.margin_frames + late, self._total)
                    self._replan = True
                    return None
                self._truncate(self._cut)
                self._cut = None
                self._effect_ids.append(self._cut_command)
                self._effect_frames.append(self._total)
            self._follower.advance(len(frames))
            self._chunks.append(frames)
            self._total += len(frames)
            self.segments.append(diagnostics)
        return frames.motion(self.model.window.fps)

    # -- inside -------------------------------------------------------------------------------------

    def _frame(self, index):
        """Frame `index` of the session, found from the end (where the frames being handed out are)."""
        start = self._total
        for chunk in reversed(self._chunks):
            start -= len(chunk)
            if index >= start:
                i = index - start
                return Frame(chunk.root_pos[i], chunk.root_quat[i], chunk.joint_quat[i], chunk.contacts[i])
        raise IndexError(index)

    def _take_up_command(self):
        """Let the next step start from the latest command (the one waiting, if any): it replaces the frames
        from its cut on, and the route is planned afresh."""
        if self._requested is None:
            return
        self._cut = self._waiting_cut()
        self._cut_command = self._commands
        self._held_until = self._cut + self.settings.hold_frames
        self._requested = None
        self._replan = True

    def _waiting_cut(self):
        """Where the waiting command's frames would start if a step took it up now (None: none waits)."""
        if self._requested is None:
            return None
        return min(max(self._requested, self._held_until), self._total)

    def _end(self):
        """The frame index the next step's frames start at."""
        return self._total if self._cut is None else self._cut

    def _truncate(self, keep):
        """Drop the generated frames from index `keep` on."""
        if self._total <= keep:
            return
        start = self._total  # from the end: only the last chunks are dropped or cut
        while self._chunks and start - len(self._chunks[-1]) >= keep:
            start -= len(self._chunks.pop())
        if start > keep:
            self._chunks[-1] = self._chunks[-1][: len(self._chunks[-1]) - (start - keep)]
        self._total = keep

    def _needs_route(self, xy):
        """A new route after a command change, and before an unclipped route runs out."""
        if self._replan or self._follower is None:
            return True
        left = self._route.length - float(Polyline(self._route.points).arc_length(np.asarray(xy, float)))
        return self._route.extends and left < 0.5 * self.settings.reach

    def _plan(self, xy, yaw, speed_now):
        self._route = command_route(
            xy, yaw, speed_now, self.direction, self.speed, self.room, self.settings, self.step_config.decel
        )
        cruise = self.speed if self.speed > 0 else max(speed_now, 0.3)
        window = self.model.window
        self._follower = PathFollower(
            self._route.points,
            cruise,
            self.terrain,
            FollowerConfig.of(self.step_config, window, turn_rate=self.settings.turn_rate),
            heading=yaw,
        )
        self._follower.state = self._follower.state._replace(speed=speed_now)
        self._replan = False

    def _command(self, xy, yaw):
        """The model's Command from the root at xy heading yaw."""
        follow = self._follower.command(xy, yaw)
        if self.settings.steering == "route" or self.speed <= 0:
            return follow
        window = self.model.window
        left = max(self._route.length - float(Polyline(self._route.points).arc_length(xy)) - SHORTEST, 0.0)
        speed = min(self.speed, math.sqrt(2.0 * self.step_config.decel * left))  # to rest where the route is clipped
        times = np.asarray(window.command_frames) / window.fps
        return Command.straight(wrap(self.direction - yaw), speed, times)


def next_frames(lives):
    """The next Frame of every LiveController in `lives`, those with none ready stepped together with one
    network call (they must share the model and the network settings, as controller/step.py requires)."""
    while needy := [live for live in lives if live._due()]:
        advance(needy)
    return [live.take_frame() for live in lives]


def _reseat_feet(foot_lock, last):
    """Hold each foot the last kept frame (Frames of one) has in contact where it is: the footholds of frames
    that a command change dropped no longer apply."""
    link_pos, link_rot = Skeleton.load().fk(last.root_pos, last.root_quat, last.joint_quat)
    for f, link in enumerate(FOOT_LINKS):
        rot = link_rot[-1, link]
        held = last.contacts[-1, f] > 0.5
        foot_lock.holds[f] = (link_pos[-1, link] + quat.rotate(rot, sole_offset()), rot) if held else None
        foot_lock.release[f] = None


def _finite(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value

"""Keys to live commands for `terrain-mdm play`: W/A/S/D or the arrows steer relative to the camera, Shift
runs, Space stops, R resets, Esc quits. No GUI needed: `Steering.update` takes the dict of
p.getKeyboardEvents() and the window camera's yaw.

Steering is a cruise control: a held direction key sets the direction of travel (world yaw, radians) and
starts the character walking; releasing it keeps that direction and speed, so the character goes on until
Space stops it (speed 0: it stops and stands). Shift held while moving runs, released walks. Two keys held
together steer between them (W and D: half-right); opposite keys cancel. PyBullet's window closes itself on
Esc, which ends the session like closing the window; KEYS_QUIT catches the key where it is passed on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.follower import wrap
from terrain.bullet import p

KEY_ESCAPE = 27
# Direction keys: the angle (radians, counter-clockwise) from the camera's looking direction on the ground.
DIRECTION_KEYS = {
    ord("w"): 0.0,
    p.B3G_UP_ARROW: 0.0,
    ord("s"): math.pi,
    p.B3G_DOWN_ARROW: math.pi,
    ord("a"): 0.5 * math.pi,
    p.B3G_LEFT_ARROW: 0.5 * math.pi,
    ord("d"): -0.5 * math.pi,
    p.B3G_RIGHT_ARROW: -0.5 * math.pi,
}
KEYS_RUN = (p.B3G_SHIFT,)
KEYS_STOP = (p.B3G_SPACE,)
KEYS_RESET = (ord("r"),)
KEYS_QUIT = (KEY_ESCAPE,)
KEY_HELP = "W/A/S/D or arrows steer, Shift runs, Space stops, R resets, Esc quits"


def camera_heading(camera_yaw_deg):
    """World yaw (radians) of the ground direction a PyBullet camera of yaw `camera_yaw_deg` looks along:
    yaw 0 looks along +Y (computeViewMatrixFromYawPitchRoll with Z up)."""
    return math.radians(camera_yaw_deg) + 0.5 * math.pi


def camera_yaw_behind(heading):
    """The PyBullet camera yaw (degrees) that looks along world yaw `heading` (radians): behind a character
    facing that way."""
    return math.degrees(heading - 0.5 * math.pi)


@dataclass(frozen=True)
class Decision:
    """What the keys of one loop iteration ask for: the command (direction world yaw radians, None until a
    direction key was pressed; speed m/s, 0 standing), and whether to reset or quit."""

    direction: float | None
    speed: float
    reset: bool = False
    quit: bool = False


# A key tapped between two polls comes as triggered and released, without KEY_IS_DOWN: it counts as down once.
HELD = p.KEY_IS_DOWN | p.KEY_WAS_TRIGGERED


def _down(events, keys):
    return any(events.get(key, 0) & HELD for key in keys)


def _released(events, keys):
    """A key let go: the actions (reset, quit) fire then, once per press. PyBullet's window sometimes reports
    a quick tap as released only, its press lost, when the loop polls slowly."""
    return any(events.get(key, 0) & p.KEY_WAS_RELEASED for key in keys)


class Steering:
    """The key state of a play session: walk_speed and run_speed in m/s."""

    def __init__(self, walk_speed, run_speed):
        if not 0 < walk_speed <= run_speed:
            raise ValueError(f"need 0 < walk speed <= run speed, got {walk_speed:g} and {run_speed:g} m/s")
        self.walk_speed, self.run_speed = float(walk_speed), float(run_speed)
        self.direction = None
        self.moving = False

    def reset(self):
        self.direction, self.moving = None, False

    def update(self, events, camera_yaw_deg):
        """The Decision for the keys in `events` (a p.getKeyboardEvents() dict {key: state}) with the window
        camera at yaw `camera_yaw_deg` (degrees, PyBullet's convention)."""
        if _released(events, KEYS_QUIT):
            return Decision(self.direction, self.speed(events), quit=True)
        if _released(events, KEYS_RESET):
            self.reset()
            return Decision(None, 0.0, reset=True)
        x = y = 0.0
        for key, angle in DIRECTION_KEYS.items():
            if events.get(key, 0) & HELD:
                x, y = x + math.cos(angle), y + math.sin(angle)
        if math.hypot(x, y) > 1e-6:
            self.direction = wrap(camera_heading(camera_yaw_deg) + math.atan2(y, x))
            self.moving = True
        if _down(events, KEYS_STOP) or _released(events, KEYS_STOP):
            self.moving = False
        return Decision(self.direction, self.speed(events))

    def speed(self, events):
        """m/s: 0 when stopped, run_speed with Shift held, else walk_speed."""
        if not self.moving:
            return 0.0
        return self.run_speed if _down(events, KEYS_RUN) else self.walk_speed

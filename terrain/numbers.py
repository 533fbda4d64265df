"""Numbers given through the Python API (seeds, counts, durations), checked before they are used.

The command line checks its options with sim/cli/commands/arguments.py's argparse types, and config files with
configs/typed.py's `bounded` fields; these are the same checks for a function's or a constructor's arguments:
each returns the value (an int or a float) or raises one ValueError line naming the argument and its range.
Only the standard library is imported at the top: the command line takes MAX_SEED from here.
"""

from __future__ import annotations

import math
import numbers

# Seeds of the terrain, the sampling noise and the balls: torch generators take seeds below 2**64, numpy any
# whole number >= 0. 2**32 seeds are plenty, fit every generator and an int64 column with room to spare, and are
# what `numpy.random.seed` takes.
MAX_SEED = 2**32 - 1


def shown(value):
    """configs.typed.shown: `value` for a message, cut short (imported here only when a message is made, so that
    the command line's types can import this module without YAML)."""
    from configs.typed import shown

    return shown(value)


def whole(value, name, low, high=None):
    """`value` as an int if it is a whole number (not a bool, not a float) in low..high (high None: no bound)."""
    span = f">= {low}" if high is None else f"in {low}..{high}"
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (integral and low <= value and (high is None or value <= high)):
        raise ValueError(f"{name} must be a whole number {span}, got {shown(value)}")
    return int(value)


def finite(value, name, low, high):
    """`value` as a float if it is a finite number (not a bool) in [low, high]."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = _float(value) if real else math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"{name} must be a finite number in {low:g}..{high:g}, got {shown(value)}")
    return number


def _float(value):
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range (float(10**400))
        return math.inf


def seed(value, name="seed"):
    """`value` as an int if it is a seed: a whole number in 0..MAX_SEED."""
    return whole(value, name, 0, MAX_SEED)


def character_seed(seed, index):
    """The seed of character `index` of a crowd seeded `seed`: seed + index, wrapped into 0..MAX_SEED."""
    return (seed + index) % (MAX_SEED + 1)


def instance(value, kind, name, what):
    """`value` if it is an instance of `kind` (a type or a tuple of them); else ValueError naming `what` it
    must be."""
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {what}, got {type(value).__name__}")
    return value

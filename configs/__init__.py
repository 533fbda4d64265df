"""The YAML configuration files shipped with terrain-mdm, and the one way to read them.

The files live inside this package so that every install (editable or not, and every Ray node) has them.
A path such as `configs/controller/default.yaml` is read as given when it exists (a checkout, or a user's own
file); otherwise a path that starts with `configs/` is looked up among the shipped files.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as `2e-1` and `1e5` (YAML 1.1 wants `2.0e-1`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$"), list("-+0123456789.")
)


def resolve(path) -> Path:
    """The file `path` names: as given when it exists, else the shipped copy of a `configs/...` path."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] != "configs":
        return path
    shipped = ROOT.joinpath(*path.parts[1:])
    return shipped if shipped.exists() else path


def shipped(relative) -> Path:
    """A shipped config by its path inside configs/, e.g. `terrain/stairs.yaml`."""
    return ROOT / relative


def read_yaml(path, what="YAML file"):
    """Parse a YAML file safely (no tags); any problem is a ValueError of one line naming the file."""
    path = resolve(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as error:
        raise ValueError(f"{what} {path} cannot be read ({type(error).__name__}): give a readable text file") from None
    return parse_yaml(text, f"{what} {path}")


def parse_yaml(text, source):
    """Parse YAML text safely; a syntax error is a ValueError of one line naming `source` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader: no tags, no objects
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{source} is not valid YAML{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {str(error).splitlines()[0]}") from None

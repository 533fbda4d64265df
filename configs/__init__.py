"""The YAML configuration files shipped with terrain-mdm, and the one way to read them.

The files live inside this package so that every install (editable or not, and every Ray node) has them.
A path such as `configs/controller/default.yaml` is read as given when it exists (a checkout, or a user's own
file); otherwise a path that starts with `configs/` is looked up among the shipped files.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import yaml

from configs.typed import SHOWN, cut, shown

ROOT = Path(__file__).resolve().parent


MAX_BYTES = 2**20  # of a YAML file: a config is a few kB; 1 MiB holds some 24,000 timed commands
MAX_NODES = 200_000  # of a YAML document once its aliases are expanded (a 1 MiB list of commands has ~170,000)
MAX_DEPTH = 100  # levels of nesting (the composer recurses once per level)


class _TooLarge(Exception):
    """A document over a bound of _Loader; its message completes `<source> ...`."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 floats such as `2e-1` and `1e5` (YAML 1.1 wants `2.0e-1`), and refuses
    a document of more than `max_nodes` nodes or MAX_DEPTH levels while composing it, before any Python object
    exists. An alias counts as the nodes it stands for, each time it is used: a "billion laughs" of nested
    aliases is a few hundred bytes that expand to 10^9 nodes, and is refused after composing some fifty."""

    def __init__(self, text, max_nodes):
        super().__init__(text)
        self.max_nodes = max_nodes
        self.sizes = {}  # node -> nodes it expands to (a node's size is known once it is composed)
        self.depth = 0

    def compose_node(self, parent, index):
        alias = self.check_event(yaml.AliasEvent)
        line = self.peek_event().start_mark.line + 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooLarge(f"nests deeper than {MAX_DEPTH} levels (line {line}): flatten it")
        node = super().compose_node(parent, index)
        self.depth -= 1
        if alias:
            if node not in self.sizes:  # its anchor is not composed yet: the node holds an alias of itself
                raise _TooLarge(f"holds an alias of a node inside itself (line {line}): such a value never ends")
            return node
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = ()
        self.sizes[node] = 1 + sum(self.sizes[child] for child in children)
        if self.sizes[node] > self.max_nodes or len(self.sizes) > self.max_nodes:
            raise _TooLarge(
                f"expands to more than {self.max_nodes} YAML nodes (an alias counts as all the nodes it stands "
                f"for; line {line}): give a smaller document"
            )
        return node

    def construct_object(self, node, deep=False):
        """A scalar Python cannot make (an integer of 5000 digits, a 13th month, `!!float x`) is a YAML error at
        its line, not Python's own message."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:
            kind = node.tag.rsplit(":", 1)[-1]
            reason = re.split("[:;]", str(error))[0]  # Python's words; the value they go on to repeat is shown
            problem = f"{shown(node.value)} is not a valid {kind} ({reason})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes a string _Loader would read as a float (`1e5`), so what it writes reads back."""


_FLOAT_1_2 = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.[\d_]*)?[eE][-+]?\d+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789."))
_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_1_2, list("-+0123456789."))


def dump_yaml(data) -> str:
    """YAML text of plain data (keys in their order) that read_yaml and parse_yaml read back as it was."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False)


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


def read_yaml(path, what="YAML file", max_bytes=MAX_BYTES, max_nodes=MAX_NODES):
    """Parse a YAML file safely (no tags); any problem is a ValueError of one line naming the file. A file over
    `max_bytes` is refused before it is read whole, a document over `max_nodes` nodes before it is built."""
    path = resolve(path)
    source = f"{what} {path}"
    try:
        text = _read_bounded(path, source, max_bytes).decode("utf-8")
    except FileNotFoundError:
        raise ValueError(f"{source} does not exist") from None
    except PermissionError:
        raise ValueError(f"{source} cannot be read (permission denied): give a readable file") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{source} is not UTF-8 text (byte {error.start}): give a YAML text file") from None
    return parse_yaml(text, source, max_nodes)


def _read_bounded(path, source, max_bytes):
    """The bytes of the regular file `path`, read only if there are at most `max_bytes` (ValueError if more):
    a FIFO or a device is refused before it is opened (opening a FIFO waits for a writer, /dev/zero never ends)."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise ValueError(f"{source} is a folder, not a file: give a YAML file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{source} is not a regular file (a FIFO, socket or device): give a YAML file")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)  # a file that grows, or lies about its size, still stops here
    if len(data) > max_bytes:
        raise ValueError(
            f"{source} is larger than {max_bytes / 2**20:g} MiB, the most a YAML input here may be: give a smaller file"
        )
    return data


def parse_yaml(text, source, max_nodes=MAX_NODES):
    """Parse YAML text safely; a syntax error is a ValueError of one line naming `source` and the line, and so is
    a document of more than `max_nodes` nodes (aliases expanded) or MAX_DEPTH levels, refused before it is built."""
    try:
        return _load(text, max_nodes)
    except _TooLarge as error:
        raise ValueError(f"{source} {error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{source} is not valid YAML{where}: {cut(error.problem, 3 * SHOWN)}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {cut(str(error).splitlines()[0], 3 * SHOWN)}") from None


def _load(text, max_nodes):
    loader = _Loader(text, max_nodes)  # a SafeLoader: no tags, no objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()

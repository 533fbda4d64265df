"""Characters grouped by what they share, so that one query serves a whole group: the characters of a crowd share
their terrain, and every terrain query of a step runs once per terrain rather than once per character."""

import numpy as np


def groups(items, key=id):
    """(first item, indices (n,) int array) of each group of `items` with equal key(item) (default: the same
    object), in order of first appearance."""
    found = {}
    for i, item in enumerate(items):
        found.setdefault(key(item), (item, []))[1].append(i)
    return [(item, np.array(indices)) for item, indices in found.values()]

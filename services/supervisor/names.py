"""Container names: Docker's rule for given names, and adjective_noun names when none is given."""

from __future__ import annotations

import random
import re

from services.common import errors

NAME_RE = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

_ADJECTIVES = ("agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy",
               "jolly", "keen", "lucid", "merry", "nimble", "quiet", "rapid", "sharp", "steady",
               "swift", "tidy", "vivid", "witty", "zen")
_NOUNS = ("anchor", "barge", "buoy", "cargo", "crane", "dock", "ferry", "galley", "harbor",
          "hull", "keel", "mast", "pier", "quay", "rudder", "sail", "tanker", "tugboat", "wharf")


def check(name: str) -> str:
    """The name as stored (with its leading slash), or a BadParameter."""
    if not NAME_RE.fullmatch(name):
        raise errors.BadParameter(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name if name.startswith("/") else "/" + name


def in_use(name: str, owner: str) -> errors.Conflict:
    """Docker's error for a name another container has."""
    return errors.Conflict(f'Conflict. The container name "{name}" is already in use by container '
                           f'"{owner}". You have to remove (or rename) that container to be able '
                           "to reuse that name.")


def generate(taken) -> str:
    for _ in range(1000):
        name = f"/{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}"
        if not taken(name):
            return name
    while True:
        name = f"/{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}{random.randint(0, 99999)}"
        if not taken(name):
            return name

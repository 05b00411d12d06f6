"""Image references as Docker reads them: grammar, defaults and their familiar spelling.

Grammar (distribution/reference): [domain[:port]/]path[:tag][@digest], where a path
component is [a-z0-9]+ joined by '.', '_', '__' or dashes, a tag is [\\w][\\w.-]{0,127}
and the whole name is at most 255 characters. Unqualified names belong to docker.io,
and one-component names there to its `library/` namespace; the familiar spelling drops
both, as the docker CLI shows names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common import errors

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"
NAME_MAX = 255

# Every pattern is used with fullmatch: `$` would also accept a final newline.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_DOMAIN_RE = re.compile(_DOMAIN, re.ASCII)
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
ID_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """The familiar repository name: `busybox`, `user/app`, `localhost:5000/app`."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_NAMESPACE + "/") and path.count("/") == 1:
                path = path[len(OFFICIAL_NAMESPACE) + 1:]
            return path
        return f"{self.domain}/{self.path}"

    @property
    def full_name(self) -> str:
        return f"{self.domain}/{self.path}"

    def with_default_tag(self) -> "Reference":
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG)
        return self

    def __str__(self) -> str:
        out = self.repository
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def parse(text: str) -> Reference:
    """Parse and normalize a reference; a bad one is a BadParameter saying why."""
    if not isinstance(text, str) or not text:
        raise errors.BadParameter("invalid reference format: empty name")
    if ID_RE.fullmatch(text):
        raise errors.BadParameter(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    name, digest = text, None
    if "@" in name:
        name, _, digest = name.partition("@")
        if not _DIGEST_RE.fullmatch(digest):
            raise errors.BadParameter(f"invalid reference format: bad digest in {text!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not TAG_RE.fullmatch(tag):
            raise errors.BadParameter(f"invalid reference format: bad tag {tag!r} in {text!r}")
    if len(name) > NAME_MAX:
        raise errors.BadParameter(f"invalid reference format: repository name must not be more "
                                  f"than {NAME_MAX} characters")
    domain, path = split_domain(name)
    if not _PATH_RE.fullmatch(path):
        if path.lower() != path and _PATH_RE.fullmatch(path.lower()):
            raise errors.BadParameter(
                f"invalid reference format: repository name ({path}) must be lowercase")
        raise errors.BadParameter(f"invalid reference format: {text!r}")
    if not _DOMAIN_RE.fullmatch(domain):
        raise errors.BadParameter(f"invalid reference format: bad registry host in {text!r}")
    return Reference(domain, path, tag, digest)


def split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    return domain, path


def check_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise errors.BadParameter(f"invalid tag format: {tag!r}")
    return tag


def repo_tag(repo: str, tag: str | None) -> Reference:
    """The reference `repo` and `tag` name together (the tag defaults to latest)."""
    ref = parse(repo)
    if ref.digest is not None:
        raise errors.BadParameter(f"invalid repository name {repo!r}: it must not hold a digest")
    if tag:
        if ref.tag is not None:
            raise errors.BadParameter(f"both {repo!r} and tag {tag!r} name a tag")
        ref = Reference(ref.domain, ref.path, check_tag(tag))
    return ref.with_default_tag()

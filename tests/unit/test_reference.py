"""Image references: parsing, normalizing to docker.io/library, the familiar spelling, repo_tag."""

import pytest

from services.common import errors
from services.common.store import reference
from services.common.store.reference import Reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("text, domain, path, tag, digest, familiar", [
    ("busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None, "busybox:1.36"),
    ("library/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("library/busybox:latest", "docker.io", "library/busybox", "latest", None, "busybox:latest"),
    ("docker.io/library/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("docker.io/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("index.docker.io/library/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("registry-1.docker.io/busybox:1", "docker.io", "library/busybox", "1", None, "busybox:1"),
    ("user/app", "docker.io", "user/app", None, None, "user/app"),
    ("docker.io/user/app:v2", "docker.io", "user/app", "v2", None, "user/app:v2"),
    ("docker.io/library/a/b", "docker.io", "library/a/b", None, None, "library/a/b"),
    ("localhost/app", "localhost", "app", None, None, "localhost/app"),
    ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None, "localhost:5000/app:v1"),
    ("registry.example.com:5000/a/b/c:tag", "registry.example.com:5000", "a/b/c", "tag", None,
     "registry.example.com:5000/a/b/c:tag"),
    ("registry.example.com/a", "registry.example.com", "a", None, None, "registry.example.com/a"),
    ("[::1]:5000/app", "[::1]:5000", "app", None, None, "[::1]:5000/app"),
    # An uppercase first component is a registry host, as in distribution/reference.
    ("Registry/app", "Registry", "app", None, None, "Registry/app"),
    # No slash: the colon starts a tag, so this is docker.io/library/localhost at tag 5000.
    ("localhost:5000", "docker.io", "library/localhost", "5000", None, "localhost:5000"),
    ("a.b_c__d-e--f", "docker.io", "library/a.b_c__d-e--f", None, None, "a.b_c__d-e--f"),
    ("busybox@" + DIGEST, "docker.io", "library/busybox", None, DIGEST, "busybox@" + DIGEST),
    ("busybox:1.36@" + DIGEST, "docker.io", "library/busybox", "1.36", DIGEST,
     "busybox:1.36@" + DIGEST),
    ("docker.io/library/busybox@" + DIGEST, "docker.io", "library/busybox", None, DIGEST,
     "busybox@" + DIGEST),
    ("localhost:5000/app@" + DIGEST, "localhost:5000", "app", None, DIGEST,
     "localhost:5000/app@" + DIGEST),
    ("busybox:" + "t" * 128, "docker.io", "library/busybox", "t" * 128, None, "busybox:" + "t" * 128),
    ("busybox:_under.score-1", "docker.io", "library/busybox", "_under.score-1", None,
     "busybox:_under.score-1"),
])
def test_parse_normalizes(text, domain, path, tag, digest, familiar):
    ref = reference.parse(text)
    assert ref == Reference(domain, path, tag, digest)
    assert str(ref) == familiar
    assert ref.full_name == f"{domain}/{path}"
    # The familiar spelling parses back to the same reference.
    assert reference.parse(str(ref)) == ref


def test_all_spellings_of_busybox_are_one_reference():
    spellings = ["busybox", "library/busybox", "docker.io/busybox", "docker.io/library/busybox",
                 "index.docker.io/library/busybox", "registry-1.docker.io/library/busybox"]
    assert {reference.parse(s) for s in spellings} == {Reference("docker.io", "library/busybox")}


@pytest.mark.parametrize("text, repository", [
    ("busybox", "busybox"),
    ("docker.io/library/busybox:1", "busybox"),
    ("user/app", "user/app"),
    ("docker.io/library/a/b", "library/a/b"),
    ("localhost:5000/app:v1", "localhost:5000/app"),
    ("registry.example.com:5000/a/b/c@" + DIGEST, "registry.example.com:5000/a/b/c"),
])
def test_repository_is_familiar_and_without_tag(text, repository):
    assert reference.parse(text).repository == repository


def test_name_of_exactly_255_characters_is_accepted():
    name = "a" * 255
    ref = reference.parse(name)
    assert ref.path == "library/" + name and str(ref) == name


@pytest.mark.parametrize("text, why", [
    ("", "empty"),
    ("Busybox", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("localhost:5000/App", "must be lowercase"),
    ("a//b", "invalid reference format"),
    ("-a", "invalid reference format"),
    ("a-", "invalid reference format"),
    ("a/", "invalid reference format"),
    ("/a", "invalid reference format"),
    ("a..b", "invalid reference format"),
    ("a___b", "invalid reference format"),
    ("a_/b", "invalid reference format"),
    ("busybox:" + "t" * 129, "bad tag"),
    ("busybox:", "bad tag"),
    ("busybox:-x", "bad tag"),
    ("busybox:.x", "bad tag"),
    ("busybox:1.36:x", "invalid reference format"),
    ("0123456789abcdef" * 4, "64-byte hexadecimal"),
    ("busybox@sha256:xyz", "bad digest"),
    ("busybox@sha256:" + "a" * 31, "bad digest"),
    ("busybox@", "bad digest"),
    ("busybox@" + "0" * 64, "bad digest"),
    ("busybox@1sha:" + "a" * 64, "bad digest"),
    ("a" * 256, "255 characters"),
    ("registry.example.com/" + "a" * 240, "255 characters"),
    ("../x", "invalid reference format"),
    ("../../etc/passwd", "invalid reference format"),
    ("./x", "invalid reference format"),
    ("-bad.com/app", "bad registry host"),
    ("localhost:abc/app", "bad registry host"),
    ("a:b/c", "bad registry host"),
    ("busy box", "invalid reference format"),
    ("\nbusybox", "invalid reference format"),
])
def test_bad_names_are_bad_parameters(text, why):
    with pytest.raises(errors.BadParameter) as info:
        reference.parse(text)
    assert why in info.value.message
    assert errors.http_status(info.value.kind) == 400


@pytest.mark.parametrize("value", [None, 5, b"busybox"])
def test_non_strings_are_bad_parameters(value):
    with pytest.raises(errors.BadParameter):
        reference.parse(value)


def test_with_default_tag():
    assert reference.parse("busybox").with_default_tag() == Reference("docker.io", "library/busybox", "latest")
    tagged = reference.parse("busybox:1.36")
    assert tagged.with_default_tag() is tagged
    pinned = reference.parse("busybox@" + DIGEST)
    assert pinned.with_default_tag() is pinned  # a digest needs no tag


@pytest.mark.parametrize("tag", ["latest", "1.36", "v1.0-rc_2", "_x", "t" * 128])
def test_check_tag_accepts(tag):
    assert reference.check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-x", ".x", "a b", "a:b", "a/b", "t" * 129])
def test_check_tag_refuses(tag):
    with pytest.raises(errors.BadParameter, match="invalid tag format"):
        reference.check_tag(tag)


# A trailing newline is not part of a name (Python's `$` would let one through), and a
# tag's \w is ASCII, as in distribution/reference.


def _refused(fn, *args) -> bool:
    try:
        fn(*args)
    except errors.BadParameter:
        return True
    return False


@pytest.mark.parametrize("text", ["busybox\n", "busybox:latest\n", "user/app\n:v1",
                                  "busybox@" + DIGEST + "\n"])
def test_trailing_newline_is_refused(text):
    assert _refused(reference.parse, text)


def test_trailing_newline_in_tag_is_refused():
    assert _refused(reference.check_tag, "v1\n")


@pytest.mark.parametrize("tag", ["\u00fc", "v\u00e9", "\u0661\u0662"])
def test_non_ascii_tag_is_refused(tag):
    assert _refused(reference.check_tag, tag)


# ------------------------------------------------------------------------- repo_tag


@pytest.mark.parametrize("repo, tag, expected", [
    ("busybox", None, "busybox:latest"),
    ("busybox", "", "busybox:latest"),
    ("busybox", "1.36", "busybox:1.36"),
    ("busybox:1.36", None, "busybox:1.36"),
    ("busybox:1.36", "", "busybox:1.36"),
    ("docker.io/library/busybox", "x", "busybox:x"),
    ("user/app", None, "user/app:latest"),
    ("localhost:5000/app", "v1", "localhost:5000/app:v1"),
    ("localhost:5000/app:v2", None, "localhost:5000/app:v2"),
    ("registry.example.com:5000/a/b/c", "tag", "registry.example.com:5000/a/b/c:tag"),
])
def test_repo_tag(repo, tag, expected):
    ref = reference.repo_tag(repo, tag)
    assert str(ref) == expected
    assert ref.tag is not None and ref.digest is None


@pytest.mark.parametrize("repo, tag, why", [
    ("busybox:1.36", "x", "both"),
    ("busybox@" + DIGEST, None, "must not hold a digest"),
    ("busybox:1@" + DIGEST, None, "must not hold a digest"),
    ("busybox", "bad tag", "invalid tag format"),
    ("busybox", "t" * 129, "invalid tag format"),
    ("busybox", "-x", "invalid tag format"),
    ("Busybox", None, "must be lowercase"),
    ("", "x", "empty"),
    ("0123456789abcdef" * 4, None, "64-byte hexadecimal"),
])
def test_repo_tag_refuses(repo, tag, why):
    with pytest.raises(errors.BadParameter) as info:
        reference.repo_tag(repo, tag)
    assert why in info.value.message

""".dockerignore reading and matching (services/builder/dockerignore.py).

Expectations follow Docker's ignorefile and patternmatcher tests and the build-context
documentation's .dockerignore section.
"""

import random

import pytest

from services.builder.dockerignore import Matcher, read_patterns
from services.common import errors

# ------------------------------------------------------------------------- read_patterns


def test_read_patterns_like_ignorefile_readall():
    content = ("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
               "! /inverted/abs/path\n!\n! ")
    assert read_patterns(content) == ["test1", "test2", "a/file/here", "lastfile",
                                      "!inverted/abs/path", "!", "!"]


@pytest.mark.parametrize("data, patterns", [
    (b"", []),
    (b"\xef\xbb\xbf*.md\n", ["*.md"]),                  # a UTF-8 BOM is dropped
    (b"a\r\nb\r\n", ["a", "b"]),                        # CRLF lines
    (b"  spaced  \n\t\n", ["spaced"]),
    (b"# comment\n  # not a comment\n", ["# not a comment"]),  # only a leading #
    (b"./a/../b//c/\n", ["b/c"]),                       # filepath.Clean
    (b"/\n", ["/"]),
    (b"//x\n", ["x"]),
    (b"!./keep\n", ["!keep"]),
    (b"*/temp*\n*/*/temp*\ntemp?\n", ["*/temp*", "*/*/temp*", "temp?"]),
    (b"last\xff\n", ["last\udcff"]),                    # undecodable bytes kept as os does
    ("str input\n", ["str input"]),
])
def test_read_patterns(data, patterns):
    assert read_patterns(data) == patterns


# ------------------------------------------------------------------------------ Matcher

# (pattern, path, excluded) from patternmatcher's TestMatches.
SINGLE = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True), ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True),
    (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False), ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True), ("a\\*b", "axb", False),
    # the docs' examples
    ("*/temp*", "somedir/temporary.txt", True), ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp", False), ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("temp?", "tempa", True), ("temp?", "temp", False), ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "main.go", True), ("**/*.go", "main.gox", False),
    # a parent match excludes everything below it; `*` stays within one name
    ("docs", "docs/a/b.md", True), ("*.md", "x.md/inner", True), ("*.md", "a/x.md", False),
    ("**foo", "barfoo", True),  # Docker's suffix match is a plain string test
    ("[!a]", "!", True), ("[!a]", "b", False),  # `!` is no negation in a class
    ("[\\]]", "]", True), ("[a-c]", "b", True), ("x[^a-c]y", "x/y", True),
]


@pytest.mark.parametrize("pattern, path, excluded", SINGLE)
def test_single_pattern(pattern, path, excluded):
    assert Matcher([pattern]).excluded(path) is excluded


MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),     # the last match wins
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "CHANGES.md", True),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    (["vendor", "!vendor/keep/**"], "vendor/keep/a/b", False),
    (["vendor", "!vendor/keep/**"], "vendor/keep", True),
    (["*", "!src"], "src/deep/file", False),
    ([], "anything", False),
]


@pytest.mark.parametrize("patterns, path, excluded", MULTI)
def test_multiple_patterns(patterns, path, excluded):
    matcher = Matcher(patterns)
    assert matcher.excluded(path) is excluded
    # the walker's incremental form agrees
    parts, hits = path.split("/"), None
    for i in range(len(parts)):
        result, hits = matcher.excluded_below("/".join(parts[:i + 1]), hits)
    assert result is excluded


def test_root_is_never_excluded():
    matcher = Matcher(["*", "**", "."])
    assert not matcher.excluded(".")
    assert not matcher.excluded("")
    assert matcher.excluded("x")


def test_patterns_read_from_a_file_with_leading_slash_and_comments():
    matcher = Matcher(read_patterns(b"# build output\n/build\n\n!/build/keep.txt\n"))
    assert matcher.excluded("build/out.o")
    assert not matcher.excluded("build/keep.txt")
    assert not matcher.excluded("src/build")  # `/build` is anchored at the context root


@pytest.mark.parametrize("pattern", [
    "[", "a[", "[]", "[]a]", "[a-]", "[-a]", "a\\", "[^]", "[a", "[\\", "[a-z", "x/[/",
    "[b-a]x",  # a reversed range: Docker's regexp refuses it when matching
])
def test_malformed_patterns_are_bad_parameters(pattern):
    with pytest.raises(errors.BadParameter, match="syntax error in pattern"):
        Matcher([pattern])


def test_lone_exclamation_mark_is_refused():
    with pytest.raises(errors.BadParameter, match='illegal exclusion pattern: "!"'):
        Matcher(read_patterns("a\n!\n"))


# ------------------------------------------------------------ dir_may_hold_inclusions


@pytest.mark.parametrize("patterns, directory, descend", [
    (["vendor"], "vendor", False),                        # no `!` at all
    (["vendor", "!vendor/keep"], "vendor", True),
    (["vendor", "!vendor/keep"], "other", False),
    (["vendor", "!vendor/a/b"], "vendor/a", True),
    (["vendor", "!vendor/a/b"], "vendor/x", False),
    (["vendor", "!vendor"], "vendor/x", False),           # only an ancestor: decides nothing new
    (["vendor", "!vendor/*.go"], "vendor", True),
    (["vendor", "!vendor/*.go"], "vendor/sub", False),
    (["vendor", "!**/*.go"], "vendor/deep/er", True),     # ** reaches any depth
    (["vendor", "!*/keep"], "vendor", True),
    (["vendor", "!*/keep"], "vendor/x", False),
    (["a", "!a/**/k"], "a/x/y/z", True),
    (["a", "!b/**/k"], "a", False),
    (["a", "![^x]/k"], "a", True),                        # a negated class may match `/`
])
def test_dir_may_hold_inclusions(patterns, directory, descend):
    assert Matcher(patterns).dir_may_hold_inclusions(directory) is descend


def _walk_keeps(matcher, paths):
    """What a walker keeps: it skips an excluded directory unless told to descend."""
    kept = set()
    tree: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split("/")
        for i in range(len(parts)):
            parent = "/".join(parts[:i])
            child = "/".join(parts[:i + 1])
            tree.setdefault(parent, [])
            if child not in tree[parent]:
                tree[parent].append(child)

    def visit(directory):
        for child in tree.get(directory, []):
            excluded = matcher.excluded(child)
            if not excluded:
                kept.add(child)
            if child in tree and (not excluded or matcher.dir_may_hold_inclusions(child)):
                visit(child)
    visit("")
    return kept


def test_dir_may_hold_inclusions_never_hides_a_reincluded_path():
    rng = random.Random(7)
    names = ["a", "b", "go", "x.go", "keep"]
    pieces = ["a", "b", "*", "**", "?", "*.go", "keep", "[ab]", "x*"]
    for _ in range(400):
        paths = {"/".join(rng.choice(names) for _ in range(rng.randint(1, 4))) for _ in range(12)}
        patterns = []
        for _ in range(rng.randint(1, 4)):
            pattern = "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 3)))
            patterns.append(("!" if rng.random() < 0.5 else "") + pattern)
        matcher = Matcher(patterns)
        every = {p for path in paths for p in ("/".join(path.split("/")[:i + 1])
                                               for i in range(len(path.split("/"))))}
        wanted = {p for p in every if not matcher.excluded(p)}
        assert wanted <= _walk_keeps(matcher, paths), patterns


def test_random_patterns_give_a_matcher_or_bad_parameter():
    rng = random.Random(99)
    alphabet = "ab*?[]^-\\/!.# "
    for _ in range(4000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        try:
            matcher = Matcher(read_patterns(pattern))
        except errors.BadParameter:
            continue
        for path in ("a", "a/b", "ab/ba", "-", "]", "a/b/c/d"):
            assert isinstance(matcher.excluded(path), bool)
            assert isinstance(matcher.dir_may_hold_inclusions(path), bool)

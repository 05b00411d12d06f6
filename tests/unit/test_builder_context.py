"""Receiving a build context (services/builder/context.py): safe extraction of the uploaded
tar, locating the Dockerfile, and applying .dockerignore. Tars are made in tmp_path."""

import bz2
import gzip
import io
import lzma
import os
import random
import stat
import tarfile

import pytest
import zstandard

from services.builder import context
from services.common import errors

MB = 1 << 20


# ---------------------------------------------------------------------------- helpers


def f(name, data=b"", mode=0o644, mtime=1_600_000_000, uid=0):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uid = len(data), mode, mtime, uid
    return info, data


def d(name, mode=0o755, mtime=1_600_000_000):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
    return info, None


def sym(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def hard(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info, None


def special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


COMPRESS = {
    "none": lambda b: b,
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.fixture
def ctx(tmp_path):
    """extract(entries) -> the root they were extracted into."""
    counter = iter(range(1000))

    def run(entries, compress="none", max_bytes=64 * MB, raw=None):
        n = next(counter)
        tar_path = tmp_path / f"ctx{n}.tar"
        tar_path.write_bytes(raw if raw is not None else COMPRESS[compress](tar_bytes(entries)))
        root = tmp_path / f"root{n}"
        root.mkdir(mode=0o700)
        context.extract(str(tar_path), str(root), max_bytes)
        return root
    return run


def tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = "-> " + os.readlink(full)
            elif os.path.isdir(full):
                out[rel] = "dir"
            else:
                with open(full, "rb") as fh:
                    out[rel] = fh.read()
    return out


# ---------------------------------------------------------------------------- extract


@pytest.mark.parametrize("kind", list(COMPRESS))
def test_extract_every_compression(ctx, kind):
    root = ctx([d("src"), f("src/main.go", b"package main\n"), f("Dockerfile", b"FROM x\n")], kind)
    assert tree(root) == {"src": "dir", "src/main.go": b"package main\n",
                          "Dockerfile": b"FROM x\n"}


def test_modes_and_times_are_kept_owners_are_not(ctx):
    root = ctx([d("bin", mode=0o750, mtime=1_500_000_000),
                f("bin/tool", b"#!/bin/sh\n", mode=0o4755, mtime=1_400_000_000, uid=12345),
                f("ro.txt", b"x", mode=0o444)])
    tool = os.stat(root / "bin/tool")
    assert stat.S_IMODE(tool.st_mode) == 0o4755 and tool.st_mtime == 1_400_000_000
    assert tool.st_uid == os.geteuid()
    binst = os.stat(root / "bin")
    assert binst.st_mtime == 1_500_000_000
    assert stat.S_IMODE(binst.st_mode) == (0o750 if os.geteuid() == 0 else 0o750 | 0o700)
    assert stat.S_IMODE(os.stat(root / "ro.txt").st_mode) == 0o444


def test_parents_without_entries_are_made_0755(ctx):
    old = os.umask(0o077)
    try:
        root = ctx([f("a/b/c/file.txt", b"deep")])
    finally:
        os.umask(old)
    assert (root / "a/b/c/file.txt").read_bytes() == b"deep"
    for sub in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE(os.stat(root / sub).st_mode) == 0o755


def test_read_only_directory_still_receives_its_entries(ctx):
    root = ctx([d("locked", mode=0o555), f("locked/inside", b"in")])
    assert (root / "locked/inside").read_bytes() == b"in"
    os.chmod(root / "locked", 0o755)


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/../escape",
                                  "./../../../tmp/escape"])
def test_climbing_names_are_refused(ctx, tmp_path, name):
    with pytest.raises(errors.BadParameter, match="outside the build context"):
        ctx([f(name, b"pwned")])
    assert not any(p.name == "escape" for p in tmp_path.rglob("escape"))


def test_absolute_names_stay_inside(ctx):
    root = ctx([f("/etc/dockyard-context-test", b"inside"), f("//x//y/./z", b"z")])
    assert (root / "etc/dockyard-context-test").read_bytes() == b"inside"
    assert (root / "x/y/z").read_bytes() == b"z"
    assert not os.path.exists("/etc/dockyard-context-test")


def test_symlinks_are_made_but_never_followed(ctx, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_bytes(b"original")
    with pytest.raises(errors.BadParameter, match="not a directory"):
        ctx([sym("evil", str(outside)), f("evil/passwd", b"pwned")])
    assert (outside / "passwd").read_bytes() == b"original"
    with pytest.raises(errors.BadParameter, match="not a directory"):
        ctx([sym("rel", "../outside"), f("rel/new", b"pwned")])
    assert not (outside / "new").exists()


def test_symlink_to_etc_then_passwd_does_not_write_etc_passwd(ctx):
    before = open("/etc/passwd", "rb").read()
    with pytest.raises(errors.BadParameter):
        ctx([sym("evil", "/etc"), f("evil/passwd", b"root::0:0::/:/bin/sh\n")])
    assert open("/etc/passwd", "rb").read() == before


def test_symlinks_keep_their_targets_verbatim(ctx):
    root = ctx([sym("abs", "/etc/passwd"), sym("up", "../../../x"), sym("dot", ".")])
    assert tree(root) == {"abs": "-> /etc/passwd", "up": "-> ../../../x", "dot": "-> ."}


def test_file_over_a_symlink_replaces_the_link(ctx, tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"original")
    root = ctx([sym("f", str(target)), f("f", b"new")])
    assert target.read_bytes() == b"original"
    assert not os.path.islink(root / "f") and (root / "f").read_bytes() == b"new"


def test_hardlinks_only_to_entries_already_inside(ctx, tmp_path):
    root = ctx([f("a", b"shared"), hard("b", "a"), hard("c", "/a")])
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino == os.stat(root / "c").st_ino
    for target in ("../../../../etc/passwd", "/etc/passwd", "missing", "", "sub"):
        with pytest.raises(errors.BadParameter):
            ctx([d("sub"), hard("link", target)])
    with pytest.raises(errors.BadParameter):
        ctx([f("self", b"x"), hard("self", "self")])


def test_hardlink_through_a_symlink_is_refused(ctx, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_bytes(b"secret")
    with pytest.raises(errors.BadParameter):
        ctx([sym("s", str(outside)), hard("stolen", "s/key")])


def test_devices_and_fifos_are_skipped(ctx):
    root = ctx([special("dev/null", tarfile.CHRTYPE), special("dev/sda", tarfile.BLKTYPE),
                special("pipe", tarfile.FIFOTYPE), f("kept", b"k")])
    assert tree(root) == {"kept": b"k"}


def test_whiteout_names_are_plain_files(ctx):
    root = ctx([f("a", b"a"), f(".wh.a", b"not a whiteout"), f("d/.wh..wh..opq", b"o")])
    assert tree(root) == {"a": b"a", ".wh.a": b"not a whiteout", "d": "dir",
                          "d/.wh..wh..opq": b"o"}


def test_later_entries_replace_earlier_ones(ctx):
    root = ctx([f("x", b"file"), d("x"), f("x/in", b"in"),
                d("y"), f("y/in", b"gone"), f("y", b"now a file"),
                d("z", mode=0o700), d("z", mode=0o711)])
    assert tree(root)["x/in"] == b"in"
    assert (root / "y").read_bytes() == b"now a file"
    if os.geteuid() == 0:
        assert stat.S_IMODE(os.stat(root / "z").st_mode) == 0o711


def test_times_out_of_range_become_1970(ctx):
    root = ctx([f("old", b"", mtime=-5), f("far", b"", mtime=1 << 40)])
    assert os.stat(root / "old").st_mtime == 0
    assert os.stat(root / "far").st_mtime == 0


def test_size_cap(ctx):
    big = os.urandom(300_000)
    with pytest.raises(errors.PayloadTooLarge, match="larger than 100000 bytes"):
        ctx([f("big", big)], max_bytes=100_000)
    root = ctx([f("big", big)], max_bytes=1 * MB)
    assert (root / "big").read_bytes() == big


def test_decompression_bomb_stops_at_the_cap(ctx, tmp_path):
    bomb = gzip.compress(tar_bytes([f("zeros", b"\0" * (32 * MB))]))
    assert len(bomb) < 100_000
    with pytest.raises(errors.PayloadTooLarge):
        ctx([], raw=bomb, max_bytes=1 * MB)


@pytest.mark.parametrize("raw", [
    b"this is not a tar archive at all" * 40,
    b"short",
    gzip.compress(b"not a tar inside gzip" * 50),
    b"\x1f\x8b\x08\x00garbage-after-gzip-magic" * 10,
    b"BZh9" + b"\x00" * 100,
    b"\xfd7zXZ\x00" + b"\x01" * 100,
])
def test_not_a_tar_is_a_bad_parameter(ctx, raw):
    with pytest.raises(errors.BadParameter, match="not a valid tar archive"):
        ctx([], raw=raw)


def test_truncated_tar_is_a_bad_parameter(ctx):
    whole = tar_bytes([f("file", os.urandom(50_000))])
    with pytest.raises(errors.BadParameter, match="not a valid tar archive"):
        ctx([], raw=whole[:20_000])


def test_empty_body_is_an_empty_context(ctx):
    assert tree(ctx([], raw=b"")) == {}
    assert tree(ctx([])) == {}


def test_too_deep_or_too_long_names_are_refused(ctx):
    with pytest.raises(errors.BadParameter, match="nested too deeply or named too long"):
        ctx([f("a/" * (context.MAX_DEPTH + 1) + "f")])
    with pytest.raises(errors.BadParameter):
        ctx([f("x" * 300)])  # longer than a name may be


def test_random_corruptions_give_a_result_or_a_clean_error(tmp_path):
    good = tar_bytes([d("dir"), f("dir/a", b"a" * 700), sym("l", "dir"), hard("h", "dir/a"),
                      f("b", b"b" * 2000)])
    rng = random.Random(5)
    for i in range(150):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        tar_path = tmp_path / "fuzz.tar"
        tar_path.write_bytes(bytes(data[:rng.randint(0, len(data))] if i % 3 == 0 else data))
        root = tmp_path / f"fuzz{i}"
        root.mkdir()
        try:
            context.extract(str(tar_path), str(root), 1 * MB)
        except errors.DockyardError:
            pass


# -------------------------------------------------------------------- dockerfile_path


def test_default_dockerfile_and_lower_case_fallback(ctx):
    root = ctx([f("Dockerfile", b"FROM a\n"), f("dockerfile", b"FROM b\n")])
    assert context.dockerfile_path(str(root), None) == str(root / "Dockerfile")
    assert context.dockerfile_path(str(root), "") == str(root / "Dockerfile")
    root = ctx([f("dockerfile", b"FROM b\n")])
    assert context.dockerfile_path(str(root), None) == str(root / "dockerfile")
    assert context.dockerfile_path(str(root), "Dockerfile") == str(root / "dockerfile")
    with pytest.raises(errors.BadParameter, match="Cannot locate specified Dockerfile: Docker"):
        context.dockerfile_path(str(root), "Dockerfile.dev")


def test_missing_dockerfile(ctx):
    root = ctx([f("README", b"")])
    with pytest.raises(errors.BadParameter) as info:
        context.dockerfile_path(str(root), None)
    assert info.value.message == "Cannot locate specified Dockerfile: Dockerfile"


@pytest.mark.parametrize("name, rel", [
    ("sub/dir/Dockerfile.dev", "sub/dir/Dockerfile.dev"),
    ("./x", "x"),
    ("sub/../x", "x"),
    ("/x", "x"),                       # an absolute name is taken inside the context
    ("sub//dir/./Dockerfile.dev", "sub/dir/Dockerfile.dev"),
])
def test_dockerfile_names_inside_the_context(ctx, name, rel):
    root = ctx([f("sub/dir/Dockerfile.dev", b"FROM s\n"), f("x", b"FROM x\n")])
    assert context.dockerfile_path(str(root), name) == str(root / rel)


@pytest.mark.parametrize("name", ["../x", "sub/../../x", "/../x", ".."])
def test_dockerfile_outside_the_context(ctx, name):
    root = ctx([f("x", b"FROM x\n")])
    with pytest.raises(errors.BadParameter) as info:
        context.dockerfile_path(str(root), name)
    assert info.value.message == f"the Dockerfile ({name}) must be within the build context"


def test_absolute_dockerfile_name_never_reads_the_host(ctx):
    root = ctx([f("x", b"FROM x\n")])
    with pytest.raises(errors.BadParameter, match="Cannot locate specified Dockerfile: /etc/pa"):
        context.dockerfile_path(str(root), "/etc/passwd")
    root = ctx([f("etc/passwd", b"FROM inside\n")])
    assert context.dockerfile_path(str(root), "/etc/passwd") == str(root / "etc/passwd")


def test_dockerfile_symlinks_resolve_only_inside(ctx):
    root = ctx([sym("Dockerfile", "/etc/passwd")])
    with pytest.raises(errors.BadParameter, match="Cannot locate"):
        context.read_dockerfile(str(root), None)
    root = ctx([sym("Dockerfile", "../../../../etc/passwd")])
    with pytest.raises(errors.BadParameter, match="Cannot locate"):
        context.read_dockerfile(str(root), None)
    root = ctx([f("etc/passwd", b"FROM scoped\n"), sym("Dockerfile", "../../../../etc/passwd"),
                sym("build", "/etc"), sym("abs", "/build/passwd")])
    assert context.read_dockerfile(str(root), None) == b"FROM scoped\n"
    assert context.dockerfile_path(str(root), "build/passwd") == str(root / "etc/passwd")
    assert context.read_dockerfile(str(root), "abs") == b"FROM scoped\n"


def test_dockerfile_symlink_loop_and_non_files(ctx):
    root = ctx([sym("Dockerfile", "Dockerfile"), sym("a", "b"), sym("b", "a"), d("dir"),
                f("dockerfile", b"FROM lower\n")])
    with pytest.raises(errors.BadParameter, match="too many levels"):
        context.dockerfile_path(str(root), None)
    with pytest.raises(errors.BadParameter, match="too many levels"):
        context.dockerfile_path(str(root), "a")
    with pytest.raises(errors.BadParameter, match="not a regular file"):
        context.dockerfile_path(str(root), "dir")
    with pytest.raises(errors.BadParameter, match="Cannot locate"):
        context.dockerfile_path(str(root), "bad\0name")


def test_read_dockerfile(ctx):
    root = ctx([f("Dockerfile", b"FROM busybox\n"), f("empty", b""), f("big", b"#" * 2000)])
    assert context.read_dockerfile(str(root), None) == b"FROM busybox\n"
    with pytest.raises(errors.BadParameter, match=r"the Dockerfile \(empty\) cannot be empty"):
        context.read_dockerfile(str(root), "empty")
    with pytest.raises(errors.PayloadTooLarge):
        context.read_dockerfile(str(root), "big", max_bytes=1000)
    assert len(context.read_dockerfile(str(root), "big", max_bytes=2000)) == 2000


# ------------------------------------------------------------------ apply_dockerignore


def test_no_dockerignore_changes_nothing(ctx):
    root = ctx([f("Dockerfile", b"FROM x\n"), f("a/b", b"b")])
    before = tree(root)
    context.apply_dockerignore(str(root), "Dockerfile")
    assert tree(root) == before


def test_reinclusion_under_an_excluded_directory(ctx):
    ignore = b"# vendored code\nvendor\n!vendor/keep\n!vendor/**/*.go\n"
    root = ctx([f(".dockerignore", ignore), f("Dockerfile", b"FROM x\n"),
                f("vendor/drop.txt", b""), f("vendor/keep/a.txt", b"a"),
                f("vendor/deep/er/x.go", b"go"), f("vendor/deep/er/x.c", b"c"),
                f("vendor/other/y.txt", b""), f("main.go", b"main")])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert sorted(tree(root)) == [".dockerignore", "Dockerfile", "main.go", "vendor",
                                  "vendor/deep", "vendor/deep/er", "vendor/deep/er/x.go",
                                  "vendor/keep", "vendor/keep/a.txt"]


def test_double_star_and_leading_slash(ctx):
    ignore = b"**/*.go\n/build\n!cmd/keep.go\n"
    root = ctx([f(".dockerignore", ignore), f("Dockerfile", b""), f("a.go", b""),
                f("pkg/x/b.go", b""), f("pkg/x/b.txt", b""), f("cmd/keep.go", b""),
                f("build/out", b""), f("src/build/kept", b"")])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert sorted(p for p, v in tree(root).items() if v != "dir") == [
        ".dockerignore", "Dockerfile", "cmd/keep.go", "pkg/x/b.txt", "src/build/kept"]
    assert not (root / "build").exists()


def test_dockerfile_and_dockerignore_are_removed_when_listed(ctx):
    ignore = b"Dockerfile\n.dockerignore\ndocker/\n"
    root = ctx([f(".dockerignore", ignore), f("Dockerfile", b"FROM x\n"),
                f("docker/Dockerfile.prod", b"FROM y\n"), f("app.py", b"")])
    assert context.read_dockerfile(str(root), "docker/Dockerfile.prod") == b"FROM y\n"
    context.apply_dockerignore(str(root), "docker/Dockerfile.prod")
    assert tree(root) == {"app.py": b""}


def test_dockerignore_never_follows_symlinks(ctx, tmp_path):
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "x.go").write_bytes(b"host")
    ignore = b"**/*.go\nlinkdir/**\n"
    root = ctx([f(".dockerignore", ignore), sym("link", str(outside)), sym("linkdir", str(outside)),
                f("keep.txt", b"")])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert (outside / "x.go").read_bytes() == b"host"
    assert tree(root) == {".dockerignore": ignore, "link": f"-> {outside}",
                          "linkdir": f"-> {outside}", "keep.txt": b""}
    root = ctx([f(".dockerignore", b"link\n"), sym("link", str(outside))])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert not os.path.lexists(root / "link") and (outside / "x.go").exists()


def test_dockerignore_symlink_is_read_inside_the_context(ctx):
    root = ctx([f("rules", b"*.log\n"), sym(".dockerignore", "/rules"), f("a.log", b""),
                f("a.txt", b"")])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert sorted(tree(root)) == [".dockerignore", "a.txt", "rules"]
    root = ctx([sym(".dockerignore", "/etc/passwd"), f("a.log", b"")])
    context.apply_dockerignore(str(root), "Dockerfile")  # missing inside: nothing excluded
    assert sorted(tree(root)) == [".dockerignore", "a.log"]


def test_bad_dockerignore(ctx):
    root = ctx([f(".dockerignore", b"[\n")])
    with pytest.raises(errors.BadParameter, match="error reading .dockerignore: syntax error"):
        context.apply_dockerignore(str(root), "Dockerfile")
    root = ctx([d(".dockerignore")])
    with pytest.raises(errors.BadParameter, match="not a regular file"):
        context.apply_dockerignore(str(root), "Dockerfile")
    root = ctx([f(".dockerignore", b"#" * (context.MAX_DOCKERIGNORE_BYTES + 1))])
    with pytest.raises(errors.PayloadTooLarge):
        context.apply_dockerignore(str(root), "Dockerfile")


def test_excluding_everything_but_one_directory(ctx):
    root = ctx([f(".dockerignore", b"*\n!src\n"), f("Dockerfile", b""), f("src/a/b", b"b"),
                f("secret.key", b"k"), d("empty")])
    context.apply_dockerignore(str(root), "Dockerfile")
    assert tree(root) == {"src": "dir", "src/a": "dir", "src/a/b": b"b"}


# ------------------------------------------------- extract: safetar's extractor, a context's rules


def sparse(name, size):
    """A PAX 0.0 sparse file `size` bytes long that carries a single byte of data."""
    info = tarfile.TarInfo(name)
    info.size = 1
    info.pax_headers = {"GNU.sparse.size": str(size), "GNU.sparse.numblocks": "1",
                        "GNU.sparse.offset": str(size - 1), "GNU.sparse.numbytes": "1"}
    return info, b"x"


def test_the_cap_counts_what_is_written_not_only_what_is_read(ctx, tmp_path):
    assert len(tar_bytes([sparse("holes", 4 * MB)])) < 20_000
    with pytest.raises(errors.PayloadTooLarge, match="the build context is larger than"):
        ctx([sparse("holes", 4 * MB)], max_bytes=1 * MB)
    root = ctx([sparse("holes", 4 * MB)], max_bytes=5 * MB)
    assert os.stat(root / "holes").st_size == 4 * MB


def test_messages_speak_of_the_build_context(ctx):
    cases = [([f("../x")], "build context entry '../x' points outside the build context"),
             ([sym("s", "/etc"), f("s/passwd")],
              "build context entry 's/passwd' goes through 's', which is not a directory"),
             ([hard("h", "nowhere/file")], "build context entry 'h': nowhere does not exist"),
             ([f("n" * 300)], "build context entry 'n+' cannot be made"),
             ([sym("empty", "")], "build context entry 'empty' is a symlink to nothing")]
    for entries, message in cases:
        with pytest.raises(errors.BadParameter, match=message) as info:
            ctx(entries)
        assert "layer" not in info.value.message
    with pytest.raises(errors.BadParameter) as info:
        ctx([], raw=b"junk" * 300)
    assert info.value.message.startswith("the build context is not a valid tar archive")


def test_hardlinks_to_what_the_entry_replaced_are_refused(ctx):
    with pytest.raises(errors.BadParameter, match="which it replaced"):
        ctx([d("d"), f("d/f", b"x"), hard("d", "d/f")])
    root = ctx([f("a", b"one"), f("b", b"two"), hard("b", "a")])
    assert (root / "b").read_bytes() == b"one"
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino


def test_the_root_entry_is_left_alone(ctx):
    root = ctx([d("./", mode=0o777, mtime=1_000_000), f("x", b"x")])
    st = os.stat(root)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_mtime != 1_000_000


def test_unknown_types_and_skipped_entries_leave_no_parents(ctx):
    root = ctx([special("odd/thing", b"Z"), special("dev/sub/tty", tarfile.CHRTYPE), f("k", b"k")])
    assert tree(root) == {"k": b"k"}


def test_xattrs_are_not_kept(ctx):
    info, data = f("x", b"x")
    info.pax_headers = {"SCHILY.xattr.user.test": "v"}
    root = ctx([(info, data)])
    assert os.listxattr(root / "x") == []


def test_an_empty_compressed_body_is_an_empty_context(ctx):
    assert tree(ctx([], raw=gzip.compress(b""))) == {}
    assert tree(ctx([], raw=zstandard.ZstdCompressor().compress(b""))) == {}


def test_the_context_extractor_is_safetars():
    for name in ("_Extractor", "_make", "_hardlink", "_parent", "finish", "_entry_errors"):
        assert not hasattr(context, name)

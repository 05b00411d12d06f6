"""Safe tar pieces that need no daemon: lexical cleaning of entry names, compression sniffing,
the hashing and size-capping reader, and extraction refusing what the kernel would refuse.

The hostile-layer suite against a running daemon is tests/integration/test_hostile_layers.py.
"""

import bz2
import dataclasses
import gzip
import hashlib
import io
import lzma
import os
import tarfile

import pytest
import zstandard

from services.common import compression, errors, safetar
from services.common.safetar import LayerError, clean

# ----------------------------------------------------------------------------- clean()


@pytest.mark.parametrize("name, parts", [
    ("a", ["a"]),
    ("a/b/c", ["a", "b", "c"]),
    ("a/../b", ["b"]),
    ("a/b/../../c", ["c"]),
    ("a/b/..", ["a"]),
    ("./a/./b/.", ["a", "b"]),
    ("a//b///c/", ["a", "b", "c"]),
    ("/abs/path", ["abs", "path"]),
    ("//double/lead", ["double", "lead"]),
    ("/tmp/abs-x", ["tmp", "abs-x"]),
    ("", []),
    (".", []),
    ("./", []),
    ("/", []),
    ("a/..", []),
    ("a/b/../..", []),
    ("..a", ["..a"]),
    ("a..", ["a.."]),
    ("...", ["..."]),
    ("a/.../b", ["a", "...", "b"]),
    (".wh..wh..opq", [".wh..wh..opq"]),
    ("a\\..\\b", ["a\\..\\b"]),  # a backslash is part of a name on Linux, not a separator
])
def test_clean(name, parts):
    assert clean(name) == parts


@pytest.mark.parametrize("name", [
    "..",
    "../",
    "../x",
    "../../../../tmp/x",
    "./../x",
    "/..",
    "/../etc/passwd",
    "a/../..",
    "a/../../x",
    "a/b/../../../x",
    "a/./../b/../../x",
    "a/../b/../../x",
    "../" * 100 + "etc/passwd",
])
def test_clean_refuses_climbing_out(name):
    with pytest.raises(LayerError, match="points outside the layer"):
        clean(name)


def test_clean_never_yields_dot_components():
    for name in ["a/./b/../c/.", "x/y/z/../../w", "/p/q/./r/..", "m/../n/./o//"]:
        parts = clean(name)
        assert parts and all(p not in ("", ".", "..") and "/" not in p for p in parts)


def test_layer_error_is_a_bad_parameter():
    with pytest.raises(errors.BadParameter) as info:
        clean("../x")
    assert errors.http_status(info.value.kind) == 400
    assert "'../x'" in info.value.message


# -------------------------------------------------------------------- compression.detect


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        data = b"hello, layer\n" * 50
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


COMPRESSORS = {
    "gzip": lambda b: gzip.compress(b, mtime=0),
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
    "none": lambda b: b,
}


@pytest.mark.parametrize("head, kind", [
    (b"\x1f\x8b\x08\x00", "gzip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh91AY&SY", "bzip2"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00\x00\x04", "xz"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd\x24\x00", "zstd"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"hello.txt\x00\x00\x00", "none"),
    (b"", "none"),
    (b"\x1f", "none"),            # a magic cut short is no magic
    (b"BZ", "none"),
    (b"\xfd7zXZ", "none"),
    (b"\x28\xb5\x2f", "none"),
    (b"\x8b\x1f", "none"),
    (b"bzh9", "none"),
    (b"PK\x03\x04", "none"),      # zip is not a layer compression
])
def test_detect_magic(head, kind):
    assert compression.detect(head) == kind


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_detect_real_streams(kind):
    assert compression.detect(COMPRESSORS[kind](_tar())) == kind


def test_plain_tar_is_none():
    assert compression.detect(_tar()[:8]) == "none"
    assert compression.detect(b"\x00" * 1024) == "none"


@pytest.mark.parametrize("kind", list(COMPRESSORS))
def test_detect_file_keeps_position_and_round_trips(kind):
    plain = _tar()
    fh = io.BytesIO(b"prefix" + COMPRESSORS[kind](plain))
    fh.seek(6)
    assert compression.detect_file(fh) == kind
    assert fh.tell() == 6
    assert compression.open_decompressed(fh, kind).read() == plain


def test_every_kind_has_a_media_type():
    assert set(compression.MEDIA_TYPES) == set(COMPRESSORS)


# ------------------------------------------------------------------------ HashingReader


def test_hashing_reader_counts_and_hashes():
    data = os.urandom(300_000)
    reader = compression.HashingReader(io.BytesIO(data))
    got = b"".join(iter(lambda: reader.read(65536), b""))
    assert got == data and reader.count == len(data)
    assert reader.digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_hashing_reader_drain_hashes_the_rest():
    data = b"x" * 5_000_000
    reader = compression.HashingReader(io.BytesIO(data))
    reader.read(10)
    reader.drain()
    assert reader.count == len(data)
    assert reader.digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_hashing_reader_of_nothing():
    reader = compression.HashingReader(io.BytesIO(b""), limit=0)
    assert reader.read() == b"" and reader.count == 0
    assert reader.digest == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_limit_allows_exactly_the_limit():
    reader = compression.HashingReader(io.BytesIO(b"a" * 1000), limit=1000)
    reader.drain()
    assert reader.count == 1000


@pytest.mark.parametrize("chunk", [1, 7, 1000, -1])
def test_limit_refuses_one_byte_more(chunk):
    reader = compression.HashingReader(io.BytesIO(b"a" * 1001), limit=1000)
    with pytest.raises(errors.BadParameter, match="more than 1000 bytes"):
        while reader.read(chunk):
            pass


def test_limit_stops_a_decompression_bomb():
    bomb = gzip.compress(b"\x00" * (8 << 20))
    assert len(bomb) < 20_000
    reader = compression.HashingReader(compression.open_decompressed(io.BytesIO(bomb), "gzip"),
                                       limit=1 << 20)
    with pytest.raises(errors.BadParameter, match="expands to more than"):
        reader.drain()
    assert reader.count <= (1 << 20) + (1 << 20)  # stopped within one read of the cap


@pytest.mark.parametrize("kind", ["gzip", "bzip2", "xz", "zstd"])
def test_corrupt_stream_is_a_bad_parameter(kind):
    good = COMPRESSORS[kind](_tar() * 20)
    broken = good[:len(good) // 2]
    reader = compression.HashingReader(compression.open_decompressed(io.BytesIO(broken), kind))
    with pytest.raises(errors.BadParameter, match="corrupt"):
        reader.drain()


@pytest.mark.parametrize("kind, junk", [
    ("gzip", b"\x1f\x8b" + b"junk" * 50), ("bzip2", b"BZh9" + b"junk" * 50),
    ("xz", b"\xfd7zXZ\x00" + b"junk" * 50), ("zstd", b"\x28\xb5\x2f\xfd" + b"junk" * 50),
])
def test_junk_after_magic_is_a_bad_parameter(kind, junk):
    assert compression.detect(junk) == kind
    reader = compression.HashingReader(compression.open_decompressed(io.BytesIO(junk), kind))
    with pytest.raises(errors.BadParameter, match="corrupt"):
        reader.drain()


# ------------------------------------ extraction: what the system refuses is a LayerError
# (owned by the running user, so these need no root)


def _layer(*entries) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, pax, extra in entries:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.mtime = kind, len(data), 1_700_000_000
            info.uid, info.gid, info.mode = os.getuid(), os.getgid(), 0o755
            for key, value in extra.items():
                setattr(info, key, value)
            if pax:
                info.pax_headers = pax
            tf.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return buf


def E(name, kind=tarfile.REGTYPE, data=b"", pax=None, **extra):
    return name, kind, data, pax, extra


def test_extract_plain_layer(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    size = safetar.extract_layer(_layer(E("d", tarfile.DIRTYPE), E("d/f", data=b"hello"),
                                        E("/abs", data=b"abs"), E("d/l", tarfile.SYMTYPE, linkname="f")),
                                 str(root))
    assert size == len(b"hello") + len(b"abs")
    assert (root / "d" / "f").read_bytes() == b"hello" and (root / "abs").read_bytes() == b"abs"
    assert os.readlink(root / "d" / "l") == "f"
    assert os.stat(root / "d").st_mtime == 1_700_000_000


@pytest.mark.parametrize("entries, why", [
    ([E("../x", data=b"x")], "points outside the layer"),
    ([E("s", tarfile.SYMTYPE, linkname="/"), E("s/x", data=b"x")], "not a directory"),
    ([E("f", data=b"x"), E("f/x", data=b"x")], "not a directory"),
    ([E(".wh..")], "invalid whiteout name"),
    ([E("l", tarfile.LNKTYPE, linkname="/etc/passwd")], "does not exist"),
    ([E("n" * 300, data=b"x")], "too long"),
    ([E("s", tarfile.SYMTYPE, linkname="t" * 5000)], "too long"),
    ([E("u", data=b"x", pax={"uid": "99999999999"})], "out of range"),
    ([E("t", data=b"x", pax={"mtime": "1e300"})], "out of range"),
    ([E("t", data=b"x", pax={"mtime": "nan"})], "out of range"),
    ([E("d", tarfile.DIRTYPE, pax={"mtime": "1e300"})], "out of range"),
    ([E("x", data=b"x", pax={"SCHILY.xattr.user.big": "v" * 70000})], "cannot be made"),
])
def test_extract_refuses(tmp_path, entries, why):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError, match=why):
        safetar.extract_layer(_layer(*entries), str(root))
    assert not (tmp_path / "x").exists()


def test_directory_replaced_by_symlink_is_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.utime(outside, (1, 1))
    safetar.extract_layer(_layer(E("d", tarfile.DIRTYPE), E("d/f", data=b"x"),
                                 E("d", tarfile.SYMTYPE, linkname=str(outside))), str(root))
    assert os.readlink(root / "d") == str(outside)
    assert os.stat(outside).st_mtime == 1  # the directory's time went nowhere
    assert os.listdir(outside) == []


def test_a_directory_named_twice_takes_the_last_entry(tmp_path):
    # As Docker's unpacker: each entry sets the mode, the times are set last in entry order.
    root = tmp_path / "root"
    root.mkdir()
    safetar.extract_layer(_layer(E("d", tarfile.DIRTYPE, mode=0o755, mtime=1_600_000_000),
                                 E("d/f", data=b"x"),
                                 E("d", tarfile.DIRTYPE, mode=0o750, mtime=1_500_000_000)),
                          str(root))
    st = os.stat(root / "d")
    assert st.st_mtime == 1_500_000_000 and st.st_mode & 0o7777 == 0o750
    assert (root / "d" / "f").read_bytes() == b"x"


def test_root_entry_sets_the_roots_attributes(tmp_path):
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    safetar.extract_layer(_layer(E("./", tarfile.DIRTYPE, mode=0o751, mtime=1_400_000_000),
                                 E("f", data=b"x")), str(root))
    st = os.stat(root)
    assert st.st_mode & 0o7777 == 0o751 and st.st_mtime == 1_400_000_000


def test_implied_parents_are_made_0755_less_the_umask(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    old = os.umask(0o027)
    try:
        safetar.extract_layer(_layer(E("a/b/f", data=b"x")), str(root))
    finally:
        os.umask(old)
    assert os.stat(root / "a").st_mode & 0o7777 == 0o750
    assert os.stat(root / "a" / "b").st_mode & 0o7777 == 0o750


def _sparse(name: str, size: int) -> tuple:
    """A PAX 0.0 sparse file `size` bytes long that carries a single byte of data."""
    return E(name, data=b"x", pax={"GNU.sparse.size": str(size), "GNU.sparse.numblocks": "1",
                                   "GNU.sparse.offset": str(size - 1), "GNU.sparse.numbytes": "1"})


def test_size_counts_what_files_unpack_to(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    body = _layer(_sparse("s", 3 << 20), E("f", data=b"hello"))
    assert len(body.getvalue()) < 20_000
    assert safetar.extract_layer(body, str(root)) == (3 << 20) + 5
    assert os.stat(root / "s").st_size == 3 << 20


@pytest.mark.parametrize("entries, why", [
    ([E("t", b"Z", data=b"x")], "unsupported type"),
    ([E("s", tarfile.SYMTYPE, linkname="")], "symlink to nothing"),
    ([E("f", data=b"x"), E("f", tarfile.LNKTYPE, linkname="f")], "points at itself"),
    ([E("l", tarfile.LNKTYPE, linkname="./")], "points at the layer root"),
    ([E("d", tarfile.DIRTYPE), E("d/f", data=b"x"), E("d", tarfile.LNKTYPE, linkname="d/f")],
     "which it replaced"),
    ([E("d", tarfile.DIRTYPE), E("h", tarfile.LNKTYPE, linkname="d")], "points at a directory"),
    ([E("d", tarfile.DIRTYPE), E("h", tarfile.LNKTYPE, linkname="d/none")], "not in this layer"),
    ([E("l", tarfile.LNKTYPE, linkname="../../x")], "points outside the layer"),
])
def test_extract_refuses_links_and_types(tmp_path, entries, why):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError, match=why):
        safetar.extract_layer(_layer(*entries), str(root))


def test_rules_must_be_consistent():
    rules = dict(noun="x", error=errors.BadParameter, whiteouts=False, owners=False, xattrs=False,
                 special_files="skip", unknown_types="skip", root_attributes=False,
                 dir_modes="last", implied_dir_mode=0o755, bounded_times=True,
                 max_depth=None, max_name_bytes=None)
    safetar.Rules(**rules)
    for bad in ({"special_files": "keep"}, {"unknown_types": "make"}, {"dir_modes": "first"},
                {"max_depth": 10}):
        with pytest.raises(ValueError):
            safetar.Rules(**{**rules, **bad})


def test_other_rules_word_their_refusals_for_their_own_kind(tmp_path):
    # pathwalk words its refusals for a layer; another kind's say its own noun.
    rules = dataclasses.replace(safetar.LAYER, noun="bundle", error=errors.BadParameter)
    cases = [([E("../x", data=b"x")], "bundle entry '../x' points outside the bundle"),
             ([E("f", data=b"x"), E("f/x", data=b"x")],
              "bundle entry 'f/x' goes through 'f', which is not a directory"),
             ([E("h", tarfile.LNKTYPE, linkname="a/b")], "bundle entry 'h': a does not exist"),
             ([E("n" * 300, data=b"x")], "bundle entry 'n+' cannot be made"),
             ([E("t", data=b"x", pax={"mtime": "1e300"})],
              "bundle entry 't' has a value out of range")]
    for i, (entries, message) in enumerate(cases):
        root = tmp_path / f"root{i}"
        root.mkdir()
        with pytest.raises(errors.BadParameter, match=message) as info:
            safetar.extract(_layer(*entries), str(root), rules)
        assert type(info.value) is errors.BadParameter and "layer" not in info.value.message
    root = tmp_path / "bad"
    root.mkdir()
    with pytest.raises(errors.BadParameter, match="the bundle is not a valid tar archive"):
        safetar.extract(io.BytesIO(b"junk" * 300), str(root), rules)


def test_write_limit_counts_what_is_written(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    body = _layer(_sparse("s", 2 << 20))
    with pytest.raises(errors.PayloadTooLarge, match="the layer is larger than 1048576 bytes"):
        safetar.extract(body, str(root), safetar.LAYER, write_limit=1 << 20)
    body.seek(0)
    root = tmp_path / "root2"
    root.mkdir()
    assert safetar.extract(body, str(root), safetar.LAYER, write_limit=2 << 20) == 2 << 20

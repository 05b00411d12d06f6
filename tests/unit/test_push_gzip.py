"""A pushed layer's gzip: members compressed in parallel, one stream to a reader, always the same bytes."""

import gzip
import hashlib
import os

import pytest

from services.registry import transfer


@pytest.mark.parametrize("size", [0, 10, 1 << 20, (3 << 20) + 7])
def test_gzip_reads_back_whole_and_is_deterministic(tmp_path, monkeypatch, size):
    monkeypatch.setattr(transfer, "GZIP_BLOCK", 1 << 18)  # many members
    data = os.urandom(size // 2) + bytes(size - size // 2)
    (tmp_path / "layer.tar").write_bytes(data)
    first = transfer._gzip(str(tmp_path / "layer.tar"), "none", str(tmp_path / "a.gz"))
    second = transfer._gzip(str(tmp_path / "layer.tar"), "none", str(tmp_path / "b.gz"))
    packed = (tmp_path / "a.gz").read_bytes()
    assert gzip.decompress(packed) == data
    assert first == second == "sha256:" + hashlib.sha256(packed).hexdigest()


def test_gzip_of_a_compressed_layer_is_of_its_tar(tmp_path):
    data = b"tar bytes " * 1000
    (tmp_path / "layer.tar.gz").write_bytes(gzip.compress(data, mtime=0))
    transfer._gzip(str(tmp_path / "layer.tar.gz"), "gzip", str(tmp_path / "out.gz"))
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == data

"""Schema migrations: applied once, in order, and a newer database is refused."""

import pytest

from services.common import db, layout


def test_fresh_database_gets_every_migration(tmp_path):
    conn = db.connect(str(tmp_path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(db.MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"containers", "images", "refs", "layers", "volumes", "credentials", "daemon"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert db.migrate(db.connect(str(tmp_path))) == len(db.MIGRATIONS)  # idempotent


def test_newer_schema_is_refused(tmp_path):
    conn = db.connect(str(tmp_path))
    conn.execute(f"PRAGMA user_version={len(db.MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(db.SchemaTooNew):
        db.connect(str(tmp_path))


def test_data_root_layout(tmp_path):
    root = tmp_path / "data"
    layout.prepare_data_root(str(root))
    for sub in layout.DATA_DIRS:
        assert (root / sub).is_dir()
    assert root.stat().st_mode & 0o777 == 0o700
    first = db.connect(str(root)).execute("SELECT value FROM daemon WHERE key='id'").fetchone()[0]
    layout.prepare_data_root(str(root))
    assert db.connect(str(root)).execute("SELECT value FROM daemon WHERE key='id'").fetchone()[0] == first


def test_staging_is_cleared(tmp_path):
    stage = layout.staging_dir(str(tmp_path), "registry")
    layout.clear_staging(str(tmp_path), "registry")
    open(f"{stage}/half-written", "w").close()
    layout.clear_staging(str(tmp_path), "registry")
    import os
    assert os.listdir(stage) == []

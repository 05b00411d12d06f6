"""The SQLite database in the data root: opening it, and its schema migrations (all here).

Each migration is applied once, in order, inside one transaction, and bumps
`PRAGMA user_version`; a database newer than this code is refused rather than
misread.
"""

from __future__ import annotations

import os
import sqlite3

DB_NAME = "dockyard.db"

# Append only: a released migration is never edited, a new one is added.
MIGRATIONS: list[str] = [
    # 1: the records every service counts on from the first start.
    """
    CREATE TABLE daemon (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE images (
        id       TEXT PRIMARY KEY,          -- sha256:<hex> of the config
        parent   TEXT,
        created  TEXT NOT NULL,
        size     INTEGER NOT NULL DEFAULT 0,
        config   BLOB NOT NULL
    );
    CREATE TABLE refs (
        ref       TEXT PRIMARY KEY,         -- repo:tag or repo@digest
        image_id  TEXT NOT NULL REFERENCES images(id)
    );
    CREATE TABLE layers (
        chain_id  TEXT PRIMARY KEY,
        diff_id   TEXT NOT NULL,
        parent    TEXT,
        size      INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE containers (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL,
        created  TEXT NOT NULL,
        state    TEXT NOT NULL,
        config   BLOB NOT NULL
    );
    CREATE TABLE volumes (
        name     TEXT PRIMARY KEY,
        created  TEXT NOT NULL
    );
    CREATE TABLE credentials (
        registry TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        email    TEXT NOT NULL DEFAULT '',
        secret   TEXT NOT NULL
    );
    """,
    # 2: the image store: which layers make each image, where each layer's blob is.
    """
    CREATE TABLE image_layers (
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,
        chain_id  TEXT NOT NULL REFERENCES layers(chain_id),
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE INDEX refs_image ON refs(image_id);
    CREATE INDEX images_parent ON images(parent);
    ALTER TABLE layers ADD COLUMN blob TEXT;          -- digest of the tar as stored, maybe compressed
    ALTER TABLE layers ADD COLUMN compression TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE layers ADD COLUMN tar_size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE refs ADD COLUMN tagged TEXT;           -- when the ref was last set
    """,
    # 3: when credentials were stored (GET /auth answers with the latest login).
    """
    ALTER TABLE credentials ADD COLUMN stored TEXT NOT NULL DEFAULT '';
    """,
    # 4: the build cache (the builder's): which image a build step made on which parent.
    """
    CREATE TABLE build_cache (
        parent      TEXT NOT NULL,          -- the image the step ran on ('': scratch)
        key         TEXT NOT NULL,          -- the step's digest: its config, instruction, files
        image_id    TEXT NOT NULL,
        description TEXT NOT NULL,          -- the step's instruction
        created     TEXT NOT NULL,
        last_used   TEXT NOT NULL,
        usage_count INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (parent, key)
    );
    CREATE INDEX build_cache_image ON build_cache(image_id);
    """,
    # 5: networks (the supervisor's): each as Docker's inspect shows it, less its containers
    # (their endpoints are in the containers' records).
    """
    CREATE TABLE networks (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        created  TEXT NOT NULL,
        config   BLOB NOT NULL
    );
    """,
    # 6: exec sessions (the supervisor's): each exec's config, whether it started, its end.
    """
    CREATE TABLE execs (
        id           TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        created      TEXT NOT NULL,
        record       BLOB NOT NULL
    );
    CREATE INDEX execs_container ON execs(container_id);
    """,
    # 7: volumes (the supervisor's) as Docker's volume store keeps them: the driver, the
    # labels and the driver's options (JSON objects). An anonymous volume is one with
    # Docker's label com.docker.volume.anonymous: those a container made before are marked.
    """
    ALTER TABLE volumes ADD COLUMN driver TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE volumes ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE volumes ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
    UPDATE volumes SET labels='{"com.docker.volume.anonymous":""}' WHERE name IN (
        SELECT made.value FROM containers,
            json_each(json_extract(containers.config, '$.Dockyard.anonymous_volumes')) AS made);
    """,
    # 8: the event journal (the supervisor's; services/common/events.py): each event as
    # Docker's JSON message, in the order of its id (AUTOINCREMENT: never reused), bounded.
    """
    CREATE TABLE events (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        time_nano INTEGER NOT NULL,
        message   TEXT NOT NULL
    );
    CREATE INDEX events_time ON events(time_nano);
    """,
]


class SchemaTooNew(Exception):
    pass


def connect(data_root: str) -> sqlite3.Connection:
    """Open the database, migrated to the current schema."""
    conn = sqlite3.connect(os.path.join(data_root, DB_NAME), timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; return the schema version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database is at schema {version}, newer than this dockyard ({len(MIGRATIONS)})")
    for number in range(version + 1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out

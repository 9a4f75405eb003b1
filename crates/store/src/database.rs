use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use crate::migrate::{SCHEMA_VERSION, migrate};
use crate::schema::Schema;

/// A bae library database: one SQLite file, migrated, with foreign keys on.
///
/// Reads may use [`Database::conn`] directly. Writes to synced tables must go
/// through a [`crate::Writer`] so they are recorded.
#[derive(Debug)]
pub struct Database {
    conn: Connection,
    schema: Arc<Schema>,
    path: Option<PathBuf>,
}

/// Why a library database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite could not open or read the file.
    #[error("cannot open library database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer bae whose schema this build does not
    /// know; opening it could damage it.
    #[error(
        "library database {path} has schema version {found}, newer than this build's {supported}: \
         update bae to open it"
    )]
    NewerSchema {
        /// The database file.
        path: String,
        /// The version in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
}

impl Database {
    /// Opens (creating if needed) the database at `path` and migrates it to
    /// [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Database, OpenError> {
        Database::open_at(Some(path), SCHEMA_VERSION)
    }

    /// A fresh in-memory database at [`SCHEMA_VERSION`], for tests and
    /// benchmarks.
    pub fn open_in_memory() -> Result<Database, OpenError> {
        Database::open_at(None, SCHEMA_VERSION)
    }

    /// Opens the database and migrates it only as far as `version`. Used to
    /// build a library as an older bae left it (for example before sync
    /// metadata existed), to test upgrades.
    pub fn open_at(path: Option<&Path>, version: u32) -> Result<Database, OpenError> {
        assert!(
            (1..=SCHEMA_VERSION).contains(&version),
            "no schema version {version}"
        );
        let shown = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let sqlite = |source| OpenError::Sqlite {
            path: shown.clone(),
            source,
        };
        let mut conn = match path {
            Some(p) => Connection::open_with_flags(
                p,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ),
            None => Connection::open_in_memory(),
        }
        .map_err(sqlite)?;
        configure(&conn, path.is_some()).map_err(sqlite)?;
        let found: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        if found > SCHEMA_VERSION {
            return Err(OpenError::NewerSchema {
                path: shown,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < version {
            migrate(&mut conn, found, version).map_err(sqlite)?;
        }
        let schema = Schema::load(&conn).map_err(sqlite)?;
        Ok(Database {
            conn,
            schema: Arc::new(schema),
            path: path.map(Path::to_path_buf),
        })
    }

    /// The connection, for reads and for the recorder's transactions.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutably, to begin a transaction.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The schema, read from the database when it opened.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the file.
    pub fn schema_version(&self) -> rusqlite::Result<u32> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
    }
}

fn configure(conn: &Connection, on_disk: bool) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    if on_disk {
        // WAL lets readers (bae-server, the UI) read while a merge writes.
        conn.pragma_update_and_check(None, "journal_mode", "wal", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A bulk pull merges each batch under a savepoint, whose sub-journal is
    // a temporary file by default: a write and a read back per page the
    // batch touches. Kept in memory it is at most one batch's pages.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The merge and the recorder prepare a few statements per table and
    // action; rusqlite's default cache of 16 made SQLite recompile them on
    // most ops (27% of the replay's CPU in the benchmark).
    conn.set_prepared_statement_cache_capacity(256);
    // Without the query planner stability guarantee, SQLite re-prepares a
    // statement whenever a bound value might change its plan, which it did
    // on every run of two of the merge's statements.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    let fk: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    assert!(fk, "this SQLite build must enforce foreign keys");
    Ok(())
}

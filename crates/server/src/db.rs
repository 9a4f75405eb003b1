//! Read-only connections to the cached library, kept apart from the write
//! connection that sync applies batches on.
//!
//! The library database is in WAL mode, so a reader sees the last committed
//! state while a batch is being merged and is never blocked by it (a merge
//! is one short transaction per batch). Queries run on tokio's blocking
//! pool, each on a connection taken from a small idle list.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

/// Most idle connections kept open; more are opened under load and closed
/// when returned to a full list.
const MAX_IDLE: usize = 16;

/// A pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Why a read failed: the database, or the blocking task.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// SQLite failed.
    #[error("library database read failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking task panicked or was cancelled.
    #[error("library read task failed: {0}")]
    Task(String),
}

impl ReadPool {
    /// A pool over the database at `path`; opens one connection now to
    /// check that it can.
    pub fn open(path: &Path) -> Result<Arc<ReadPool>, rusqlite::Error> {
        let pool = ReadPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let conn = pool.connect()?;
        pool.put(conn);
        Ok(Arc::new(pool))
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, rusqlite::Error> {
        let idle = self.idle.lock().expect("read pool mutex poisoned").pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("read pool mutex poisoned");
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            let result = f(&conn);
            pool.put(conn);
            result.map_err(ReadError::from)
        })
        .await
        .map_err(|e| ReadError::Task(e.to_string()))?
    }
}

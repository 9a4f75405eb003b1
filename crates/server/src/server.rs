//! Boot, then serve while pulling in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::boot::{BootError, BootOptions, Booted, boot};
use crate::db::ReadPool;
use crate::media::Media;
use crate::status::SyncState;
use crate::subsonic::{Access, AppState, router};

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How to boot the library.
    pub boot: BootOptions,
    /// Where to listen.
    pub listen: SocketAddr,
    /// How often to pull while serving.
    pub sync_interval: Duration,
    /// Who may use the API.
    pub access: Access,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Booting failed.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// A non-loopback address without credentials.
    #[error(
        "refusing to serve on {0} without credentials: anyone on the network could read the \
         library. Set --username and --password (or BAE_USERNAME and BAE_PASSWORD, or \
         --credentials-file), or listen on 127.0.0.1"
    )]
    OpenToNetwork(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The library database could not be opened for reading.
    #[error("cannot open the cached library for reading: {0}")]
    Read(#[from] rusqlite::Error),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (the real port when asked for port 0).
    pub addr: SocketAddr,
    /// Shared state (for tests and `/health`).
    pub state: Arc<AppState>,
    /// What the bootstrap did.
    pub boot_report: bae_sync::PullReport,
    /// Whether an existing cache was resumed.
    pub resumed: bool,
    /// The library's write side (sync applies batches through it).
    pub library: bae_sync::SharedLibrary,
    stop: StopOnDrop,
    serve: JoinHandle<std::io::Result<()>>,
    sync: JoinHandle<()>,
}

/// Tells the server and its sync loop to stop when dropped, so a
/// [`Running`] dropped without [`Running::shutdown`] stops too.
#[derive(Debug)]
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

impl Running {
    /// Stops serving and syncing, and waits for open connections to end.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let Running {
            stop, serve, sync, ..
        } = self;
        drop(stop);
        // Lets a pull in progress finish (each batch is applied whole).
        let _ = sync.await;
        match serve.await {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Waits until the server stops (it does not on its own: only on
    /// [`Running::shutdown`] or an I/O failure of the listener).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.serve).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Boots the library, binds, and starts serving and the background pull.
pub async fn start(config: ServerConfig) -> Result<Running, ServerError> {
    if config.access == Access::Open && !config.listen.ip().is_loopback() {
        return Err(ServerError::OpenToNetwork(config.listen));
    }
    let Booted {
        lib,
        mut syncer,
        bucket,
        db_path,
        images,
        report,
        resumed,
        problems,
        lock,
    } = boot(&config.boot).await?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: config.listen,
                source,
            })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: config.listen,
            source,
        })?;
    let media = Arc::new(Media::new(
        bucket,
        bae_crypto::LibraryKey::from_bytes(*config.boot.key.as_bytes()),
        images,
        Arc::clone(&problems),
    ));
    let sync = Arc::new(SyncState::new(config.sync_interval.as_secs_f64()));
    sync.record(Ok(&report));
    let state = Arc::new(AppState {
        access: config.access.clone(),
        pool: ReadPool::open(&db_path)?,
        media,
        sync: Arc::clone(&sync),
    });
    let (stop, mut stopped) = watch::channel(false);
    let app = router(Arc::clone(&state));
    let serve = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });
    let interval = config.sync_interval;
    let write_side = Arc::clone(&lib);
    let sync_problems = Arc::clone(&problems);
    let mut stop_sync = stop.subscribe();
    let stop = StopOnDrop(stop);
    let runtime = tokio::runtime::Handle::current();
    // The pull runs on a thread of its own (of the blocking pool, on this
    // runtime's I/O and timers): merging a batch is synchronous SQLite work,
    // and it must never hold up a worker that serves requests.
    let sync_task = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            // Holds the cache lock for as long as the server syncs.
            let _lock = lock;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop_sync.wait_for(|s| *s) => return,
                }
                let result = syncer.pull(&write_side).await;
                if let Ok(r) = &result {
                    crate::boot::report_refused_images(&sync_problems, r);
                }
                match &result {
                    Ok(r) if r.batches_applied > 0 || r.booted_from.is_some() => {
                        tracing::info!(batches = r.batches_applied, "pulled")
                    }
                    Ok(_) => tracing::debug!("pulled: nothing new"),
                    Err(e) => tracing::warn!(error = %e, "pull failed; retrying on the next tick"),
                }
                sync.record(result.as_ref().map_err(ToString::to_string));
            }
        })
    });
    tracing::info!(%addr, "serving the Subsonic API");
    Ok(Running {
        addr,
        state,
        boot_report: report,
        resumed,
        library: Arc::clone(&lib),
        stop,
        serve,
        sync: sync_task,
    })
}

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bae_hlc::DeviceId;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::{Head, SharedLibrary, SyncError, Syncer};

/// What a person sees of sync: no locks, just who synced when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Local batches not yet in the bucket.
    pub pending_batches: usize,
    /// Other devices, from the heads read during pull.
    pub devices: BTreeMap<DeviceId, DeviceStatus>,
    /// Images whose bytes are not in the bucket yet.
    pub image_gaps: usize,
    /// The last sync error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// One other device as seen from here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStatus {
    /// "Last synced from device X at T": its wall clock at its last sync.
    pub last_sync_ms: u64,
    /// Its last pushed batch.
    pub pushed_seq: u64,
    /// The last of its batches applied here.
    pub applied_seq: u64,
    /// Why its stream stopped, if it did.
    pub stopped: Option<String>,
    /// Set when its clock is more than 24 hours ahead of ours.
    pub clock_warning: Option<String>,
}

/// Reads the status from the library and the engine.
pub(crate) fn status(lib: &SharedLibrary, syncer: &Syncer) -> Result<SyncStatus, SyncError> {
    let l = lib.lock().expect("library mutex poisoned");
    let conn = l.database().conn();
    let cursors = bae_merge::cursors(conn)?;
    let mut devices = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT body FROM sync_heads")?;
    for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
        let head: Head = serde_json::from_str(&body?).expect("stored heads were validated");
        let id = head.device_id;
        devices.insert(
            id,
            DeviceStatus {
                last_sync_ms: head.last_sync_ms,
                pushed_seq: head.seq,
                applied_seq: cursors.get(&id).copied().unwrap_or(0),
                stopped: syncer.stopped.get(&id).cloned(),
                clock_warning: syncer.skewed.get(&id).cloned(),
            },
        );
    }
    let image_gaps: i64 = conn.query_row(
        "SELECT count(*) FROM sync_images WHERE state = 'gap'",
        [],
        |r| r.get(0),
    )?;
    Ok(SyncStatus {
        pending_batches: l.recorder().unpushed()?.len(),
        devices,
        image_gaps: image_gaps as usize,
        last_error: None,
    })
}

impl Syncer {
    /// The status as the library and this engine see it now, without a
    /// request: for a one-shot tool that runs no [`SyncService`]. Stopped
    /// streams and clock warnings are those this engine met itself.
    pub fn status(&self, lib: &SharedLibrary) -> Result<SyncStatus, SyncError> {
        status(lib, self)
    }
}

/// Runs sync in the background: a push soon after every local write, and a
/// push and pull on a timer.
#[derive(Debug)]
pub struct SyncService {
    lib: SharedLibrary,
    syncer: Arc<tokio::sync::Mutex<Syncer>>,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl SyncService {
    /// Starts the service on the current tokio runtime.
    pub fn start(lib: SharedLibrary, syncer: Syncer, interval: Duration) -> SyncService {
        let syncer = Arc::new(tokio::sync::Mutex::new(syncer));
        let status = Arc::new(Mutex::new(SyncStatus::default()));
        let wake = Arc::new(Notify::new());
        // Local writes wake the push; the channel closes with the library.
        let events = lib.lock().expect("library mutex poisoned").subscribe();
        let waker = Arc::clone(&wake);
        std::thread::spawn(move || {
            while events.recv().is_ok() {
                waker.notify_one();
            }
        });
        let task = tokio::spawn(run(
            Arc::clone(&lib),
            Arc::clone(&syncer),
            Arc::clone(&status),
            Arc::clone(&wake),
            interval,
        ));
        SyncService {
            lib,
            syncer,
            status,
            wake,
            task,
        }
    }

    /// The status as of the last step.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().expect("status mutex poisoned").clone()
    }

    /// Pushes and pulls now, waiting for the result.
    pub async fn sync_now(&self) -> Result<SyncStatus, SyncError> {
        let mut syncer = self.syncer.lock().await;
        let result = syncer.sync(&self.lib).await;
        let status = record(&self.lib, &syncer, &self.status, result.as_ref().err());
        result.map(|_| status)
    }

    /// Asks for a push soon, as a local write does.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the background task.
    pub fn shutdown(self) {
        self.task.abort();
    }
}

fn record(
    lib: &SharedLibrary,
    syncer: &Syncer,
    into: &Mutex<SyncStatus>,
    error: Option<&SyncError>,
) -> SyncStatus {
    let mut status = status(lib, syncer).unwrap_or_default();
    status.last_error = error.map(ToString::to_string);
    *into.lock().expect("status mutex poisoned") = status.clone();
    status
}

async fn run(
    lib: SharedLibrary,
    syncer: Arc<tokio::sync::Mutex<Syncer>>,
    status: Arc<Mutex<SyncStatus>>,
    wake: Arc<Notify>,
    interval: Duration,
) {
    loop {
        let timer = tokio::select! {
            () = tokio::time::sleep(interval) => true,
            () = wake.notified() => false,
        };
        let mut s = syncer.lock().await;
        let result = if timer {
            s.sync(&lib).await.map(|_| ())
        } else {
            s.push(&lib).await.map(|_| ())
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, "sync step failed; retrying on the next tick");
        }
        record(&lib, &s, &status, result.as_ref().err());
    }
}

//! What the server knows of its sync, and `GET /health`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bae_hlc::DeviceId;
use bae_sync::{Head, PullReport};
use serde::Serialize;

use crate::subsonic::AppState;

/// Milliseconds since the UNIX epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 3339 text of a time in ms since the UNIX epoch.
pub fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The sync history of this server since it started.
#[derive(Debug, Clone, Default)]
pub struct SyncInfo {
    /// The checkpoint the library was booted from, if it was.
    pub booted_from: Option<String>,
    /// When the last pull finished without error.
    pub last_sync_ms: Option<u64>,
    /// When the last pull was tried.
    pub last_attempt_ms: Option<u64>,
    /// The error of the last pull, if it failed.
    pub last_error: Option<String>,
    /// Batches merged since the server started (bootstrap included).
    pub batches_applied: u64,
    /// Pulls done since the server started (bootstrap included).
    pub pulls: u64,
    /// Streams the last pull could not go on with, by device, and why.
    pub stopped: BTreeMap<String, String>,
    /// Images whose bytes were missing from the bucket at the last pull.
    pub image_gaps: usize,
    /// The background pull interval, in seconds.
    pub sync_interval_s: f64,
}

/// Shared sync state: written by the sync task, read by `/health`.
#[derive(Debug, Default)]
pub struct SyncState {
    inner: Mutex<SyncInfo>,
}

impl SyncState {
    /// A state for a server pulling every `interval_s` seconds.
    pub fn new(interval_s: f64) -> SyncState {
        SyncState {
            inner: Mutex::new(SyncInfo {
                sync_interval_s: interval_s,
                ..SyncInfo::default()
            }),
        }
    }

    /// A copy of the state.
    pub fn get(&self) -> SyncInfo {
        self.inner.lock().expect("sync state poisoned").clone()
    }

    /// Records the outcome of a pull.
    pub fn record(&self, result: Result<&PullReport, String>) {
        let now = now_ms();
        let mut s = self.inner.lock().expect("sync state poisoned");
        s.last_attempt_ms = Some(now);
        s.pulls += 1;
        match result {
            Ok(report) => {
                s.last_sync_ms = Some(now);
                s.last_error = None;
                s.batches_applied += report.batches_applied as u64;
                s.image_gaps = report.image_gaps;
                if report.booted_from.is_some() {
                    s.booted_from.clone_from(&report.booted_from);
                }
                s.stopped = report
                    .stopped
                    .iter()
                    .map(|(d, why)| (d.to_simple(), why.clone()))
                    .collect();
            }
            Err(e) => s.last_error = Some(e),
        }
    }

    /// Records the checkpoint a bootstrap started from.
    pub fn booted_from(&self, id: Option<String>) {
        self.inner.lock().expect("sync state poisoned").booted_from = id;
    }
}

/// One device as `/health` shows it.
#[derive(Debug, Serialize)]
struct DeviceHealth {
    device: String,
    /// Its last pushed batch, from its head.
    pushed_seq: u64,
    /// Its last batch applied here.
    applied_seq: u64,
    /// Batches it pushed that this server has not applied.
    lag_batches: u64,
    /// Its wall clock at its last sync.
    last_sync: Option<String>,
    /// Why its stream stopped here, if it did.
    stopped: Option<String>,
}

#[derive(Debug, Serialize)]
struct Health {
    /// `ok`, or `degraded` when the last pull failed, a stream stopped or an
    /// object failed authentication.
    status: &'static str,
    last_sync: Option<String>,
    last_sync_ms: Option<u64>,
    last_error: Option<String>,
    batches_applied: u64,
    pulls: u64,
    booted_from: Option<String>,
    sync_interval_s: f64,
    devices: Vec<DeviceHealth>,
    image_gaps: usize,
    /// Objects that failed authentication, by path.
    problems: BTreeMap<String, String>,
    library: BTreeMap<&'static str, i64>,
}

type DeviceRows = (Vec<Head>, BTreeMap<DeviceId, u64>, (i64, i64, i64));

fn read_devices(conn: &rusqlite::Connection) -> rusqlite::Result<DeviceRows> {
    let mut stmt = conn.prepare_cached("SELECT body FROM sync_heads")?;
    let heads = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .filter_map(|body| body.ok().and_then(|b| serde_json::from_str(&b).ok()))
        .collect();
    Ok((
        heads,
        bae_merge::cursors(conn)?,
        crate::library::counts(conn)?,
    ))
}

/// `GET /health`: sync state as JSON (no credentials needed; it names no
/// library content).
pub async fn health(State(app): State<Arc<AppState>>) -> Response {
    let info = app.sync.get();
    let (heads, cursors, (artists, albums, songs)) = match app.pool.read(read_devices).await {
        Ok(rows) => rows,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "error", "error": e.to_string()})),
            )
                .into_response();
        }
    };
    let mut devices: BTreeMap<DeviceId, DeviceHealth> = BTreeMap::new();
    for head in heads {
        let applied = cursors.get(&head.device_id).copied().unwrap_or(0);
        devices.insert(
            head.device_id,
            DeviceHealth {
                device: head.device_id.to_simple(),
                pushed_seq: head.seq,
                applied_seq: applied,
                lag_batches: head.seq.saturating_sub(applied),
                last_sync: Some(rfc3339(head.last_sync_ms)),
                stopped: info.stopped.get(&head.device_id.to_simple()).cloned(),
            },
        );
    }
    for (device, applied) in cursors {
        devices.entry(device).or_insert_with(|| DeviceHealth {
            device: device.to_simple(),
            pushed_seq: applied,
            applied_seq: applied,
            lag_batches: 0,
            last_sync: None,
            stopped: info.stopped.get(&device.to_simple()).cloned(),
        });
    }
    let problems = app.media.problems().all();
    let degraded = info.last_error.is_some() || !info.stopped.is_empty() || !problems.is_empty();
    let health = Health {
        status: if degraded { "degraded" } else { "ok" },
        last_sync: info.last_sync_ms.map(rfc3339),
        last_sync_ms: info.last_sync_ms,
        last_error: info.last_error,
        batches_applied: info.batches_applied,
        pulls: info.pulls,
        booted_from: info.booted_from,
        sync_interval_s: info.sync_interval_s,
        devices: devices.into_values().collect(),
        image_gaps: info.image_gaps,
        problems,
        library: BTreeMap::from([("artists", artists), ("albums", albums), ("songs", songs)]),
    };
    Json(health).into_response()
}

//! State shared by the driver, the bucket host and the device hosts of one
//! run: the bucket's objects and history, each device's persistent facts,
//! the log of committed writes, the trace, counters and violations.
//!
//! turmoil runs every host on one thread, so a plain mutex is enough; no
//! lock is held across an await.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bae_hlc::{DeviceId, WallClock};
use bae_oplog::Batch;
use bae_sync::Head;
use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::Swarm;

/// The simulation's start on every device's wall clock (2025-11-24).
pub const EPOCH_MS: u64 = 1_764_000_000_000;

/// Which part of a run it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Workload and faults.
    Chaos,
    /// Faults healed; devices only sync, until nothing changes.
    Quiesce,
    /// Devices stop.
    Done,
}

/// An object in the bucket.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its bytes.
    pub data: Bytes,
    /// Its ETag (a counter, unique per write).
    pub etag: String,
}

/// What a bucket host knows: the objects and everything that ever happened
/// to them.
#[derive(Debug, Default)]
pub struct Store {
    /// Current objects by key.
    pub objects: BTreeMap<String, Object>,
    /// Every successful put, in order: `(key, bytes)`.
    pub history: Vec<(String, Bytes)>,
    /// Buckets created.
    pub buckets: Vec<String>,
    /// Every delete: `(virtual time, host, key)`.
    pub deletes: Vec<(Duration, String, String)>,
    /// Writes so far (ETag counter).
    pub writes: u64,
}

/// Bucket misbehaviour in force.
#[derive(Debug, Clone, Default)]
pub struct BucketFaults {
    /// Percent of requests answered 500 InternalError or 503 SlowDown.
    pub error_pct: u32,
    /// Percent of requests that stall past the client's timeout.
    pub stall_pct: u32,
    /// Percent of writes that succeed but whose answer never arrives.
    pub lost_reply_pct: u32,
    /// Extra latency per request, up to this many milliseconds.
    pub latency_ms: u64,
}

/// A write a device committed: its batch, as the op log stored it.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The device slot that wrote it.
    pub slot: usize,
    /// The batch.
    pub batch: Batch,
    /// Its stored encoding.
    pub body: Vec<u8>,
    /// Set when the database holding it was replaced (a restored backup) or
    /// wiped (a reinstall) before the batch reached the bucket: the person
    /// threw it away, so it may be missing.
    pub discarded: bool,
}

/// What GC saw when it started, to judge each deletion against.
#[derive(Debug, Clone)]
pub struct GcSnapshot {
    /// The collecting device's wall clock at the start.
    pub now_ms: u64,
    /// The heads then: key -> (etag, head).
    pub heads: BTreeMap<String, (String, Head)>,
    /// The complete checkpoints then.
    pub checkpoints: Vec<bae_sync::CheckpointMeta>,
}

/// A device slot: one virtual machine that keeps its disk across crashes.
#[derive(Debug)]
pub struct Slot {
    /// turmoil host name.
    pub name: String,
    /// Its directory (library, images, backups).
    pub dir: PathBuf,
    /// Current device id (a reinstall gives a new one).
    pub id: DeviceId,
    /// Wall clock offset from true time, ms.
    pub skew_ms: i64,
    /// Whether the device exists yet (new devices join mid-run).
    pub installed: bool,
    /// Starts of its software (1 for the first).
    pub incarnation: u64,
    /// A backup copy of its database, and its newest seq.
    pub backup: Option<(PathBuf, u64)>,
    /// The database was just restored from a backup older than its id's
    /// history in the bucket: its next push must take a new id.
    pub restored: bool,
    /// A backup was restored since the device took its current id.
    pub restored_since_id: bool,
    /// Whether the host is crashed (driver's view).
    pub crashed: bool,
    /// What it is doing now (for traces).
    pub busy: &'static str,
    /// Start of its last sync that found nothing to do (quiesce phase).
    pub quiet_since: Option<Duration>,
    /// Its last sync error (quiesce phase), if the last sync failed.
    pub last_error: Option<String>,
    /// Set while it runs GC.
    pub gc: Option<GcSnapshot>,
    /// Plain-text strings this device wrote into device-local columns.
    pub local_strings: Vec<String>,
    /// Whether it may run GC (not the device with a clock 48 h ahead,
    /// unless `--skewed-gc`).
    pub may_gc: bool,
}

/// Counters for the summary.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Trace events.
    pub events: u64,
    /// Faults injected (driver and bucket).
    pub faults: u64,
    /// Local write transactions committed.
    pub writes: u64,
    /// Sync steps (push, pull, sync, checkpoint, gc) completed.
    pub steps_ok: u64,
    /// Sync steps that failed (bucket unreachable, crash, ...).
    pub steps_failed: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Objects deleted by GC.
    pub gc_deleted: u64,
    /// Boots from a checkpoint.
    pub boots: u64,
    /// Restores from a backup.
    pub restores: u64,
    /// Devices that took a new id (restored databases).
    pub reidentified: u64,
    /// Committed writes a restore or reinstall threw away.
    pub discarded: u64,
    /// Bucket requests served.
    pub requests: u64,
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

/// Mutable state of a run.
#[derive(Debug)]
pub struct State {
    /// The phase.
    pub phase: Phase,
    /// Time that passed with nothing happening (jumps), ms.
    pub jumped_ms: u64,
    /// The device slots.
    pub slots: Vec<Slot>,
    /// Every committed local write.
    pub committed: Vec<Committed>,
    /// The last events.
    pub trace: VecDeque<String>,
    /// Counters.
    pub stats: Stats,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// When the last sync that changed something finished (quiesce phase).
    pub last_work: Duration,
    /// Bucket misbehaviour in force.
    pub faults: BucketFaults,
    /// The bucket host's RNG (faults, latency).
    pub bucket_rng: StdRng,
    /// Every text value written, for the confidentiality check.
    pub strings: Vec<String>,
    /// Bytes of every image written: id -> bytes.
    pub images: BTreeMap<String, Vec<u8>>,
    /// A running digest of every event (FNV-1a): equal runs, equal digests.
    pub digest: u64,
}

/// Everything one run shares.
#[derive(Debug)]
pub struct World {
    /// The seed.
    pub seed: u64,
    /// What is on and off in this run.
    pub swarm: Swarm,
    /// The run's directory.
    pub dir: PathBuf,
    /// The bucket.
    pub store: Mutex<Store>,
    /// The rest.
    pub state: Mutex<State>,
    /// How many trace lines to keep.
    pub trace_len: usize,
}

/// Virtual time now: turmoil's inside a host, else the driver's last step.
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_else(|| DRIVER_NOW.with(|n| *n.lock().expect("clock")))
}

thread_local! {
    /// The driver's view of virtual time, for code running outside a host.
    pub static DRIVER_NOW: Mutex<Duration> = const { Mutex::new(Duration::ZERO) };
}

impl World {
    /// A world for `seed`.
    pub fn new(seed: u64, swarm: Swarm, dir: PathBuf, slots: Vec<Slot>) -> Arc<World> {
        Arc::new(World {
            seed,
            swarm,
            dir,
            store: Mutex::new(Store::default()),
            state: Mutex::new(State {
                phase: Phase::Chaos,
                jumped_ms: 0,
                slots,
                committed: Vec::new(),
                trace: VecDeque::new(),
                stats: Stats::default(),
                violations: Vec::new(),
                last_work: Duration::ZERO,
                faults: BucketFaults::default(),
                bucket_rng: StdRng::seed_from_u64(seed ^ 0xb0c4_e7f1),
                strings: Vec::new(),
                images: BTreeMap::new(),
                digest: 0xcbf2_9ce4_8422_2325,
            }),
            trace_len: std::env::var("BAE_SIM_TRACE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(60),
        })
    }

    /// The state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bucket's store.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event in the trace.
    pub fn event(&self, what: impl Into<String>) {
        let t = now();
        let mut s = self.state();
        s.stats.events += 1;
        let line = format!("{:>9.3}s {}", t.as_secs_f64(), what.into());
        for b in line.bytes() {
            s.digest = (s.digest ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        while s.trace.len() >= self.trace_len.max(1) {
            s.trace.pop_front();
        }
        s.trace.push_back(line);
    }

    /// Records a fault injection.
    pub fn fault(&self, what: impl Into<String>) {
        self.state().stats.faults += 1;
        self.event(format!("FAULT {}", what.into()));
    }

    /// Records a broken invariant (and puts it in the trace).
    pub fn violation(&self, invariant: &'static str, detail: impl Into<String>) {
        let detail = detail.into();
        self.event(format!("VIOLATION {invariant}: {detail}"));
        let mut s = self.state();
        if s.violations.len() < 20 {
            s.violations.push(Violation { invariant, detail });
        }
    }

    /// The wall clock of device slot `slot` now, ms since the epoch.
    pub fn wall_ms(&self, slot: usize) -> u64 {
        let s = self.state();
        let base = EPOCH_MS + now().as_millis() as u64 + s.jumped_ms;
        base.saturating_add_signed(s.slots[slot].skew_ms)
    }
}

/// A device's wall clock: virtual time, plus the time jumps of the run,
/// plus the device's skew. The HLC reads it through [`WallClock`].
#[derive(Debug, Clone)]
pub struct SimClock {
    /// The world.
    pub world: Arc<World>,
    /// The slot.
    pub slot: usize,
}

impl WallClock for SimClock {
    fn now_ms(&self) -> u64 {
        self.world.wall_ms(self.slot)
    }
}

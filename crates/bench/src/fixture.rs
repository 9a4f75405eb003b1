//! The synced library the replay, bootstrap, metadata and memory groups
//! measure: the workload written by [`WRITERS`] devices taking turns, each
//! pulling what the others wrote before its turn and pushing after it,
//! through one [`MemoryBucket`].
//!
//! The devices share one id sequence (seeded like every sink) and one virtual
//! clock, so the library they end with is, row for row, the one the plain
//! writer builds from the same workload: the baselines of the groups write
//! exactly those rows, and every group checks that it ended with them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bae_bucket::{Bucket, MemoryBucket, ObjectKey};
use bae_crypto::LibraryKey;
use bae_hlc::{DeviceId, ManualClock};
use bae_library::{LibraryManager, LibraryOptions};
use bae_oplog::{Action, Batch, IdSource, SeededIds};
use bae_store::{Database, Table, WriteError, Writer};
use bae_sync::{
    CheckpointMeta, ImageStore, RandomNonces, SharedLibrary, SyncConfig, Syncer, layout,
};
use bytes::Bytes;
use tokio::runtime::Runtime;

use crate::baselines::{self, Changesets, Row};
use crate::measure::{scalar, synced_digest};
use crate::workload::{START_MS, Sink, Workload};

/// How many devices write the library.
pub const WRITERS: u8 = 3;
/// The id of a device that has not synced yet (the one that replays or
/// boots); writers are 1..=[`WRITERS`].
pub const NEW_DEVICE: u8 = 9;
/// Bytes of every image the workload adds (covers, artist images). Real
/// covers are larger; image bytes are not what the groups measure.
pub const IMAGE_BYTES: usize = 4096;
/// Turns each writer takes, so that every device writes imports, edits and
/// deletes of rows the others wrote.
const TURNS_PER_WRITER: usize = 3;

/// The library key every device of the fixture shares.
pub fn key() -> LibraryKey {
    LibraryKey::from_bytes([7; 32])
}

/// A runtime for the sync engine's futures, on the calling thread (so that
/// thread CPU time covers everything).
pub fn runtime() -> anyhow::Result<Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Locks a shared library.
pub fn lock(lib: &SharedLibrary) -> MutexGuard<'_, LibraryManager> {
    lib.lock().expect("library mutex poisoned")
}

/// The bytes of image `id`, made up from its id.
pub fn image_bytes(id: &str) -> Vec<u8> {
    id.bytes().cycle().take(IMAGE_BYTES).collect()
}

/// Ids from one seeded sequence shared by several devices.
#[derive(Debug, Clone)]
struct SharedIds(Arc<Mutex<SeededIds>>);

impl IdSource for SharedIds {
    fn new_id(&mut self) -> String {
        self.0.lock().expect("ids mutex poisoned").new_id()
    }
}

/// One device: a library database on disk, its image store, its sync engine.
#[derive(Debug)]
pub struct Device {
    /// The library.
    pub lib: SharedLibrary,
    /// The sync engine.
    pub syncer: Syncer,
    /// Its image store.
    pub images: ImageStore,
}

impl Device {
    /// Device `n` (id `[n; 16]`) with its database and images under `dir`,
    /// on `bucket`, reading `wall`, making ids from `ids`. It never writes a
    /// checkpoint on its own.
    pub fn create(
        dir: &Path,
        n: u8,
        bucket: Arc<dyn Bucket>,
        wall: &ManualClock,
        ids: Box<dyn IdSource>,
    ) -> anyhow::Result<Device> {
        let home = dir.join(format!("device-{n}"));
        std::fs::create_dir_all(&home)?;
        let db = Database::open(&home.join("library.db"))?;
        Device::with_database(db, &home, n, bucket, wall, ids)
    }

    /// Device `n` on the database `db`, its images under `home`.
    pub fn with_database(
        db: Database,
        home: &Path,
        n: u8,
        bucket: Arc<dyn Bucket>,
        wall: &ManualClock,
        ids: Box<dyn IdSource>,
    ) -> anyhow::Result<Device> {
        let options = LibraryOptions {
            wall_clock: Arc::new(wall.clone()),
            ids,
        };
        let lib = LibraryManager::with_database(db, DeviceId::from_bytes([n; 16]), options)?;
        let images = ImageStore::new(home.join("images"));
        let config = SyncConfig {
            checkpoint_every_ops: u64::MAX,
            ..SyncConfig::default()
        };
        let syncer = Syncer::new(
            bucket,
            key(),
            images.clone(),
            config,
            Box::new(RandomNonces),
        );
        Ok(Device {
            lib: Arc::new(Mutex::new(lib)),
            syncer,
            images,
        })
    }

    /// A device that has never synced ([`NEW_DEVICE`]), on `bucket`, its
    /// clock at `now_ms`.
    pub fn new_device(dir: &Path, bucket: Arc<dyn Bucket>, now_ms: u64) -> anyhow::Result<Device> {
        Device::create(
            dir,
            NEW_DEVICE,
            bucket,
            &ManualClock::new(now_ms),
            Box::new(SeededIds::new(u64::from(NEW_DEVICE))),
        )
    }

    /// Puts the bytes of every image its unpushed batches add into its image
    /// store, as the app does before it commits an image row.
    fn stock_images(&self) -> anyhow::Result<()> {
        let unpushed = lock(&self.lib).recorder().unpushed()?;
        for stored in unpushed {
            for op in Batch::decode(&stored.body)?.ops {
                if op.table == Table::LibraryImages
                    && matches!(op.action, Action::Insert(_))
                    && self.images.get(&op.row_id)?.is_none()
                {
                    self.images.put(&op.row_id, &image_bytes(&op.row_id))?;
                }
            }
        }
        Ok(())
    }

    /// Pushes everything it wrote.
    pub fn push(&mut self, rt: &Runtime) -> anyhow::Result<()> {
        self.stock_images()?;
        rt.block_on(self.syncer.push(&self.lib))?;
        Ok(())
    }

    /// Pulls everything the others pushed.
    pub fn pull(&mut self, rt: &Runtime) -> anyhow::Result<bae_sync::PullReport> {
        let report = rt.block_on(self.syncer.pull(&self.lib))?;
        anyhow::ensure!(
            report.stopped.is_empty(),
            "pull stopped: {:?}",
            report.stopped
        );
        Ok(report)
    }
}

/// Runs each transaction on the writer whose turn it is; at a change of
/// turn the last writer pushes and the next one pulls.
struct Turns<'a> {
    writers: &'a mut [Device],
    rt: &'a Runtime,
    wall: ManualClock,
    per_turn: usize,
    done: usize,
    current: usize,
    handovers: usize,
}

impl Sink for Turns<'_> {
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()> {
        let next = (self.done / self.per_turn) % self.writers.len();
        if next != self.current {
            self.writers[self.current].push(self.rt)?;
            self.writers[next].pull(self.rt)?;
            self.current = next;
            self.handovers += 1;
        }
        self.wall.set_ms(at_ms);
        let device = &self.writers[self.current];
        lock(&device.lib).write(|w| f(w))?;
        self.done += 1;
        Ok(())
    }
}

/// A checkpoint of the whole library, as [`Syncer::checkpoint`] wrote it.
#[derive(Debug, Clone)]
pub struct Checkpointed {
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// The data object: key and bytes.
    pub data: (ObjectKey, Bytes),
    /// The metadata object: key and bytes.
    pub meta_object: (ObjectKey, Bytes),
    /// How long `Syncer::checkpoint` took.
    pub took: crate::measure::Timed,
}

/// The library written by several devices, and the bucket they synced
/// through. Built once per benchmark run ([`crate::groups::Context::library`]).
#[derive(Debug)]
pub struct Fixture {
    /// Every object of the bucket after the writers finished: batches, heads
    /// and images (no checkpoint).
    pub objects: BTreeMap<ObjectKey, Bytes>,
    /// The virtual time of the last transaction.
    pub end_ms: u64,
    /// Synced rows of the final library and their digest
    /// ([`synced_digest`]).
    pub rows: u64,
    /// See [`Fixture::rows`].
    pub digest: u64,
    /// Batches written (one per transaction).
    pub batches: u64,
    /// Ops in them.
    pub ops: u64,
    /// Their encoded (unencrypted) bytes.
    pub encoded_batch_bytes: u64,
    /// How often a writer handed over to the next.
    pub handovers: usize,
    /// How long building took.
    pub build_seconds: f64,
    /// The runtime the fixture's sync engines run on.
    pub rt: Runtime,
    /// Writer 1, which pulled everything at the end: it holds the whole
    /// library and makes the checkpoints.
    full: Mutex<Device>,
    /// The bucket the writers synced through (checkpoints land here).
    bucket: MemoryBucket,
    seed: u64,
    history_rows: OnceLock<Vec<Row>>,
    changesets: OnceLock<Changesets>,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Builds the library of `workload` in a temporary directory under
    /// `temp_root`, ids seeded by `seed`.
    pub fn build(workload: &Workload, seed: u64, temp_root: &Path) -> anyhow::Result<Fixture> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("bae-bench-library-")
            .tempdir_in(temp_root)?;
        let rt = runtime()?;
        let bucket = MemoryBucket::new();
        let wall = ManualClock::new(START_MS);
        let ids = SharedIds(Arc::new(Mutex::new(SeededIds::new(seed))));
        let mut writers = (1..=WRITERS)
            .map(|n| {
                let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
                Device::create(dir.path(), n, shared, &wall, Box::new(ids.clone()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let turns = usize::from(WRITERS) * TURNS_PER_WRITER;
        let mut sink = Turns {
            writers: &mut writers,
            rt: &rt,
            wall: wall.clone(),
            per_turn: workload.txns.len().div_ceil(turns).max(1),
            done: 0,
            current: 0,
            handovers: 0,
        };
        workload.execute(&mut sink)?;
        let handovers = sink.handovers;
        let (mut batches, mut ops, mut encoded_batch_bytes) = (0, 0, 0);
        for w in &mut writers {
            w.push(&rt)?;
            let l = lock(&w.lib);
            let conn = l.database().conn();
            batches += scalar(conn, "SELECT count(*) FROM op_log")? as u64;
            ops += scalar(conn, "SELECT sum(op_count) FROM op_log")? as u64;
            encoded_batch_bytes += scalar(conn, "SELECT sum(length(body)) FROM op_log")? as u64;
        }
        let mut full = writers.swap_remove(0);
        drop(writers);
        full.pull(&rt)?;
        full.push(&rt)?;
        let mut objects = BTreeMap::new();
        for meta in rt.block_on(bucket.list_all(""))? {
            let body = rt.block_on(bucket.get(&meta.key))?;
            objects.insert(meta.key, body);
        }
        let (rows, digest) = synced_digest(lock(&full.lib).database())?;
        Ok(Fixture {
            objects,
            end_ms: workload.txns.last().map_or(START_MS, |t| t.at_ms),
            rows,
            digest,
            batches,
            ops,
            encoded_batch_bytes,
            handovers,
            build_seconds: started.elapsed().as_secs_f64(),
            rt,
            full: Mutex::new(full),
            bucket,
            seed,
            history_rows: OnceLock::new(),
            changesets: OnceLock::new(),
            dir,
        })
    }

    /// The objects under `prefix`, in key order (for `ops/`: each device's
    /// batches in seq order, the order a pull applies them).
    pub fn objects_under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Bytes)> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.as_str().starts_with(prefix))
    }

    /// Total bytes of the objects under `prefix`, and how many there are.
    pub fn bytes_under(&self, prefix: &str) -> (u64, u64) {
        self.objects_under(prefix)
            .fold((0, 0), |(b, n), (_, v)| (b + v.len() as u64, n + 1))
    }

    /// A new in-memory bucket holding `objects` (sharing their bytes).
    pub fn bucket_with<'a>(
        &self,
        objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Bytes)>,
    ) -> anyhow::Result<MemoryBucket> {
        let bucket = MemoryBucket::new();
        for (key, body) in objects {
            self.rt.block_on(bucket.put(key, body.clone()))?;
        }
        bucket.reset_request_counts();
        Ok(bucket)
    }

    /// Writes `objects` as files under `dir`, laid out as a
    /// [`bae_bucket::LocalDirBucket`] reads them.
    pub fn write_dir<'a>(
        objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Bytes)>,
        dir: &Path,
    ) -> anyhow::Result<()> {
        for (key, body) in objects {
            let path = dir.join(key.as_str());
            std::fs::create_dir_all(path.parent().expect("keys have a file name"))?;
            std::fs::write(&path, body)?;
        }
        Ok(())
    }

    /// Checks that `db` holds exactly the fixture's synced rows.
    pub fn check_same(&self, what: &str, db: &Database) -> anyhow::Result<()> {
        let (rows, digest) = synced_digest(db)?;
        anyhow::ensure!(
            (rows, digest) == (self.rows, self.digest),
            "{what} ended with different synced data than the library ({rows} rows, digest \
             {digest:016x} vs {} rows, digest {:016x}): the comparison would be unfair",
            self.rows,
            self.digest
        );
        Ok(())
    }

    /// The final rows in the order the history inserted them.
    pub fn history_rows(&self) -> anyhow::Result<&[Row]> {
        if let Some(rows) = self.history_rows.get() {
            return Ok(rows);
        }
        let rows = self.with_full(|d| baselines::rows_in_history_order(lock(&d.lib).database()))?;
        Ok(self.history_rows.get_or_init(|| rows))
    }

    /// The workload's writes as session changesets, recorded once on a plain
    /// database (checked to end with the fixture's rows).
    pub fn changesets(&self, workload: &Workload) -> anyhow::Result<&Changesets> {
        if let Some(c) = self.changesets.get() {
            return Ok(c);
        }
        let path = self.dir.path().join("changesets-source.db");
        let (sets, db) = baselines::record_changesets(workload, self.seed, &path)?;
        self.check_same("the changeset recording", &db)?;
        Ok(self.changesets.get_or_init(|| sets))
    }

    /// Runs `f` on the writer that holds the whole library.
    pub fn with_full<T>(&self, f: impl FnOnce(&mut Device) -> T) -> T {
        f(&mut self.full.lock().expect("device mutex poisoned"))
    }

    /// Writes a checkpoint of the whole library with `Syncer::checkpoint`
    /// and takes its objects out of the bucket again.
    pub fn checkpoint(&self) -> anyhow::Result<Checkpointed> {
        let (meta, took) = crate::measure::timed(|| {
            self.with_full(|d| self.rt.block_on(d.syncer.checkpoint(&d.lib)))
        });
        let meta = meta?;
        let take = |key: ObjectKey| -> anyhow::Result<(ObjectKey, Bytes)> {
            let body = self.rt.block_on(self.bucket.get(&key))?;
            self.rt.block_on(self.bucket.delete(&key))?;
            Ok((key, body))
        };
        let data = take(layout::checkpoint_data(&meta.id))?;
        let meta_object = take(layout::checkpoint_meta(&meta.id))?;
        Ok(Checkpointed {
            meta,
            data,
            meta_object,
            took,
        })
    }
}

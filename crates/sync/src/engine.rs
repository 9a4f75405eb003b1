use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bae_bucket::{Bucket, ObjectKey, PutOutcome};
use bae_crypto::LibraryKey;
use bae_hlc::DeviceId;
use bae_library::LibraryManager;
use bae_merge::{Checkpoint, CheckpointReader, MergeError, Merger};
use bae_oplog::{Action, Batch};
use bae_store::{SCHEMA_VERSION, Table};
use bytes::Bytes;

use crate::{CheckpointMeta, Head, ImageStore, SyncError, layout};

/// A library shared between the app (local writes) and sync. Sync holds the
/// lock only for database work, never across a bucket request.
pub type SharedLibrary = Arc<Mutex<LibraryManager>>;

/// Tunables of the sync engine.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Write a checkpoint after this many ops were pushed or pulled since
    /// the last one.
    pub checkpoint_every_ops: u64,
    /// How long a checkpoint's covered batches, and a silent device's head,
    /// are kept before GC may collect them.
    pub gc_grace_period_ms: u64,
    /// Checkpoint data objects up to this size are downloaded in one GET
    /// and booted from memory; larger ones are downloaded in ranges of this
    /// size into a temporary file and booted from there, so booting a large
    /// library never holds its checkpoint in memory.
    pub checkpoint_range_bytes: u64,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            checkpoint_every_ops: 10_000,
            gc_grace_period_ms: 30 * 24 * 60 * 60 * 1000,
            checkpoint_range_bytes: 8 << 20,
        }
    }
}

/// Where encryption nonces come from. Injected so that a simulation is
/// reproducible from its seed.
pub trait NonceSource: Send + Sync + fmt::Debug {
    /// A fresh 24-byte base nonce; never the same twice under one key.
    fn nonce(&mut self) -> [u8; 24];
}

/// Nonces from libsodium's random generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomNonces;

impl NonceSource for RandomNonces {
    fn nonce(&mut self) -> [u8; 24] {
        bae_crypto::random_nonce()
    }
}

/// Nonces from a seeded counter (distinct for distinct seeds and calls), for
/// the simulation only.
#[derive(Debug, Clone)]
pub struct SeededNonces {
    seed: u64,
    counter: u64,
}

impl SeededNonces {
    /// Nonces derived from `seed`.
    pub fn new(seed: u64) -> SeededNonces {
        SeededNonces { seed, counter: 0 }
    }
}

impl NonceSource for SeededNonces {
    fn nonce(&mut self) -> [u8; 24] {
        self.counter += 1;
        let mut n = [0u8; 24];
        n[..8].copy_from_slice(&self.seed.to_le_bytes());
        n[8..16].copy_from_slice(&self.counter.to_le_bytes());
        n
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Batches uploaded (or found already uploaded) and marked pushed.
    pub batches: usize,
    /// Image objects uploaded.
    pub images: usize,
    /// Whether the head was rewritten.
    pub head_written: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// Heads downloaded because their listing ETag changed.
    pub heads_fetched: usize,
    /// Batches merged.
    pub batches_applied: usize,
    /// Image objects downloaded.
    pub images_fetched: usize,
    /// Images whose bytes are not in the bucket yet, or failed
    /// authentication ([`PullReport::images_refused`]).
    pub image_gaps: usize,
    /// Images whose bytes failed authentication, and why: never stored,
    /// kept as gaps.
    pub images_refused: Vec<(String, String)>,
    /// Streams that stopped, and why (a newer schema, a tampered object).
    pub stopped: Vec<(DeviceId, String)>,
    /// The checkpoint booted from, if the pull had to.
    pub booted_from: Option<String>,
}

/// What a GC did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Batch objects deleted.
    pub batches_deleted: usize,
    /// Checkpoints deleted (data and metadata).
    pub checkpoints_deleted: usize,
    /// Heads of long-gone devices deleted.
    pub heads_deleted: usize,
}

/// One device's sync engine: push, pull, checkpoint, GC, bootstrap.
pub struct Syncer {
    bucket: Arc<dyn Bucket>,
    key: LibraryKey,
    images: ImageStore,
    config: SyncConfig,
    nonces: Box<dyn NonceSource>,
    merger: Option<Merger>,
    own_head_checked: bool,
    boot_checked: bool,
    head_dirty: bool,
    ops_since_checkpoint: u64,
    /// Streams stopped at the last pull, and why.
    pub(crate) stopped: BTreeMap<DeviceId, String>,
    /// Devices whose clocks were refused as too far ahead.
    pub(crate) skewed: BTreeMap<DeviceId, String>,
}

impl fmt::Debug for Syncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Syncer")
            .field("bucket", &self.bucket)
            .field("images", &self.images)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock(lib: &SharedLibrary) -> MutexGuard<'_, LibraryManager> {
    lib.lock().expect("library mutex poisoned")
}

/// A downloaded checkpoint data object, still encrypted.
enum Spooled {
    Memory(std::io::Cursor<Bytes>),
    File(std::io::BufReader<std::fs::File>),
}

impl std::io::Read for Spooled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Spooled::Memory(c) => c.read(buf),
            Spooled::File(f) => f.read(buf),
        }
    }
}

/// Most batches a pull merges in one transaction.
const GROUP_MAX_BATCHES: usize = 256;
/// Most ops a pull merges in one transaction: bounds the memory a group of
/// fetched batches holds.
const GROUP_MAX_OPS: usize = 16_384;

/// Records that this device lacks an image's bytes, unless it already knows
/// the image (a gap, or its own upload).
fn mark_gap(lib: &SharedLibrary, image_id: &str) -> Result<(), SyncError> {
    lock(lib).database().conn().execute(
        "INSERT INTO sync_images (id, state) VALUES (?, 'gap') ON CONFLICT (id) DO NOTHING",
        [image_id],
    )?;
    Ok(())
}

/// How far a pull must go in each other device's stream: as far as its head
/// says, or as far as any head shows a device has applied, whichever is
/// further. A batch another device has applied exists (or a checkpoint
/// covers it), even when the head that announced it is gone: GC may have
/// collected a head it judged silent just as its device rewrote it, or the
/// device may have moved on to a new id after a restore and never write that
/// head again. Learning of those batches from the others' cursors costs no
/// request, since their heads are read anyway.
fn pull_targets(
    own: DeviceId,
    heads: &BTreeMap<DeviceId, (String, Head)>,
) -> BTreeMap<DeviceId, u64> {
    let mut targets: BTreeMap<DeviceId, u64> = BTreeMap::new();
    for (dev, (_, head)) in heads {
        let seqs =
            std::iter::once((*dev, head.seq)).chain(head.cursors.iter().map(|(d, s)| (*d, *s)));
        for (d, seq) in seqs {
            let target = targets.entry(d).or_insert(0);
            *target = (*target).max(seq);
        }
    }
    targets.remove(&own);
    targets
}

impl Syncer {
    /// A sync engine for one library on one bucket.
    pub fn new(
        bucket: Arc<dyn Bucket>,
        key: LibraryKey,
        images: ImageStore,
        config: SyncConfig,
        nonces: Box<dyn NonceSource>,
    ) -> Syncer {
        Syncer {
            bucket,
            key,
            images,
            config,
            nonces,
            merger: None,
            own_head_checked: false,
            boot_checked: false,
            head_dirty: true,
            ops_since_checkpoint: 0,
            stopped: BTreeMap::new(),
            skewed: BTreeMap::new(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Arc<dyn Bucket> {
        &self.bucket
    }

    /// The local image store.
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Ops pushed or pulled since the last checkpoint this engine wrote.
    pub fn ops_since_checkpoint(&self) -> u64 {
        self.ops_since_checkpoint
    }

    fn seal(&mut self, key: &ObjectKey, plaintext: &[u8], padded: bool) -> Bytes {
        let nonce = self.nonces.nonce();
        let sealed = if padded {
            bae_crypto::encrypt_padded(&self.key, key.as_str(), plaintext, nonce)
        } else {
            bae_crypto::encrypt(&self.key, key.as_str(), plaintext, nonce)
        };
        Bytes::from(sealed)
    }

    async fn open(&self, key: &ObjectKey, padded: bool) -> Result<Vec<u8>, SyncError> {
        let sealed = self.bucket.get(key).await?;
        let opened = if padded {
            bae_crypto::decrypt_padded(&self.key, key.as_str(), &sealed)
        } else {
            bae_crypto::decrypt(&self.key, key.as_str(), &sealed)
        };
        opened.map_err(|source| SyncError::Tampered {
            path: key.as_str().to_owned(),
            source,
        })
    }

    /// The encrypted bytes of checkpoint data object `key`: in memory when
    /// small (one GET, as before), else downloaded by ranges into an
    /// anonymous temporary file, so a large library's checkpoint is never
    /// wholly in memory.
    async fn download_checkpoint(
        &self,
        key: &ObjectKey,
        meta: &CheckpointMeta,
    ) -> Result<Spooled, SyncError> {
        let torn = |got: u64| SyncError::CheckpointUnusable {
            id: meta.id.clone(),
            reason: format!(
                "its data object is {got} bytes, its metadata says {}",
                meta.data_len
            ),
        };
        let range_len = self.config.checkpoint_range_bytes.max(1);
        if meta.data_len <= range_len {
            let bytes = self.bucket.get(key).await?;
            if bytes.len() as u64 != meta.data_len {
                return Err(torn(bytes.len() as u64));
            }
            return Ok(Spooled::Memory(std::io::Cursor::new(bytes)));
        }
        let spool = |source: std::io::Error| SyncError::Spool {
            id: meta.id.clone(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(spool)?;
        let mut at = 0;
        while at < meta.data_len {
            let end = (at + range_len).min(meta.data_len);
            let part = self.bucket.get_range(key, at..end).await?;
            if part.len() as u64 != end - at {
                return Err(torn(at + part.len() as u64));
            }
            std::io::Write::write_all(&mut file, &part).map_err(spool)?;
            at = end;
        }
        std::io::Seek::rewind(&mut file).map_err(spool)?;
        Ok(Spooled::File(std::io::BufReader::new(file)))
    }

    fn merger<'a>(merger: &'a mut Option<Merger>, lib: &LibraryManager) -> &'a mut Merger {
        merger.get_or_insert_with(|| Merger::new(lib.database().schema().clone(), lib.device_id()))
    }

    async fn read_head(&self, key: &ObjectKey) -> Result<Option<Head>, SyncError> {
        match self.open(key, true).await {
            Ok(body) => {
                let head: Head =
                    serde_json::from_slice(&body).map_err(|e| SyncError::Malformed {
                        path: key.as_str().to_owned(),
                        reason: e.to_string(),
                    })?;
                if layout::head(head.device_id) != *key {
                    return Err(SyncError::Malformed {
                        path: key.as_str().to_owned(),
                        reason: format!(
                            "head of device {} stored under another device's key",
                            head.device_id
                        ),
                    });
                }
                Ok(Some(head))
            }
            Err(SyncError::Bucket(e)) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Pushes: image bytes first, then every unpushed batch in seq order
    /// (each marked pushed only after its upload succeeded), then the head.
    pub async fn push(&mut self, lib: &SharedLibrary) -> Result<PushReport, SyncError> {
        if !self.own_head_checked {
            self.reconcile_identity(lib).await?;
            self.own_head_checked = true;
        }
        let (device, unpushed) = {
            let l = lock(lib);
            (l.device_id(), l.recorder().unpushed()?)
        };
        let mut report = PushReport::default();
        for stored in unpushed {
            let batch = Batch::decode(&stored.body).expect("this device's own batches decode");
            for op in &batch.ops {
                if op.table == Table::LibraryImages && matches!(op.action, Action::Insert(_)) {
                    report.images += self.upload_image(lib, &op.row_id, batch.seq).await?;
                }
            }
            let key = layout::batch(device, stored.seq);
            let sealed = self.seal(&key, &stored.body, true);
            if self.bucket.put_if_absent(&key, sealed).await? == PutOutcome::AlreadyExists {
                // Uploaded before a crash, or someone else's batch under our
                // id: only the first is harmless.
                if self.open(&key, true).await? != stored.body {
                    return Err(SyncError::SeqConflict {
                        device,
                        seq: stored.seq,
                    });
                }
            }
            lock(lib).recorder_mut().mark_pushed(stored.seq)?;
            report.batches += 1;
            self.ops_since_checkpoint += batch.ops.len() as u64;
            self.head_dirty = true;
        }
        if self.head_dirty {
            self.write_head(lib).await?;
            report.head_written = true;
        }
        Ok(report)
    }

    /// Before this engine's first push: compares this database's batches
    /// with what the bucket holds under its device id. Unpushed batches the
    /// bucket already holds byte for byte (uploaded before a crash) are
    /// marked pushed. If the bucket holds batches this database never wrote
    /// — a head ahead of it, or another batch under one of its seqs — the
    /// database was restored from a backup or copied: it takes a new device
    /// id, its former self becomes a remote device pulled from where the two
    /// parted, and its own later batches are re-recorded under the new id.
    async fn reconcile_identity(&mut self, lib: &SharedLibrary) -> Result<(), SyncError> {
        let (device, local_seq, unpushed) = {
            let l = lock(lib);
            (
                l.device_id(),
                l.recorder().next_seq() - 1,
                l.recorder().unpushed()?,
            )
        };
        let head = self.read_head(&layout::head(device)).await?;
        let head_seq = head.as_ref().map_or(0, |h| h.seq);
        // How far this id's history in the bucket is known to go: its head,
        // and the checkpoints, which cover batches GC may have deleted.
        let covered = self
            .checkpoints()
            .await?
            .iter()
            .filter_map(|m| m.cursors.get(&device).copied())
            .max()
            .unwrap_or(0);
        let known = head_seq.max(covered);
        let mut parted = known > local_seq;
        if !parted {
            // The head can lag the batches: uploaded just before a crash, or
            // before the database that wrote them was replaced by this older
            // copy. A batch after every one this database wrote means parted.
            match self
                .bucket
                .head(&layout::batch(device, local_seq + 1))
                .await
            {
                Ok(_) => parted = true,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut shared_through = lock(lib).recorder().last_pushed_seq()?;
        for stored in &unpushed {
            // Compare as long as the bucket holds the same batches, even when
            // the head already shows the database is behind: batches that
            // were uploaded from this database's history are shared, not
            // this copy's own.
            if stored.seq > known.max(shared_through + 1) {
                break;
            }
            let key = layout::batch(device, stored.seq);
            match self.open(&key, true).await {
                Ok(body) if body == stored.body => {
                    lock(lib).recorder_mut().mark_pushed(stored.seq)?;
                    shared_through = stored.seq;
                }
                Ok(_) => {
                    parted = true;
                    break;
                }
                Err(SyncError::Bucket(e)) if e.is_not_found() => {
                    // Collected by GC (a checkpoint covers it): the bucket had
                    // a batch under this seq that cannot be compared, and
                    // uploading this one would rewrite history.
                    parted = stored.seq <= known;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !parted {
            return Ok(());
        }
        // Whatever the former self uploaded must stay reachable: pull goes
        // as far as a device's head, and nobody writes the old id's head any
        // more, so it must name every batch the bucket holds under that id.
        // GC may have collected those batches and the head of a silent
        // device: then only the checkpoints tell how far they went, and the
        // head must say so again, or this database would never pull them
        // (its pull would boot from a checkpoint covering them).
        let bucket_seq = self
            .bucket
            .list_all(&layout::ops_prefix(device))
            .await?
            .iter()
            .filter_map(|o| layout::parse_batch(device, o.key.as_str()))
            .max()
            .unwrap_or(0)
            .max(known);
        if bucket_seq > head_seq {
            let mut former = head.unwrap_or(Head {
                device_id: device,
                seq: 0,
                hlc: None,
                last_sync_ms: 0,
                cursors: BTreeMap::new(),
                schema_version: SCHEMA_VERSION,
            });
            former.seq = bucket_seq;
            let key = layout::head(device);
            let body = serde_json::to_vec(&former).expect("heads serialize");
            let sealed = self.seal(&key, &body, true);
            self.bucket.put(&key, sealed).await?;
        }
        let mut l = lock(lib);
        let new_id: DeviceId = l
            .recorder_mut()
            .new_id()
            .parse()
            .expect("id sources make uuids");
        tracing::warn!(old = %device, new = %new_id, shared_through, "database restored from a backup: taking a new device id");
        let batches = l.reidentify(new_id, shared_through).map_err(|e| match e {
            bae_library::ReidentifyError::Write(w) => SyncError::Write(w),
            bae_library::ReidentifyError::Config(c) => SyncError::Malformed {
                path: "config.yaml".to_owned(),
                reason: c.to_string(),
            },
        })?;
        // The rows still carry the old id's clocks for these writes: apply
        // the re-recorded batches so they carry the new ones, as every other
        // device will see them.
        let mut merger = Merger::new(l.database().schema().clone(), new_id);
        l.apply_remote(|conn| -> Result<(), SyncError> {
            for batch in &batches {
                merger.reapply_own(conn, batch)?;
            }
            Ok(())
        })?;
        self.merger = None;
        self.head_dirty = true;
        Ok(())
    }

    /// Uploads an image's bytes unless already done; returns 1 if uploaded.
    async fn upload_image(
        &mut self,
        lib: &SharedLibrary,
        image_id: &str,
        seq: u64,
    ) -> Result<usize, SyncError> {
        let done: Option<String> = lock(lib)
            .database()
            .conn()
            .query_row(
                "SELECT state FROM sync_images WHERE id = ?",
                [image_id],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;
        if done.as_deref() == Some("uploaded") {
            return Ok(0);
        }
        let Some(bytes) = self.images.get(image_id)? else {
            return Err(SyncError::ImageBytesMissing {
                seq,
                image_id: image_id.to_owned(),
                dir: self.images.dir().display().to_string(),
            });
        };
        let key = layout::image(image_id);
        let sealed = self.seal(&key, &bytes, false);
        self.bucket.put_if_absent(&key, sealed).await?;
        lock(lib).database().conn().execute(
            "INSERT INTO sync_images (id, state) VALUES (?, 'uploaded') \
             ON CONFLICT (id) DO UPDATE SET state = 'uploaded'",
            [image_id],
        )?;
        Ok(1)
    }

    async fn write_head(&mut self, lib: &SharedLibrary) -> Result<(), SyncError> {
        let head = {
            let l = lock(lib);
            let seq = l.recorder().last_pushed_seq()?;
            let hlc = match l.recorder().stored(seq)? {
                Some(b) => Batch::decode(&b.body)
                    .expect("own batches decode")
                    .ops
                    .last()
                    .map(|op| op.hlc),
                None => None,
            };
            Head {
                device_id: l.device_id(),
                seq,
                hlc,
                last_sync_ms: l.recorder().clock().wall_ms(),
                cursors: bae_merge::cursors(l.database().conn())?,
                schema_version: SCHEMA_VERSION,
            }
        };
        let key = layout::head(head.device_id);
        let body = serde_json::to_vec(&head).expect("heads serialize");
        let sealed = self.seal(&key, &body, true);
        self.bucket.put(&key, sealed).await?;
        self.head_dirty = false;
        Ok(())
    }

    /// Pulls: one listing of `heads/`, a download of each head whose ETag
    /// changed, then every missing batch of each device in seq order, merged
    /// with its cursor in groups of up to [`GROUP_MAX_BATCHES`] batches per
    /// transaction (each batch wholly or not at all). An idle poll is one
    /// request. A stream that cannot go on (a tampered object, a newer
    /// schema) stops at that batch, is reported, and the others go on.
    pub async fn pull(&mut self, lib: &SharedLibrary) -> Result<PullReport, SyncError> {
        let mut report = PullReport::default();
        let device = lock(lib).device_id();
        if !self.boot_checked {
            self.boot_checked = true;
            let fresh = bae_merge::cursors(lock(lib).database().conn())?.is_empty();
            if fresh && let Some(meta) = self.newest_checkpoint().await? {
                self.boot_from(lib, &meta).await?;
                report.booted_from = Some(meta.id);
            }
        }
        let listing = self.bucket.list_all(layout::HEADS).await?;
        // GC deletes the head of a device that looked silent when GC read
        // the heads; if this device woke and pushed in between, its new head
        // is gone and nobody learns of those batches. Put it back.
        let own_head = layout::head(device);
        if !listing.iter().any(|o| o.key == own_head) && lock(lib).recorder().last_pushed_seq()? > 0
        {
            self.head_dirty = true;
        }
        let known = self.known_heads(lib)?;
        for object in listing {
            let Some(dev) = layout::parse_head(object.key.as_str()) else {
                continue;
            };
            if dev == device {
                continue;
            }
            if object.etag.is_some()
                && known.get(&dev).map(|(etag, _)| etag) == object.etag.as_ref()
            {
                continue;
            }
            let Some(head) = self.read_head(&object.key).await? else {
                continue;
            };
            let body = serde_json::to_string(&head).expect("heads serialize");
            lock(lib).database().conn().execute(
                "INSERT INTO sync_heads (device_id, etag, body) VALUES (?, ?, ?) \
                 ON CONFLICT (device_id) DO UPDATE SET etag = excluded.etag, body = excluded.body",
                (
                    dev.as_bytes().as_slice(),
                    object.etag.unwrap_or_default(),
                    body,
                ),
            )?;
            report.heads_fetched += 1;
        }
        self.stopped.clear();
        let mut new_images: BTreeSet<String> = BTreeSet::new();
        let mut all_images = report.booted_from.is_some();
        // The batches found collected so far in this pull, per device: a
        // checkpoint booted from must cover all of them, not only the last,
        // or booting from it would bring back a gap an earlier boot filled
        // and the pull would go round booting for ever.
        let mut required: BTreeMap<DeviceId, u64> = BTreeMap::new();
        'restart: loop {
            let targets = pull_targets(device, &self.known_heads(lib)?);
            let cursors = bae_merge::cursors(lock(lib).database().conn())?;
            for (dev, target) in &targets {
                let mut seq = cursors.get(dev).copied().unwrap_or(0) + 1;
                // Batches are fetched one by one and merged in groups, one
                // transaction per group (see `Merger::apply_batches`).
                let mut group: Vec<Batch> = Vec::new();
                let mut group_ops = 0usize;
                // Why the stream cannot go on past the group, if it cannot.
                let mut stop_reason: Option<String> = None;
                while seq <= *target {
                    let key = layout::batch(*dev, seq);
                    let body = match self.open(&key, true).await {
                        Ok(body) => body,
                        Err(SyncError::Bucket(e)) if e.is_not_found() => {
                            // Collected by GC: only a checkpoint covering it
                            // can bring this device up to date. The newest by
                            // id need not (a writer's clock can run ahead):
                            // take the newest that does. It covers the group
                            // fetched so far too, which booting replaces.
                            let need = required.entry(*dev).or_insert(0);
                            *need = (*need).max(seq);
                            let covers = |m: &CheckpointMeta| {
                                required
                                    .iter()
                                    .all(|(d, s)| m.cursors.get(d).copied().unwrap_or(0) >= *s)
                            };
                            let meta = self.checkpoints().await?.into_iter().rev().find(covers);
                            match meta {
                                Some(meta) => {
                                    self.boot_from(lib, &meta).await?;
                                    report.booted_from = Some(meta.id);
                                    all_images = true;
                                    continue 'restart;
                                }
                                _ => return Err(SyncError::Unrecoverable { device: *dev, seq }),
                            }
                        }
                        Err(e @ SyncError::Tampered { .. }) => {
                            stop_reason = Some(e.to_string());
                            break;
                        }
                        Err(e) => return Err(e),
                    };
                    let batch = match Batch::decode(&body) {
                        Ok(b) if b.device == *dev && b.seq == seq => b,
                        Ok(b) => {
                            stop_reason = Some(format!(
                                "{key} holds batch {} of device {}",
                                b.seq, b.device
                            ));
                            break;
                        }
                        Err(e) => {
                            stop_reason = Some(format!("{key}: {e}"));
                            break;
                        }
                    };
                    group_ops += batch.ops.len();
                    group.push(batch);
                    seq += 1;
                    if (group.len() >= GROUP_MAX_BATCHES || group_ops >= GROUP_MAX_OPS)
                        && !self
                            .apply_group(lib, *dev, &mut group, &mut report, &mut new_images)
                            .await?
                    {
                        break;
                    }
                    if group.is_empty() {
                        group_ops = 0;
                    }
                }
                let going_on = group.is_empty()
                    || self
                        .apply_group(lib, *dev, &mut group, &mut report, &mut new_images)
                        .await?;
                if going_on && let Some(reason) = stop_reason {
                    self.stop(&mut report, *dev, reason);
                }
            }
            break;
        }
        self.fetch_images(lib, new_images, all_images, &mut report)
            .await?;
        Ok(report)
    }

    /// Merges the fetched `group` of `device`'s batches (emptying it) and
    /// accounts for what was applied; false if the stream stopped.
    async fn apply_group(
        &mut self,
        lib: &SharedLibrary,
        device: DeviceId,
        group: &mut Vec<Batch>,
        report: &mut PullReport,
        new_images: &mut BTreeSet<String>,
    ) -> Result<bool, SyncError> {
        let batches = std::mem::take(group);
        #[cfg(feature = "planted-bugs")]
        if bae_merge::planted::is(bae_merge::planted::Bug::CursorOutsideTx)
            && let Some(last) = batches.last()
        {
            // Planted: the cursor moves first, on its own, and a slow disk
            // leaves a window before the batches land.
            lock(lib).database().conn().execute(
                "INSERT INTO sync_cursors (device_id, seq) VALUES (?, ?) \
                 ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
                (device.as_bytes().as_slice(), last.seq),
            )?;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let outcome = {
            let mut l = lock(lib);
            let merger = Self::merger(&mut self.merger, &l);
            let outcome = l.apply_remote(|conn| merger.apply_batches(conn, &batches));
            for applied in &outcome.applied {
                if let Some(max) = applied.max_hlc
                    && let Err(e) = l.recorder().clock().observe(max)
                {
                    self.skewed.insert(device, e.to_string());
                }
            }
            outcome
        };
        for batch in &batches[..outcome.applied.len()] {
            report.batches_applied += 1;
            self.ops_since_checkpoint += batch.ops.len() as u64;
            self.head_dirty = true;
            for op in &batch.ops {
                if op.table == Table::LibraryImages {
                    new_images.insert(op.row_id.clone());
                    if matches!(op.action, Action::Insert(_)) {
                        // Durably, before any await: a crash before the
                        // fetch of the bytes must not forget them.
                        mark_gap(lib, &op.row_id)?;
                    }
                }
            }
        }
        match outcome.error {
            None => Ok(true),
            Some(e @ (MergeError::SchemaTooNew { .. } | MergeError::InvalidOp { .. })) => {
                self.stop(report, device, e.to_string());
                Ok(false)
            }
            Some(e) => Err(e.into()),
        }
    }

    fn stop(&mut self, report: &mut PullReport, device: DeviceId, reason: String) {
        tracing::warn!(%device, %reason, "stream stopped");
        report.stopped.push((device, reason.clone()));
        self.stopped.insert(device, reason);
    }

    /// The heads last read from other devices: `device -> (etag, head)`.
    fn known_heads(
        &self,
        lib: &SharedLibrary,
    ) -> Result<BTreeMap<DeviceId, (String, Head)>, SyncError> {
        let l = lock(lib);
        let mut stmt = l
            .database()
            .conn()
            .prepare("SELECT device_id, etag, body FROM sync_heads")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, etag, body) = row?;
            let head: Head = serde_json::from_str(&body).expect("stored heads were validated");
            let bytes: [u8; 16] = id.try_into().expect("device ids are 16 bytes");
            out.insert(DeviceId::from_bytes(bytes), (etag, head));
        }
        Ok(out)
    }

    /// Downloads the bytes of images this device lacks: those named by the
    /// batches just merged (every image, after booting from a checkpoint)
    /// and the gaps of earlier pulls. Bytes not in the bucket yet are a gap, retried
    /// on the next pull; the library works without them.
    async fn fetch_images(
        &mut self,
        lib: &SharedLibrary,
        mut candidates: BTreeSet<String>,
        all: bool,
        report: &mut PullReport,
    ) -> Result<(), SyncError> {
        {
            let l = lock(lib);
            let conn = l.database().conn();
            let mut stmt = conn.prepare("SELECT id FROM sync_images WHERE state = 'gap'")?;
            for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                candidates.insert(id?);
            }
            if all {
                let mut stmt = conn.prepare("SELECT id FROM library_images")?;
                for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                    candidates.insert(id?);
                }
            }
        }
        for id in candidates {
            // A hidden image (its album or artist gone for now) may become
            // visible again without another batch naming it: keep its gap.
            let exists = {
                let l = lock(lib);
                let conn = l.database().conn();
                bae_store::row_exists(conn, Table::LibraryImages, &id)?
                    || conn
                        .query_row(
                            "SELECT 1 FROM _shadow_library_images WHERE id = ?",
                            [&id],
                            |_| Ok(()),
                        )
                        .map(|()| true)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(false),
                            e => Err(e),
                        })?
            };
            if !exists || self.images.get(&id)?.is_some() {
                lock(lib).database().conn().execute(
                    "DELETE FROM sync_images WHERE id = ? AND state = 'gap'",
                    [&id],
                )?;
                continue;
            }
            match self.open(&layout::image(&id), false).await {
                Ok(bytes) => {
                    self.images.put(&id, &bytes)?;
                    lock(lib)
                        .database()
                        .conn()
                        .execute("DELETE FROM sync_images WHERE id = ?", [&id])?;
                    report.images_fetched += 1;
                }
                Err(SyncError::Bucket(e)) if e.is_not_found() => {
                    lock(lib).database().conn().execute(
                        "INSERT INTO sync_images (id, state) VALUES (?, 'gap') ON CONFLICT (id) DO NOTHING",
                        [&id],
                    )?;
                    report.image_gaps += 1;
                }
                Err(e @ SyncError::Tampered { .. }) => {
                    // Bytes that fail authentication are never stored or
                    // shown. They stay a gap (the author's next upload of the
                    // same image fills it), and the batches already merged
                    // stay merged: one bad object must not stop the pull.
                    tracing::warn!(image = %id, error = %e, "image refused");
                    lock(lib).database().conn().execute(
                        "INSERT INTO sync_images (id, state) VALUES (?, 'gap') ON CONFLICT (id) DO NOTHING",
                        [&id],
                    )?;
                    report.image_gaps += 1;
                    report.images_refused.push((id.clone(), e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Pushes, then writes a checkpoint of everything this device has
    /// applied: data first, then its metadata, which makes it usable.
    pub async fn checkpoint(&mut self, lib: &SharedLibrary) -> Result<CheckpointMeta, SyncError> {
        self.push(lib).await?;
        let (checkpoint, behind) = {
            let l = lock(lib);
            let created = l.recorder().clock().now();
            // The state holds every local write committed so far, including
            // any that landed after the push (the app writes while sync
            // awaits the bucket): the checkpoint claims them all.
            let own_seq = l.recorder().next_seq() - 1;
            let checkpoint =
                Checkpoint::export(l.database().conn(), l.database().schema(), created, own_seq)?;
            (checkpoint, own_seq > l.recorder().last_pushed_seq()?)
        };
        if behind {
            // Those late writes must reach the bucket before the checkpoint
            // does: if this device never pushed again (lost, wiped, restored
            // from a backup), devices booting from the checkpoint would hold
            // writes that devices following the batches never get. The
            // device id cannot change here: it was reconciled by the first
            // push of this engine.
            self.push(lib).await?;
        }
        let id = checkpoint.created.to_string();
        let data_key = layout::checkpoint_data(&id);
        let data = self.seal(&data_key, &checkpoint.encode(), false);
        let data_len = data.len() as u64;
        self.bucket.put_if_absent(&data_key, data).await?;
        let meta = CheckpointMeta {
            id: id.clone(),
            created: checkpoint.created,
            cursors: checkpoint.cursors,
            data_len,
            schema_version: checkpoint.schema_version,
        };
        let meta_key = layout::checkpoint_meta(&id);
        let body = serde_json::to_vec(&meta).expect("metadata serializes");
        let sealed = self.seal(&meta_key, &body, true);
        self.bucket.put_if_absent(&meta_key, sealed).await?;
        self.ops_since_checkpoint = 0;
        Ok(meta)
    }

    /// Every complete checkpoint's metadata, oldest first. A checkpoint
    /// whose metadata is missing, unreadable or names a data object of
    /// another size is torn and left out.
    pub async fn checkpoints(&self) -> Result<Vec<CheckpointMeta>, SyncError> {
        let listing = self.bucket.list_all(layout::CHECKPOINTS).await?;
        let sizes: BTreeMap<&str, u64> = listing
            .iter()
            .filter_map(|o| layout::parse_checkpoint_data(o.key.as_str()).map(|id| (id, o.size)))
            .collect();
        let mut metas = Vec::new();
        for object in &listing {
            let Some(id) = layout::parse_checkpoint_meta(object.key.as_str()) else {
                continue;
            };
            let meta: CheckpointMeta = match self.open(&object.key, true).await {
                Ok(body) => match serde_json::from_slice(&body) {
                    Ok(meta) => meta,
                    Err(e) => {
                        tracing::warn!(id, error = %e, "unreadable checkpoint metadata");
                        continue;
                    }
                },
                Err(SyncError::Tampered { path, source }) => {
                    tracing::warn!(path, error = %source, "checkpoint metadata failed authentication");
                    continue;
                }
                Err(e) => return Err(e),
            };
            if meta.id != id || sizes.get(id) != Some(&meta.data_len) {
                tracing::warn!(id, "torn checkpoint: data missing or of the wrong size");
                continue;
            }
            metas.push(meta);
        }
        Ok(metas)
    }

    async fn newest_checkpoint(&self) -> Result<Option<CheckpointMeta>, SyncError> {
        Ok(self.checkpoints().await?.pop())
    }

    /// Replaces the synced state with a checkpoint, then applies this
    /// device's own batches it does not cover again, so nothing written
    /// offline is lost.
    pub async fn boot_from(
        &mut self,
        lib: &SharedLibrary,
        meta: &CheckpointMeta,
    ) -> Result<(), SyncError> {
        let unusable = |reason: String| SyncError::CheckpointUnusable {
            id: meta.id.clone(),
            reason,
        };
        let key = layout::checkpoint_data(&meta.id);
        let source = self.download_checkpoint(&key, meta).await?;
        let schema = lock(lib).database().schema().clone();
        let read_error = |e: bae_merge::ReadError| match e {
            bae_merge::ReadError::Io(e) => match bae_crypto::decrypt_error(&e) {
                Some(d) => SyncError::Tampered {
                    path: key.as_str().to_owned(),
                    source: d.clone(),
                },
                None => SyncError::Spool {
                    id: meta.id.clone(),
                    source: e,
                },
            },
            bae_merge::ReadError::Checkpoint(e) => unusable(e.to_string()),
        };
        let reader = bae_crypto::DecryptReader::new(&self.key, key.as_str(), source, meta.data_len)
            .map_err(|e| read_error(e.into()))?;
        let checkpoint = CheckpointReader::new(reader, &schema).map_err(read_error)?;
        let header = checkpoint.header().clone();
        if header.cursors != meta.cursors || header.created != meta.created {
            return Err(unusable("its metadata does not match its data".to_owned()));
        }
        let mut l = lock(lib);
        let own = l.device_id();
        let covered = header.cursors.get(&own).copied().unwrap_or(0);
        let mine: Vec<Batch> = l
            .recorder()
            .stored_after(covered)?
            .iter()
            .map(|b| Batch::decode(&b.body).expect("own batches decode"))
            .collect();
        let merger = Self::merger(&mut self.merger, &l);
        l.apply_remote(|conn| -> Result<(), SyncError> {
            // The checkpoint is read, authenticated and validated as it is
            // booted; if any of it fails, the boot rolls back whole.
            merger.boot_stream(conn, checkpoint).map_err(|e| match e {
                bae_merge::BootError::Read(e) => read_error(e),
                bae_merge::BootError::Sqlite(e) => SyncError::Database(e),
            })?;
            for batch in &mine {
                merger.reapply_own(conn, batch)?;
            }
            Ok(())
        })?;
        // Every image of the checkpoint whose bytes this device lacks is a
        // gap until fetched, durably: a crash before the fetch must not
        // forget them.
        l.database().conn().execute(
            "INSERT INTO sync_images (id, state) \
             SELECT id, 'gap' FROM library_images UNION SELECT id, 'gap' FROM _shadow_library_images \
             WHERE true ON CONFLICT (id) DO NOTHING",
            [],
        )?;
        // Adopting our own checkpoint's clock is always safe; another
        // device's may be refused as too far ahead, like any remote clock.
        if let Err(e) = l.recorder().clock().observe(header.created) {
            self.skewed.insert(header.writer, e.to_string());
        }
        self.head_dirty = true;
        Ok(())
    }

    /// Collects what no device needs any more: batches covered by a
    /// checkpoint older than the grace period, unless this device or a head
    /// seen within the grace period shows a cursor below them, and only
    /// while that checkpoint covers every batch collected before;
    /// checkpoints older than that one; and heads of devices silent for
    /// longer than the grace period whose batches are all covered, that
    /// every other head and this device have applied, and that are not
    /// behind their device's batches in the bucket.
    pub async fn gc(&mut self, lib: &SharedLibrary) -> Result<GcReport, SyncError> {
        let now_ms = lock(lib).recorder().clock().wall_ms();
        let grace = self.config.gc_grace_period_ms;
        let mut report = GcReport::default();
        let metas = self.checkpoints().await?;
        #[cfg(feature = "planted-bugs")]
        let no_grace = bae_merge::planted::is(bae_merge::planted::Bug::GcNoGrace);
        #[cfg(not(feature = "planted-bugs"))]
        let no_grace = false;
        let Some(base) = metas
            .iter()
            .rev()
            .find(|m| no_grace || m.created.wall_ms().saturating_add(grace) <= now_ms)
            .cloned()
        else {
            return Ok(report);
        };
        let mut heads = Vec::new();
        // The version of each head read, to delete only that version.
        let mut head_etags: BTreeMap<DeviceId, Option<String>> = BTreeMap::new();
        for object in self.bucket.list_all(layout::HEADS).await? {
            if let Some(head) = self.read_head(&object.key).await? {
                head_etags.insert(head.device_id, object.etag);
                heads.push(head);
            }
        }
        // The device collecting is alive whatever its head in the bucket says:
        // that head is only as recent as its last push, and after a long
        // stretch offline (or a jump of its clock) it looks silent. Judge
        // what this device still needs by its own database's cursors, not by
        // that stale head alone, or it would collect a head or batches it
        // has not applied yet and never learn of them. Its head still counts
        // too while it looks live (as every head does): it says what the
        // others, and GC's checks, last heard from this device.
        let (own, own_cursors) = {
            let l = lock(lib);
            (l.device_id(), bae_merge::cursors(l.database().conn())?)
        };
        let own_view = Head {
            device_id: own,
            seq: 0,
            hlc: None,
            last_sync_ms: now_ms,
            cursors: own_cursors,
            schema_version: SCHEMA_VERSION,
        };
        let live: Vec<&Head> = heads
            .iter()
            .filter(|h| h.last_sync_ms.saturating_add(grace) >= now_ms)
            .chain(std::iter::once(&own_view))
            .collect();
        // Every batch collected so far must stay covered by one checkpoint:
        // a device that lacks some of them boots from a single checkpoint,
        // and booting replaces its whole state. Collecting with a base that
        // does not cover what earlier runs (with other bases) collected
        // leaves two checkpoints each covering what the other lacks, and a
        // device booting from one finds the other's batches gone and boots
        // from that one again, for ever. What is gone is read off the
        // listing: GC collects a device's batches from its first one on, so
        // the batches left are the ones after the first gap. A device with
        // none left may have lost all of them: its head, or else any
        // checkpoint, says how far they went.
        let mut devices: BTreeSet<DeviceId> = heads.iter().map(|h| h.device_id).collect();
        for meta in &metas {
            devices.extend(meta.cursors.keys().copied());
        }
        let mut listings = BTreeMap::new();
        let mut covers_collected = true;
        for device in devices {
            let seqs: Vec<(u64, ObjectKey)> = self
                .bucket
                .list_all(&layout::ops_prefix(device))
                .await?
                .into_iter()
                .filter_map(|o| layout::parse_batch(device, o.key.as_str()).map(|seq| (seq, o.key)))
                .collect();
            let collected = match seqs.iter().map(|(seq, _)| *seq).min() {
                Some(first) => first.saturating_sub(1),
                None => heads
                    .iter()
                    .find(|h| h.device_id == device)
                    .map(|h| h.seq)
                    .unwrap_or_else(|| {
                        metas
                            .iter()
                            .filter_map(|m| m.cursors.get(&device).copied())
                            .max()
                            .unwrap_or(0)
                    }),
            };
            if base.cursors.get(&device).copied().unwrap_or(0) < collected {
                covers_collected = false;
            }
            listings.insert(device, seqs);
        }
        if !covers_collected && !no_grace {
            // A later checkpoint, written once a device has caught up, will
            // cover both; collect then.
            return Ok(report);
        }
        for (device, covered) in &base.cursors {
            let needed = live
                .iter()
                .filter(|h| h.device_id != *device)
                .map(|h| h.cursors.get(device).copied().unwrap_or(0))
                .min()
                .unwrap_or(u64::MAX);
            let needed = if no_grace { u64::MAX } else { needed };
            let bound = (*covered).min(needed);
            for (seq, key) in listings.get(device).into_iter().flatten() {
                if *seq <= bound {
                    self.bucket.delete(key).await?;
                    report.batches_deleted += 1;
                }
            }
        }
        // Only checkpoints the base covers entirely: ids order checkpoints by
        // their writers' clocks, which can run ahead, so an older id may
        // cover batches the base does not, and they may be gone already.
        let dominated = |m: &CheckpointMeta| {
            m.cursors
                .iter()
                .all(|(d, s)| base.cursors.get(d).copied().unwrap_or(0) >= *s)
        };
        for old in metas.iter().filter(|m| m.id < base.id && dominated(m)) {
            self.bucket
                .delete(&layout::checkpoint_meta(&old.id))
                .await?;
            self.bucket
                .delete(&layout::checkpoint_data(&old.id))
                .await?;
            report.checkpoints_deleted += 1;
        }
        for head in &heads {
            let silent = head.last_sync_ms.saturating_add(grace) < now_ms;
            let covered = base.cursors.get(&head.device_id).copied().unwrap_or(0) >= head.seq;
            // A head is how the others learn how far its batches go, and a
            // device that has not applied them all yet still needs it, live
            // or not: one that looks silent (its clock, or this one's, may be
            // off by more than the grace period, or it was merely offline)
            // would otherwise come back never knowing of those batches. So
            // every head still in the bucket must have applied them, and so
            // must this device. Heads of devices gone for good do not block
            // this for ever: theirs is collected first, once the others have
            // applied its batches.
            let applied_everywhere = heads
                .iter()
                .chain(std::iter::once(&own_view))
                .filter(|h| h.device_id != head.device_id)
                .all(|h| h.cursors.get(&head.device_id).copied().unwrap_or(0) >= head.seq);
            // A head behind its device's batches in the bucket (they were
            // uploaded and the head write after them was lost) is about to
            // be rewritten up to them, by that device or by a restored copy
            // of its database, and is the only way the others will learn of
            // them. GC read the heads before that rewrite: deleting now
            // could delete the rewritten head, so keep it.
            let lagging = listings
                .get(&head.device_id)
                .is_some_and(|batches| batches.iter().any(|(seq, _)| *seq > head.seq));
            if silent && covered && applied_everywhere && !lagging && head.device_id != own {
                let etag = head_etags.get(&head.device_id).cloned().flatten();
                if self.delete_head_as_read(head, etag.as_deref()).await? {
                    report.heads_deleted += 1;
                }
            }
        }
        Ok(report)
    }

    /// Deletes `head` from the bucket only if it is still what GC read. A GC
    /// run can take long (a slow link, many batches): the device may have
    /// come back meanwhile, uploaded batches and rewritten its head, and
    /// deleting that head would leave the others never learning of those
    /// batches. So look again just before deleting: any batch after the head
    /// read keeps it (the rewrite is coming), and the delete itself is
    /// conditional on the version read (`If-Match`), which closes the window
    /// on stores that honor it. On a store that lists no etags the head is
    /// read again and compared, which narrows the window without closing it.
    /// A head rewritten after the delete is simply there again. True if the
    /// head was deleted.
    async fn delete_head_as_read(
        &self,
        head: &Head,
        etag: Option<&str>,
    ) -> Result<bool, SyncError> {
        let device = head.device_id;
        let later_batch = self
            .bucket
            .list_all(&layout::ops_prefix(device))
            .await?
            .iter()
            .filter_map(|o| layout::parse_batch(device, o.key.as_str()))
            .any(|seq| seq > head.seq);
        if later_batch {
            return Ok(false);
        }
        let key = layout::head(device);
        match etag {
            Some(etag) => Ok(self.bucket.delete_if_match(&key, etag).await?
                == bae_bucket::DeleteOutcome::Deleted),
            None => {
                if self.read_head(&key).await?.as_ref() != Some(head) {
                    return Ok(false);
                }
                self.bucket.delete(&key).await?;
                Ok(true)
            }
        }
    }

    /// Push, pull, and push the head again (so it shows the new cursors);
    /// then a checkpoint if enough ops went by.
    pub async fn sync(
        &mut self,
        lib: &SharedLibrary,
    ) -> Result<(PushReport, PullReport), SyncError> {
        let pushed = self.push(lib).await?;
        let pulled = self.pull(lib).await?;
        if self.head_dirty {
            self.write_head(lib).await?;
        }
        if self.ops_since_checkpoint >= self.config.checkpoint_every_ops {
            self.checkpoint(lib).await?;
        }
        Ok((pushed, pulled))
    }
}

//! A virtual device: a turmoil host running bae's real library and sync code
//! on its own SQLite file, its own skewed clock and its own network identity.
//!
//! The host's software is [`host`]: open the library from disk, then act
//! until the run ends. A crash (turmoil `crash`/`bounce`) drops it at
//! whatever await point it is in; the next start opens the same file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bae_bucket::{RetryPolicy, Retrying, S3Bucket};
use bae_crypto::LibraryKey;
use bae_hlc::DeviceId;
use bae_library::{
    AlbumImport, AlbumPatch, ArtistPatch, LibraryManager, LibraryOptions, NewAlbum, NewArtist,
    NewFile, NewImage, NewRelease, NewTrack, ReleasePatch, TrackPatch,
};
use bae_oplog::{Batch, SeededIds};
use bae_store::{Table, Value, WriteError, Writer};
use bae_sync::{ImageStore, SeededNonces, SharedLibrary, SyncConfig, SyncError, Syncer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::world::{Committed, GcSnapshot, Phase, SimClock, World, now};

/// The library key every device of a run shares.
pub fn library_key(seed: u64) -> LibraryKey {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&seed.to_le_bytes());
    k[8..16].copy_from_slice(&0x6b65_795f_7369_6d00u64.to_le_bytes());
    LibraryKey::from_bytes(k)
}

/// Mixes numbers into one seed (splitmix64 finaliser).
pub fn mix(parts: &[u64]) -> u64 {
    let mut z: u64 = 0x9e37_79b9_7f4a_7c15;
    for p in parts {
        z ^= p.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// The text every string the workload writes carries, so the
/// confidentiality check finds any of them in the bucket.
pub const TAG: &str = "SIMTXT";

/// The device actions. A new kind of action is a variant here, a weight in
/// [`crate::config::Weights`], and an arm in [`Device::act`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Import an album.
    Import,
    /// Edit fields.
    Edit,
    /// Hot id space.
    Hot,
    /// Delete a row.
    Delete,
    /// Add a child row.
    Child,
    /// Add a cover image.
    Cover,
    /// Push and pull.
    Sync,
    /// Push.
    Push,
    /// Pull.
    Pull,
    /// Checkpoint.
    Checkpoint,
    /// GC.
    Gc,
    /// Checkpoint then GC.
    Compact,
}

impl Action {
    fn weights(w: &crate::config::Weights) -> [(Action, u32); 12] {
        [
            (Action::Import, w.import),
            (Action::Edit, w.edit),
            (Action::Hot, w.hot),
            (Action::Delete, w.delete),
            (Action::Child, w.child),
            (Action::Cover, w.cover),
            (Action::Sync, w.sync),
            (Action::Push, w.push),
            (Action::Pull, w.pull),
            (Action::Checkpoint, w.checkpoint),
            (Action::Gc, w.gc),
            (Action::Compact, w.compact),
        ]
    }
}

/// A failed local write that only raced the removal of the row it names:
/// the workload picks rows that a pull or another step may remove before
/// the write runs, so that is expected. Any other failure is a violation.
trait RowGone: std::fmt::Display {
    fn row_gone(&self) -> bool;
}

impl RowGone for WriteError {
    fn row_gone(&self) -> bool {
        matches!(self, WriteError::NotFound { .. })
    }
}

impl RowGone for SyncError {
    fn row_gone(&self) -> bool {
        matches!(self, SyncError::Write(e) if e.row_gone())
    }
}

/// The running software of one device.
struct Device {
    world: Arc<World>,
    slot: usize,
    id: DeviceId,
    lib: SharedLibrary,
    syncer: Syncer,
    images: ImageStore,
    rng: StdRng,
    counter: u64,
}

/// The software of device host `slot`.
pub async fn host(world: Arc<World>, slot: usize) -> turmoil::Result {
    loop {
        let (installed, phase) = {
            let s = world.state();
            (s.slots[slot].installed, s.phase)
        };
        if phase == Phase::Done {
            return Ok(());
        }
        if installed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut dev = Device::open(&world, slot);
    dev.check_identity();
    loop {
        let phase = world.state().phase;
        match phase {
            Phase::Done => return Ok(()),
            Phase::Chaos => dev.chaos().await,
            Phase::Quiesce => dev.quiesce().await,
        }
    }
}

impl Device {
    fn open(world: &Arc<World>, slot: usize) -> Device {
        let (dir, id, incarnation, name) = {
            let mut s = world.state();
            let sl = &mut s.slots[slot];
            sl.incarnation += 1;
            sl.quiet_since = None;
            (sl.dir.clone(), sl.id, sl.incarnation, sl.name.clone())
        };
        let seed = mix(&[world.seed, slot as u64, incarnation]);
        // The device id lives in config.yaml, as in the app; the first start
        // writes the seeded one, a restored database may replace it.
        let config = dir.join(bae_library::CONFIG_FILE);
        if !config.exists() {
            std::fs::write(&config, format!("device_id: {id}\n")).expect("write config.yaml");
        }
        let options = LibraryOptions {
            wall_clock: Arc::new(SimClock {
                world: Arc::clone(world),
                slot,
            }),
            ids: Box::new(SeededIds::new(seed)),
        };
        let lib = LibraryManager::open(&dir, options).expect("open the library");
        let client =
            crate::net::s3_client(&crate::net::partition_name(world.seed, slot, incarnation));
        let bucket = S3Bucket::from_client(client, crate::net::BUCKET, None).expect("bucket");
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 100,
            max_delay_ms: 2_000,
            ..RetryPolicy::seeded(mix(&[seed, 3]))
        };
        let images = ImageStore::new(dir.join("images"));
        let syncer = Syncer::new(
            Arc::new(Retrying::new(bucket, policy)),
            library_key(world.seed),
            images.clone(),
            SyncConfig {
                checkpoint_every_ops: world.swarm.checkpoint_every_ops,
                gc_grace_period_ms: world.swarm.grace_ms,
                ..SyncConfig::default()
            },
            Box::new(SeededNonces::new(mix(&[seed, 4]))),
        );
        world.event(format!(
            "{name} starts as {} (incarnation {incarnation})",
            lib.device_id()
        ));
        Device {
            world: Arc::clone(world),
            slot,
            id: world.state().slots[slot].id,
            lib: Arc::new(Mutex::new(lib)),
            syncer,
            images,
            rng: StdRng::seed_from_u64(mix(&[seed, 5])),
            counter: 0,
        }
    }

    fn name(&self) -> String {
        self.world.state().slots[self.slot].name.clone()
    }

    fn set_busy(&self, what: &'static str) {
        self.world.state().slots[self.slot].busy = what;
    }

    async fn pause(&mut self) {
        let mean = self.world.swarm.pause_ms;
        let ms = self.rng.random_range(mean / 4..=mean * 2);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    async fn chaos(&mut self) {
        if self.world.state().slots[self.slot].restored {
            // A restored database: its first act is to push, which must be refused.
            self.step(Action::Push).await;
            return;
        }
        let table = Action::weights(&self.world.swarm.weights);
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        let mut action = Action::Sync;
        for (a, w) in table {
            if roll < w {
                action = a;
                break;
            }
            roll -= w;
        }
        if matches!(action, Action::Gc | Action::Compact)
            && !self.world.state().slots[self.slot].may_gc
        {
            action = Action::Checkpoint;
        }
        self.act(action).await;
        // Whatever a chaos action did counts as work for quiescence, even
        // if it ends after the faults healed.
        self.world.state().last_work = now();
        self.pause().await;
    }

    async fn quiesce(&mut self) {
        let start = now();
        self.set_busy("sync (quiesce)");
        let result = self.syncer.sync(&self.lib).await;
        self.set_busy("idle");
        match result {
            Ok((push, pull)) => {
                let work = push.batches > 0
                    || push.images > 0
                    || push.head_written
                    || pull.batches_applied > 0
                    || pull.booted_from.is_some()
                    || pull.images_fetched > 0;
                self.after_push_ok();
                let mut s = self.world.state();
                if work {
                    s.last_work = now();
                    s.slots[self.slot].quiet_since = None;
                } else {
                    s.slots[self.slot].quiet_since = Some(start);
                }
                s.slots[self.slot].last_error = None;
                if pull.booted_from.is_some() {
                    s.stats.boots += 1;
                }
            }
            Err(e) => {
                {
                    let mut s = self.world.state();
                    s.slots[self.slot].quiet_since = None;
                    s.slots[self.slot].last_error = Some(e.to_string());
                }
                self.on_error("sync", e);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    fn text(&mut self, kind: &str) -> String {
        self.counter += 1;
        let s = format!(
            "{TAG} {kind} {}-{}-{}",
            self.slot,
            self.world.state().slots[self.slot].incarnation,
            self.counter
        );
        self.world.state().strings.push(s.clone());
        s
    }

    /// Runs one local write transaction and logs the batch it committed.
    fn write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut dyn Writer) -> Result<T, WriteError>,
    ) -> Option<T> {
        let mut l = self.lib.lock().expect("library");
        let before = l.recorder().next_seq();
        let result = l.write(f);
        self.log_write(&l, before, what, result)
    }

    fn log_write<T, E: RowGone>(
        &self,
        l: &LibraryManager,
        before: u64,
        what: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => {
                let after = l.recorder().next_seq();
                if after > before {
                    let stored = l
                        .recorder()
                        .stored(after - 1)
                        .expect("read own batch")
                        .expect("just committed");
                    let batch = Batch::decode(&stored.body).expect("own batch decodes");
                    let n = batch.ops.len();
                    let mut s = self.world.state();
                    s.stats.writes += 1;
                    s.committed.push(Committed {
                        slot: self.slot,
                        batch,
                        body: stored.body,
                        discarded: false,
                    });
                    let name = s.slots[self.slot].name.clone();
                    drop(s);
                    self.world
                        .event(format!("{name} {what}: batch {} ({n} ops)", after - 1));
                }
                Some(v)
            }
            Err(e) => {
                if !e.row_gone() {
                    self.world.violation(
                        "local write",
                        format!("{}: {what} failed: {e}", self.name()),
                    );
                }
                None
            }
        }
    }

    /// A random visible row of `table`.
    fn pick(&mut self, table: Table) -> Option<String> {
        let l = self.lib.lock().expect("library");
        let conn = l.database().conn();
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", table.name()), [], |r| {
                r.get(0)
            })
            .ok()?;
        if n == 0 {
            return None;
        }
        let k = self.rng.random_range(0..n);
        conn.query_row(
            &format!(
                "SELECT id FROM {} ORDER BY id LIMIT 1 OFFSET ?",
                table.name()
            ),
            [k],
            |r| r.get(0),
        )
        .ok()
    }

    fn exists(&self, table: Table, id: &str) -> bool {
        let l = self.lib.lock().expect("library");
        bae_store::row_exists(l.database().conn(), table, id).unwrap_or(false)
    }

    fn hot_id(&mut self, table: Table) -> String {
        let k = self.rng.random_range(0..self.world.swarm.hot_ids) as u64;
        let t = table as u64;
        let a = mix(&[self.world.seed, t, k, 7]);
        let b = mix(&[self.world.seed, t, k, 8]);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..].copy_from_slice(&b.to_le_bytes());
        // UUIDv4 text, like every id.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Import => {
                let artist = self.text("artist");
                let title = self.text("album");
                let tracks: Vec<String> = (0..self.rng.random_range(1..=6))
                    .map(|_| self.text("track"))
                    .collect();
                let with_ids = self.rng.random_bool(0.3);
                let mb = self.text("mb");
                self.write("import", |w| {
                    let artist = bae_store::writes::create_artist(
                        w,
                        &NewArtist {
                            name: artist,
                            ..Default::default()
                        },
                    )?;
                    bae_store::writes::insert_album_with_release_and_tracks(
                        w,
                        &AlbumImport {
                            album: NewAlbum {
                                title,
                                year: Some(1950),
                                artist_ids: vec![artist.clone()],
                                musicbrainz: with_ids.then_some((mb, None)),
                                ..Default::default()
                            },
                            release: NewRelease {
                                format: Some("CD".into()),
                                ..Default::default()
                            },
                            tracks: tracks
                                .into_iter()
                                .enumerate()
                                .map(|(n, title)| NewTrack {
                                    title,
                                    track_number: Some(n as i64 + 1),
                                    artist_ids: vec![artist.clone()],
                                    ..Default::default()
                                })
                                .collect(),
                        },
                    )
                });
            }
            Action::Edit => self.edit(),
            Action::Hot => self.hot(),
            Action::Delete => {
                let table = [
                    Table::Albums,
                    Table::Tracks,
                    Table::Artists,
                    Table::Releases,
                ][self.rng.random_range(0..4)];
                if let Some(id) = self.pick(table) {
                    self.write("delete", |w| {
                        w.delete(table, &id)?;
                        Ok(())
                    });
                }
            }
            Action::Child => self.child(),
            Action::Cover => {
                if let Some(album) = self.pick(Table::Albums) {
                    let mut bytes = b"SIMIMG ".to_vec();
                    bytes.extend(
                        (0..self.rng.random_range(16..200)).map(|_| self.rng.random::<u8>()),
                    );
                    let image = NewImage {
                        content_type: "image/png".into(),
                        file_size: bytes.len() as i64,
                        content_hash: format!("{:064x}", self.rng.random::<u64>()),
                        source: "folder".into(),
                        ..Default::default()
                    };
                    let result = {
                        let mut l = self.lib.lock().expect("library");
                        let before = l.recorder().next_seq();
                        let r =
                            bae_sync::add_cover_image(&mut l, &self.images, &album, &image, &bytes);
                        self.log_write(&l, before, "cover", r)
                    };
                    if let Some(id) = result {
                        self.world.state().images.insert(id, bytes);
                    }
                }
            }
            other => {
                self.step(other).await;
                return;
            }
        }
        if self.rng.random_bool(0.3) {
            // Like the sync service: a push soon after a local write.
            self.step(Action::Push).await;
        }
    }

    fn edit(&mut self) {
        match self.rng.random_range(0..4) {
            0 => {
                if let Some(id) = self.pick(Table::Albums) {
                    let patch = AlbumPatch {
                        title: self.rng.random_bool(0.6).then(|| self.text("title")),
                        year: Some(Some(self.rng.random_range(1950..2025))),
                        ..Default::default()
                    };
                    self.write("edit album", |w| {
                        bae_store::writes::update_album(w, &id, &patch)
                    });
                }
            }
            1 => {
                if let Some(id) = self.pick(Table::Tracks) {
                    let patch = TrackPatch {
                        title: Some(self.text("title")),
                        duration_ms: self
                            .rng
                            .random_bool(0.5)
                            .then(|| Some(self.rng.random_range(1000..600_000))),
                        ..Default::default()
                    };
                    self.write("edit track", |w| {
                        bae_store::writes::update_track(w, &id, &patch)
                    });
                }
            }
            2 => {
                if let Some(id) = self.pick(Table::Artists) {
                    let patch = ArtistPatch {
                        name: Some(self.text("name")),
                        sort_name: Some(Some(self.text("sort"))),
                        ..Default::default()
                    };
                    self.write("edit artist", |w| {
                        bae_store::writes::update_artist(w, &id, &patch)
                    });
                }
            }
            _ => {
                if let Some(id) = self.pick(Table::Releases) {
                    let patch = ReleasePatch {
                        label: Some(Some(self.text("label"))),
                        country: Some(Some("SE".into())),
                        ..Default::default()
                    };
                    self.write("edit release", |w| {
                        bae_store::writes::update_release(w, &id, &patch)
                    });
                }
            }
        }
    }

    /// The hot id space: a few albums (with one release each) and artists
    /// whose ids every device shares, inserted, edited, deleted and
    /// re-inserted concurrently.
    fn hot(&mut self) {
        let table = [Table::Albums, Table::Artists, Table::Releases][self.rng.random_range(0..3)];
        let id = self.hot_id(table);
        let exists = self.exists(table, &id);
        let roll = self.rng.random_range(0..10);
        if !exists {
            let name = self.text("hot");
            match table {
                Table::Albums | Table::Artists => {
                    let fields: Vec<(&str, Value)> = if table == Table::Albums {
                        vec![
                            ("id", id.clone().into()),
                            ("title", name.into()),
                            ("year", Value::Null),
                            ("is_compilation", false.into()),
                        ]
                    } else {
                        vec![
                            ("id", id.clone().into()),
                            ("name", name.into()),
                            ("sort_name", Value::Null),
                            ("discogs_artist_id", Value::Null),
                            ("musicbrainz_artist_id", Value::Null),
                        ]
                    };
                    self.write("hot insert", |w| {
                        let now = w.now_rfc3339();
                        let mut all = fields;
                        all.push(("created_at", now.clone().into()));
                        all.push(("updated_at", now.into()));
                        w.insert(table, &all)
                    });
                }
                _ => {
                    // A hot release under a hot album, if that album is here.
                    let album = self.hot_id(Table::Albums);
                    if self.exists(Table::Albums, &album) {
                        self.write("hot insert release", |w| {
                            let now = w.now_rfc3339();
                            w.insert(
                                Table::Releases,
                                &[
                                    ("id", id.clone().into()),
                                    ("album_id", album.into()),
                                    ("release_name", name.into()),
                                    ("year", Value::Null),
                                    ("format", Value::Null),
                                    ("label", Value::Null),
                                    ("catalog_number", Value::Null),
                                    ("country", Value::Null),
                                    ("barcode", Value::Null),
                                    ("import_status", "queued".into()),
                                    ("private", false.into()),
                                    ("created_at", now.clone().into()),
                                    ("updated_at", now.into()),
                                ],
                            )
                        });
                    }
                }
            }
        } else if roll < 3 {
            self.write("hot delete", |w| {
                w.delete(table, &id)?;
                Ok(())
            });
        } else if roll < 5 && table == Table::Releases {
            // Children under a hot parent while others may delete it.
            let title = self.text("hot track");
            self.write("hot child", |w| {
                bae_store::writes::add_track(
                    w,
                    &id,
                    &NewTrack {
                        title,
                        ..Default::default()
                    },
                )
                .map(drop)
            });
        } else {
            let text = self.text("hot edit");
            let field = match table {
                Table::Albums => "title",
                Table::Artists => "name",
                _ => "release_name",
            };
            self.write("hot edit", |w| {
                w.update(table, &id, &[(field, text.into())])?;
                Ok(())
            });
        }
    }

    fn child(&mut self) {
        let Some(release) = self.pick(Table::Releases) else {
            return;
        };
        if self.rng.random_bool(0.5) {
            let title = self.text("track");
            self.write("add track", |w| {
                bae_store::writes::add_track(
                    w,
                    &release,
                    &NewTrack {
                        title,
                        ..Default::default()
                    },
                )
                .map(drop)
            });
        } else {
            let filename = self.text("file");
            let local = format!("/music/{TAG}-local-{}", self.counter);
            self.world.state().slots[self.slot]
                .local_strings
                .push(local.clone());
            self.write("add file", |w| {
                bae_store::writes::add_file(
                    w,
                    &release,
                    &NewFile {
                        original_filename: filename,
                        file_size: 1234,
                        content_type: "audio/flac".into(),
                        source_path: Some(local),
                        ..Default::default()
                    },
                )
                .map(drop)
            });
        }
    }

    /// Runs a sync step and judges its result.
    async fn step(&mut self, action: Action) {
        let name = self.name();
        let what: &'static str = match action {
            Action::Sync => "sync",
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Checkpoint => "checkpoint",
            Action::Gc => "gc",
            Action::Compact => "compact",
            _ => "?",
        };
        self.set_busy(what);
        let result: Result<String, SyncError> = match action {
            Action::Push => self
                .syncer
                .push(&self.lib)
                .await
                .map(|r| format!("{} batches, {} images", r.batches, r.images)),
            Action::Pull => self.syncer.pull(&self.lib).await.map(|r| {
                if r.booted_from.is_some() {
                    self.world.state().stats.boots += 1;
                }
                format!(
                    "{} applied, booted {:?}, {} images",
                    r.batches_applied, r.booted_from, r.images_fetched
                )
            }),
            Action::Sync => self.syncer.sync(&self.lib).await.map(|(p, r)| {
                if r.booted_from.is_some() {
                    self.world.state().stats.boots += 1;
                }
                format!(
                    "pushed {}, applied {}, booted {:?}",
                    p.batches, r.batches_applied, r.booted_from
                )
            }),
            Action::Checkpoint => self.checkpoint().await,
            Action::Gc => self.gc().await,
            Action::Compact => match self.checkpoint().await {
                Ok(c) => self.gc().await.map(|g| format!("{c}; {g}")),
                Err(e) => Err(e),
            },
            _ => Ok(String::new()),
        };
        self.set_busy("idle");
        match result {
            Ok(summary) => {
                if matches!(
                    action,
                    Action::Push | Action::Sync | Action::Checkpoint | Action::Compact
                ) {
                    self.after_push_ok();
                }
                self.world.state().stats.steps_ok += 1;
                self.world.event(format!("{name} {what}: {summary}"));
            }
            Err(e) => self.on_error(what, e),
        }
    }

    async fn checkpoint(&mut self) -> Result<String, SyncError> {
        let meta = self.syncer.checkpoint(&self.lib).await?;
        self.world.state().stats.checkpoints += 1;
        Ok(format!("checkpoint {} covers {:?}", meta.id, meta.cursors))
    }

    async fn gc(&mut self) -> Result<String, SyncError> {
        let snapshot = GcSnapshot {
            now_ms: self.world.wall_ms(self.slot),
            heads: crate::check::heads_now(&self.world),
            checkpoints: crate::check::checkpoints_now(&self.world),
        };
        self.world.state().slots[self.slot].gc = Some(snapshot);
        let result = self.syncer.gc(&self.lib).await;
        self.world.state().slots[self.slot].gc = None;
        let r = result?;
        self.world.state().stats.gc_deleted += r.batches_deleted as u64;
        Ok(format!(
            "gc deleted {} batches, {} checkpoints, {} heads",
            r.batches_deleted, r.checkpoints_deleted, r.heads_deleted
        ))
    }

    /// A push went through. A database restored from a backup older than
    /// its device's history in the bucket must have taken a new id by now.
    fn after_push_ok(&mut self) {
        self.check_identity();
        let restored = std::mem::take(&mut self.world.state().slots[self.slot].restored);
        if restored {
            self.world.violation(
                "restore detection",
                format!(
                    "{} pushed as {} from a database restored from a backup older than that id's history in the bucket",
                    self.name(),
                    self.id
                ),
            );
        }
    }

    /// Follows a change of device id (a restored database takes a new one
    /// on its first push): the batches it re-recorded under the new id
    /// replace, in the write log, the old id's batches that never reached
    /// the bucket.
    fn check_identity(&mut self) {
        let (new, batches) = {
            let l = self.lib.lock().expect("library");
            let new = l.device_id();
            if new == self.id {
                return;
            }
            let stored = l.recorder().stored_after(0).expect("read own batches");
            (new, stored)
        };
        let old = std::mem::replace(&mut self.id, new);
        let restored_since = {
            let mut s = self.world.state();
            let sl = &mut s.slots[self.slot];
            sl.id = new;
            sl.restored = false;
            std::mem::take(&mut sl.restored_since_id)
        };
        if !restored_since {
            self.world.violation(
                "device identity",
                format!(
                    "{} took a new id {new} (was {old}) though its database was never restored",
                    self.name()
                ),
            );
        }
        let rerecorded = crate::check::discard_unpushed_after(&self.world, old, 0);
        let mut s = self.world.state();
        s.stats.reidentified += 1;
        s.stats.discarded -= rerecorded;
        for stored in batches {
            let batch = Batch::decode(&stored.body).expect("own batch decodes");
            s.committed.push(Committed {
                slot: self.slot,
                batch,
                body: stored.body,
                discarded: false,
            });
        }
        drop(s);
        self.world.event(format!(
            "{} took a new id {new} (was {old}); {rerecorded} unpushed batches re-recorded",
            self.name()
        ));
    }

    fn on_error(&mut self, what: &str, e: SyncError) {
        let name = self.name();
        self.world.state().stats.steps_failed += 1;
        self.world.event(format!("{name} {what} failed: {e}"));
        match e {
            SyncError::SeqConflict { .. } => {
                self.world
                    .violation("seq conflict", format!("{name} ({}): {e}", self.id));
            }
            SyncError::Bucket(_) | SyncError::Unrecoverable { .. } => (),
            other => {
                self.world
                    .violation("sync error", format!("{name} {what}: {other}"));
            }
        }
    }
}

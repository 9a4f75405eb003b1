//! The checkers. Two kinds:
//!
//! - judged as it happens: every bucket deletion against what GC may delete
//!   ([`on_delete`]);
//! - judged at the end, after the faults healed and every device synced to
//!   quiescence ([`CHECKERS`]): each is a function over [`Final`], the state
//!   of every device and of the bucket, so a new invariant is one more
//!   function in that list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bae_bucket::{Bucket, MemoryBucket, ObjectKey};
use bae_hlc::{DeviceId, Hlc, ManualClock};
use bae_library::{LibraryManager, LibraryOptions};
use bae_oplog::{Action, Batch, SeededIds};
use bae_store::{Database, DeviceIndex, FieldClocks, Schema, Table, Tombstone, dump_synced};
use bae_sync::{CheckpointMeta, Head, ImageStore, SeededNonces, SyncConfig, Syncer, layout};
use rusqlite::{Connection, OptionalExtension};

use crate::device::{TAG, library_key};
use crate::world::{Violation, World};

/// Decrypts a small object of the bucket (a head, a batch, a checkpoint's
/// metadata).
fn open_padded(world: &World, key: &str, data: &[u8]) -> Option<Vec<u8>> {
    bae_crypto::decrypt_padded(&library_key(world.seed), key, data).ok()
}

/// Every head in the bucket now: key -> (etag, head).
pub fn heads_now(world: &World) -> BTreeMap<String, (String, Head)> {
    let store = world.store();
    let mut out = BTreeMap::new();
    for (key, object) in store.objects.range(layout::HEADS.to_owned()..) {
        if !key.starts_with(layout::HEADS) {
            break;
        }
        if let Some(body) = open_padded(world, key, &object.data)
            && let Ok(head) = serde_json::from_slice::<Head>(&body)
        {
            out.insert(key.clone(), (object.etag.clone(), head));
        }
    }
    out
}

/// Complete checkpoints in the bucket now.
pub fn checkpoints_now(world: &World) -> Vec<CheckpointMeta> {
    let store = world.store();
    let mut out = Vec::new();
    for (key, object) in store.objects.range(layout::CHECKPOINTS.to_owned()..) {
        if !key.starts_with(layout::CHECKPOINTS) {
            break;
        }
        let Some(id) = layout::parse_checkpoint_meta(key) else {
            continue;
        };
        let Some(meta) = open_padded(world, key, &object.data)
            .and_then(|b| serde_json::from_slice::<CheckpointMeta>(&b).ok())
        else {
            continue;
        };
        let data = store
            .objects
            .get(layout::checkpoint_data(id).as_str())
            .map(|o| o.data.len() as u64);
        if data == Some(meta.data_len) {
            out.push(meta);
        }
    }
    out
}

/// Judges one deletion at the bucket, before it happens: only GC deletes,
/// and GC deletes a batch only if a complete checkpoint older than the
/// grace period covers it and no head that GC saw within the grace period
/// (and that did not change while GC ran) still needs it.
pub fn on_delete(world: &World, peer: &str, key: &str) {
    let snapshot = {
        let s = world.state();
        s.slots
            .iter()
            .find(|sl| sl.name == peer)
            .map(|sl| sl.gc.clone())
    };
    let Some(Some(gc)) = snapshot else {
        world.violation("gc safety", format!("{peer} deleted {key} outside GC"));
        return;
    };
    let grace = world.swarm.grace_ms;
    if let Some(gone) = layout::parse_head(key) {
        // A head tells the others how far its device's batches go.
        let seq = gc.heads.get(key).map_or(0, |(_, h)| h.seq);
        let current = heads_now(world);
        for (hkey, (etag, head)) in &gc.heads {
            let unchanged = current.get(hkey).is_some_and(|(e, _)| e == etag);
            let live = head.last_sync_ms.saturating_add(grace) >= gc.now_ms;
            let applied = head.cursors.get(&gone).copied().unwrap_or(0);
            if unchanged && live && head.device_id != gone && applied < seq {
                world.violation(
                    "gc safety",
                    format!(
                        "{peer} deleted the head of {gone} (seq {seq}) while live device {} had applied only {applied} of its batches",
                        head.device_id
                    ),
                );
            }
        }
        return;
    }
    let Some((dev, seq)) = parse_batch_key(key) else {
        return;
    };
    // What GC saw when it started (another device's GC may have removed a
    // checkpoint since, one that a newer checkpoint covers), or what is
    // complete in the bucket now: GC lists the checkpoints itself after the
    // snapshot is taken, and one whose metadata upload was being retried
    // may have become complete in between (seed 3046). Either way the age
    // is judged at the snapshot's time, as GC judges it.
    let now_complete = checkpoints_now(world);
    let eligible = gc
        .checkpoints
        .iter()
        .chain(now_complete.iter())
        .filter(|m| m.created.wall_ms().saturating_add(grace) <= gc.now_ms)
        .any(|m| m.cursors.get(&dev).copied().unwrap_or(0) >= seq);
    if !eligible {
        world.violation(
            "gc safety",
            format!(
                "{peer} deleted batch {seq} of {dev}, which no complete checkpoint older than the grace period covers"
            ),
        );
    }
    let current = heads_now(world);
    for (hkey, (etag, head)) in &gc.heads {
        let unchanged = current.get(hkey).is_some_and(|(e, _)| e == etag);
        let live = head.last_sync_ms.saturating_add(grace) >= gc.now_ms;
        let applied = head.cursors.get(&dev).copied().unwrap_or(0);
        if unchanged && live && head.device_id != dev && applied < seq {
            world.violation(
                "gc safety",
                format!(
                    "{peer} deleted batch {seq} of {dev}, which device {} (head seen {} ms before GC's clock, within the {grace} ms grace) had not applied (cursor {applied})",
                    head.device_id,
                    gc.now_ms.saturating_sub(head.last_sync_ms)
                ),
            );
        }
    }
}

fn parse_batch_key(key: &str) -> Option<(DeviceId, u64)> {
    let rest = key.strip_prefix("ops/")?;
    let (dev, _) = rest.split_once('/')?;
    let dev: DeviceId = dev.parse().ok()?;
    Some((dev, layout::parse_batch(dev, key)?))
}

/// Every batch ever written to the bucket, decrypted: (device, seq) -> the
/// bodies seen under that key (more than one is a rewrite).
fn batches_ever(world: &World) -> BTreeMap<(DeviceId, u64), Vec<Vec<u8>>> {
    let store = world.store();
    let mut out: BTreeMap<(DeviceId, u64), Vec<Vec<u8>>> = BTreeMap::new();
    for (key, data) in &store.history {
        let Some(id) = parse_batch_key(key) else {
            continue;
        };
        let body = open_padded(world, key, data).unwrap_or_default();
        let bodies = out.entry(id).or_default();
        if !bodies.contains(&body) {
            bodies.push(body);
        }
    }
    out
}

/// Marks the committed batches of `device` with a seq above `after` that
/// never reached the bucket as thrown away (the database that held them was
/// replaced or wiped).
pub fn discard_unpushed_after(world: &World, device: DeviceId, after: u64) -> u64 {
    let ever = batches_ever(world);
    let mut s = world.state();
    let mut n = 0;
    for c in s.committed.iter_mut() {
        if c.batch.device == device && c.batch.seq > after && !c.discarded {
            let pushed = ever
                .get(&(device, c.batch.seq))
                .is_some_and(|b| b.contains(&c.body));
            if !pushed {
                c.discarded = true;
                n += 1;
            }
        }
    }
    s.stats.discarded += n;
    n
}

/// What a device holds of one row.
#[derive(Debug, Default)]
struct RowState {
    /// Present (visible or hidden): the insert clock and every field's clock.
    present: Option<(Hlc, Vec<Hlc>)>,
    /// Tombstone clock.
    tomb: Option<Hlc>,
    /// Pending field writes.
    pending: BTreeMap<String, Hlc>,
}

fn row_state(conn: &Connection, schema: &Schema, table: Table, id: &str) -> RowState {
    let ts = schema.table(table);
    let mut devices = DeviceIndex::default();
    let mut state = RowState::default();
    for from in [table.name().to_owned(), ts.shadow_name()] {
        let found: Option<(i64, i64, Option<Vec<u8>>)> = conn
            .query_row(
                &format!("SELECT _sync_hlc, _sync_dev, _sync_fhlc FROM {from} WHERE id = ?"),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .expect("read row clocks");
        if let Some((hlc, dev, fhlc)) = found {
            let base = devices.hlc(conn, hlc, dev).expect("resolve clock");
            let mut fields = vec![base; ts.fields.len()];
            for fc in FieldClocks::decode(fhlc.as_deref()).iter() {
                fields[usize::from(fc.field)] = devices
                    .hlc(conn, fc.clock.hlc, fc.clock.dev)
                    .expect("resolve clock");
            }
            state.present = Some((base, fields));
        }
    }
    if let Some(t) = Tombstone::get(conn, table, id).expect("read tombstone") {
        state.tomb = Some(devices.hlc(conn, t.hlc, t.dev).expect("resolve clock"));
    }
    let mut stmt = conn
        .prepare("SELECT field, hlc, dev FROM sync_pending WHERE tbl = ? AND id = ?")
        .expect("pending");
    let rows: Vec<(String, i64, i64)> = stmt
        .query_map((table.name(), id), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("pending")
        .map(|r| r.expect("pending row"))
        .collect();
    for (field, hlc, dev) in rows {
        state
            .pending
            .insert(field, devices.hlc(conn, hlc, dev).expect("resolve clock"));
    }
    state
}

/// The end state a run is judged on.
#[allow(missing_debug_implementations)]
pub struct Final {
    /// The run.
    pub world: Arc<World>,
    /// The schema.
    pub schema: Arc<Schema>,
    /// Each installed device: (name, id, dump, open database).
    pub devices: Vec<(String, DeviceId, String, Database)>,
    /// Every batch ever written to the bucket.
    pub ever: BTreeMap<(DeviceId, u64), Vec<Vec<u8>>>,
    /// Those batches, decoded (the first body of each).
    pub batches: Vec<Batch>,
    /// The reference merge of `batches`: what every device must hold.
    pub expected: String,
}

type Checker = fn(&Final) -> Vec<Violation>;

/// The end-of-run invariants, in order.
pub const CHECKERS: &[(&str, Checker)] = &[
    ("convergence", convergence),
    ("write-once batches", write_once),
    ("reference equivalence", reference),
    ("compaction equivalence", compaction),
    ("no lost write", no_lost_write),
    ("no resurrection", no_resurrection),
    ("images", images),
    ("confidentiality", confidentiality),
];

fn v(invariant: &'static str, detail: String) -> Violation {
    Violation { invariant, detail }
}

fn first_difference(a: &str, b: &str) -> String {
    for (x, y) in a.lines().zip(b.lines()) {
        if x != y {
            return format!("\n    {x}\n  vs\n    {y}");
        }
    }
    format!(
        "\n    ({} lines vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

fn convergence(f: &Final) -> Vec<Violation> {
    let Some((name0, _, first, _)) = f.devices.first() else {
        return Vec::new();
    };
    f.devices
        .iter()
        .skip(1)
        .filter(|(_, _, dump, _)| dump != first)
        .map(|(name, _, dump, _)| {
            v(
                "convergence",
                format!(
                    "{name} differs from {name0}:{}",
                    first_difference(dump, first)
                ),
            )
        })
        .collect()
}

fn write_once(f: &Final) -> Vec<Violation> {
    f.ever
        .iter()
        .filter(|(_, bodies)| bodies.len() > 1)
        .map(|((dev, seq), _)| {
            v(
                "write-once batches",
                format!("batch {seq} of {dev} was written with different contents"),
            )
        })
        .collect()
}

fn reference(f: &Final) -> Vec<Violation> {
    let expected = f.expected.as_str();
    match f.devices.first() {
        Some((name, _, dump, _)) if *dump != expected => vec![v(
            "reference equivalence",
            format!(
                "{name} differs from the reference merge of all {} batches ever written:{}",
                f.batches.len(),
                first_difference(dump, expected)
            ),
        )],
        _ => Vec::new(),
    }
}

/// A brand-new device booting from the bucket as it is at the end (newest
/// checkpoint, then the batches after it) holds exactly the reference merge
/// of every batch ever written.
fn compaction(f: &Final) -> Vec<Violation> {
    let expected = f.expected.as_str();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(async {
        let bucket = MemoryBucket::new();
        let objects: Vec<(String, bytes::Bytes)> = f
            .world
            .store()
            .objects
            .iter()
            .map(|(k, o)| (k.clone(), o.data.clone()))
            .collect();
        for (k, data) in objects {
            bucket
                .put(&ObjectKey::new(k).expect("key"), data)
                .await
                .map_err(|e| e.to_string())?;
        }
        let slots = f.world.state().slots.len();
        let clock = ManualClock::new((0..slots).map(|s| f.world.wall_ms(s)).max().unwrap_or(0));
        let lib = LibraryManager::with_database(
            Database::open_in_memory().map_err(|e| e.to_string())?,
            DeviceId::from_bytes([0xfe; 16]),
            LibraryOptions {
                wall_clock: Arc::new(clock),
                ids: Box::new(SeededIds::new(1)),
            },
        )
        .map_err(|e| e.to_string())?;
        let lib = Arc::new(std::sync::Mutex::new(lib));
        let dir = f.world.dir.join("fresh-images");
        let mut syncer = Syncer::new(
            Arc::new(bucket),
            library_key(f.world.seed),
            ImageStore::new(dir),
            SyncConfig::default(),
            Box::new(SeededNonces::new(f.world.seed ^ 0xf4e5)),
        );
        let mut booted = None;
        for _ in 0..5 {
            let r = syncer.pull(&lib).await.map_err(|e| e.to_string())?;
            booted = booted.or(r.booted_from.clone());
            if r.batches_applied == 0 && r.booted_from.is_none() {
                break;
            }
        }
        let l = lib.lock().expect("library");
        let dump =
            dump_synced(l.database().conn(), l.database().schema()).map_err(|e| e.to_string())?;
        Ok::<_, String>((dump.text, booted))
    });
    match result {
        Ok((dump, _)) if dump == expected => Vec::new(),
        Ok((dump, booted)) => {
            let heads: Vec<String> = heads_now(&f.world)
                .values()
                .map(|(_, h)| format!("{}: {}", h.device_id, h.seq))
                .collect();
            vec![v(
                "compaction equivalence",
                format!(
                    "a fresh device (booted from {booted:?}; heads in the bucket {}) differs from the reference merge:{}",
                    heads.join(", "),
                    first_difference(&dump, expected)
                ),
            )]
        }
        Err(e) => vec![v(
            "compaction equivalence",
            format!("a fresh device could not bootstrap: {e}"),
        )],
    }
}

fn no_lost_write(f: &Final) -> Vec<Violation> {
    let Some((name, _, _, db)) = f.devices.first() else {
        return Vec::new();
    };
    let conn = db.conn();
    let mut out = Vec::new();
    let committed = f.world.state().committed.clone();
    for c in committed.iter().filter(|c| !c.discarded) {
        let b = &c.batch;
        if !f
            .ever
            .get(&(b.device, b.seq))
            .is_some_and(|bodies| bodies.contains(&c.body))
        {
            out.push(v(
                "no lost write",
                format!(
                    "batch {} of {} was committed but never reached the bucket",
                    b.seq, b.device
                ),
            ));
            continue;
        }
        for op in &b.ops {
            let ts = f.schema.table(op.table);
            let st = row_state(conn, &f.schema, op.table, &op.row_id);
            let h = op.hlc;
            let lost = |why: String| {
                v(
                    "no lost write",
                    format!(
                        "{name}: {} {} {:?} @{h} (batch {} of {}) lost: {why}",
                        op.table,
                        op.row_id,
                        match &op.action {
                            Action::Insert(_) => "insert",
                            Action::Update(_) => "update",
                            Action::Delete => "delete",
                        },
                        b.seq,
                        b.device
                    ),
                )
            };
            match &op.action {
                Action::Insert(_) => match (&st.present, st.tomb) {
                    (Some((base, _)), _) if *base >= h => {}
                    (None, Some(t)) if t > h => {}
                    _ => out.push(lost(format!("row state {st:?}"))),
                },
                Action::Update(fields) => {
                    for (field, _) in fields {
                        let i = ts.field_index(field).expect("synced field");
                        let ok = match (&st.present, st.tomb) {
                            (Some((_, clocks)), _) => clocks[i] >= h,
                            (None, Some(t)) if t > h => true,
                            _ => st.pending.get(field).is_some_and(|p| *p >= h),
                        };
                        if !ok {
                            out.push(lost(format!("field {field}, row state {st:?}")));
                        }
                    }
                }
                Action::Delete => match (&st.present, st.tomb) {
                    (Some((base, _)), _) if *base > h => {}
                    (None, Some(t)) if t >= h => {}
                    _ => out.push(lost(format!("row state {st:?}"))),
                },
            }
            if out.len() > 10 {
                return out;
            }
        }
    }
    out
}

fn no_resurrection(f: &Final) -> Vec<Violation> {
    let Some((name, _, _, db)) = f.devices.first() else {
        return Vec::new();
    };
    // Per row: its newest insert and its newest delete.
    type Newest = (Option<Hlc>, Option<Hlc>);
    let mut newest: BTreeMap<(Table, &str), Newest> = BTreeMap::new();
    for b in &f.batches {
        for op in &b.ops {
            let e = newest.entry((op.table, op.row_id.as_str())).or_default();
            match op.action {
                Action::Insert(_) => e.0 = e.0.max(Some(op.hlc)),
                Action::Delete => e.1 = e.1.max(Some(op.hlc)),
                Action::Update(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    for ((table, id), (insert, delete)) in newest {
        let st = row_state(db.conn(), &f.schema, table, id);
        if let (Some((base, _)), Some(d)) = (&st.present, delete)
            && d > *base
        {
            out.push(v(
                "no resurrection",
                format!("{name}: {table} {id} is present (insert @{base}) after a delete @{d}"),
            ));
        }
        if let (Some((base, _)), Some(i)) = (&st.present, insert)
            && *base != i
        {
            out.push(v(
                "no resurrection",
                format!("{name}: {table} {id} holds insert @{base}, the newest is @{i}"),
            ));
        }
    }
    out
}

fn images(f: &Final) -> Vec<Violation> {
    let written = f.world.state().images.clone();
    let mut out = Vec::new();
    for (name, _, _, db) in &f.devices {
        let slot_dir = {
            let s = f.world.state();
            s.slots
                .iter()
                .find(|sl| &sl.name == name)
                .map(|sl| sl.dir.clone())
                .expect("slot")
        };
        let store = ImageStore::new(slot_dir.join("images"));
        let mut stmt = db
            .conn()
            .prepare("SELECT id FROM library_images")
            .expect("images");
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("images")
            .map(|r| r.expect("image id"))
            .collect();
        for id in ids {
            let have = store.get(&id).ok().flatten();
            if have.as_ref() != written.get(&id) {
                out.push(v(
                    "images",
                    format!(
                        "{name}: image {id} is in the library but its bytes are {}",
                        if have.is_some() { "wrong" } else { "missing" }
                    ),
                ));
            }
        }
    }
    out
}

fn confidentiality(f: &Final) -> Vec<Violation> {
    let store = f.world.store();
    let needles: [&[u8]; 2] = [TAG.as_bytes(), b"SIMIMG"];
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (key, data) in &store.history {
        for needle in needles {
            if data.windows(needle.len()).any(|w| w == needle) && seen.insert(key.clone()) {
                out.push(v(
                    "confidentiality",
                    format!(
                        "{key} holds plaintext {:?}",
                        String::from_utf8_lossy(needle)
                    ),
                ));
            }
        }
        if key.contains(TAG) {
            out.push(v("confidentiality", format!("a key names content: {key}")));
        }
    }
    out
}

/// Builds the end state and runs every checker.
pub fn final_checks(world: &Arc<World>) -> Vec<Violation> {
    let schema = Arc::clone(
        Database::open_in_memory()
            .expect("in-memory database")
            .schema(),
    );
    let slots: Vec<(String, DeviceId, std::path::PathBuf)> = {
        let s = world.state();
        s.slots
            .iter()
            .filter(|sl| sl.installed)
            .map(|sl| (sl.name.clone(), sl.id, sl.dir.clone()))
            .collect()
    };
    let mut devices = Vec::new();
    for (name, id, dir) in slots {
        let db = Database::open(&dir.join("library.db")).expect("reopen a device's database");
        let dump = dump_synced(db.conn(), db.schema()).expect("dump").text;
        devices.push((name, id, dump, db));
    }
    let ever = batches_ever(world);
    let batches: Vec<Batch> = ever
        .values()
        .filter_map(|bodies| Batch::decode(&bodies[0]).ok())
        .collect();
    let expected = bae_merge::reference::merge(&schema, &batches);
    let f = Final {
        world: Arc::clone(world),
        schema,
        devices,
        ever,
        batches,
        expected,
    };
    let mut out = Vec::new();
    for (_, check) in CHECKERS {
        out.extend(check(&f));
    }
    out
}

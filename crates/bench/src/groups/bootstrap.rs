//! Group `bootstrap`: writing a checkpoint of the whole library, and a new
//! device booting from it, with the download from the bucket left out and
//! counted in.
//!
//! Goal (issue #7): each takes under a second for the medium library.

use std::collections::BTreeMap;
use std::sync::Arc;

use bae_bucket::Bucket;
use bae_merge::{Checkpoint, Merger};
use serde_json::json;

use super::{Context, Group};
use crate::baselines::{insert_rows, plain_database};
use crate::fixture::{Checkpointed, Device, Fixture, key, lock};
use crate::measure::{Timed, synced_rows, timed};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};

/// Checkpoint creation and boot.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap;

/// Most a checkpoint or a boot may take, in seconds.
pub const MAX_SECONDS: f64 = 1.0;

/// The phases of one measurement, in seconds.
type Phases = BTreeMap<&'static str, f64>;

/// Export, encode and encrypt, each timed on its own (`Syncer::checkpoint`
/// does the three, then two PUTs).
fn create_phases(fx: &Fixture) -> anyhow::Result<Phases> {
    fx.with_full(|d| {
        let l = lock(&d.lib);
        let created = l.recorder().clock().now();
        let own_seq = l.recorder().next_seq() - 1;
        let db = l.database();
        let (cp, t_export) = timed(|| Checkpoint::export(db.conn(), db.schema(), created, own_seq));
        let cp = cp?;
        let (bytes, t_encode) = timed(|| cp.encode());
        let path = bae_sync::layout::checkpoint_data(&created.to_string());
        let (_sealed, t_encrypt) = timed(|| {
            bae_crypto::encrypt(&key(), path.as_str(), &bytes, bae_crypto::random_nonce())
        });
        Ok(Phases::from([
            ("export", t_export.wall),
            ("encode", t_encode.wall),
            ("encrypt", t_encrypt.wall),
        ]))
    })
}

/// A new device boots from the checkpoint already in memory: decrypt,
/// decode, `Merger::boot`.
fn boot_in_memory(
    fx: &Fixture,
    cp: &Checkpointed,
    dir: &std::path::Path,
) -> anyhow::Result<(Timed, Phases)> {
    let dev = Device::new_device(dir, Arc::new(bae_bucket::MemoryBucket::new()), fx.end_ms)?;
    let mut phases = Phases::new();
    let (r, t) = timed(|| -> anyhow::Result<()> {
        let mut l = lock(&dev.lib);
        let schema = l.database().schema().clone();
        let mut merger = Merger::new(schema.clone(), l.device_id());
        let (body, t1) = timed(|| bae_crypto::decrypt(&key(), cp.data.0.as_str(), &cp.data.1));
        let body = body?;
        let (checkpoint, t2) = timed(|| Checkpoint::decode(&body, &schema));
        let checkpoint = checkpoint?;
        let (r, t3) = timed(|| l.apply_remote(|conn| merger.boot(conn, &checkpoint)));
        r?;
        phases.insert("decrypt", t1.wall);
        phases.insert("decode", t2.wall);
        phases.insert("boot", t3.wall);
        Ok(())
    });
    r?;
    fx.check_same("the boot from memory", lock(&dev.lib).database())?;
    Ok((t, phases))
}

/// A new device boots from the checkpoint in an in-memory bucket: it lists
/// the checkpoints, reads the newest's metadata, downloads, decrypts,
/// decodes and boots (`Syncer::checkpoints` + `Syncer::boot_from`).
fn boot_from_bucket(
    fx: &Fixture,
    cp: &Checkpointed,
    dir: &std::path::Path,
) -> anyhow::Result<(Timed, u64)> {
    let bucket = fx.bucket_with([
        (&cp.data.0, &cp.data.1),
        (&cp.meta_object.0, &cp.meta_object.1),
    ])?;
    let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
    let mut dev = Device::new_device(dir, shared, fx.end_ms)?;
    let (r, t) = timed(|| -> anyhow::Result<()> {
        let metas = fx.rt.block_on(dev.syncer.checkpoints())?;
        let newest = metas
            .last()
            .ok_or_else(|| anyhow::anyhow!("no checkpoint"))?;
        fx.rt.block_on(dev.syncer.boot_from(&dev.lib, newest))?;
        Ok(())
    });
    r?;
    fx.check_same("the boot from the bucket", lock(&dev.lib).database())?;
    Ok((t, bucket.request_counts().total()))
}

impl Group for Bootstrap {
    fn name(&self) -> &'static str {
        "bootstrap"
    }

    fn title(&self) -> &'static str {
        "checkpoint of the whole library, and a new device booting from it"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let fx = ctx.library()?;
        // The checkpoint holds the rows table by table, sorted by id, and
        // the boot inserts them in that order: so does the baseline.
        let rows = fx.with_full(|d| synced_rows(lock(&d.lib).database()))?;
        let mut create = Vec::new();
        let mut in_memory = Vec::new();
        let mut from_bucket = Vec::new();
        let mut raw = Vec::new();
        let mut create_phase_runs = Vec::new();
        let mut boot_phase_runs = Vec::new();
        let mut requests = 0;
        let mut last = None;
        for run in 0..ctx.runs {
            let cp = fx.checkpoint()?;
            create.push(cp.took);
            create_phase_runs.push(create_phases(fx)?);
            let dir = ctx.tempdir()?;
            let (t, phases) = boot_in_memory(fx, &cp, dir.path())?;
            in_memory.push(t);
            boot_phase_runs.push(phases);
            let dir = ctx.tempdir()?;
            let (t, n) = boot_from_bucket(fx, &cp, dir.path())?;
            from_bucket.push(t);
            requests = n;
            let dir = ctx.tempdir()?;
            let mut db = plain_database(&dir.path().join("raw.db"))?;
            let (r, t) = timed(|| insert_rows(&mut db, &rows));
            r?;
            fx.check_same("raw SQLite", &db)?;
            raw.push(t);
            ctx.progress(&format!(
                "bootstrap: run {}/{} checkpoint {:.3} s, boot in memory {:.3} s, boot from bucket {:.3} s, raw SQLite {:.3} s",
                run + 1,
                ctx.runs,
                create[run].wall,
                in_memory[run].wall,
                from_bucket[run].wall,
                raw[run].wall
            ));
            last = Some(cp);
        }
        let cp = last.expect("at least one run");
        let best_phase =
            |runs: &[Phases], k: &str| runs.iter().map(|p| p[k]).fold(f64::INFINITY, f64::min);
        let t_create = Timed::best(&create).wall;
        let t_raw = Timed::best(&raw).wall;
        let plaintext = bae_crypto::plaintext_len(cp.data.1.len() as u64)? as f64;
        let (batch_bytes, _) = fx.bytes_under("ops/");
        let mut figures = vec![
            Figure::new(
                "bootstrap_s.create",
                "checkpoint: Syncer::checkpoint (export+encode+encrypt+2 PUTs)",
                Unit::Seconds,
                t_create,
            )
            .value_at_most(
                MAX_SECONDS,
                "a checkpoint of the medium library takes under 1 s",
            ),
        ];
        for (k, label) in [
            ("export", "  checkpoint phase: Checkpoint::export"),
            ("encode", "  checkpoint phase: encode"),
            ("encrypt", "  checkpoint phase: encrypt"),
        ] {
            figures.push(
                Figure::new(
                    format!("bootstrap_s.create_{k}"),
                    label,
                    Unit::Seconds,
                    best_phase(&create_phase_runs, k),
                )
                .against("bootstrap_s.create", t_create, RatioStyle::Percent),
            );
        }
        figures.push(
            Figure::new(
                "bootstrap_bytes.checkpoint",
                "checkpoint object (encrypted) vs all batch objects",
                Unit::Bytes,
                cp.data.1.len() as f64,
            )
            .against(
                "batch objects in the bucket",
                batch_bytes as f64,
                RatioStyle::Percent,
            ),
        );
        figures.push(Figure::new(
            "bootstrap_s.raw_sqlite",
            "baseline: raw SQLite inserts the rows, checkpoint order, 1 tx",
            Unit::Seconds,
            t_raw,
        ));
        let t_mem = Timed::best(&in_memory).wall;
        figures.push(
            Figure::new(
                "bootstrap_s.boot_in_memory",
                "boot, download excluded: decrypt+decode+Merger::boot",
                Unit::Seconds,
                t_mem,
            )
            .against("bootstrap_s.raw_sqlite", t_raw, RatioStyle::Times)
            .value_at_most(
                MAX_SECONDS,
                "a new device boots from the checkpoint in under 1 s",
            ),
        );
        for (k, label) in [
            ("decrypt", "  boot phase: decrypt"),
            ("decode", "  boot phase: Checkpoint::decode"),
            ("boot", "  boot phase: Merger::boot (1 tx)"),
        ] {
            figures.push(
                Figure::new(
                    format!("bootstrap_s.boot_{k}"),
                    label,
                    Unit::Seconds,
                    best_phase(&boot_phase_runs, k),
                )
                .against("bootstrap_s.boot_in_memory", t_mem, RatioStyle::Percent),
            );
        }
        figures.push(
            Figure::new(
                "bootstrap_s.boot_from_bucket",
                "boot, download included: checkpoints()+boot_from",
                Unit::Seconds,
                Timed::best(&from_bucket).wall,
            )
            .against("bootstrap_s.raw_sqlite", t_raw, RatioStyle::Times)
            .value_at_most(
                MAX_SECONDS,
                "a new device boots from the checkpoint in the bucket in under 1 s",
            ),
        );
        let all = |v: &[Timed]| v.iter().map(Timed::json).collect::<Vec<_>>();
        let details = json!({
            "checkpoint_rows": fx.rows,
            "checkpoint_plaintext_bytes": plaintext,
            "checkpoint_object_bytes": cp.data.1.len(),
            "checkpoint_meta_object_bytes": cp.meta_object.1.len(),
            "boot_from_bucket_requests": requests,
            "runs": {
                "create": all(&create),
                "create_phases": create_phase_runs,
                "boot_in_memory": all(&in_memory),
                "boot_phases": boot_phase_runs,
                "boot_from_bucket": all(&from_bucket),
                "raw_sqlite": all(&raw),
            },
        });
        let notes = vec![
            format!(
                "The checkpoint is of the library the replay group uses ({} synced rows, no hidden \
                 rows or pending writes), written by the device that holds all of it, with \
                 Syncer::checkpoint into a MemoryBucket: export, encode (BAEC, {:.2} MiB), encrypt \
                 (chunked, {:.2} MiB), PUT data, PUT metadata. The phase rows time export, encode and \
                 encrypt again on their own, right after.",
                fx.rows,
                plaintext / 1024.0 / 1024.0,
                cp.data.1.len() as f64 / 1024.0 / 1024.0
            ),
            format!(
                "Boots go into a fresh on-disk library (WAL, synchronous=NORMAL) of a device that \
                 never synced. Download excluded: the encrypted object is already in memory. \
                 Download included: Syncer::checkpoints (LIST checkpoints/, GET metadata) and \
                 Syncer::boot_from from a MemoryBucket ({requests} requests): the data object in \
                 ranged GETs of 8 MiB into a temporary file, then decrypted, decoded and booted one \
                 64 KiB chunk and one record at a time (Merger::boot_stream). A first pull after a boot then downloads every image (not timed here). \
                 Each boot ended with the library's rows (digest {:016x}, checked).",
                fx.digest
            ),
            "Baseline: the same rows (id + synced fields) inserted into bae's schema without sync \
             metadata, in one transaction with one prepared INSERT per table, in the checkpoint's \
             order (table by table, by id), into a fresh on-disk database."
                .to_owned(),
            "Writing is whole-object: the checkpoint is exported into memory, encoded whole, \
             encrypted whole and uploaded in one PUT. Booting from the bucket is streamed (see the \
             memory group); the download-excluded figure decodes the in-memory object whole \
             (Checkpoint::decode + Merger::boot), to time the phases apart."
                .to_owned(),
        ];
        Ok(GroupReport {
            name: self.name().to_owned(),
            title: self.title().to_owned(),
            figures,
            details,
            notes,
        })
    }
}

//! Group `replay`: what it costs a new device to replay the whole history of
//! a library written by several devices, against SQLite building the same
//! rows its own ways.
//!
//! Goals (issue #7): the merge reaches at least half the speed of inserting
//! the final rows directly into SQLite, and at least the speed of SQLite's
//! session extension applying the same writes as changesets.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bae_bucket::Bucket;
use bae_merge::Merger;
use bae_oplog::Batch;
use serde_json::json;

use super::{Context, Group};
use crate::baselines::{apply_changesets, insert_rows, plain_database};
use crate::fixture::{Device, Fixture, key, lock};
use crate::measure::{Timed, synced_rows, thread_io_written, timed};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};

/// Replay against raw SQLite and the session extension.
#[derive(Debug, Clone, Copy)]
pub struct Replay;

/// Least the merge's speed may be, as a part of raw SQLite's.
pub const MIN_VS_RAW: f64 = 0.5;
/// Least the merge's speed may be, as a part of the changeset apply's.
pub const MIN_VS_CHANGESETS: f64 = 1.0;

/// One way of getting the library's rows into an empty database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// The final rows inserted in the order the history created them.
    RawHistory,
    /// The final rows inserted sorted by table and id.
    RawSorted,
    /// The session extension: one changeset per transaction, applied in order.
    Changesets,
    /// The merge: decrypt, verify, decode, `Merger::apply_batches`, 256
    /// batches of one device per transaction, as a pull does.
    Merge,
    /// `Syncer::pull` from an in-memory bucket.
    Pull,
}

impl Route {
    /// Every path, baselines first.
    pub const ALL: [Route; 5] = [
        Route::RawHistory,
        Route::RawSorted,
        Route::Changesets,
        Route::Merge,
        Route::Pull,
    ];

    /// A short identifier.
    pub fn name(self) -> &'static str {
        match self {
            Route::RawHistory => "raw_sqlite",
            Route::RawSorted => "raw_sqlite_sorted",
            Route::Changesets => "changeset_apply",
            Route::Merge => "merge",
            Route::Pull => "pull",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::RawHistory => "raw SQLite: final rows, history order, 1 tx",
            Route::RawSorted => "raw SQLite: final rows sorted by key, 1 tx",
            Route::Changesets => "session extension: changeset_apply per tx",
            Route::Merge => "merge: decrypt+decode+apply_batches",
            Route::Pull => "end-to-end Syncer::pull (MemoryBucket)",
        }
    }
}

/// What one run of the merge spent where.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergePhases {
    /// Decrypting, authenticating and decoding the batches.
    pub open_seconds: f64,
    /// `Merger::apply_batches`, commits included.
    pub apply_seconds: f64,
}

/// Where [`run_route`] leaves the database of `route` under `dir`: a plain
/// database for the baselines, a library for the merge and the pull.
pub fn database_path(route: Route, dir: &Path) -> std::path::PathBuf {
    match route {
        Route::RawHistory | Route::RawSorted | Route::Changesets => dir.join("replay.db"),
        Route::Merge | Route::Pull => dir
            .join(format!("device-{}", crate::fixture::NEW_DEVICE))
            .join("library.db"),
    }
}

/// Runs `route` into a new database under `dir`; returns its timing and
/// what it did, and checks that it ended with the library's rows.
pub fn run_route(
    ctx: &Context,
    fx: &Fixture,
    path: Route,
    dir: &Path,
) -> anyhow::Result<(Timed, serde_json::Value)> {
    let db_path = database_path(path, dir);
    match path {
        Route::RawHistory | Route::RawSorted => {
            let sorted;
            let rows = if path == Route::RawHistory {
                fx.history_rows()?
            } else {
                sorted = fx.with_full(|d| synced_rows(lock(&d.lib).database()))?;
                &sorted
            };
            let mut db = plain_database(&db_path)?;
            let (r, t) = timed(|| insert_rows(&mut db, rows));
            r?;
            fx.check_same(path.label(), &db)?;
            Ok((t, json!({"rows_inserted": rows.len()})))
        }
        Route::Changesets => {
            let sets = fx.changesets(ctx.workload())?;
            let db = plain_database(&db_path)?;
            let (omitted, t) = timed(|| apply_changesets(&db, sets));
            let omitted = omitted?;
            fx.check_same(path.label(), &db)?;
            Ok((
                t,
                json!({"changesets": sets.sets.len(), "changeset_bytes": sets.bytes(),
                       "omitted_deletes_of_cascaded_rows": omitted}),
            ))
        }
        Route::Merge => {
            let batches: Vec<_> = fx.objects_under("ops/").collect();
            let bucket: Arc<dyn Bucket> = Arc::new(bae_bucket::MemoryBucket::new());
            let dev = Device::new_device(dir, bucket, fx.end_ms)?;
            let key = key();
            let mut phases = MergePhases::default();
            let (r, t) = timed(|| -> anyhow::Result<()> {
                let mut l = lock(&dev.lib);
                let mut merger = Merger::new(l.database().schema().clone(), l.device_id());
                // As `Syncer::pull` does: one device's batches in seq order,
                // merged in groups of up to 256 per transaction.
                let mut group: Vec<Batch> = Vec::new();
                let mut flush = |group: &mut Vec<Batch>, phases: &mut MergePhases| {
                    let start = Instant::now();
                    let outcome = l.apply_remote(|conn| merger.apply_batches(conn, group));
                    phases.apply_seconds += start.elapsed().as_secs_f64();
                    if let Some(e) = outcome.error {
                        return Err(anyhow::Error::from(e));
                    }
                    anyhow::ensure!(
                        outcome.applied.iter().all(|a| a.applied),
                        "a batch was skipped"
                    );
                    group.clear();
                    Ok(())
                };
                for (object_key, sealed) in &batches {
                    let start = Instant::now();
                    let body = bae_crypto::decrypt_padded(&key, object_key.as_str(), sealed)?;
                    let batch = Batch::decode(&body)?;
                    phases.open_seconds += start.elapsed().as_secs_f64();
                    if group
                        .last()
                        .is_some_and(|last| last.device != batch.device || group.len() >= 256)
                    {
                        flush(&mut group, &mut phases)?;
                    }
                    group.push(batch);
                }
                flush(&mut group, &mut phases)?;
                Ok(())
            });
            r?;
            fx.check_same(path.label(), lock(&dev.lib).database())?;
            Ok((
                t,
                json!({"batches": batches.len(), "open_seconds": phases.open_seconds,
                       "apply_seconds": phases.apply_seconds}),
            ))
        }
        Route::Pull => {
            let bucket = fx.bucket_with(&fx.objects)?;
            let mut dev = Device::new_device(dir, Arc::new(bucket.clone()), fx.end_ms)?;
            let (report, t) = timed(|| dev.pull(&fx.rt));
            let report = report?;
            anyhow::ensure!(
                report.batches_applied as u64 == fx.batches,
                "the pull applied {} batches of {}",
                report.batches_applied,
                fx.batches
            );
            fx.check_same(path.label(), lock(&dev.lib).database())?;
            let c = bucket.request_counts();
            Ok((
                t,
                json!({"batches_applied": report.batches_applied, "heads_fetched": report.heads_fetched,
                       "images_fetched": report.images_fetched,
                       "requests": {"list": c.list, "get": c.get, "total": c.total()}}),
            ))
        }
    }
}

impl Group for Replay {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn title(&self) -> &'static str {
        "a new device replays the whole multi-device history, against raw SQLite and changeset apply"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let fx = ctx.library()?;
        // Untimed: the inputs of the baselines.
        fx.history_rows()?;
        fx.changesets(ctx.workload())?;
        let mut times: BTreeMap<Route, Vec<Timed>> = BTreeMap::new();
        let mut details: BTreeMap<Route, Vec<serde_json::Value>> = BTreeMap::new();
        for run in 0..ctx.runs {
            // Paths take turns within each run, so that a slow phase of the
            // machine does not land on one path only.
            for path in Route::ALL {
                let dir = ctx.tempdir()?;
                let io0 = thread_io_written();
                let (t, mut d) = run_route(ctx, fx, path, dir.path())?;
                if let Some(((w0, s0), (w1, s1))) = io0.zip(thread_io_written()) {
                    d["written_bytes"] = json!(w1 - w0);
                    d["storage_write_bytes"] = json!(s1 - s0);
                }
                ctx.progress(&format!(
                    "replay: run {}/{} {:<18} {:>8.3} s wall, {} cpu",
                    run + 1,
                    ctx.runs,
                    path.name(),
                    t.wall,
                    t.cpu
                        .map_or_else(|| "?".to_owned(), |c| format!("{c:.3} s"))
                ));
                times.entry(path).or_default().push(t);
                details
                    .entry(path)
                    .or_default()
                    .push(json!({"time": t.json(), "run": d}));
            }
        }
        let best = |p: Route| Timed::best(&times[&p]);
        let rows = fx.rows as f64;
        let speed = |p: Route| rows / best(p).wall;
        let fig = |p: Route| {
            Figure::new(
                format!("replay_rows_per_s.{}", p.name()),
                p.label(),
                Unit::RowsPerSecond,
                speed(p),
            )
        };
        let raw = |f: Figure| {
            f.against(
                "replay_rows_per_s.raw_sqlite",
                speed(Route::RawHistory),
                RatioStyle::Times,
            )
        };
        let cs = |f: Figure, id: &str| {
            Figure {
                id: id.to_owned(),
                label: format!("{}, vs changesets", f.label),
                ..f
            }
            .against(
                "replay_rows_per_s.changeset_apply",
                speed(Route::Changesets),
                RatioStyle::Times,
            )
        };
        let mut figures =
            vec![
            fig(Route::RawHistory),
            raw(fig(Route::RawSorted)),
            raw(fig(Route::Changesets)),
            raw(fig(Route::Merge)).goal_at_least(
                MIN_VS_RAW,
                "the merge replays at least half as fast as raw SQLite inserts the final rows",
            ),
            cs(
                fig(Route::Merge),
                "replay_rows_per_s.merge_vs_changeset_apply",
            )
            .goal_at_least(
                MIN_VS_CHANGESETS,
                "the merge replays at least as fast as the session extension applies changesets",
            ),
            Figure {
                id: "replay_rows_per_s.merge_vs_raw_sqlite_sorted".to_owned(),
                label: format!("{}, vs sorted", Route::Merge.label()),
                ..fig(Route::Merge)
            }
            .against(
                "replay_rows_per_s.raw_sqlite_sorted",
                speed(Route::RawSorted),
                RatioStyle::Times,
            ),
            raw(fig(Route::Pull)),
            cs(fig(Route::Pull), "replay_rows_per_s.pull_vs_changeset_apply"),
        ];
        if let Some(raw_cpu) = best(Route::RawHistory).cpu {
            for p in Route::ALL {
                let Some(cpu) = best(p).cpu else { continue };
                let mut f = Figure::new(
                    format!("replay_cpu_s.{}", p.name()),
                    format!("cpu time: {}", p.name()),
                    Unit::Seconds,
                    cpu,
                );
                if p != Route::RawHistory {
                    f = f.against("replay_cpu_s.raw_sqlite", raw_cpu, RatioStyle::Times);
                }
                figures.push(f);
            }
        }
        // Where the merge's time goes, in its fastest run.
        let fastest = times[&Route::Merge]
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.wall.total_cmp(&b.1.wall))
            .map_or(0, |(i, _)| i);
        let phases = &details[&Route::Merge][fastest]["run"];
        let merge_wall = times[&Route::Merge][fastest].wall;
        for (key, label) in [
            ("open_seconds", "merge: decrypt + verify + decode"),
            ("apply_seconds", "merge: Merger::apply_batches (+ commit)"),
        ] {
            figures.push(
                Figure::new(
                    format!("replay_merge_phase.{key}"),
                    label,
                    Unit::Seconds,
                    phases[key].as_f64().unwrap_or(0.0),
                )
                .against("merge wall time", merge_wall, RatioStyle::Percent),
            );
        }

        // What each reached the disk with: WAL frames and checkpoints
        // (untimed setup included, which writes little).
        let written = |p: Route| details[&p][0]["run"]["written_bytes"].as_f64();
        if let Some(raw_w) = written(Route::RawHistory) {
            for p in [Route::RawHistory, Route::Changesets, Route::Merge] {
                let Some(w) = written(p) else { continue };
                let mut f = Figure::new(
                    format!("replay_written_bytes.{}", p.name()),
                    format!("bytes written (WAL + checkpoints): {}", p.name()),
                    Unit::Bytes,
                    w,
                );
                if p != Route::RawHistory {
                    f = f.against("replay_written_bytes.raw_sqlite", raw_w, RatioStyle::Times);
                }
                figures.push(f);
            }
        }

        let summary = ctx.workload().summary();
        let rows_by_table = {
            let mut m = BTreeMap::<&str, u64>::new();
            fx.with_full(|d| -> anyhow::Result<()> {
                for (t, _) in synced_rows(lock(&d.lib).database())? {
                    *m.entry(t.name()).or_default() += 1;
                }
                Ok(())
            })?;
            m
        };
        let details = json!({
            "synced_rows": fx.rows,
            "synced_rows_by_table": rows_by_table,
            "synced_digest": format!("{:016x}", fx.digest),
            "batches": fx.batches,
            "ops": fx.ops,
            "merge_ops_per_second": fx.ops as f64 / best(Route::Merge).wall,
            "writers": crate::fixture::WRITERS,
            "handovers": fx.handovers,
            "library_build_seconds": fx.build_seconds,
            "runs": details.iter().map(|(p, d)| (p.name(), d.clone())).collect::<BTreeMap<_, _>>(),
        });
        let notes = vec![
            format!(
                "The library: the workload ({} transactions, seed {}) written by {} devices taking turns \
                 ({} handovers: the device whose turn ends pushes, the next pulls first), sharing one \
                 seeded id sequence and one virtual clock, so the final library is row for row the one \
                 the plain writer builds. {} batches, {} ops, {} synced rows; replaying means merging \
                 every op, including the edits, deletes and re-imports, to reach those rows.",
                summary["transactions"],
                ctx.spec.seed,
                crate::fixture::WRITERS,
                fx.handovers,
                fx.batches,
                fx.ops,
                fx.rows
            ),
            "Rows/s = final synced rows / wall time, for every path, so ratios are ratios of time to \
             the same rows. Each run writes into a fresh on-disk database (WAL, synchronous=NORMAL, \
             foreign keys on); opening and migrating it is not timed. Best of the runs; paths take \
             turns within each run. CPU time is the benchmark thread's (the sync engine runs on a \
             current-thread runtime on that thread)."
                .to_owned(),
            "merge = the merge itself: every batch object already in memory, then per batch \
             decrypt_padded (XChaCha20-Poly1305, authenticates) + Batch::decode + \
             Merger::apply_batches (up to 256 batches of one device per transaction, each under a \
             savepoint with its cursor, as Syncer::pull groups them), on LibraryManager::apply_remote. \
             pull = end-to-end Syncer::pull on a new device from a MemoryBucket holding the batches, \
             heads and images: LIST heads/ (and checkpoints/, empty), GET each head and batch, the \
             same decrypt/decode/merge, clock observe, then GET every image and store it in the \
             image store (file + fsync per image)."
                .to_owned(),
            "raw SQLite = the final rows (id + synced fields) of bae's schema without sync metadata, \
             one transaction, one prepared INSERT per table, in the order the history created them \
             (the order a replay meets them; that is the baseline with the goal). The sorted variant \
             inserts them by table and id, which B-trees like best: SQLite's ceiling. changeset_apply \
             = the session extension: the same workload written by the plain writer on another \
             database with a session per transaction (one changeset each, recorded untimed), \
             applied in order with sqlite3changeset_apply_strm, each in its own transaction like \
             a batch; deletes of rows already removed by ON DELETE CASCADE are omitted."
                .to_owned(),
            format!(
                "Fairness: every path ended with the library's {} synced rows, digest {:016x} \
                 (checked after each run; the bench fails otherwise). bae-merge is built without \
                 its cross-check feature (`cargo tree -p bae-bench -e features -i bae-merge` \
                 shows only `default`).",
                fx.rows, fx.digest
            ),
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

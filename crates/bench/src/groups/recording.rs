//! Group `recording`: what recording every write (ops + field clocks) costs
//! in write time and in bytes, against the same writes unrecorded, and
//! against the per-field timestamp table we did not choose.
//!
//! Goals (the issue that asked for this benchmark): recording costs at most
//! 2x the plain writes, and field timestamps plus tombstones (not the op log)
//! take at most 15% of the synced data's size.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bae_store::{Database, Table};
use serde_json::json;

use super::{Context, Group};
use crate::measure::{
    checkpoint, file_bytes, object_bytes, op_body_composition, scalar, synced_digest, thread_cpu,
    vacuum,
};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};
use crate::sinks::Variant;

/// Recording overhead: time and bytes.
#[derive(Debug, Clone, Copy)]
pub struct Recording;

/// Most recording may cost, as a multiple of the plain writes' time.
pub const MAX_TIME_RATIO: f64 = 2.0;
/// Most the field clocks and tombstones may take, as a part of the data.
pub const MAX_METADATA_FRACTION: f64 = 0.15;

/// What was measured on one variant's database after its first run.
#[derive(Debug, Default)]
struct Sizes {
    /// File + WAL after `wal_checkpoint(TRUNCATE)`: as the writes left it.
    written: u64,
    /// After `VACUUM`; for the recorded variant after `DELETE FROM op_log`
    /// too.
    vacuumed: u64,
    /// Per-object bytes (dbstat) of the vacuumed database.
    objects: Option<BTreeMap<String, u64>>,
    /// Synced rows and their digest.
    rows: u64,
    digest: u64,
    /// Recorded only: the vacuumed size with the op log still in it.
    vacuumed_with_op_log: u64,
    /// Variant-specific counts.
    counts: serde_json::Map<String, serde_json::Value>,
    /// Recorded only: what the op batches' bytes are made of.
    op_body: Option<serde_json::Value>,
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    /// On-CPU, user and system seconds of the benchmark thread.
    cpu: Option<(f64, f64, f64)>,
}

fn measure(variant: Variant, db: &Database) -> anyhow::Result<Sizes> {
    let conn = db.conn();
    let path = db.path().expect("benchmark databases are on disk");
    let mut s = Sizes::default();
    checkpoint(conn)?;
    s.written = file_bytes(path)?;
    (s.rows, s.digest) = synced_digest(db)?;
    let mut count = |k: &str, v: i64| {
        s.counts.insert(k.to_owned(), json!(v));
    };
    match variant {
        Variant::Plain => {}
        Variant::Recorded => {
            count("op_batches", scalar(conn, "SELECT count(*) FROM op_log")?);
            count("ops", scalar(conn, "SELECT sum(op_count) FROM op_log")?);
            count(
                "op_body_bytes",
                scalar(conn, "SELECT sum(length(body)) FROM op_log")?,
            );
            count(
                "tombstones",
                scalar(conn, "SELECT count(*) FROM sync_tombstones")?,
            );
            let (mut overridden, mut fhlc_bytes) = (0, 0);
            for t in Table::SYNCED {
                let n = t.name();
                overridden += scalar(
                    conn,
                    &format!("SELECT count(*) FROM {n} WHERE _sync_fhlc IS NOT NULL"),
                )?;
                fhlc_bytes += scalar(conn, &format!("SELECT sum(length(_sync_fhlc)) FROM {n}"))?;
            }
            count("rows_with_field_clock_overrides", overridden);
            count("field_clock_override_bytes", fhlc_bytes);
            s.op_body = Some(op_body_composition(conn)?);
            vacuum(conn)?;
            s.vacuumed_with_op_log = file_bytes(path)?;
            conn.execute("DELETE FROM op_log", [])?;
        }
        Variant::FieldTable => {
            count(
                "field_timestamp_rows",
                scalar(
                    conn,
                    "SELECT count(*) FROM field_timestamps WHERE field <> ''",
                )?,
            );
            count(
                "tombstone_rows",
                scalar(
                    conn,
                    "SELECT count(*) FROM field_timestamps WHERE field = ''",
                )?,
            );
        }
    }
    vacuum(conn)?;
    s.vacuumed = file_bytes(path)?;
    s.objects = object_bytes(conn)?;
    Ok(s)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn count_of(s: &Sizes, key: &str) -> i64 {
    s.counts
        .get(key)
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
}

/// Where a variant's metadata bytes are, by dbstat object: its vacuumed
/// database's bytes (for the recorded variant, with the op log emptied)
/// minus the plain one's.
fn breakdown(
    plain: &BTreeMap<String, u64>,
    other: &BTreeMap<String, u64>,
) -> (BTreeMap<String, i64>, serde_json::Value) {
    let mut delta = BTreeMap::new();
    for (name, &bytes) in other {
        let d = bytes as i64 - plain.get(name).copied().unwrap_or(0) as i64;
        if d != 0 {
            delta.insert(name.clone(), d);
        }
    }
    for (name, &bytes) in plain {
        if !other.contains_key(name) {
            delta.insert(name.clone(), -(bytes as i64));
        }
    }
    // Where the difference is: columns added to the synced tables (the
    // recorded layout's row and field clocks), tombstones, the alternative's
    // table, and everything else (other sync tables, each at least a page
    // even when empty; the schema).
    let mut summary = BTreeMap::<&str, i64>::new();
    for (name, d) in &delta {
        let bucket = if Table::from_name(name).is_some_and(Table::is_synced) {
            "synced_tables_added_columns"
        } else if name == "sync_tombstones" {
            "sync_tombstones"
        } else if name == "field_timestamps" {
            "field_timestamps"
        } else {
            "everything_else"
        };
        *summary.entry(bucket).or_default() += d;
    }
    let summary = json!(summary);
    (delta, summary)
}

impl Group for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    fn title(&self) -> &'static str {
        "write overhead of recording (ops + field timestamps) and bytes of sync metadata"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let workload = ctx.workload();
        let seed = ctx.spec.seed;
        let mut times: BTreeMap<Variant, Vec<Timing>> = BTreeMap::new();
        let mut sizes: BTreeMap<Variant, Sizes> = BTreeMap::new();
        for run in 0..ctx.runs {
            // Variants take turns within each run, so that a slow phase of
            // the machine does not land on one variant only.
            for variant in Variant::ALL {
                let dir = ctx.tempdir()?;
                let path = dir.path().join("library.db");
                let mut sink = variant.open(&path, seed)?;
                let cpu_before = thread_cpu();
                let start = Instant::now();
                workload.execute(sink.as_mut())?;
                let took = start.elapsed();
                let cpu = cpu_before
                    .zip(thread_cpu())
                    .map(|(a, b)| (b.0 - a.0, b.1 - a.1, b.2 - a.2));
                ctx.progress(&format!(
                    "recording: run {}/{} {:<11} {:>8.3} s wall, {} cpu",
                    run + 1,
                    ctx.runs,
                    variant.name(),
                    secs(took),
                    cpu.map_or_else(
                        || "?".to_owned(),
                        |(c, u, s)| format!("{c:.3} s ({u:.2} user + {s:.2} sys)")
                    )
                ));
                times
                    .entry(variant)
                    .or_default()
                    .push(Timing { wall: took, cpu });
                if run == 0 {
                    sizes.insert(variant, measure(variant, sink.database())?);
                }
            }
        }

        let plain = &sizes[&Variant::Plain];
        for v in [Variant::Recorded, Variant::FieldTable] {
            let s = &sizes[&v];
            anyhow::ensure!(
                (s.rows, s.digest) == (plain.rows, plain.digest),
                "variant {} ended with different synced data than plain ({} rows, digest {:016x} \
                 vs {} rows, digest {:016x}): the comparison would be unfair",
                v.name(),
                s.rows,
                s.digest,
                plain.rows,
                plain.digest
            );
        }
        let rec = &sizes[&Variant::Recorded];
        let alt = &sizes[&Variant::FieldTable];
        let best = |v: Variant| {
            times[&v]
                .iter()
                .map(|t| secs(t.wall))
                .min_by(f64::total_cmp)
                .expect("at least one run")
        };
        let best_cpu = |v: Variant| {
            times[&v]
                .iter()
                .map(|t| t.cpu.map(|c| c.0))
                .collect::<Option<Vec<f64>>>()
                .and_then(|c| c.into_iter().min_by(f64::total_cmp))
        };
        let ops = count_of(rec, "ops") as f64;

        let mut figures = Vec::new();
        let t_plain = best(Variant::Plain);
        for v in Variant::ALL {
            let mut f = Figure::new(
                format!("write_time.{}", v.name()),
                format!("write time: {}", v.label()),
                Unit::Seconds,
                best(v),
            );
            if v != Variant::Plain {
                f = f.against("write_time.plain", t_plain, RatioStyle::Times);
            }
            if v == Variant::Recorded {
                f = f.goal(
                    MAX_TIME_RATIO,
                    "recording costs at most 2x the plain writes",
                );
            }
            figures.push(f);
        }
        if let Some(cpu_plain) = best_cpu(Variant::Plain) {
            for v in Variant::ALL {
                let Some(cpu) = best_cpu(v) else { continue };
                let mut f = Figure::new(
                    format!("cpu_time.{}", v.name()),
                    format!("cpu time (user + sys): {}", v.name()),
                    Unit::Seconds,
                    cpu,
                );
                if v != Variant::Plain {
                    f = f.against("cpu_time.plain", cpu_plain, RatioStyle::Times);
                }
                figures.push(f);
            }
        }
        for v in Variant::ALL {
            let mut f = Figure::new(
                format!("rows_per_s.{}", v.name()),
                format!("row writes/s: {}", v.name()),
                Unit::RowsPerSecond,
                ops / best(v),
            );
            if v != Variant::Plain {
                f = f.against("rows_per_s.plain", ops / t_plain, RatioStyle::Times);
            }
            figures.push(f);
        }
        for v in Variant::ALL {
            let mut f = Figure::new(
                format!("db_bytes.{}", v.name()),
                format!("database on disk after writing: {}", v.name()),
                Unit::Bytes,
                sizes[&v].written as f64,
            );
            if v != Variant::Plain {
                f = f.against("db_bytes.plain", plain.written as f64, RatioStyle::Times);
            }
            figures.push(f);
        }
        let data = plain.vacuumed as f64;
        figures.push(Figure::new(
            "data_bytes.plain",
            "synced data: plain database, vacuumed",
            Unit::Bytes,
            data,
        ));
        figures.push(
            Figure::new(
                "metadata_bytes.recorded",
                "field clocks + tombstones (recorded, op log excluded)",
                Unit::Bytes,
                rec.vacuumed as f64 - data,
            )
            .against("data_bytes.plain", data, RatioStyle::Percent)
            .goal(
                MAX_METADATA_FRACTION,
                "field timestamps plus tombstones take at most 15% of the synced data",
            ),
        );
        let alt_bytes = alt
            .objects
            .as_ref()
            .and_then(|o| o.get("field_timestamps").copied())
            .map_or(alt.vacuumed as f64 - data, |b| b as f64);
        figures.push(
            Figure::new(
                "metadata_bytes.field_table",
                "field timestamps + tombstones (alternative table)",
                Unit::Bytes,
                alt_bytes,
            )
            .against("data_bytes.plain", data, RatioStyle::Percent),
        );
        let op_log_bytes = rec.vacuumed_with_op_log as f64 - rec.vacuumed as f64;
        figures.push(
            Figure::new(
                "op_log_bytes.recorded",
                "op log (recorded, vacuumed)",
                Unit::Bytes,
                op_log_bytes,
            )
            .against("data_bytes.plain", data, RatioStyle::Percent),
        );
        figures.push(Figure::new(
            "op_log_ops.recorded",
            "ops recorded (row inserts, updates, deletes)",
            Unit::Count,
            ops,
        ));
        figures.push(Figure::new(
            "op_log_batches.recorded",
            "op batches (one per transaction)",
            Unit::Count,
            count_of(rec, "op_batches") as f64,
        ));
        figures.push(Figure::new(
            "op_log_bytes_per_op.recorded",
            "op log bytes per op (on disk)",
            Unit::BytesPerOp,
            op_log_bytes / ops,
        ));
        figures.push(Figure::new(
            "op_body_bytes_per_op.recorded",
            "op batch encoding bytes per op",
            Unit::BytesPerOp,
            count_of(rec, "op_body_bytes") as f64 / ops,
        ));

        let per_object = match (&plain.objects, &rec.objects, &alt.objects) {
            (Some(p), Some(r), Some(a)) => {
                let (rec_delta, rec_summary) = breakdown(p, r);
                let (alt_delta, alt_summary) = breakdown(p, a);
                json!({
                    "method": "dbstat sum(pgsize) per table/index, vacuumed databases (recorded: op log emptied)",
                    "plain": p,
                    "recorded": r,
                    "field_table": a,
                    "recorded_minus_plain": rec_delta,
                    "recorded_minus_plain_summary": rec_summary,
                    "field_table_minus_plain": alt_delta,
                    "field_table_minus_plain_summary": alt_summary,
                })
            }
            _ => json!(null),
        };
        let variant_details: BTreeMap<&str, serde_json::Value> = Variant::ALL
            .iter()
            .map(|&v| {
                let s = &sizes[&v];
                let runs: Vec<f64> = times[&v].iter().map(|t| secs(t.wall)).collect();
                let cpu: Vec<serde_json::Value> = times[&v]
                    .iter()
                    .map(|t| {
                        t.cpu.map_or(json!(null), |(c, u, s)| {
                            json!({"on_cpu_seconds": c, "user_seconds": u, "sys_seconds": s})
                        })
                    })
                    .collect();
                let mut sorted = runs.clone();
                sorted.sort_by(f64::total_cmp);
                (
                    v.name(),
                    json!({
                        "label": v.label(),
                        "run_seconds": runs,
                        "run_cpu": cpu,
                        "best_seconds": sorted[0],
                        "median_seconds": sorted[sorted.len() / 2],
                        "written_bytes": s.written,
                        "vacuumed_bytes": s.vacuumed,
                        "vacuumed_with_op_log_bytes": (v == Variant::Recorded).then_some(s.vacuumed_with_op_log),
                        "synced_rows": s.rows,
                        "synced_digest": format!("{:016x}", s.digest),
                        "counts": s.counts,
                        "op_body_composition": s.op_body,
                    }),
                )
            })
            .collect();
        let details = json!({
            "row_writes": ops,
            "variants": variant_details,
            "bytes_by_object": per_object,
        });

        let summary = workload.summary();
        let notes = vec![
            format!(
                "Workload (seed {seed}): {} artists, {} albums/releases, {} tracks, {} files, {} audio formats, \
                 {} transactions: each album imported in one transaction (its new artists, album, credits, \
                 Discogs/MusicBrainz ids, release, tracks, files, formats, cover) and completed in a second \
                 (every track and the release marked complete), then {} tracks retitled, {} album years and \
                 {} artist sort names edited, and {} albums deleted and imported again.",
                summary["artists"], summary["albums"], summary["tracks"], summary["files"],
                summary["audio_formats"], summary["transactions"], summary["retitled_tracks"],
                summary["album_year_edits"], summary["artist_edits"],
                summary["albums_deleted_and_reimported"]
            ),
            "Time: each run writes the whole plan into a fresh on-disk database in a temporary directory \
             (WAL, synchronous=NORMAL, foreign keys on, as Database::open sets them); the timer covers the \
             transactions and their commits only, not opening or migrating the database and not generating \
             the workload (generated once, before any run). Best of the runs; variants take turns within \
             each run. Rows/s counts the recorded ops (cascaded deletes included) for every variant. \
             CPU time is the benchmark thread's on-CPU time (/proc/thread-self/schedstat) over the same \
             span: less sensitive than wall time to a noisy disk, but it includes the kernel's share of \
             SQLite's I/O (SQLite's default 2 MiB page cache is far smaller than these databases, so \
             most B-tree pages are read back from the OS cache)."
                .to_owned(),
            format!(
                "Fairness: all variants make ids from the same seed and read the same virtual clock, and each \
                 ended with the same synced data: {} rows with digest {:016x} (checked after each variant's \
                 first run; the bench fails otherwise). Plain = bae's schema without migration 2, a Writer \
                 that only executes the SQL, deletes cascading through SQLite. Recorded = LibraryManager on \
                 Database::open. Alternative = plain + field_timestamps(tbl, row_id, field, hlc TEXT(52)) \
                 WITHOUT ROWID, one row per synced field written, tombstones as field '' rows, deletes walked \
                 child by child like the recorder, no op log.",
                plain.rows, plain.digest
            ),
            "Database on disk: file + WAL after PRAGMA wal_checkpoint(TRUNCATE), as the writes left it \
             (pages freed by deletes included)."
                .to_owned(),
            format!(
                "Metadata: (recorded database after DELETE FROM op_log and VACUUM) minus (plain database after \
                 VACUUM), over the plain vacuumed size ({} bytes; all of it synced data, as the workload \
                 writes no device-local table). It holds the per-row clock columns, field-clock overrides \
                 ({} rows carry one, {} bytes of them), {} tombstones, and the sync layer's other tables \
                 (empty ones still take a page each). The alternative's figure is its field_timestamps \
                 table's bytes from dbstat ({} field rows, {} tombstone rows). Per-object bytes are in the \
                 JSON report.",
                plain.vacuumed,
                count_of(rec, "rows_with_field_clock_overrides"),
                count_of(rec, "field_clock_override_bytes"),
                count_of(rec, "tombstones"),
                count_of(alt, "field_timestamp_rows"),
                count_of(alt, "tombstone_rows"),
            ),
            "Op log: (recorded database vacuumed) minus (the same after DELETE FROM op_log, vacuumed); \
             encoding bytes are sum(length(body)) of the stored batches."
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

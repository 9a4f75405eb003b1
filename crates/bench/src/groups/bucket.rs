//! Group `bucket`: how many requests sync makes, counted by the
//! [`MemoryBucket`]: an idle poll with more and more devices' heads in the
//! bucket, one local transaction pushed, and a pull of `k` batches.
//!
//! Goal (issue #7): an idle poll is one request, whatever the number of
//! devices.

use std::collections::BTreeMap;
use std::sync::Arc;

use bae_bucket::{Bucket, MemoryBucket, RequestCounts};
use bae_hlc::ManualClock;
use bae_library::NewArtist;
use bae_oplog::SeededIds;
use bae_store::Database;
use serde_json::json;

use super::{Context, Group};
use crate::fixture::{Device, lock, runtime};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};
use crate::workload::START_MS;

/// Requests per sync step.
#[derive(Debug, Clone, Copy)]
pub struct Requests;

/// Device counts of the idle polls.
pub const DEVICE_COUNTS: [u8; 3] = [2, 10, 100];
/// Batch counts of the pulls.
pub const PULL_BATCHES: [usize; 3] = [1, 10, 100];

fn counts_json(c: &RequestCounts) -> serde_json::Value {
    json!({"list": c.list, "get": c.get, "head": c.head, "put": c.put,
           "put_if_absent": c.put_if_absent, "delete": c.delete, "total": c.total()})
}

/// `n` devices (ids 1..=n) with in-memory libraries on one bucket.
fn devices(
    ctx: &Context,
    dir: &std::path::Path,
    n: u8,
    bucket: &MemoryBucket,
    wall: &ManualClock,
) -> anyhow::Result<Vec<Device>> {
    (1..=n)
        .map(|i| {
            let shared: Arc<dyn Bucket> = Arc::new(bucket.clone());
            Device::with_database(
                Database::open_in_memory()?,
                &dir.join(format!("device-{i}")),
                i,
                shared,
                wall,
                Box::new(SeededIds::new(ctx.spec.seed ^ u64::from(i))),
            )
        })
        .collect()
}

/// One transaction: an artist.
fn write_one(dev: &Device, name: &str) -> anyhow::Result<()> {
    lock(&dev.lib).create_artist(&NewArtist {
        name: name.to_owned(),
        ..Default::default()
    })?;
    Ok(())
}

impl Group for Requests {
    fn name(&self) -> &'static str {
        "bucket"
    }

    fn title(&self) -> &'static str {
        "bucket requests per sync step (counted by MemoryBucket)"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let rt = runtime()?;
        let wall = ManualClock::new(START_MS);
        let mut figures = Vec::new();
        let mut details = BTreeMap::new();

        for n in DEVICE_COUNTS {
            let dir = ctx.tempdir()?;
            let bucket = MemoryBucket::new();
            let mut devs = devices(ctx, dir.path(), n, &bucket, &wall)?;
            for (i, d) in devs.iter_mut().enumerate() {
                wall.advance_ms(1000);
                write_one(d, &format!("artist of device {i}"))?;
                d.push(&rt)?;
            }
            let reader = &mut devs[0];
            reader.pull(&rt)?;
            bucket.reset_request_counts();
            let report = reader.pull(&rt)?;
            anyhow::ensure!(report.batches_applied == 0 && report.heads_fetched == 0);
            let c = bucket.request_counts();
            ctx.progress(&format!(
                "bucket: idle poll with {n} heads: {} requests",
                c.total()
            ));
            figures.push(
                Figure::new(
                    format!("bucket_requests.idle_poll_{n}_devices"),
                    format!("idle poll, {n} devices' heads in the bucket"),
                    Unit::Count,
                    c.total() as f64,
                )
                .value_at_most(1.0, "an idle poll is one request at every device count"),
            );
            details.insert(format!("idle_poll_{n}_devices"), counts_json(&c));
        }

        let dir = ctx.tempdir()?;
        let bucket = MemoryBucket::new();
        let mut devs = devices(ctx, dir.path(), 2, &bucket, &wall)?;
        for d in &mut devs {
            write_one(d, "first")?;
            d.push(&rt)?;
            d.pull(&rt)?;
        }
        // One local transaction pushed (after the device's first push,
        // which also reads its own head once).
        wall.advance_ms(1000);
        write_one(&devs[0], "one more")?;
        bucket.reset_request_counts();
        devs[0].push(&rt)?;
        let c = bucket.request_counts();
        figures.push(Figure::new(
            "bucket_requests.push_one_transaction",
            "push of one local transaction (batch + head)",
            Unit::Count,
            c.total() as f64,
        ));
        details.insert("push_one_transaction".to_owned(), counts_json(&c));
        devs[1].pull(&rt)?;

        for k in PULL_BATCHES {
            for i in 0..k {
                wall.advance_ms(1000);
                write_one(&devs[0], &format!("batch {i} of {k}"))?;
            }
            devs[0].push(&rt)?;
            bucket.reset_request_counts();
            let report = devs[1].pull(&rt)?;
            anyhow::ensure!(
                report.batches_applied == k,
                "pulled {} batches of {k}",
                report.batches_applied
            );
            let c = bucket.request_counts();
            figures.push(
                Figure::new(
                    format!("bucket_requests.pull_{k}_batches"),
                    format!("pull of k = {k} batch(es) from one device, vs k"),
                    Unit::Count,
                    c.total() as f64,
                )
                .against(format!("{k} batches"), k as f64, RatioStyle::Times),
            );
            details.insert(format!("pull_{k}_batches"), counts_json(&c));
        }
        devs[0].pull(&rt)?;
        let rows = lock(&devs[0].lib).database().conn().query_row(
            "SELECT count(*) FROM artists",
            [],
            |r| r.get::<_, i64>(0),
        )?;
        let rows_other = lock(&devs[1].lib).database().conn().query_row(
            "SELECT count(*) FROM artists",
            [],
            |r| r.get::<_, i64>(0),
        )?;
        anyhow::ensure!(rows == rows_other, "the two devices did not converge");

        let notes = vec![
            "Requests of every kind (LIST pages, GET, HEAD, PUT, conditional PUT, DELETE) counted by \
             MemoryBucket. Devices have in-memory libraries on one bucket; each wrote one artist and \
             pushed (batch + head). Idle poll: the first device pulls once (reads every head, merges), \
             then the counted pull finds nothing new."
                .to_owned(),
            "Push of one transaction: a device that pushed before writes one artist and pushes: the \
             batch (conditional PUT) and its head (PUT). A transaction that adds an image uploads \
             the image first (one more conditional PUT). Pull of k batches: the other device wrote k \
             transactions and pushed; the pull lists the heads, reads the changed head, then GETs \
             each batch."
                .to_owned(),
        ];
        Ok(GroupReport {
            name: self.name().to_owned(),
            title: self.title().to_owned(),
            figures,
            details: json!(details),
            notes,
        })
    }
}

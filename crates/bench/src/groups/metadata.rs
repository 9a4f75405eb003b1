//! Group `metadata`: what the multi-device library costs in bytes: batch
//! objects in the bucket per op (against the batches' own encoding and
//! against SQLite session changesets of the same writes), heads, and the
//! field timestamps and tombstones in the database.
//!
//! Goal (issue #7, as for the recording group): field timestamps plus
//! tombstones take at most 15% of the synced data.

use bae_store::Table;
use serde_json::json;

use super::{Context, Group};
use crate::baselines::{insert_rows, plain_database};
use crate::fixture::lock;
use crate::measure::{file_bytes, object_bytes, synced_rows, vacuum};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};

/// Bytes of sync metadata.
#[derive(Debug, Clone, Copy)]
pub struct Metadata;

impl Group for Metadata {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn title(&self) -> &'static str {
        "bytes of sync metadata: batch objects per op, heads, field timestamps + tombstones"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let fx = ctx.library()?;
        let changesets = fx.changesets(ctx.workload())?;
        let ops = fx.ops as f64;
        let (batch_bytes, batch_objects) = fx.bytes_under("ops/");
        let (head_bytes, heads) = fx.bytes_under("heads/");
        let (image_bytes, images) = fx.bytes_under("images/");
        let per_op = batch_bytes as f64 / ops;
        let encoded_per_op = fx.encoded_batch_bytes as f64 / ops;
        let changeset_per_op = changesets.bytes() as f64 / ops;

        // The library as the device holding all of it keeps it, without its
        // op log, against the same rows in a database without sync metadata.
        let dir = ctx.tempdir()?;
        let synced_path = dir.path().join("synced.db");
        let rows = fx.with_full(|d| -> anyhow::Result<_> {
            let l = lock(&d.lib);
            l.database()
                .conn()
                .execute("VACUUM INTO ?", [synced_path.to_str().expect("utf-8 path")])?;
            synced_rows(l.database())
        })?;
        let synced = rusqlite::Connection::open(&synced_path)?;
        synced.execute("DELETE FROM op_log", [])?;
        // Device-local columns are neither synced data nor metadata, and the
        // device holds them only for the files it added itself: out of both.
        for column in Table::Files.local_columns() {
            synced.execute(&format!("UPDATE files SET {column} = NULL"), [])?;
        }
        vacuum(&synced)?;
        let synced_bytes = file_bytes(&synced_path)?;
        let synced_objects = object_bytes(&synced)?;
        let plain_path = dir.path().join("plain.db");
        let mut plain = plain_database(&plain_path)?;
        insert_rows(&mut plain, &rows)?;
        fx.check_same("the plain copy", &plain)?;
        vacuum(plain.conn())?;
        let plain_bytes = file_bytes(&plain_path)?;
        let plain_objects = object_bytes(plain.conn())?;
        let meta_bytes = synced_bytes as f64 - plain_bytes as f64;

        let figures = vec![
            Figure::new(
                "bucket_bytes_per_op.batches",
                "batch objects in the bucket per op vs their encoding",
                Unit::BytesPerOp,
                per_op,
            )
            .against(
                "encoded_bytes_per_op.batches",
                encoded_per_op,
                RatioStyle::Times,
            ),
            Figure::new(
                "bucket_bytes_per_op.batches_vs_changesets",
                "batch objects in the bucket per op vs session changesets",
                Unit::BytesPerOp,
                per_op,
            )
            .against(
                "changeset_bytes_per_op",
                changeset_per_op,
                RatioStyle::Times,
            ),
            Figure::new(
                "encoded_bytes_per_op.batches",
                "batch encoding (BAEB v1, postcard) per op",
                Unit::BytesPerOp,
                encoded_per_op,
            ),
            Figure::new(
                "changeset_bytes_per_op",
                "baseline: SQLite session changesets per op",
                Unit::BytesPerOp,
                changeset_per_op,
            ),
            Figure::new(
                "bucket_bytes.batches",
                "batch objects in the bucket vs synced data",
                Unit::Bytes,
                batch_bytes as f64,
            )
            .against("data_bytes.plain", plain_bytes as f64, RatioStyle::Percent),
            Figure::new(
                "bucket_bytes.head",
                "one head object (average)",
                Unit::Bytes,
                head_bytes as f64 / heads.max(1) as f64,
            ),
            Figure::new(
                "data_bytes.plain",
                "synced data: same rows, no sync metadata, vacuumed",
                Unit::Bytes,
                plain_bytes as f64,
            ),
            Figure::new(
                "metadata_bytes.library",
                "field clocks + tombstones + sync tables (op log excluded)",
                Unit::Bytes,
                meta_bytes,
            )
            .against("data_bytes.plain", plain_bytes as f64, RatioStyle::Percent)
            .goal(
                0.15,
                "field timestamps plus tombstones take at most 15% of the synced data",
            ),
        ];
        let details = json!({
            "ops": fx.ops,
            "batches": fx.batches,
            "batch_objects": batch_objects,
            "batch_object_bytes": batch_bytes,
            "encoded_batch_bytes": fx.encoded_batch_bytes,
            "changesets": changesets.sets.len(),
            "changeset_bytes": changesets.bytes(),
            "heads": heads,
            "head_bytes": head_bytes,
            "images": images,
            "image_object_bytes": image_bytes,
            "synced_vacuumed_bytes_without_op_log": synced_bytes,
            "plain_vacuumed_bytes": plain_bytes,
            "bytes_by_object": {"synced": synced_objects, "plain": plain_objects},
        });
        let notes = vec![
            format!(
                "Bucket: the {batch_objects} batch objects the {} devices pushed (each batch \
                 encoded, padded to a PADMÉ size, encrypted: 24-byte nonce + 16-byte tag per 64 KiB \
                 chunk), over the {} ops in them. Changesets: the same workload's transactions \
                 recorded by SQLite's session extension on a plain database, uncompressed, over \
                 the same op count. Heads are overwritten in place, one per device.",
                crate::fixture::WRITERS,
                fx.ops
            ),
            "Metadata: the library of the device that holds all of it (VACUUM INTO a copy, DELETE \
             FROM op_log, device-local columns of files set to NULL, VACUUM) minus the same rows inserted into bae's schema without sync \
             metadata (VACUUM), over the latter. It holds the per-row clock columns, field-clock \
             overrides, tombstones and the sync tables (devices, cursors, heads, image states). \
             The recording group measures the same on a single-device library."
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

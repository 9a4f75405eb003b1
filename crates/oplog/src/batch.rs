//! The wire encoding of an op batch: defined here and nowhere else.
//!
//! ```text
//! batch   = "BAEB" version:u8 body
//! body    = postcard(WireBatch)          (version 1)
//! ```
//!
//! `WireBatch` is `{ device: [u8; 16], seq: u64, schema_version: u32,
//! ops: [WireOp] }` and `WireOp` is `{ hlc: u64, table: str, row_id: str,
//! action }` where `hlc` is [`Hlc::packed`] (the device is the batch's) and
//! `action` is `Insert([(field, value)])`, `Update([(field, value)])` or
//! `Delete`. Postcard encodes integers as varints and enums by variant index,
//! so the variant order below is part of the format: append, never reorder.
//! The version byte changes whenever the body's shape does; a reader refuses
//! versions it does not know instead of guessing.

use bae_hlc::{DeviceId, Hlc};
use bae_store::{Table, Value};

/// The encoding version this build writes and the newest it reads.
pub const BATCH_FORMAT_VERSION: u8 = 1;

const MAGIC: &[u8; 4] = b"BAEB";

/// One local transaction's ops: the unit that is pushed, pulled and merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The device that wrote it.
    pub device: DeviceId,
    /// The device's gap-free batch counter, from 1.
    pub seq: u64,
    /// The library schema version it was written with.
    pub schema_version: u32,
    /// The ops, in the order they were made.
    pub ops: Vec<Op>,
}

/// One row-level change.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// When it was made; ops of one batch have increasing HLCs.
    pub hlc: Hlc,
    /// The synced table.
    pub table: Table,
    /// The row's id.
    pub row_id: String,
    /// What happened to the row.
    pub action: Action,
}

/// What an op did to its row.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The row was created with every synced field.
    Insert(Vec<(String, Value)>),
    /// These fields changed to these values.
    Update(Vec<(String, Value)>),
    /// The row was deleted.
    Delete,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireBatch {
    device: [u8; 16],
    seq: u64,
    schema_version: u32,
    ops: Vec<WireOp>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireOp {
    hlc: u64,
    table: String,
    row_id: String,
    action: WireAction,
}

#[derive(serde::Serialize, serde::Deserialize)]
enum WireAction {
    Insert(Vec<(String, Value)>),
    Update(Vec<(String, Value)>),
    Delete,
}

/// Bytes that are not a batch this build can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the batch magic: not a batch at all.
    #[error("not an op batch (bad magic)")]
    BadMagic,
    /// Written by a newer bae with an encoding this build does not know.
    #[error("op batch encoding version {found} is newer than this build's {supported}: update bae")]
    UnsupportedVersion {
        /// The version in the bytes.
        found: u8,
        /// The newest this build reads.
        supported: u8,
    },
    /// The body is truncated or malformed.
    #[error("malformed op batch: {0}")]
    Malformed(String),
}

impl Batch {
    /// Encodes the batch.
    ///
    /// # Panics
    ///
    /// If an op's device differs from the batch's or HLCs do not increase:
    /// the recorder never makes such a batch.
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.ops.windows(2).all(|w| w[0].hlc < w[1].hlc),
            "ops of a batch have increasing hlcs"
        );
        let wire = WireBatch {
            device: *self.device.as_bytes(),
            seq: self.seq,
            schema_version: self.schema_version,
            ops: self
                .ops
                .iter()
                .map(|op| {
                    assert_eq!(op.hlc.device(), self.device, "op from another device");
                    WireOp {
                        hlc: op.hlc.packed() as u64,
                        table: op.table.name().to_owned(),
                        row_id: op.row_id.clone(),
                        action: match &op.action {
                            Action::Insert(f) => WireAction::Insert(f.clone()),
                            Action::Update(f) => WireAction::Update(f.clone()),
                            Action::Delete => WireAction::Delete,
                        },
                    }
                })
                .collect(),
        };
        let mut out = Vec::with_capacity(64 + self.ops.len() * 96);
        out.extend_from_slice(MAGIC);
        out.push(BATCH_FORMAT_VERSION);
        postcard::to_extend(&wire, out).expect("serializing into a Vec cannot fail")
    }

    /// Decodes a batch, checking every part of it.
    pub fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        let (&version, body) = rest.split_first().ok_or(DecodeError::BadMagic)?;
        if version != BATCH_FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: version,
                supported: BATCH_FORMAT_VERSION,
            });
        }
        let (wire, tail): (WireBatch, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !tail.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} trailing bytes",
                tail.len()
            )));
        }
        let device = DeviceId::from_bytes(wire.device);
        let mut ops = Vec::with_capacity(wire.ops.len());
        for op in wire.ops {
            let table = Table::from_name(&op.table)
                .filter(|t| t.is_synced())
                .ok_or_else(|| {
                    DecodeError::Malformed(format!("unknown synced table {:?}", op.table))
                })?;
            let packed = i64::try_from(op.hlc)
                .ok()
                .filter(|p| (*p as u64 >> 16) <= Hlc::MAX_WALL_MS)
                .ok_or_else(|| DecodeError::Malformed(format!("hlc {} out of range", op.hlc)))?;
            let hlc = Hlc::from_packed(packed, device);
            if ops.last().is_some_and(|prev: &Op| prev.hlc >= hlc) {
                return Err(DecodeError::Malformed("op hlcs do not increase".to_owned()));
            }
            let action = match op.action {
                WireAction::Insert(f) => Action::Insert(f),
                WireAction::Update(f) => Action::Update(f),
                WireAction::Delete => Action::Delete,
            };
            ops.push(Op {
                hlc,
                table,
                row_id: op.row_id,
                action,
            });
        }
        Ok(Batch {
            device,
            seq: wire.seq,
            schema_version: wire.schema_version,
            ops,
        })
    }
}

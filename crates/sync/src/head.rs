use std::collections::BTreeMap;

use bae_hlc::{DeviceId, Hlc};

/// A device's head: what it has pushed and what it has applied. Read by
/// every other device on pull (status, "last synced from X at T") and by GC
/// (its cursors say which batches it still needs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// The device whose head this is; must match the key it is stored at.
    pub device_id: DeviceId,
    /// Its last pushed batch (0 for none).
    pub seq: u64,
    /// The HLC of its last write, if any.
    pub hlc: Option<Hlc>,
    /// Its wall clock when it last synced, in ms since the UNIX epoch.
    pub last_sync_ms: u64,
    /// The seq it has applied from every other device.
    pub cursors: BTreeMap<DeviceId, u64>,
    /// The library schema version it writes.
    pub schema_version: u32,
}

/// What GC and bootstrap need to know of a checkpoint without downloading
/// it; written after the data, so a checkpoint without it is incomplete and
/// is never used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointMeta {
    /// The checkpoint id (its HLC text).
    pub id: String,
    /// When it was made.
    pub created: Hlc,
    /// The seq of every device it covers, its writer's included.
    pub cursors: BTreeMap<DeviceId, u64>,
    /// Size of the encrypted data object, to detect a torn one.
    pub data_len: u64,
    /// Its schema version.
    pub schema_version: u32,
}

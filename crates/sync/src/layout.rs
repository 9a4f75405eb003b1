//! The bucket layout, defined here and nowhere else.
//!
//! ```text
//! heads/{device}.json.enc              a device's head (JSON), overwritten
//! ops/{device}/{seq:020}.enc           one batch, written once
//! checkpoints/{id}.enc                 checkpoint data, written once
//! checkpoints/{id}.meta.enc            checkpoint metadata, written after the data
//! images/{ab}/{cd}/{image_id}          image bytes, written once
//! storage/{ab}/{cd}/{file_id}          audio file bytes (optional file storage), written once
//! ```
//!
//! `{device}` is the device id as 32 hex digits; `{id}` is the checkpoint's
//! HLC text, so listing order is age order. Paths name nothing of the
//! library's content.

use bae_bucket::ObjectKey;
use bae_hlc::DeviceId;

/// Prefix of the heads.
pub const HEADS: &str = "heads/";
/// Prefix of the checkpoints.
pub const CHECKPOINTS: &str = "checkpoints/";

fn key(s: String) -> ObjectKey {
    ObjectKey::new(s).expect("layout keys are valid")
}

/// `heads/{device}.json.enc`
pub fn head(device: DeviceId) -> ObjectKey {
    key(format!("{HEADS}{}.json.enc", device.to_simple()))
}

/// The device of a head's key, if it is one.
pub fn parse_head(key: &str) -> Option<DeviceId> {
    key.strip_prefix(HEADS)?
        .strip_suffix(".json.enc")?
        .parse()
        .ok()
}

/// `ops/{device}/`
pub fn ops_prefix(device: DeviceId) -> String {
    format!("ops/{}/", device.to_simple())
}

/// `ops/{device}/{seq}.enc`, the seq zero-padded so listing order is seq order.
pub fn batch(device: DeviceId, seq: u64) -> ObjectKey {
    key(format!("{}{seq:020}.enc", ops_prefix(device)))
}

/// The seq of a batch key under `ops/{device}/`.
pub fn parse_batch(device: DeviceId, key: &str) -> Option<u64> {
    key.strip_prefix(&ops_prefix(device))?
        .strip_suffix(".enc")?
        .parse()
        .ok()
}

/// `checkpoints/{id}.enc`
pub fn checkpoint_data(id: &str) -> ObjectKey {
    key(format!("{CHECKPOINTS}{id}.enc"))
}

/// `checkpoints/{id}.meta.enc`
pub fn checkpoint_meta(id: &str) -> ObjectKey {
    key(format!("{CHECKPOINTS}{id}.meta.enc"))
}

/// The id of a checkpoint metadata key.
pub fn parse_checkpoint_meta(key: &str) -> Option<&str> {
    key.strip_prefix(CHECKPOINTS)?.strip_suffix(".meta.enc")
}

/// The id of a checkpoint data key.
pub fn parse_checkpoint_data(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(CHECKPOINTS)?.strip_suffix(".enc")?;
    (!rest.ends_with(".meta")).then_some(rest)
}

/// `{prefix}/{ab}/{cd}/{id}`, fanned out by the id's first hex digits.
fn fanned(prefix: &str, id: &str) -> ObjectKey {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(4).collect();
    let (ab, cd) = hex.split_at(hex.len().min(2));
    key(format!("{prefix}/{ab}/{cd}/{id}"))
}

/// `images/{ab}/{cd}/{image_id}`: an image's bytes (chunked encryption).
pub fn image(image_id: &str) -> ObjectKey {
    fanned("images", image_id)
}

/// `storage/{ab}/{cd}/{file_id}`: an audio file's bytes when the bucket is
/// also the file storage (chunked encryption, so ranges can be streamed).
pub fn storage(file_id: &str) -> ObjectKey {
    fanned("storage", file_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let d = DeviceId::from_bytes([0xab; 16]);
        assert_eq!(parse_head(head(d).as_str()), Some(d));
        assert_eq!(parse_batch(d, batch(d, 42).as_str()), Some(42));
        assert!(
            batch(d, 9).as_str() < batch(d, 10).as_str(),
            "listing order is seq order"
        );
        assert_eq!(
            parse_checkpoint_meta(checkpoint_meta("x").as_str()),
            Some("x")
        );
        assert_eq!(
            parse_checkpoint_data(checkpoint_data("x").as_str()),
            Some("x")
        );
        assert_eq!(parse_checkpoint_data(checkpoint_meta("x").as_str()), None);
        assert_eq!(
            image("1f2e3d4c-0000").as_str(),
            "images/1f/2e/1f2e3d4c-0000"
        );
        assert_eq!(
            storage("9a8b7c6d-0000").as_str(),
            "storage/9a/8b/9a8b7c6d-0000"
        );
    }
}

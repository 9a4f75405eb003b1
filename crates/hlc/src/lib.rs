//! Hybrid logical clock timestamps and device ids.
//!
//! A [`Hlc`] is `(wall millis, logical counter, device id)`, totally ordered in
//! that order. Its text form (`0001764060000000-00000-<32 hex>` style: millis
//! zero-padded to 13 digits, counter to 5, then the device id) sorts
//! lexicographically in the same order, so it can be used as a key anywhere
//! strings are compared. Its integer form ([`Hlc::packed`]) puts millis and
//! counter into one `i64` for compact storage next to a device index.
//!
//! [`Clock`] hands out strictly increasing timestamps from an injectable
//! [`WallClock`], so the simulation can run on virtual and skewed time.
//!
//! `uhlc` is not used: its timestamps are NTP64 fractions with a 4-bit counter
//! inside the time and a 16-byte id, its clock source is a plain `fn` pointer,
//! and it has no notion of "merge the batch but refuse to adopt its clock".
//! The design needs millisecond wall time, a wide counter, a UUID device id and
//! a per-instance injected clock; the whole clock is about a hundred lines here.

mod clock;
mod device;
mod timestamp;

pub use clock::{Clock, ManualClock, ObserveError, SystemClock, WallClock};
pub use device::{DeviceId, ParseDeviceIdError};
pub use timestamp::{Hlc, ParseHlcError};

/// The furthest ahead of the local wall clock a remote timestamp may be and
/// still be adopted: 24 hours.
pub const MAX_FORWARD_SKEW_MS: u64 = 24 * 60 * 60 * 1000;

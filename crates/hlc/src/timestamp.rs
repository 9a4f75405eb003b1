use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::DeviceId;

/// A hybrid logical clock timestamp: wall millis, logical counter, device id.
///
/// Ordered by `(wall_ms, counter, device)`. Because the device id is part of
/// it, two timestamps made on different devices are never equal, so
/// last-writer-wins never meets a tie.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hlc {
    wall_ms: u64,
    counter: u16,
    device: DeviceId,
}

impl Hlc {
    /// The largest wall time the text form can hold: 13 decimal digits, which
    /// is the year 2286.
    pub const MAX_WALL_MS: u64 = 9_999_999_999_999;

    /// Length of the text form: 13 digits, `-`, 5 digits, `-`, 32 hex digits.
    pub const TEXT_LEN: usize = 13 + 1 + 5 + 1 + 32;

    /// A timestamp from its parts.
    ///
    /// # Panics
    ///
    /// If `wall_ms` exceeds [`Hlc::MAX_WALL_MS`]; no clock of ours produces
    /// such a value, and parsing rejects it with an error instead.
    pub fn new(wall_ms: u64, counter: u16, device: DeviceId) -> Hlc {
        assert!(
            wall_ms <= Hlc::MAX_WALL_MS,
            "hlc wall time {wall_ms} ms is past the year 2286"
        );
        Hlc {
            wall_ms,
            counter,
            device,
        }
    }

    /// Milliseconds since the UNIX epoch, as the writing device's clock saw it
    /// (possibly advanced by timestamps it had observed).
    pub fn wall_ms(&self) -> u64 {
        self.wall_ms
    }

    /// The logical counter that orders writes within one millisecond.
    pub fn counter(&self) -> u16 {
        self.counter
    }

    /// The device that made this timestamp.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// Wall millis and counter packed into one non-negative `i64`
    /// (`wall_ms << 16 | counter`), ordered like the pair. Stored next to a
    /// device reference, it is the compact form of a timestamp in SQLite.
    pub fn packed(&self) -> i64 {
        let packed = (self.wall_ms << 16) | u64::from(self.counter);
        i64::try_from(packed).expect("wall_ms <= MAX_WALL_MS keeps the packed form below 2^63")
    }

    /// The inverse of [`Hlc::packed`].
    ///
    /// # Panics
    ///
    /// If `packed` is negative or holds a wall time past [`Hlc::MAX_WALL_MS`]:
    /// only values made by [`Hlc::packed`] may be passed here.
    pub fn from_packed(packed: i64, device: DeviceId) -> Hlc {
        assert!(packed >= 0, "packed hlc {packed} is negative");
        let packed = packed as u64;
        Hlc::new(packed >> 16, (packed & 0xffff) as u16, device)
    }

    /// The smallest timestamp at `wall_ms`, below every real one at that time.
    /// Useful as a lower bound in range comparisons.
    pub fn floor_at(wall_ms: u64) -> Hlc {
        Hlc::new(wall_ms, 0, DeviceId::from_bytes([0; 16]))
    }
}

impl Ord for Hlc {
    fn cmp(&self, other: &Hlc) -> Ordering {
        (self.wall_ms, self.counter, self.device).cmp(&(other.wall_ms, other.counter, other.device))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Hlc) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:013}-{:05}-{}",
            self.wall_ms,
            self.counter,
            self.device.to_simple()
        )
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({self})")
    }
}

/// Text that is not an HLC in its fixed-width form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hlc {text:?}: {reason}; expected 13 digits, '-', 5 digits, '-', 32 hex digits")]
pub struct ParseHlcError {
    /// The text that failed to parse.
    pub text: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

impl FromStr for Hlc {
    type Err = ParseHlcError;

    fn from_str(s: &str) -> Result<Hlc, ParseHlcError> {
        let err = |reason| ParseHlcError {
            text: s.to_owned(),
            reason,
        };
        if s.len() != Hlc::TEXT_LEN {
            return Err(err("wrong length"));
        }
        let bytes = s.as_bytes();
        if bytes[13] != b'-' || bytes[19] != b'-' {
            return Err(err("separators are not at positions 13 and 19"));
        }
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let (wall, counter, device) = (&s[..13], &s[14..19], &s[20..]);
        if !digits(wall) || !digits(counter) {
            return Err(err("wall time or counter is not all decimal digits"));
        }
        let wall_ms: u64 = wall.parse().map_err(|_| err("wall time out of range"))?;
        let counter: u16 = counter.parse().map_err(|_| err("counter above 65535"))?;
        if !device
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(err("device id is not 32 lowercase hex digits"));
        }
        let device: DeviceId = device.parse().map_err(|_| err("device id is not a uuid"))?;
        Ok(Hlc::new(wall_ms, counter, device))
    }
}

impl serde::Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hlc, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceId {
        DeviceId::from_bytes([n; 16])
    }

    #[test]
    fn text_form_is_fixed_width() {
        let h = Hlc::new(1_764_060_000_000, 7, device(0xab));
        assert_eq!(
            h.to_string(),
            format!("1764060000000-00007-{}", "ab".repeat(16))
        );
        let small = Hlc::new(5, 0, device(1));
        assert_eq!(small.to_string().len(), Hlc::TEXT_LEN);
        assert!(small.to_string() < h.to_string());
    }

    /// Every malformed text is refused with the reason, through one helper.
    #[test]
    fn parse_errors() {
        fn check(text: &str, reason: &str) {
            let err = text.parse::<Hlc>().unwrap_err();
            assert_eq!(err.reason, reason, "{text:?}");
            assert!(err.to_string().contains(reason));
        }
        let dev = "ab".repeat(16);
        check("", "wrong length");
        check(&format!("1764060000000-00007-{dev}x"), "wrong length");
        check(
            &format!("1764060000000_00007-{dev}"),
            "separators are not at positions 13 and 19",
        );
        check(
            &format!("176406000000a-00007-{dev}"),
            "wall time or counter is not all decimal digits",
        );
        check(
            &format!("+764060000000-00007-{dev}"),
            "wall time or counter is not all decimal digits",
        );
        check(&format!("1764060000000-99999-{dev}"), "counter above 65535");
        check(
            &format!("1764060000000-00007-{}", "AB".repeat(16)),
            "device id is not 32 lowercase hex digits",
        );
        check(
            &format!("1764060000000-00007-{}", "zz".repeat(16)),
            "device id is not 32 lowercase hex digits",
        );
    }

    #[test]
    fn packed_round_trips_at_the_limits() {
        for (wall, counter) in [(0, 0), (Hlc::MAX_WALL_MS, u16::MAX), (1_764_060_000_000, 3)] {
            let h = Hlc::new(wall, counter, device(9));
            assert_eq!(Hlc::from_packed(h.packed(), device(9)), h);
        }
    }
}

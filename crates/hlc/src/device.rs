use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Identifies one installation of a library on one device.
///
/// Generated on first launch and kept in `config.yaml`; a reinstall makes a
/// new one. It is part of every [`crate::Hlc`], which is what makes two
/// timestamps from different devices never equal.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(Uuid);

impl DeviceId {
    /// A fresh random (version 4) device id.
    pub fn random() -> DeviceId {
        DeviceId(Uuid::new_v4())
    }

    /// A device id from raw bytes, for simulations that derive ids from a seed.
    pub fn from_bytes(bytes: [u8; 16]) -> DeviceId {
        DeviceId(Uuid::from_bytes(bytes))
    }

    /// The 16 raw bytes, big-endian as in the UUID's text form.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The 32-character lowercase hex form without hyphens, used in bucket
    /// paths and inside the HLC text form.
    pub fn to_simple(&self) -> String {
        self.0.simple().to_string()
    }
}

impl fmt::Display for DeviceId {
    /// The hyphenated UUID form, as written to `config.yaml`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0.simple())
    }
}

/// A device id that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device id {text:?}: expected a UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8")]
pub struct ParseDeviceIdError {
    /// The text that failed to parse.
    pub text: String,
}

impl FromStr for DeviceId {
    type Err = ParseDeviceIdError;

    /// Accepts the hyphenated and the simple (32 hex digits) forms.
    fn from_str(s: &str) -> Result<DeviceId, ParseDeviceIdError> {
        Uuid::try_parse(s)
            .map(DeviceId)
            .map_err(|_| ParseDeviceIdError { text: s.to_owned() })
    }
}

impl serde::Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DeviceId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        let id = DeviceId::random();
        assert_eq!(id.to_string().parse::<DeviceId>().unwrap(), id);
        assert_eq!(id.to_simple().parse::<DeviceId>().unwrap(), id);
        assert_eq!(id.to_simple().len(), 32);
    }

    #[test]
    fn rejects_non_uuid_text() {
        let err = "not-a-device".parse::<DeviceId>().unwrap_err();
        assert!(err.to_string().contains("not-a-device"), "{err}");
    }
}

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bae_hlc::DeviceId;

/// The name of the device configuration file in a library directory.
pub const CONFIG_FILE: &str = "config.yaml";

/// This device's configuration of a library, kept in `config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LibraryConfig {
    /// Generated on first open; a reinstall (a new config) makes a new one.
    pub device_id: DeviceId,
}

/// Why `config.yaml` could not be used. The file is never overwritten: a
/// person can fix it and try again.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML or lacks a valid `device_id`.
    #[error(
        "malformed {path}: {message}; fix or remove the file (removing it gives this device a new id)"
    )]
    Malformed {
        /// The config file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A new config could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl LibraryConfig {
    /// Reads `dir/config.yaml`, or creates it with a fresh device id if it
    /// does not exist. Returns the config and whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(LibraryConfig, bool), ConfigError> {
        let path = dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let config = serde_yaml::from_str(&text).map_err(|e| ConfigError::Malformed {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                Ok((config, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let config = LibraryConfig {
                    device_id: DeviceId::random(),
                };
                config.create(&path)?;
                Ok((config, true))
            }
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Replaces `dir/config.yaml` with this config (a deliberate change of
    /// identity): temporary file, fsync, rename.
    pub(crate) fn replace(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let write = |source| ConfigError::Write {
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension(format!("yaml.tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(write)?;
        file.write_all(self.text().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write)?;
        std::fs::rename(&tmp, &path).map_err(write)
    }

    fn text(&self) -> String {
        format!(
            "# This device's identity in this bae library. Keep it with the library;\n\
             # a new device_id makes this device a new one to every other device.\n{}",
            serde_yaml::to_string(self).expect("config serializes")
        )
    }

    /// Writes the config to `path`, which must not exist: written to a
    /// temporary file, synced, then linked into place, so a crash leaves
    /// either no config or a whole one, and an existing file is never
    /// replaced.
    fn create(&self, path: &Path) -> Result<(), ConfigError> {
        let write = |source| ConfigError::Write {
            path: path.to_owned(),
            source,
        };
        let text = self.text();
        let tmp = path.with_extension(format!("yaml.tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp).map_err(write)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        linked.map_err(write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = LibraryConfig::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (again, created) = LibraryConfig::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    /// Each malformed config is refused with its path named and is left
    /// exactly as it was.
    #[test]
    fn malformed_configs_are_refused_and_kept() {
        fn check(content: &str, expect: &str) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(CONFIG_FILE);
            std::fs::write(&path, content).unwrap();
            let err = LibraryConfig::load_or_create(dir.path()).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, ConfigError::Malformed { .. }),
                "{content:?}: {msg}"
            );
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(expect), "{content:?}: {msg}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                content,
                "never overwritten"
            );
        }
        check("device_id: not-a-uuid\n", "invalid device id");
        check("device_id: [1, 2\n", "expected a string at line 1");
        check("device_id: \"unterminated\n", "line");
        check("other: 1\n", "missing field `device_id`");
        check("", "missing field `device_id`");
    }

    #[test]
    fn unreadable_config_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be cannot be read as text.
        std::fs::create_dir(dir.path().join(CONFIG_FILE)).unwrap();
        let err = LibraryConfig::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        assert!(err.to_string().contains(CONFIG_FILE));
    }
}

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bae_library::{LibraryManager, NewImage};
use bae_store::WriteError;

use crate::SyncError;

/// This device's copy of image bytes: `{dir}/{ab}/{cd}/{image_id}`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// An image store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> ImageStore {
        ImageStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, image_id: &str) -> PathBuf {
        self.dir.join(
            crate::layout::image(image_id)
                .as_str()
                .trim_start_matches("images/"),
        )
    }

    /// The bytes of an image, if this device has them.
    pub fn get(&self, image_id: &str) -> Result<Option<Vec<u8>>, SyncError> {
        let path = self.path(image_id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SyncError::ImageStore {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Stores an image's bytes durably: temporary file, fsync, rename.
    pub fn put(&self, image_id: &str, bytes: &[u8]) -> Result<(), SyncError> {
        let path = self.path(image_id);
        let err = |source| SyncError::ImageStore {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path.parent().expect("image paths have a parent")).map_err(err)?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

/// Sets an album's cover: the bytes reach the image store durably before
/// the row that names them commits, so a pushed image op always has bytes
/// to upload first.
pub fn add_cover_image(
    lib: &mut LibraryManager,
    images: &ImageStore,
    album_id: &str,
    image: &NewImage,
    bytes: &[u8],
) -> Result<String, SyncError> {
    let mut stored: Result<(), SyncError> = Ok(());
    let result = lib.write(|w| {
        let id = bae_store::writes::set_cover_image(w, album_id, image)?;
        if let Err(e) = images.put(&id, bytes) {
            stored = Err(e);
            return Err(WriteError::InvalidValue {
                table: bae_store::Table::LibraryImages,
                column: "id",
                reason: "image bytes could not be stored".to_owned(),
            });
        }
        Ok(id)
    });
    stored?;
    Ok(result?)
}

//! A bucket in a local directory: the embedded default.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use crate::bucket::{
    BoxFuture, Bucket, DeleteOutcome, ListPage, ObjectMeta, PutOutcome, check_list_prefix,
    check_range,
};
use crate::error::{BucketError, Operation};
use crate::key::ObjectKey;
use crate::memory::DEFAULT_PAGE_SIZE;
use crate::open::OpenError;

/// Where temporary files live, under the root. Keys cannot name it: no key
/// segment starts with '.', and listings skip dot names.
const TMP_DIR: &str = ".bae-tmp";

/// How often a write is retried when a concurrent `delete` removes the
/// (then empty) parent directory between creating it and renaming into it.
const DIR_RACE_RETRIES: usize = 8;

/// A bucket stored as files under a root directory, one file per object at
/// `root/{key}`, so the directory mirrors the bucket and can be copied to S3.
///
/// - `put` writes a temporary file in `root/.bae-tmp/`, fsyncs it, renames it
///   over the target and fsyncs the directory: readers see the old or the new
///   object, and a returned `put` survives a crash.
/// - `put_if_absent` does the same but links the temporary file into place
///   with `hard_link`, which fails if the target exists: atomic create.
///   (Filesystems without hard links answer
///   [`BucketError::ConditionalCreateUnsupported`].)
/// - listing is bytewise ordered like S3, paginated, and never shows
///   temporary files, dot names or symlinks.
/// - ETag is `{inode}-{size}-{mtime ns}` in hex: it changes on every rewrite.
/// - A directory cannot hold both `a/b` and `a/b/c` (a file and a directory
///   of the same name); writing the second fails with [`BucketError::Io`].
/// - `delete` removes directories left empty.
#[derive(Debug, Clone)]
pub struct LocalDirBucket {
    root: PathBuf,
    page_size: usize,
}

impl LocalDirBucket {
    /// A bucket over the existing directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, OpenError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => Ok(Self {
                root,
                page_size: DEFAULT_PAGE_SIZE,
            }),
            Ok(_) => Err(OpenError::NotADirectory { path: root }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Err(OpenError::DirectoryMissing { path: root })
            }
            Err(err) => Err(OpenError::Directory {
                path: root,
                detail: err.to_string(),
            }),
        }
    }

    /// Creates `root` (and its parents) if needed, then opens it.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, OpenError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|err| OpenError::Directory {
            path: root.clone(),
            detail: err.to_string(),
        })?;
        Self::open(root)
    }

    /// This bucket with at most `page_size` objects per list page (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.max(1);
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &ObjectKey) -> PathBuf {
        // Keys have no empty, '.' or '..' segments and no leading '/', so
        // this stays under the root.
        self.root.join(key.as_str())
    }

    /// Runs blocking filesystem work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        op: Operation,
        target: &str,
        work: impl FnOnce(&LocalDirBucket) -> Result<T, BucketError> + Send + 'static,
    ) -> Result<T, BucketError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .unwrap_or_else(|join| {
                Err(BucketError::Store {
                    op,
                    target: target.to_owned(),
                    detail: format!("the filesystem worker failed: {join}"),
                })
            })
    }

    fn io_error(&self, op: Operation, target: &str, path: &Path, err: &io::Error) -> BucketError {
        let transient = matches!(
            err.kind(),
            io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        );
        if transient {
            return BucketError::transient(op, target, format!("{}: {err}", path.display()));
        }
        let hint = match err.kind() {
            io::ErrorKind::IsADirectory
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::DirectoryNotEmpty => {
                "; a local-directory bucket cannot hold both 'a/b' and 'a/b/...' keys"
            }
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                "; check the directory's permissions"
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "; free some disk space",
            _ => "",
        };
        BucketError::Io {
            op,
            target: target.to_owned(),
            path: path.to_owned(),
            detail: format!("{err}{hint}"),
        }
    }

    /// Writes `body` to a fresh, fsynced temporary file.
    fn write_temp(
        &self,
        op: Operation,
        key: &ObjectKey,
        body: &[u8],
    ) -> Result<TempFile, BucketError> {
        let dir = self.root.join(TMP_DIR);
        fs::create_dir_all(&dir).map_err(|e| self.io_error(op, key.as_str(), &dir, &e))?;
        loop {
            let path = dir.join(format!("{:016x}.tmp", rand::random::<u64>()));
            let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(self.io_error(op, key.as_str(), &path, &e)),
            };
            let temp = TempFile { path, keep: false };
            file.write_all(body)
                .and_then(|()| file.sync_all())
                .map_err(|e| self.io_error(op, key.as_str(), &temp.path, &e))?;
            return Ok(temp);
        }
    }

    /// Makes the parent directories of `path`, fsyncing each new entry.
    fn make_parents(&self, op: Operation, key: &ObjectKey, path: &Path) -> Result<(), BucketError> {
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        if parent.is_dir() {
            return Ok(());
        }
        let mut dir = self.root.clone();
        let segments: Vec<&str> = key.as_str().split('/').collect();
        for segment in &segments[..segments.len() - 1] {
            dir.push(segment);
            match fs::create_dir(&dir) {
                Ok(()) => sync_parent(&dir),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(self.io_error(op, key.as_str(), &dir, &e)),
            }
        }
        Ok(())
    }

    fn put_blocking(&self, key: &ObjectKey, body: &[u8]) -> Result<(), BucketError> {
        let op = Operation::Put;
        let temp = self.write_temp(op, key, body)?;
        let target = self.path_of(key);
        let mut tries = 0;
        loop {
            self.make_parents(op, key, &target)?;
            match fs::rename(&temp.path, &target) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < DIR_RACE_RETRIES => {
                    tries += 1
                }
                Err(e) => return Err(self.io_error(op, key.as_str(), &target, &e)),
            }
        }
        temp.disarm();
        sync_parent(&target);
        Ok(())
    }

    fn put_if_absent_blocking(
        &self,
        key: &ObjectKey,
        body: &[u8],
    ) -> Result<PutOutcome, BucketError> {
        let op = Operation::PutIfAbsent;
        let target = self.path_of(key);
        if target.is_file() {
            // Cheap early answer; the hard link below is what decides.
            return Ok(PutOutcome::AlreadyExists);
        }
        let temp = self.write_temp(op, key, body)?;
        let mut tries = 0;
        loop {
            self.make_parents(op, key, &target)?;
            match fs::hard_link(&temp.path, &target) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return if fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
                        Ok(PutOutcome::AlreadyExists)
                    } else {
                        Err(BucketError::Io {
                            op,
                            target: key.to_string(),
                            path: target,
                            detail: "a directory or special file is in the way; a local-directory \
                                     bucket cannot hold both 'a/b' and 'a/b/...' keys"
                                .into(),
                        })
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < DIR_RACE_RETRIES => {
                    tries += 1
                }
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    return Err(BucketError::ConditionalCreateUnsupported {
                        key: key.clone(),
                        detail: format!("this filesystem has no hard links: {e}"),
                    });
                }
                Err(e) => return Err(self.io_error(op, key.as_str(), &target, &e)),
            }
        }
        drop(temp); // removes the temporary name; the target keeps the inode
        sync_parent(&target);
        Ok(PutOutcome::Created)
    }

    /// Opens the object's file, mapping "no such file" and "that's a
    /// directory" to NotFound.
    fn open_object(
        &self,
        op: Operation,
        key: &ObjectKey,
    ) -> Result<(File, fs::Metadata), BucketError> {
        let path = self.path_of(key);
        let not_found = || BucketError::NotFound { key: key.clone() };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if is_missing(&e) => return Err(not_found()),
            Err(e) => return Err(self.io_error(op, key.as_str(), &path, &e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| self.io_error(op, key.as_str(), &path, &e))?;
        if !meta.is_file() {
            return Err(not_found());
        }
        Ok((file, meta))
    }

    fn get_blocking(&self, key: &ObjectKey) -> Result<Bytes, BucketError> {
        let (mut file, meta) = self.open_object(Operation::Get, key)?;
        let mut body = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut body)
            .map_err(|e| self.io_error(Operation::Get, key.as_str(), &self.path_of(key), &e))?;
        Ok(Bytes::from(body))
    }

    fn get_range_blocking(&self, key: &ObjectKey, range: Range<u64>) -> Result<Bytes, BucketError> {
        let op = Operation::GetRange;
        let (mut file, meta) = self.open_object(op, key)?;
        let size = meta.len();
        if range.end > size {
            return Err(BucketError::InvalidRange {
                key: key.clone(),
                start: range.start,
                end: range.end,
                size: Some(size),
            });
        }
        let len =
            usize::try_from(range.end - range.start).map_err(|_| BucketError::InvalidRange {
                key: key.clone(),
                start: range.start,
                end: range.end,
                size: Some(size),
            })?;
        let mut body = vec![0; len];
        file.seek(SeekFrom::Start(range.start))
            .and_then(|_| file.read_exact(&mut body))
            .map_err(|e| self.io_error(op, key.as_str(), &self.path_of(key), &e))?;
        Ok(Bytes::from(body))
    }

    fn head_blocking(&self, key: &ObjectKey) -> Result<ObjectMeta, BucketError> {
        let (_, meta) = self.open_object(Operation::Head, key)?;
        Ok(ObjectMeta {
            key: key.clone(),
            size: meta.len(),
            etag: Some(metadata_etag(&meta)),
        })
    }

    fn delete_blocking(&self, key: &ObjectKey) -> Result<(), BucketError> {
        let path = self.path_of(key);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if is_missing(&e) => return Ok(()),
                Err(e) => return Err(self.io_error(Operation::Delete, key.as_str(), &path, &e)),
            },
            // A directory or nothing at all: no object under this key.
            Ok(_) => return Ok(()),
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(self.io_error(Operation::Delete, key.as_str(), &path, &e)),
        }
        self.after_delete(&path);
        Ok(())
    }

    /// Makes a removal durable and drops the directories it left empty,
    /// since S3 has no directories. `remove_dir` fails on a non-empty
    /// directory, which ends the walk.
    fn after_delete(&self, path: &Path) {
        sync_parent(path);
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    fn delete_if_match_blocking(
        &self,
        key: &ObjectKey,
        etag: &str,
    ) -> Result<DeleteOutcome, BucketError> {
        let op = Operation::Delete;
        let path = self.path_of(key);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {
                if metadata_etag(&meta) != etag {
                    return Ok(DeleteOutcome::Changed);
                }
            }
            Ok(_) => return Ok(DeleteOutcome::Deleted),
            Err(e) if is_missing(&e) => return Ok(DeleteOutcome::Deleted),
            Err(e) => return Err(self.io_error(op, key.as_str(), &path, &e)),
        }
        // A put may replace the object between that check and the removal.
        // So take the object out of view first (a rename is atomic and keeps
        // inode and mtime, hence the etag) and check what was taken: a newer
        // version goes back, unless a newer one still took its place.
        let dir = self.root.join(TMP_DIR);
        fs::create_dir_all(&dir).map_err(|e| self.io_error(op, key.as_str(), &dir, &e))?;
        let taken = TempFile {
            path: dir.join(format!("{:016x}.del", rand::random::<u64>())),
            keep: false,
        };
        match fs::rename(&path, &taken.path) {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Ok(DeleteOutcome::Deleted),
            Err(e) => return Err(self.io_error(op, key.as_str(), &path, &e)),
        }
        let taken_etag = fs::symlink_metadata(&taken.path).map(|meta| metadata_etag(&meta));
        if taken_etag.as_deref().is_ok_and(|taken| taken == etag) {
            drop(taken);
            self.after_delete(&path);
            return Ok(DeleteOutcome::Deleted);
        }
        // Another version was taken, or it could not be checked: either way
        // it goes back rather than being lost.
        match fs::hard_link(&taken.path, &path) {
            Ok(()) => sync_parent(&path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(self.io_error(op, key.as_str(), &path, &e)),
        }
        match taken_etag {
            Ok(_) => Ok(DeleteOutcome::Changed),
            Err(e) => Err(self.io_error(op, key.as_str(), &taken.path, &e)),
        }
    }

    fn list_blocking(
        &self,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ListPage, BucketError> {
        let (dir_part, partial) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let start = self.root.join(dir_part);
        let mut walk = Walk {
            continuation,
            limit: self.page_size + 1,
            out: Vec::new(),
        };
        walk.dir(&start, dir_part, partial)
            .map_err(|(path, e)| self.io_error(Operation::List, prefix, &path, &e))?;
        let mut objects = walk.out;
        let next = if objects.len() > self.page_size {
            objects.truncate(self.page_size);
            objects.last().map(|meta| meta.key.to_string())
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }
}

/// A depth-first walk that yields keys in bytewise order.
///
/// Sibling entries are visited sorted by `name` for files and `name + "/"`
/// for directories: every key under a directory starts with `name/`, so this
/// order is the global bytewise order of keys (for example `a-c` < `a/b`
/// because '-' < '/').
struct Walk<'a> {
    continuation: Option<&'a str>,
    limit: usize,
    out: Vec<ObjectMeta>,
}

impl Walk<'_> {
    fn dir(
        &mut self,
        dir: &Path,
        key_prefix: &str,
        name_filter: &str,
    ) -> Result<(), (PathBuf, io::Error)> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err((dir.to_owned(), e)),
        };
        let mut children = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err((dir.to_owned(), e)),
            };
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !name.starts_with(name_filter) {
                continue;
            }
            let file_type = match entry.file_type() {
                Ok(t) => t,
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err((entry.path(), e)),
            };
            if file_type.is_dir() {
                children.push((format!("{key_prefix}{name}/"), true, entry));
            } else if file_type.is_file() {
                children.push((format!("{key_prefix}{name}"), false, entry));
            }
        }
        children.sort_by(|a, b| a.0.cmp(&b.0));
        for (path_key, is_dir, entry) in children {
            if self.out.len() >= self.limit {
                return Ok(());
            }
            if is_dir {
                if let Some(token) = self.continuation
                    && !token.starts_with(&path_key)
                    && path_key.as_str() < token
                {
                    continue; // everything below sorts before the token
                }
                self.dir(&entry.path(), &path_key, "")?;
            } else {
                if self
                    .continuation
                    .is_some_and(|token| path_key.as_str() <= token)
                {
                    continue;
                }
                // Files with names that are not valid keys were not written
                // by a bucket; leave them out.
                let Ok(key) = ObjectKey::new(path_key) else {
                    continue;
                };
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    Err(e) if is_missing(&e) => continue,
                    Err(e) => return Err((entry.path(), e)),
                };
                self.out.push(ObjectMeta {
                    key,
                    size: meta.len(),
                    etag: Some(metadata_etag(&meta)),
                });
            }
        }
        Ok(())
    }
}

/// A temporary file, removed on drop unless disarmed.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// The file was renamed into place: nothing to remove.
    fn disarm(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

/// Fsyncs the directory holding `path`, so a rename or link in it is durable.
/// Best effort: some filesystems refuse to fsync directories.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

fn metadata_etag(meta: &fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    format!("{inode:x}-{:x}-{mtime:x}", meta.len())
}

impl Bucket for LocalDirBucket {
    fn put<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<(), BucketError>> {
        let owned = key.clone();
        Box::pin(self.blocking(Operation::Put, key.as_str(), move |b| {
            b.put_blocking(&owned, &body)
        }))
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a ObjectKey,
        body: Bytes,
    ) -> BoxFuture<'a, Result<PutOutcome, BucketError>> {
        let owned = key.clone();
        Box::pin(
            self.blocking(Operation::PutIfAbsent, key.as_str(), move |b| {
                b.put_if_absent_blocking(&owned, &body)
            }),
        )
    }

    fn get<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        let owned = key.clone();
        Box::pin(self.blocking(Operation::Get, key.as_str(), move |b| {
            b.get_blocking(&owned)
        }))
    }

    fn get_range<'a>(
        &'a self,
        key: &'a ObjectKey,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<Bytes, BucketError>> {
        Box::pin(async move {
            if check_range(key, &range)? {
                return Ok(Bytes::new());
            }
            let owned = key.clone();
            self.blocking(Operation::GetRange, key.as_str(), move |b| {
                b.get_range_blocking(&owned, range)
            })
            .await
        })
    }

    fn head<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<ObjectMeta, BucketError>> {
        let owned = key.clone();
        Box::pin(self.blocking(Operation::Head, key.as_str(), move |b| {
            b.head_blocking(&owned)
        }))
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        continuation: Option<String>,
    ) -> BoxFuture<'a, Result<ListPage, BucketError>> {
        Box::pin(async move {
            check_list_prefix(prefix)?;
            let owned = prefix.to_owned();
            self.blocking(Operation::List, prefix, move |b| {
                b.list_blocking(&owned, continuation.as_deref())
            })
            .await
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> BoxFuture<'a, Result<(), BucketError>> {
        let owned = key.clone();
        Box::pin(self.blocking(Operation::Delete, key.as_str(), move |b| {
            b.delete_blocking(&owned)
        }))
    }

    fn delete_if_match<'a>(
        &'a self,
        key: &'a ObjectKey,
        etag: &'a str,
    ) -> BoxFuture<'a, Result<DeleteOutcome, BucketError>> {
        let owned = key.clone();
        let etag = etag.to_owned();
        Box::pin(self.blocking(Operation::Delete, key.as_str(), move |b| {
            b.delete_if_match_blocking(&owned, &etag)
        }))
    }
}

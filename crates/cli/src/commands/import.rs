//! `bae import`, `bae demo`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bae_media::demo::{DemoConfig, generate};
use bae_media::import::{ImportedAlbumSummary, Progress};
use bae_media::{FileStorage, import_paths};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::device::{Device, probe_bucket};
use crate::error::{CliError, CliResult};
use crate::out;

/// Progress bars on stderr (hidden when stderr is not a terminal).
struct Bars {
    multi: MultiProgress,
    scan: ProgressBar,
    upload: ProgressBar,
}

impl Bars {
    fn new(hidden: bool) -> Bars {
        let target = if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let scan = multi.add(ProgressBar::hidden());
        let upload = multi.add(ProgressBar::hidden());
        Bars {
            multi,
            scan,
            upload,
        }
    }
}

impl Progress for Bars {
    fn scan_start(&self, files: u64) {
        self.scan.set_length(files);
        self.scan.set_style(
            ProgressStyle::with_template("scanning  [{bar:30}] {pos}/{len} files {wide_msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.scan.enable_steady_tick(Duration::from_millis(200));
    }

    fn scanned(&self, path: &Path) {
        self.scan.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        self.scan.inc(1);
    }

    fn scan_done(&self) {
        self.scan.finish_with_message("");
    }

    fn album(&self, album: &ImportedAlbumSummary) {
        let _ = self.multi.println(format!(
            "imported  {} - {} ({} tracks{})",
            album.artist,
            album.title,
            album.tracks,
            album
                .cover
                .map(|c| format!(", {c} cover"))
                .unwrap_or_default()
        ));
    }

    fn upload_start(&self, _files: u64, bytes: u64) {
        self.upload.set_length(bytes);
        self.upload.set_style(
            ProgressStyle::with_template(
                "uploading [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        self.upload.enable_steady_tick(Duration::from_millis(200));
    }

    fn uploaded(&self, bytes: u64) {
        self.upload.inc(bytes);
    }

    fn upload_done(&self) {
        self.upload.finish();
    }
}

/// `bae import`.
pub async fn import(dir: &Path, paths: &[PathBuf], no_upload: bool, json: bool) -> CliResult<()> {
    let device = Device::open(dir)?;
    let storage = if device.settings.store_files && !no_upload {
        // Fail before writing anything if the storage cannot be reached.
        let bucket = device.bucket().await?;
        probe_bucket(bucket.as_ref(), &device.bucket_url()?).await?;
        Some(FileStorage::new(bucket, device.key()?))
    } else {
        None
    };
    let bars = Bars::new(json);
    let report = import_paths(&device.lib, &device.images, storage.as_ref(), paths, &bars).await;
    drop(bars);
    if report.problems.len() > 1 {
        for problem in &report.problems {
            out::note(&format!("bae: cannot import {problem}"));
        }
    }
    let upload = report.upload.clone().unwrap_or_default();
    if json {
        out::json(&serde_json::json!({
            "files_scanned": report.files_scanned,
            "albums": report.albums.iter().map(|a| serde_json::json!({
                "album_id": a.album_id,
                "release_id": a.release_id,
                "title": a.title,
                "artist": a.artist,
                "tracks": a.tracks,
                "cover": a.cover,
            })).collect::<Vec<_>>(),
            "tracks": report.tracks(),
            "already_in_library": report.already_in_library,
            "uploaded_files": upload.uploaded,
            "uploaded_bytes": upload.bytes,
            "problems": report.problems.iter().map(|p| serde_json::json!({
                "path": p.path,
                "reason": p.reason,
            })).collect::<Vec<_>>(),
        }));
    } else if report.files_scanned > 0 || report.problems.is_empty() {
        let mut summary = format!(
            "imported {} albums, {} tracks from {} files",
            report.albums.len(),
            report.tracks(),
            report.files_scanned
        );
        if !report.already_in_library.is_empty() {
            summary.push_str(&format!(
                "; {} already in the library",
                report.already_in_library.len()
            ));
        }
        if report.upload.is_some() {
            summary.push_str(&format!(
                "; uploaded {} files ({} bytes) to the file storage",
                upload.uploaded, upload.bytes
            ));
        }
        out::print(&summary);
        if !report.albums.is_empty() {
            out::note("run `bae sync` to push the new albums to the bucket");
        }
    }
    let upload_problems = upload.problems.len();
    let read_problems = report.problems.len() - upload_problems;
    match (read_problems, upload_problems) {
        (0, 0) => Ok(()),
        (1, 0) => Err(CliError::data(format!(
            "cannot import {}",
            report.problems[0]
        ))),
        (n, 0) => Err(CliError::data(format!(
            "{n} paths could not be imported (listed above); the rest was imported"
        ))),
        // The albums are in the library; only their upload failed, and
        // `bae sync` tries it again.
        (0, n) => Err(CliError::bucket(format!(
            "{n} audio files were imported but not uploaded to the file storage{}; `bae sync` tries again",
            if n == 1 {
                format!(" ({})", upload.problems[0])
            } else {
                " (listed above)".to_owned()
            }
        ))),
        (r, u) => Err(CliError::data(format!(
            "{r} paths could not be imported and {u} files not uploaded (listed above); the rest was imported"
        ))),
    }
}

/// `bae demo`.
pub fn demo(dir: &Path, seconds: f32, sample_rate: u32, seed: u64) -> CliResult<()> {
    if !(seconds > 0.0 && seconds <= 600.0) {
        return Err(CliError::usage(format!(
            "--seconds {seconds} is out of range; give 0 < S <= 600"
        )));
    }
    if !(8_000..=192_000).contains(&sample_rate) {
        return Err(CliError::usage(format!(
            "--sample-rate {sample_rate} is out of range; give 8000..=192000"
        )));
    }
    let spinner = ProgressBar::new_spinner()
        .with_message(format!("writing the demo library to {}", dir.display()));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let report = generate(
        dir,
        &DemoConfig {
            seconds_per_track: seconds,
            sample_rate,
            seed,
            ..DemoConfig::default()
        },
    )
    .map_err(|e| CliError::internal(e.to_string()))?;
    spinner.finish_and_clear();
    let mut text = format!(
        "wrote {} artists, {} albums, {} tracks ({} bytes) to {}",
        report.artists().len(),
        report.albums.len(),
        report.track_count(),
        report.total_bytes,
        dir.display()
    );
    for album in &report.albums {
        text.push_str(&format!(
            "\n  {} - {} ({}, {} tracks, {:?}, cover {:?})",
            album.artist,
            album.title,
            album.year,
            album.files.len(),
            album.format,
            album.cover
        ));
    }
    out::print(&text);
    Ok(())
}

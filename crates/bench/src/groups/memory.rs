//! Group `memory`: peak resident memory of a new device replaying the whole
//! history, and of a new device booting from a checkpoint. Each runs in a
//! child process of the benchmark binary (the hidden `__peak` command), so
//! that neither peak mixes with the other or with the benchmark's own data;
//! the bucket is a directory the child reads object by object
//! ([`LocalDirBucket`]), like a remote store.
//!
//! Goal (issue #7): bootstrap is streamed, so the checkpoint is never wholly
//! in memory: the boot's peak stays below the checkpoint object's size.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bae_bucket::{Bucket, LocalDirBucket};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Context, Group};
use crate::fixture::{Device, Fixture, lock, runtime};
use crate::measure::{synced_digest, timed};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};

/// Peak memory of replay and bootstrap.
#[derive(Debug, Clone, Copy)]
pub struct Memory;

/// The hidden command that runs one measurement in a child process:
/// `bae-bench __peak replay|bootstrap BUCKET_DIR WORK_DIR NOW_MS`.
pub const CHILD_COMMAND: &str = "__peak";

/// Most the boot's peak may grow the process, as a multiple of the
/// checkpoint object's size.
pub const MAX_BOOT_PEAK_RATIO: f64 = 1.0;

/// What a child measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Peak {
    /// Resident bytes just before the measured step.
    pub rss_before: u64,
    /// The peak resident bytes (`VmHWM`) after it.
    pub peak: u64,
    /// Whether the peak was reset to the current size before the step
    /// (`/proc/self/clear_refs`); if not, `peak` may come from the setup.
    pub peak_reset: bool,
    /// How long the step took.
    pub seconds: f64,
    /// Synced rows and digest afterwards.
    pub rows: u64,
    /// See [`Peak::rows`].
    pub digest: String,
}

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))?;
    let kb: u64 = line.trim().trim_end_matches("kB").trim().parse()?;
    Ok(kb * 1024)
}

/// The child: runs one step on a new device and prints a [`Peak`] as JSON.
pub fn child(args: &[String]) -> anyhow::Result<()> {
    let [what, bucket_dir, work_dir, now_ms] = args else {
        anyhow::bail!(
            "usage: bae-bench {CHILD_COMMAND} replay|bootstrap BUCKET_DIR WORK_DIR NOW_MS"
        );
    };
    let rt = runtime()?;
    let bucket: Arc<dyn Bucket> = Arc::new(LocalDirBucket::open(bucket_dir)?);
    let mut dev = Device::new_device(Path::new(work_dir), bucket, now_ms.parse()?)?;
    let rss_before = status_bytes("VmRSS")?;
    // 5: reset the peak to the current size (Linux 4.0+).
    let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (r, t) = timed(|| -> anyhow::Result<()> {
        match what.as_str() {
            "replay" => {
                dev.pull(&rt)?;
            }
            "bootstrap" => {
                let metas = rt.block_on(dev.syncer.checkpoints())?;
                let newest = metas
                    .last()
                    .ok_or_else(|| anyhow::anyhow!("no checkpoint in {bucket_dir}"))?;
                rt.block_on(dev.syncer.boot_from(&dev.lib, newest))?;
            }
            other => anyhow::bail!("unknown step {other:?}"),
        }
        Ok(())
    });
    r?;
    let peak = status_bytes("VmHWM")?;
    let (rows, digest) = synced_digest(lock(&dev.lib).database())?;
    let out = Peak {
        rss_before,
        peak,
        peak_reset,
        seconds: t.wall,
        rows,
        digest: format!("{digest:016x}"),
    };
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string(&out)?)?;
    Ok(())
}

/// Runs `what` in a child process on the objects in `bucket_dir`.
fn measure(ctx: &Context, fx: &Fixture, what: &str, bucket_dir: &Path) -> anyhow::Result<Peak> {
    let exe = std::env::current_exe()?;
    anyhow::ensure!(
        exe.file_stem()
            .is_some_and(|s| s.to_string_lossy().starts_with("bae-bench")),
        "the memory group runs the bae-bench binary as its child, not {}",
        exe.display()
    );
    let work = ctx.tempdir()?;
    let out = Command::new(&exe)
        .arg(CHILD_COMMAND)
        .arg(what)
        .arg(bucket_dir)
        .arg(work.path())
        .arg(fx.end_ms.to_string())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "the {what} child failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let peak: Peak = serde_json::from_slice(&out.stdout)?;
    anyhow::ensure!(
        (peak.rows, peak.digest.as_str()) == (fx.rows, format!("{:016x}", fx.digest).as_str()),
        "the {what} child ended with {} rows, digest {}, not the library's",
        peak.rows,
        peak.digest
    );
    Ok(peak)
}

impl Group for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn title(&self) -> &'static str {
        "peak resident memory of a replay and of a boot from a checkpoint (child processes)"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let fx = ctx.library()?;
        let replay_dir = ctx.tempdir()?;
        Fixture::write_dir(&fx.objects, replay_dir.path())?;
        let cp = fx.checkpoint()?;
        let boot_dir = ctx.tempdir()?;
        Fixture::write_dir(
            [
                (&cp.data.0, &cp.data.1),
                (&cp.meta_object.0, &cp.meta_object.1),
            ],
            boot_dir.path(),
        )?;
        let replay = measure(ctx, fx, "replay", replay_dir.path())?;
        let boot = measure(ctx, fx, "bootstrap", boot_dir.path())?;
        for (what, p) in [("replay", &replay), ("bootstrap", &boot)] {
            ctx.progress(&format!(
                "memory: {what}: {:.1} MiB resident before, peak {:.1} MiB, {:.3} s",
                p.rss_before as f64 / 1048576.0,
                p.peak as f64 / 1048576.0,
                p.seconds
            ));
        }
        let (batch_bytes, _) = fx.bytes_under("ops/");
        let checkpoint_bytes = cp.data.1.len() as f64;
        let plaintext = bae_crypto::plaintext_len(cp.data.1.len() as u64)? as f64;
        let grown = |p: &Peak| p.peak.saturating_sub(p.rss_before) as f64;
        let figures = vec![
            Figure::new(
                "peak_rss.replay",
                "replay (Syncer::pull of everything): peak RSS",
                Unit::Bytes,
                replay.peak as f64,
            ),
            Figure::new(
                "peak_rss_growth.replay",
                "replay: peak above the RSS before, vs all batch objects",
                Unit::Bytes,
                grown(&replay),
            )
            .against(
                "batch objects in the bucket",
                batch_bytes as f64,
                RatioStyle::Times,
            ),
            Figure::new(
                "peak_rss.bootstrap",
                "bootstrap (checkpoints() + boot_from): peak RSS",
                Unit::Bytes,
                boot.peak as f64,
            ),
            Figure::new(
                "peak_rss_growth.bootstrap",
                "bootstrap: peak above the RSS before, vs checkpoint object",
                Unit::Bytes,
                grown(&boot),
            )
            .against("checkpoint object", checkpoint_bytes, RatioStyle::Times)
            .goal(
                MAX_BOOT_PEAK_RATIO,
                "bootstrap is streamed: the checkpoint is never wholly in memory",
            ),
        ];
        let details = json!({
            "replay": replay,
            "bootstrap": boot,
            "batch_object_bytes": batch_bytes,
            "checkpoint_object_bytes": checkpoint_bytes,
            "checkpoint_plaintext_bytes": plaintext,
        });
        let notes = vec![
            format!(
                "Each step runs in a child process (bae-bench {CHILD_COMMAND}) on a new device with \
                 an on-disk library, its bucket a LocalDirBucket over a directory holding the \
                 objects (batches, heads and images for the replay; the checkpoint's data and \
                 metadata for the boot), so the bucket's bytes are only in memory while the device \
                 reads them. RSS before = VmRSS after opening the library; the peak is VmHWM after \
                 the step, reset to the current RSS just before it (/proc/self/clear_refs: {}). \
                 Both children ended with the library's rows (checked).",
                if replay.peak_reset && boot.peak_reset {
                    "done"
                } else {
                    "NOT available, so the peak may include the setup"
                }
            ),
            format!(
                "The boot is streamed: Syncer::boot_from downloads the checkpoint object \
                 ({:.1} MiB; {:.1} MiB of plaintext) in ranged GETs of \
                 SyncConfig::checkpoint_range_bytes (8 MiB) into an anonymous temporary file, \
                 then bae_crypto::DecryptReader authenticates it one 64 KiB chunk at a time, \
                 CheckpointReader decodes one length-prefixed record at a time, and \
                 Merger::boot_stream inserts each row as it arrives, parents before children, \
                 in one transaction that rolls back if a later chunk or record fails. What \
                 remains in the peak is SQLite's page cache and the WAL index of that \
                 transaction. Writing a checkpoint is not streamed: Checkpoint::export builds \
                 it in memory and it is uploaded in one PUT (the Bucket trait has no \
                 multipart upload).",
                checkpoint_bytes / 1048576.0,
                plaintext / 1048576.0
            ),
        ];
        Ok(GroupReport {
            name: self.name().to_owned(),
            title: self.title().to_owned(),
            figures,
            details,
            notes,
        })
    }
}

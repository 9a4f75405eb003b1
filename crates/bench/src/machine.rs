//! What the benchmark ran on. Every part is best effort: a missing file or
//! program leaves its field empty rather than failing the run.

use std::path::Path;
use std::process::Command;

use crate::report::Machine;

fn run(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// The filesystem type of the mount holding `dir`, from `/proc/mounts`
/// (a tmpfs would hide the cost of writing to disk).
fn fs_type(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_dev, at, fs) = (parts.next()?, parts.next()?, parts.next()?);
            dir.starts_with(at).then(|| (at.len(), fs.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs)| fs)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn git() -> Option<String> {
    let root = workspace_root();
    let head = run("git", &["rev-parse", "--short=12", "HEAD"], Some(root))?;
    let dirty = run("git", &["status", "--porcelain"], Some(root)).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg`.
pub fn load_average() -> Option<String> {
    let l = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// Describes this machine; `temp_dir` is where the databases go and
/// `load_at_start` the [`load_average`] when the benchmark started.
pub fn describe(temp_dir: &Path, load_at_start: Option<String>) -> Machine {
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: cpu_model(),
        rustc: run(
            &std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()),
            &["--version"],
            Some(workspace_root()),
        ),
        sqlite: rusqlite::version().to_owned(),
        os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
        profile: if cfg!(debug_assertions) {
            "debug".to_owned()
        } else {
            "release".to_owned()
        },
        git: git(),
        temp_dir: temp_dir.display().to_string(),
        temp_fs: fs_type(temp_dir),
        load_average: [load_at_start, load_average()],
    }
}

/// Now, in UTC, as RFC 3339 (the report's date; never used by a workload).
pub fn now_utc() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

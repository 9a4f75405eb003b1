//! Benchmark groups. A group measures one question on the shared workload
//! and returns a [`GroupReport`]; the binary runs the groups it is asked for
//! and writes one report. A new benchmark is a new module here with a
//! [`Group`] implementation, listed in [`all`].

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::fixture::Fixture;
use crate::report::GroupReport;
use crate::workload::{Spec, Workload};

pub mod bootstrap;
pub mod bucket;
pub mod crypto;
pub mod memory;
pub mod metadata;
pub mod recording;
pub mod replay;

/// What every group gets: the workload, how many runs to time, where to put
/// databases.
#[derive(Debug)]
pub struct Context {
    /// The workload's shape.
    pub spec: Spec,
    /// Timed runs per measurement; groups report the best.
    pub runs: usize,
    /// Where temporary databases are created.
    pub temp_root: PathBuf,
    /// Progress lines on stderr.
    pub verbose: bool,
    workload: OnceLock<Workload>,
    library: OnceLock<Fixture>,
}

impl Context {
    /// A context for `spec`.
    pub fn new(spec: Spec, runs: usize, temp_root: PathBuf) -> Context {
        Context {
            spec,
            runs: runs.max(1),
            temp_root,
            verbose: true,
            workload: OnceLock::new(),
            library: OnceLock::new(),
        }
    }

    /// The workload of [`Context::spec`], generated on first use and shared
    /// by every group.
    pub fn workload(&self) -> &Workload {
        self.workload.get_or_init(|| Workload::generate(&self.spec))
    }

    /// The workload written by several devices through one bucket
    /// ([`Fixture`]), built on first use and shared by every group.
    pub fn library(&self) -> anyhow::Result<&Fixture> {
        if let Some(f) = self.library.get() {
            return Ok(f);
        }
        let f = Fixture::build(self.workload(), self.spec.seed, &self.temp_root)?;
        self.progress(&format!(
            "library written by {} devices in {:.2} s ({} batches, {} ops, {} synced rows, {} handovers)",
            crate::fixture::WRITERS,
            f.build_seconds,
            f.batches,
            f.ops,
            f.rows,
            f.handovers
        ));
        Ok(self.library.get_or_init(|| f))
    }

    /// A fresh temporary directory, removed when dropped.
    pub fn tempdir(&self) -> anyhow::Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new()
            .prefix("bae-bench-")
            .tempdir_in(&self.temp_root)?)
    }

    /// A progress line on stderr (stdout is for the report).
    pub fn progress(&self, line: &str) {
        if self.verbose {
            eprintln!("bae-bench: {line}");
        }
    }
}

/// One benchmark group.
pub trait Group {
    /// Its name, for `--only`.
    fn name(&self) -> &'static str;
    /// What it measures, in a line.
    fn title(&self) -> &'static str;
    /// Measures.
    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport>;
}

/// Every group, in the order they run.
pub fn all() -> Vec<Box<dyn Group>> {
    vec![
        Box::new(recording::Recording),
        Box::new(replay::Replay),
        Box::new(bootstrap::Bootstrap),
        Box::new(metadata::Metadata),
        Box::new(crypto::Crypto),
        Box::new(bucket::Requests),
        Box::new(memory::Memory),
    ]
}

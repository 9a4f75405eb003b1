//! `bae-bench`: runs the benchmark groups and writes the report.
//!
//! ```text
//! bae-bench [--smoke | --large] [--runs N] [--seed S] [--only GROUP]... [--out FILE] [--tmp DIR] [--list]
//! ```
//!
//! The report goes to stdout as a table and to `target/bench/report.json`
//! (under `CARGO_TARGET_DIR` when that is set).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bae_bench::groups::{self, Context};
use bae_bench::machine;
use bae_bench::report::{REPORT_FORMAT, Report};
use bae_bench::workload::{Scale, Spec};

const USAGE: &str = "\
usage: bae-bench [options]

  --smoke        tiny workload (20 artists, 10 albums), one run: checks the harness
  --large        ten times the medium workload (20,000 artists, 10,000 albums)
                 (default: medium, 2,000 artists, 1,000 albums, 15,000 tracks, 30,000 files)
  --runs N       timed runs per measurement, the best counts (default 3; 1 with --smoke)
  --seed S       workload seed (default 1)
  --only GROUP   run only this group (repeatable); see --list
  --out FILE     JSON report path (default <target>/bench/report.json)
  --tmp DIR      where to create the benchmark databases (default: the system temp dir)
  --list         list the groups and exit
  -h, --help     this text";

struct Args {
    scale: Scale,
    runs: Option<usize>,
    seed: u64,
    only: Vec<String>,
    out: Option<PathBuf>,
    tmp: Option<PathBuf>,
    list: bool,
}

fn parse(mut it: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut a = Args {
        scale: Scale::Medium,
        runs: None,
        seed: 1,
        only: Vec::new(),
        out: None,
        tmp: None,
        list: false,
    };
    let value = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next()
            .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => a.scale = Scale::Smoke,
            "--large" => a.scale = Scale::Large,
            "--runs" => {
                let n: usize = value(&mut it, "--runs")?.parse().context("--runs")?;
                anyhow::ensure!(n >= 1, "--runs must be at least 1");
                a.runs = Some(n);
            }
            "--seed" => a.seed = value(&mut it, "--seed")?.parse().context("--seed")?,
            "--only" => a.only.push(value(&mut it, "--only")?),
            "--out" => a.out = Some(value(&mut it, "--out")?.into()),
            "--tmp" => a.tmp = Some(value(&mut it, "--tmp")?.into()),
            "--list" => a.list = true,
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(Some(a))
}

/// `<target>/bench/report.json`: `CARGO_TARGET_DIR` if set, else the
/// workspace's `target`.
fn default_out() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| machine::workspace_root().join("target"));
    target.join("bench").join("report.json")
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain, without anyhow's backtrace: these are usage
            // and I/O errors, not bugs.
            eprintln!("bae-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Hidden: one memory measurement in a child process (groups::memory).
    if argv.first().map(String::as_str) == Some(groups::memory::CHILD_COMMAND) {
        return groups::memory::child(&argv[1..]);
    }
    let Some(args) = parse(argv.into_iter())? else {
        writeln!(std::io::stdout().lock(), "{USAGE}")?;
        return Ok(());
    };
    let all = groups::all();
    if args.list {
        let mut out = std::io::stdout().lock();
        for g in &all {
            writeln!(out, "{:<12} {}", g.name(), g.title())?;
        }
        return Ok(());
    }
    for name in &args.only {
        if !all.iter().any(|g| g.name() == name) {
            bail!("unknown group {name:?} (see --list)");
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("bae-bench: warning: a debug build; timings are meaningless (use --release)");
    }
    let runs = args
        .runs
        .unwrap_or(if args.scale == Scale::Smoke { 1 } else { 3 });
    let tmp = args.tmp.unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let ctx = Context::new(Spec::for_scale(args.scale, args.seed), runs, tmp.clone());

    let load_at_start = machine::load_average();
    let started = std::time::Instant::now();
    let workload = ctx.workload();
    ctx.progress(&format!(
        "{} workload generated in {:.2} s ({} transactions)",
        args.scale.name(),
        started.elapsed().as_secs_f64(),
        workload.txns.len()
    ));
    let mut reports = Vec::new();
    for g in all
        .iter()
        .filter(|g| args.only.is_empty() || args.only.iter().any(|o| o == g.name()))
    {
        ctx.progress(&format!("group {}: {}", g.name(), g.title()));
        reports.push(g.run(&ctx).with_context(|| format!("group {}", g.name()))?);
    }
    let report = Report {
        format: REPORT_FORMAT,
        date: machine::now_utc(),
        machine: machine::describe(&tmp, load_at_start),
        scale: args.scale.name().to_owned(),
        runs,
        seed: args.seed,
        workload: workload.summary(),
        groups: reports,
    };
    let out = args.out.unwrap_or_else(default_out);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", report.render())?;
    writeln!(stdout, "\nJSON report: {}", out.display())?;
    Ok(())
}

//! `cargo xtask sim [--seeds N | --seed S] [--start S] [--devices N|A..B]
//! [--long] [--jobs J] [--max-seconds T] [--plant BUG] [--skewed-gc]
//! [--verbose]`: runs seeds of the simulation and prints a summary; a
//! failing seed prints its invariant, a trace and the command that replays
//! it.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bae_sim::{DEFAULT_SEEDS, Options, Outcome, run_seed};

const USAGE: &str = "\
usage: bae-sim [options]
  --seeds N        run N seeds (default {DEFAULT_SEEDS}), starting at --start
  --start S        first seed (default 1)
  --seed S         run exactly seed S (replay)
  --devices N|A..B devices per seed (default 2..6)
  --long           ten times the virtual time and faults per seed
  --jobs J         seeds in parallel (default: 2)
  --max-seconds T  start no new seed after T seconds (the summary counts
                   the seeds that ran)
  --plant BUG      switch on a planted bug (needs --features planted-bugs):
                   arrival-order, cursor-outside-tx, gc-no-grace, no-tombstone
  --skewed-gc      let the device whose clock is 48 h ahead collect garbage
                   too (off by default: see ARCHITECTURE.md, sim)
  --verbose        print every seed's swarm and counters";

/// The usage text, with the default budget filled in.
fn usage() -> String {
    USAGE.replace("{DEFAULT_SEEDS}", &DEFAULT_SEEDS.to_string())
}

struct Args {
    seeds: Vec<u64>,
    options: Options,
    jobs: usize,
    max_seconds: Option<u64>,
}

fn parse() -> Result<Args, String> {
    let mut options = Options::default();
    let (mut count, mut start, mut one) = (DEFAULT_SEEDS, 1u64, None);
    let mut jobs = 2usize;
    let mut max_seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match a.as_str() {
            "--seeds" => count = num(value("--seeds")?)?,
            "--start" => start = num(value("--start")?)?,
            "--seed" => one = Some(num(value("--seed")?)?),
            "--jobs" => jobs = num(value("--jobs")?)?.max(1) as usize,
            "--max-seconds" => max_seconds = Some(num(value("--max-seconds")?)?),
            "--long" => options.long = true,
            "--verbose" => options.verbose = true,
            "--skewed-gc" => options.skewed_gc = true,
            "--plant" => options.plant = Some(value("--plant")?),
            "--devices" => {
                let v = value("--devices")?;
                options.devices = match v.split_once("..") {
                    Some((a, b)) => (num(a.into())? as usize, num(b.into())? as usize),
                    None => {
                        let n = num(v)? as usize;
                        (n, n)
                    }
                };
                if options.devices.0 < 2 || options.devices.0 > options.devices.1 {
                    return Err("--devices needs 2 <= A <= B".into());
                }
            }
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(p) = &options.plant {
        #[cfg(feature = "planted-bugs")]
        if !bae_merge::planted::ALL.iter().any(|(n, _)| n == p) {
            return Err(format!("no planted bug {p}"));
        }
        #[cfg(not(feature = "planted-bugs"))]
        return Err(format!(
            "--plant {p} needs a build with --features planted-bugs"
        ));
    }
    let seeds = match one {
        Some(s) => vec![s],
        None => (start..start + count).collect(),
    };
    Ok(Args {
        seeds,
        options,
        jobs,
        max_seconds,
    })
}

fn replay_command(seed: u64, options: &Options) -> String {
    // `cargo xtask sim` adds `--features planted-bugs` when `--plant` is given.
    format!("cargo xtask sim --seed {seed}{}", options.flags())
}

fn report(o: &Outcome, options: &Options) {
    if o.violations.is_empty() {
        if options.verbose {
            println!(
                "seed {}: ok ({} events, {} faults, {} writes, fingerprint {:016x}) — {}",
                o.seed, o.stats.events, o.stats.faults, o.stats.writes, o.fingerprint, o.swarm
            );
        }
        return;
    }
    println!("\n=== seed {} FAILED ===", o.seed);
    println!("swarm: {}", o.swarm);
    for v in &o.violations {
        println!("invariant violated: {}: {}", v.invariant, v.detail);
    }
    println!("trace (last {} events):", o.trace.len());
    for line in &o.trace {
        println!("  {line}");
    }
    println!("replay: {}", replay_command(o.seed, options));
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) if e == "help" => {
            eprintln!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bae-sim: {e}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let queue = Arc::new(Mutex::new(args.seeds.clone().into_iter()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicU64::new(0));
    let total = args.seeds.len() as u64;
    let workers: Vec<_> = (0..args.jobs.min(args.seeds.len()).max(1))
        .map(|_| {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            let done = Arc::clone(&done);
            let options = args.options.clone();
            let max_seconds = args.max_seconds;
            std::thread::spawn(move || {
                loop {
                    if max_seconds.is_some_and(|m| started.elapsed().as_secs() >= m) {
                        return;
                    }
                    let Some(seed) = queue.lock().expect("queue").next() else {
                        return;
                    };
                    let outcome = run_seed(seed, &options);
                    report(&outcome, &options);
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if n.is_multiple_of(100) {
                        eprintln!("bae-sim: {n}/{total} seeds");
                    }
                    results.lock().expect("results").push(outcome);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let results = results.lock().expect("results");
    let failed: Vec<u64> = results
        .iter()
        .filter(|o| !o.violations.is_empty())
        .map(|o| o.seed)
        .collect();
    let sum = |f: fn(&Outcome) -> u64| results.iter().map(f).sum::<u64>();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "bae-sim: {} seeds, {} events, {} faults injected, {} writes, {} checkpoints, {} gc deletions, {} boots, {} restores ({} new ids), {} violations{} in {:.1} s ({:.2} seeds/s)",
        results.len(),
        sum(|o| o.stats.events),
        sum(|o| o.stats.faults),
        sum(|o| o.stats.writes),
        sum(|o| o.stats.checkpoints),
        sum(|o| o.stats.gc_deleted),
        sum(|o| o.stats.boots),
        sum(|o| o.stats.restores),
        sum(|o| o.stats.reidentified),
        results.iter().map(|o| o.violations.len()).sum::<usize>(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (failing seeds: {failed:?})")
        },
        secs,
        results.len() as f64 / secs.max(1e-9),
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

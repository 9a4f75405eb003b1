//! The simulation can fail: each planted bug in bae-merge or bae-sync is
//! caught within a few seeds, the seed that caught it replays the same
//! failure, and the same seed passes with no bug planted. If the simulation
//! stopped catching a bug (a checker weakened, a fault class lost), its test
//! fails.
//!
//! The bugs are compiled into this test build by the dev-dependencies (see
//! `sim/Cargo.toml`) and switched on here, one per test process; the release
//! binary behind `cargo xtask sim` does not contain them. The seed budgets
//! are small so that these tests stay fast in a debug build; the first
//! catching seed of each bug, in release with `--plant`, is in
//! ARCHITECTURE.md ("sim").

use std::sync::Mutex;

use bae_sim::{Options, Outcome, run_seed};

/// The planted bug is a process-wide switch: one test at a time when the
/// tests share a process (`cargo test`; nextest runs each on its own).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The largest seed budget below.
const MAX_BUDGET: u64 = 16;

/// Devices per seed in these tests: fewer devices make a debug-build seed
/// cheaper, and every bug below is still caught by two to four of them.
fn options(plant: Option<&str>) -> Options {
    Options {
        devices: (2, 4),
        plant: plant.map(str::to_owned),
        ..Options::default()
    }
}

/// Runs `seed` with `bug` switched on (or none, for `None`).
fn run(seed: u64, bug: Option<&str>) -> Outcome {
    // The test build's bae-sim library has no `planted-bugs` feature of its
    // own, so it does not touch the switch: set it here.
    assert!(
        bae_merge::planted::set(bug.unwrap_or("none")) == bug.is_some(),
        "no planted bug {bug:?}"
    );
    let outcome = run_seed(seed, &options(bug));
    bae_merge::planted::set("none");
    outcome
}

/// Asserts that some seed in `1..=budget` catches `bug`, that the seed
/// replays the same failure, and that it passes without the bug.
fn caught(bug: &str, budget: u64) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut first = None;
    for seed in 1..=budget {
        let outcome = run(seed, Some(bug));
        if !outcome.violations.is_empty() {
            first = Some(outcome);
            break;
        }
    }
    let Some(first) = first else {
        panic!("{bug}: not caught by seeds 1..={budget}: the simulation no longer finds it");
    };
    eprintln!(
        "{bug}: caught by seed {} ({}): {}",
        first.seed,
        first.violations[0].invariant,
        first.violations[0].detail.lines().next().unwrap_or("")
    );
    let replay = run(first.seed, Some(bug));
    assert_eq!(
        replay.violations, first.violations,
        "{bug}: seed {} replayed differently",
        first.seed
    );
    assert_eq!(
        replay.fingerprint, first.fingerprint,
        "{bug}: seed {} replayed differently",
        first.seed
    );
    // The failure is the bug's, not the seed's: without it, the same seed
    // passes (and so do all the others: the last test).
    let clean = run(first.seed, None);
    assert!(
        clean.violations.is_empty(),
        "seed {} fails with no bug planted: {:?}\n{}",
        first.seed,
        clean.violations,
        clean.trace.join("\n")
    );
}

#[test]
fn arrival_order_is_caught() {
    caught("arrival-order", 4);
}

#[test]
fn cursor_outside_the_transaction_is_caught() {
    caught("cursor-outside-tx", MAX_BUDGET);
}

#[test]
fn gc_without_grace_is_caught() {
    caught("gc-no-grace", 4);
}

#[test]
fn skipping_the_tombstone_comparison_is_caught() {
    caught("no-tombstone", MAX_BUDGET);
}

/// Every seed the tests above may run passes with no bug planted: what
/// they catch is the bugs, not the seeds.
#[test]
fn the_same_seeds_pass_without_a_bug() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for seed in 1..=MAX_BUDGET {
        let clean = run(seed, None);
        assert!(
            clean.violations.is_empty(),
            "seed {seed} fails with no bug planted: {:?}\n{}",
            clean.violations,
            clean.trace.join("\n")
        );
    }
}

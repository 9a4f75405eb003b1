//! A seed is the only randomness: the same seed gives the same run, event
//! for event, and a healthy build passes it.

use bae_sim::{Options, run_seed};

#[test]
fn a_seed_replays_exactly_and_passes() {
    let options = Options {
        devices: (2, 3),
        ..Options::default()
    };
    let first = run_seed(7, &options);
    let again = run_seed(7, &options);
    assert!(
        first.violations.is_empty(),
        "seed 7 failed: {:?}\n{}",
        first.violations,
        first.trace.join("\n")
    );
    assert!(
        first.stats.writes > 0 && first.stats.steps_ok > 0,
        "{:?}",
        first.stats
    );
    assert_eq!(first.trace, again.trace, "the replay diverged");
    assert_eq!(first.fingerprint, again.fingerprint, "the replay diverged");
}

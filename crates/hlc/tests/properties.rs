//! Property tests of the clock's laws. A failure prints proptest's seed; the
//! file `proptest-regressions/properties.txt` replays it with
//! `cargo nextest run -p bae-hlc`.

use std::sync::Arc;

use bae_hlc::{Clock, DeviceId, Hlc, MAX_FORWARD_SKEW_MS, ManualClock};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn hlc() -> impl Strategy<Value = Hlc> {
    (0..=Hlc::MAX_WALL_MS, any::<u16>(), any::<[u8; 16]>())
        .prop_map(|(wall, counter, dev)| Hlc::new(wall, counter, DeviceId::from_bytes(dev)))
}

/// Timestamps bunched into a few millis and devices, so ties in the leading
/// parts are common and the later parts decide.
fn clustered_hlc() -> impl Strategy<Value = Hlc> {
    (0..3u64, 0..3u16, 0..3u8)
        .prop_map(|(wall, counter, dev)| Hlc::new(wall, counter, DeviceId::from_bytes([dev; 16])))
}

/// What a wall clock does between two reads.
#[derive(Debug, Clone)]
enum Step {
    Forward(u64),
    Backward(u64),
    Now,
    Observe { ahead_ms: i64, counter: u16 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..5_000u64).prop_map(Step::Forward),
        (0..50_000_000u64).prop_map(Step::Backward),
        Just(Step::Now),
        (
            -(3 * MAX_FORWARD_SKEW_MS as i64)..3 * MAX_FORWARD_SKEW_MS as i64,
            any::<u16>()
        )
            .prop_map(|(ahead_ms, counter)| Step::Observe { ahead_ms, counter }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/properties.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn text_order_equals_hlc_order(a in prop_oneof![hlc(), clustered_hlc()], b in prop_oneof![hlc(), clustered_hlc()]) {
        prop_assert_eq!(a.to_string().cmp(&b.to_string()), a.cmp(&b));
        prop_assert_eq!(a.packed().cmp(&b.packed()), (a.wall_ms(), a.counter()).cmp(&(b.wall_ms(), b.counter())));
    }

    #[test]
    fn text_and_packed_forms_round_trip(h in hlc()) {
        prop_assert_eq!(h.to_string().parse::<Hlc>().unwrap(), h);
        prop_assert_eq!(Hlc::from_packed(h.packed(), h.device()), h);
        let json = serde_json::to_string(&h).unwrap();
        prop_assert_eq!(serde_json::from_str::<Hlc>(&json).unwrap(), h);
    }

    /// `now()` is strictly increasing whatever the wall clock does, and
    /// `observe` never moves the clock more than 24 h past the wall clock.
    #[test]
    fn clock_is_monotonic_and_bounded(start in 100_000_000_000u64..2_000_000_000_000, steps in prop::collection::vec(step(), 1..200)) {
        let wall = ManualClock::new(start);
        let clock = Clock::new(DeviceId::from_bytes([7; 16]), Arc::new(wall.clone()));
        let mut now_ms = start;
        let mut prev = clock.now();
        // The furthest the clock may legitimately be ahead of the wall: the
        // highest wall time seen plus the skew limit.
        let mut max_wall = start;
        for step in steps {
            match step {
                Step::Forward(d) => now_ms += d,
                Step::Backward(d) => now_ms = now_ms.saturating_sub(d),
                Step::Now => {}
                Step::Observe { ahead_ms, counter } => {
                    let remote_wall = now_ms.saturating_add_signed(ahead_ms);
                    let remote = Hlc::new(remote_wall, counter, DeviceId::from_bytes([8; 16]));
                    let adopted = clock.observe(remote).is_ok();
                    prop_assert_eq!(adopted, remote_wall <= now_ms + MAX_FORWARD_SKEW_MS);
                    let next = clock.now();
                    if adopted {
                        prop_assert!(next > remote);
                    }
                    prop_assert!(next > prev);
                    prev = next;
                }
            }
            wall.set_ms(now_ms);
            max_wall = max_wall.max(now_ms);
            let next = clock.now();
            prop_assert!(next > prev, "{next:?} after {prev:?}");
            prop_assert!(next.wall_ms() <= max_wall + MAX_FORWARD_SKEW_MS + 1);
            prev = next;
        }
    }
}

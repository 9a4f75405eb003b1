use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{DeviceId, Hlc, MAX_FORWARD_SKEW_MS};

/// A source of wall-clock time in milliseconds since the UNIX epoch.
///
/// Injected into [`Clock`] so tests and the simulation can freeze, skew and
/// rewind time. It may go backwards; [`Clock`] copes.
pub trait WallClock: Send + Sync + fmt::Debug {
    /// The current wall time in milliseconds since the UNIX epoch.
    fn now_ms(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock before 1970 is a broken machine; treat it as the epoch and
        // let the logical counter keep order.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A wall clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now_ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock {
            now_ms: Arc::new(AtomicU64::new(now_ms)),
        }
    }

    /// Sets the time, forwards or backwards.
    pub fn set_ms(&self, now_ms: u64) {
        self.now_ms.store(now_ms, AtomicOrdering::SeqCst);
    }

    /// Moves the time forwards by `delta_ms`.
    pub fn advance_ms(&self, delta_ms: u64) {
        self.now_ms.fetch_add(delta_ms, AtomicOrdering::SeqCst);
    }
}

impl WallClock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(AtomicOrdering::SeqCst)
    }
}

/// A remote timestamp the clock refused to adopt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObserveError {
    /// The remote timestamp is more than 24 hours ahead of this device's wall
    /// clock: the other device's clock is probably wrong.
    #[error(
        "device {device} wrote at {remote_wall_ms} ms, {ahead_ms} ms ahead of this clock \
         (more than 24 h): its clock is probably wrong; its data is kept but its time is not adopted"
    )]
    TooFarAhead {
        /// The device whose clock is ahead.
        device: DeviceId,
        /// The remote wall time.
        remote_wall_ms: u64,
        /// How far ahead of the local wall clock it was.
        ahead_ms: u64,
    },
}

/// A hybrid logical clock for one device.
///
/// [`Clock::now`] is strictly increasing for the life of the value, whatever
/// the wall clock does. [`Clock::observe`] moves it past a remote timestamp
/// so that local writes made after seeing a remote one order after it.
pub struct Clock {
    device: DeviceId,
    wall: Arc<dyn WallClock>,
    /// The `(wall_ms, counter)` of the latest timestamp handed out or adopted.
    last: Mutex<(u64, u16)>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = *self.last.lock().expect("clock mutex poisoned");
        f.debug_struct("Clock")
            .field("device", &self.device)
            .field("wall", &self.wall)
            .field("last", &last)
            .finish()
    }
}

impl Clock {
    /// A clock for `device` reading time from `wall`.
    pub fn new(device: DeviceId, wall: Arc<dyn WallClock>) -> Clock {
        Clock {
            device,
            wall,
            last: Mutex::new((0, 0)),
        }
    }

    /// A clock for another device that reads the same wall clock and
    /// continues past everything this one handed out: for a device that
    /// must take a new id (a database restored from a backup).
    pub fn for_device(&self, device: DeviceId) -> Clock {
        let last = *self.last.lock().expect("clock mutex poisoned");
        Clock {
            device,
            wall: Arc::clone(&self.wall),
            last: Mutex::new(last),
        }
    }

    /// The device this clock stamps.
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The wall clock's current reading, capped at [`Hlc::MAX_WALL_MS`].
    pub fn wall_ms(&self) -> u64 {
        self.wall.now_ms().min(Hlc::MAX_WALL_MS)
    }

    /// A new timestamp, strictly greater than every one this clock handed out
    /// or adopted before.
    pub fn now(&self) -> Hlc {
        let physical = self.wall_ms();
        let mut last = self.last.lock().expect("clock mutex poisoned");
        let (last_wall, last_counter) = *last;
        let next = if physical > last_wall {
            (physical, 0)
        } else if last_counter < u16::MAX {
            (last_wall, last_counter + 1)
        } else {
            // 65,536 writes in one millisecond: borrow the next millisecond.
            (last_wall + 1, 0)
        };
        assert!(
            next > (last_wall, last_counter),
            "hlc must strictly increase"
        );
        *last = next;
        Hlc::new(next.0, next.1, self.device)
    }

    /// Adopts `remote` so that later [`Clock::now`] values order after it.
    ///
    /// A remote timestamp more than 24 hours ahead of the local wall clock is
    /// refused and leaves the clock unchanged: one broken clock must not drag
    /// every device into the future. The caller still merges the data that
    /// carried it and reports the skewed device.
    pub fn observe(&self, remote: Hlc) -> Result<(), ObserveError> {
        let physical = self.wall_ms();
        if remote.wall_ms() > physical.saturating_add(MAX_FORWARD_SKEW_MS) {
            return Err(ObserveError::TooFarAhead {
                device: remote.device(),
                remote_wall_ms: remote.wall_ms(),
                ahead_ms: remote.wall_ms() - physical,
            });
        }
        self.adopt(remote);
        Ok(())
    }

    /// Adopts a timestamp this device wrote itself earlier (read back from its
    /// own database on open), without the skew check: after a restart the
    /// clock must continue past everything already recorded, even if the wall
    /// clock has since been set back.
    pub fn resume_after(&self, own: Hlc) {
        self.adopt(own);
    }

    fn adopt(&self, hlc: Hlc) {
        let mut last = self.last.lock().expect("clock mutex poisoned");
        let remote = (hlc.wall_ms(), hlc.counter());
        if remote > *last {
            *last = remote;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;

    fn clock_at(now_ms: u64) -> (Clock, ManualClock) {
        let wall = ManualClock::new(now_ms);
        (
            Clock::new(DeviceId::from_bytes([1; 16]), Arc::new(wall.clone())),
            wall,
        )
    }

    #[test]
    fn frozen_wall_clock_counts_logically() {
        let (clock, _) = clock_at(1_000);
        let a = clock.now();
        let b = clock.now();
        assert_eq!((a.wall_ms(), a.counter()), (1_000, 0));
        assert_eq!((b.wall_ms(), b.counter()), (1_000, 1));
    }

    #[test]
    fn counter_overflow_borrows_the_next_millisecond() {
        let (clock, _) = clock_at(1_000);
        let mut prev = clock.now();
        for _ in 0..=u16::MAX as u32 + 2 {
            let next = clock.now();
            assert!(next > prev);
            prev = next;
        }
        assert_eq!(prev.wall_ms(), 1_001);
    }

    #[test]
    fn observe_refuses_more_than_a_day_ahead() {
        let (clock, _) = clock_at(10 * DAY_MS);
        let remote = Hlc::new(11 * DAY_MS + 1, 0, DeviceId::from_bytes([2; 16]));
        let err = clock.observe(remote).unwrap_err();
        assert!(
            matches!(err, ObserveError::TooFarAhead { ahead_ms, .. } if ahead_ms == DAY_MS + 1)
        );
        assert_eq!(
            clock.now().wall_ms(),
            10 * DAY_MS,
            "refused time was not adopted"
        );

        let remote = Hlc::new(11 * DAY_MS, 5, DeviceId::from_bytes([2; 16]));
        clock.observe(remote).unwrap();
        let next = clock.now();
        assert!(next > remote);
        assert_eq!((next.wall_ms(), next.counter()), (11 * DAY_MS, 6));
    }

    #[test]
    fn resume_after_skips_the_skew_check() {
        let (clock, _) = clock_at(DAY_MS);
        let own = Hlc::new(5 * DAY_MS, 3, clock.device());
        clock.resume_after(own);
        assert!(clock.now() > own);
    }
}

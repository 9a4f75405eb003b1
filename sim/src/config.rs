//! What a run does: the options given on the command line, and the swarm
//! drawn from the seed (which fault and action classes are on, and how much
//! of each).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Seeds `cargo xtask sim` runs without `--seeds`: what CI runs. At about
/// 150 seeds a minute on two cores (release, two jobs), this is a few
/// minutes; `--seeds N` and `--long` are for soaks.
pub const DEFAULT_SEEDS: u64 = 500;

/// Command-line options that shape every seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Devices per seed, inclusive range.
    pub devices: (usize, usize),
    /// Ten times the virtual time and workload per seed.
    pub long: bool,
    /// A planted bug to switch on (needs the `planted-bugs` feature).
    pub plant: Option<String>,
    /// Print every seed's swarm and counters, not only failing seeds'.
    pub verbose: bool,
    /// Let the device whose clock is 48 hours ahead run GC too. Off by
    /// default: it then collects what live devices need (see the report in
    /// ARCHITECTURE.md, "sim").
    pub skewed_gc: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            devices: (2, 6),
            long: false,
            plant: None,
            verbose: false,
            skewed_gc: false,
        }
    }
}

impl Options {
    /// The command-line flags that reproduce these options.
    pub fn flags(&self) -> String {
        let mut s = String::new();
        if self.devices != (2, 6) {
            if self.devices.0 == self.devices.1 {
                s.push_str(&format!(" --devices {}", self.devices.0));
            } else {
                s.push_str(&format!(
                    " --devices {}..{}",
                    self.devices.0, self.devices.1
                ));
            }
        }
        if self.long {
            s.push_str(" --long");
        }
        if let Some(p) = &self.plant {
            s.push_str(&format!(" --plant {p}"));
        }
        if self.skewed_gc {
            s.push_str(" --skewed-gc");
        }
        s
    }
}

/// Relative weights of the device actions. Zero turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    /// Import an album (artist, album, release, tracks: one batch).
    pub import: u32,
    /// Edit fields of an existing row.
    pub edit: u32,
    /// Insert, update or delete rows of the small hot id space.
    pub hot: u32,
    /// Delete a row (cascading).
    pub delete: u32,
    /// Add a child (track, file) under an existing parent.
    pub child: u32,
    /// Add a cover image.
    pub cover: u32,
    /// Push and pull.
    pub sync: u32,
    /// Push only.
    pub push: u32,
    /// Pull only.
    pub pull: u32,
    /// Write a checkpoint.
    pub checkpoint: u32,
    /// Collect garbage.
    pub gc: u32,
    /// "Compact now": checkpoint then GC.
    pub compact: u32,
}

/// Fault and action classes drawn per seed (swarm testing): each class is
/// on or off for the whole run, and the weights of the rest are skewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swarm {
    /// Devices in the run (slots), including those installed later.
    pub devices: usize,
    /// Slots that join mid-run (bootstrapping from a checkpoint).
    pub late_devices: usize,
    /// Partitions between a device and the bucket.
    pub partitions: bool,
    /// Held links (requests time out instead of failing fast).
    pub holds: bool,
    /// Device crashes and restarts.
    pub crashes: bool,
    /// Bucket 500/503, stalls and lost replies.
    pub bucket_errors: bool,
    /// Bucket and link latency.
    pub latency: bool,
    /// Clock skew of hours between devices.
    pub skew: bool,
    /// One device's clock 48 hours ahead.
    pub ahead_48h: bool,
    /// A device restored from an old backup of its database.
    pub restores: bool,
    /// Virtual time jumping ahead (hours with nothing happening).
    pub time_jumps: bool,
    /// A device offline for long stretches.
    pub long_offline: bool,
    /// Action weights.
    pub weights: Weights,
    /// Fault events in the chaos phase.
    pub fault_events: usize,
    /// GC grace period, ms.
    pub grace_ms: u64,
    /// Automatic checkpoint threshold, ops.
    pub checkpoint_every_ops: u64,
    /// Hot ids per hot table.
    pub hot_ids: usize,
    /// Mean pause between a device's actions, ms.
    pub pause_ms: u64,
    /// Virtual seconds of chaos.
    pub chaos_secs: u64,
}

impl Swarm {
    /// The swarm of `seed`.
    pub fn draw(seed: u64, options: &Options) -> Swarm {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5a17_c0de_0000_0001);
        let on = |rng: &mut StdRng| rng.random_bool(0.7);
        let w = |rng: &mut StdRng, max: u32| {
            if rng.random_bool(0.85) {
                rng.random_range(1..=max)
            } else {
                0
            }
        };
        let (lo, hi) = options.devices;
        let devices = rng.random_range(lo..=hi);
        let late_devices = if devices > 2 && rng.random_bool(0.6) {
            rng.random_range(1..=(devices - 2).min(2))
        } else {
            0
        };
        let mut weights = Weights {
            import: rng.random_range(2..=8),
            edit: w(&mut rng, 10),
            hot: w(&mut rng, 12),
            delete: w(&mut rng, 4),
            child: w(&mut rng, 5),
            cover: w(&mut rng, 3),
            sync: rng.random_range(3..=12),
            push: w(&mut rng, 4),
            pull: w(&mut rng, 4),
            checkpoint: w(&mut rng, 2),
            gc: w(&mut rng, 2),
            compact: w(&mut rng, 2),
        };
        if rng.random_bool(0.15) {
            // Some runs never compact at all.
            weights.checkpoint = 0;
            weights.gc = 0;
            weights.compact = 0;
        }
        let scale = if options.long { 10 } else { 1 };
        Swarm {
            devices,
            late_devices,
            partitions: on(&mut rng),
            holds: on(&mut rng),
            crashes: on(&mut rng),
            bucket_errors: on(&mut rng),
            latency: on(&mut rng),
            skew: on(&mut rng),
            ahead_48h: rng.random_bool(0.3),
            restores: rng.random_bool(0.5),
            time_jumps: on(&mut rng),
            long_offline: rng.random_bool(0.4),
            weights,
            fault_events: rng.random_range(4..=24) * scale as usize,
            // Longer than any two normal clocks disagree (skews of up to 2 h,
            // 3 h after a skew fault): GC judges liveness by wall clocks.
            grace_ms: [8, 12, 24][rng.random_range(0..3)] * 3_600_000,
            checkpoint_every_ops: rng.random_range(30..=400),
            hot_ids: rng.random_range(1..=4),
            pause_ms: rng.random_range(150..=900),
            chaos_secs: 40 * scale,
        }
    }

    /// The classes that are on, for the trace.
    pub fn describe(&self) -> String {
        let mut on = Vec::new();
        for (name, flag) in [
            ("partitions", self.partitions),
            ("holds", self.holds),
            ("crashes", self.crashes),
            ("bucket-errors", self.bucket_errors),
            ("latency", self.latency),
            ("skew", self.skew),
            ("ahead-48h", self.ahead_48h),
            ("restores", self.restores),
            ("time-jumps", self.time_jumps),
            ("long-offline", self.long_offline),
        ] {
            if flag {
                on.push(name);
            }
        }
        format!(
            "{} devices ({} late), faults [{}], {} fault events, grace {} min, checkpoint every {} ops, {} hot ids, weights {:?}",
            self.devices,
            self.late_devices,
            on.join(" "),
            self.fault_events,
            self.grace_ms / 60_000,
            self.checkpoint_every_ops,
            self.hot_ids,
            self.weights
        )
    }
}

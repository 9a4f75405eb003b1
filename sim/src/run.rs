//! One seed, start to finish: build the world, run the chaos phase with
//! scheduled faults, heal, sync to quiescence, check.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bae_hlc::DeviceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Options, Swarm};
use crate::device::mix;
use crate::world::{BucketFaults, DRIVER_NOW, EPOCH_MS, Phase, Slot, Stats, Violation, World};

/// One turmoil step.
const TICK: Duration = Duration::from_millis(5);

/// What one seed did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Broken invariants (empty: the run passed).
    pub violations: Vec<Violation>,
    /// The last events before the end (or the failure).
    pub trace: Vec<String>,
    /// Counters.
    pub stats: Stats,
    /// The swarm of the run.
    pub swarm: String,
    /// A digest of the end state and the event count, equal for equal runs.
    pub fingerprint: u64,
}

/// A fault the driver injects at a step.
#[derive(Debug, Clone)]
enum Fault {
    Partition(usize),
    Repair(usize),
    Hold(usize),
    Release(usize),
    Crash(usize),
    Restart(usize),
    Bounce(usize),
    BucketErrors(BucketFaults),
    BucketHealthy,
    Latency(u64),
    Jump(u64),
    Skew(usize, i64),
    Backup(usize),
    Restore(usize),
    Install(usize),
}

fn name(slot: usize) -> String {
    format!("dev{slot}")
}

/// Draws the fault schedule: step -> faults.
fn schedule(swarm: &Swarm, rng: &mut StdRng, steps: u64) -> BTreeMap<u64, Vec<Fault>> {
    let mut plan: BTreeMap<u64, Vec<Fault>> = BTreeMap::new();
    let at = |plan: &mut BTreeMap<u64, Vec<Fault>>, step: u64, f: Fault| {
        plan.entry(step.min(steps - 1)).or_default().push(f);
    };
    let n = swarm.devices;
    let secs = |s: u64| s * 1000 / TICK.as_millis() as u64;
    // Late devices join at a random time in the first two thirds.
    for slot in n - swarm.late_devices..n {
        at(
            &mut plan,
            rng.random_range(secs(2)..steps * 2 / 3),
            Fault::Install(slot),
        );
    }
    if swarm.restores {
        let slot = rng.random_range(0..n - swarm.late_devices);
        let t = rng.random_range(secs(3)..steps / 2);
        at(&mut plan, t, Fault::Backup(slot));
        at(
            &mut plan,
            rng.random_range(t + secs(5)..steps),
            Fault::Restore(slot),
        );
    }
    if swarm.long_offline {
        let slot = rng.random_range(0..n);
        let t = rng.random_range(0..steps / 2);
        let d = rng.random_range(secs(10)..steps / 2);
        at(&mut plan, t, Fault::Partition(slot));
        at(&mut plan, t + d / 2, Fault::Jump(swarm.grace_ms * 2));
        at(&mut plan, t + d, Fault::Repair(slot));
    }
    let mut kinds: Vec<u8> = Vec::new();
    for (k, on) in [
        (0, swarm.partitions),
        (1, swarm.holds),
        (2, swarm.crashes),
        (3, swarm.bucket_errors),
        (4, swarm.latency),
        (5, swarm.time_jumps),
        (6, swarm.skew),
        (7, swarm.crashes),
    ] {
        if on {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        return plan;
    }
    for _ in 0..swarm.fault_events {
        let t = rng.random_range(0..steps);
        let slot = rng.random_range(0..n);
        let d = rng.random_range(secs(1)..secs(15));
        match kinds[rng.random_range(0..kinds.len())] {
            0 => {
                at(&mut plan, t, Fault::Partition(slot));
                at(&mut plan, t + d, Fault::Repair(slot));
            }
            1 => {
                at(&mut plan, t, Fault::Hold(slot));
                at(&mut plan, t + d.min(secs(8)), Fault::Release(slot));
            }
            2 => {
                at(&mut plan, t, Fault::Crash(slot));
                at(&mut plan, t + d, Fault::Restart(slot));
            }
            3 => {
                let f = BucketFaults {
                    error_pct: rng.random_range(0..40),
                    stall_pct: rng.random_range(0..5),
                    lost_reply_pct: rng.random_range(0..15),
                    latency_ms: 0,
                };
                at(&mut plan, t, Fault::BucketErrors(f));
                at(&mut plan, t + d, Fault::BucketHealthy);
            }
            4 => {
                at(&mut plan, t, Fault::Latency(rng.random_range(5..400)));
                at(&mut plan, t + d, Fault::Latency(0));
            }
            5 => at(
                &mut plan,
                t,
                Fault::Jump(rng.random_range(swarm.grace_ms / 10..=swarm.grace_ms * 3 / 2)),
            ),
            6 => {
                let h = 3_600_000i64;
                at(
                    &mut plan,
                    t,
                    Fault::Skew(slot, rng.random_range(-3 * h..3 * h)),
                );
            }
            _ => at(&mut plan, t, Fault::Bounce(slot)),
        }
    }
    plan
}

/// Runs seed `seed`.
pub fn run_seed(seed: u64, options: &Options) -> Outcome {
    let swarm = Swarm::draw(seed, options);
    let described = swarm.describe();
    let tmp = tempfile::Builder::new()
        .prefix("bae-sim-")
        .tempdir()
        .expect("temporary directory");
    let mut rng = StdRng::seed_from_u64(mix(&[seed, 0xd1]));
    let hour = 3_600_000i64;
    let ahead = swarm.ahead_48h.then(|| rng.random_range(0..swarm.devices));
    let slots: Vec<Slot> = (0..swarm.devices)
        .map(|i| {
            let dir = tmp.path().join(name(i));
            std::fs::create_dir_all(&dir).expect("device directory");
            let skew_ms = if ahead == Some(i) {
                48 * hour
            } else if swarm.skew {
                rng.random_range(-2 * hour..2 * hour)
            } else {
                0
            };
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&mix(&[seed, i as u64, 0xdd]).to_le_bytes());
            id[8..].copy_from_slice(&mix(&[seed, i as u64, 0xee]).to_le_bytes());
            Slot {
                name: name(i),
                dir,
                id: DeviceId::from_bytes(id),
                skew_ms,
                installed: i < swarm.devices - swarm.late_devices,
                incarnation: 0,
                backup: None,
                restored: false,
                restored_since_id: false,
                crashed: false,
                busy: "idle",
                quiet_since: None,
                last_error: None,
                gc: None,
                local_strings: Vec::new(),
                may_gc: ahead != Some(i) || options.skewed_gc,
            }
        })
        .collect();
    DRIVER_NOW.with(|n| *n.lock().expect("clock") = Duration::ZERO);
    let world = World::new(seed, swarm.clone(), tmp.path().to_owned(), slots);
    world.event(format!("seed {seed}: {described}"));

    #[cfg(feature = "planted-bugs")]
    bae_merge::planted::set(options.plant.as_deref().unwrap_or("none"));

    quiet_panics();
    LAST_PANIC.with(|p| p.borrow_mut().take());
    IN_SEED.with(|f| f.set(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| drive(&world, &swarm, &mut rng)));
    IN_SEED.with(|f| f.set(false));
    if result.is_err() {
        let msg = LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".to_owned());
        let busy: Vec<String> = world
            .state()
            .slots
            .iter()
            .map(|s| format!("{}: {}", s.name, s.busy))
            .collect();
        let (invariant, msg) = explain_panic(&msg);
        world.violation(
            invariant,
            format!("{msg} (devices were: {})", busy.join(", ")),
        );
    }
    if std::env::var_os("BAE_SIM_KEEP").is_some() {
        eprintln!("bae-sim: keeping {}", tmp.keep().display());
    }
    let s = world.state();
    let fingerprint = mix(&[
        s.digest,
        s.stats.events,
        s.stats.writes,
        s.stats.requests,
        s.committed.len() as u64,
        world.store().writes,
    ]);
    Outcome {
        seed,
        violations: s.violations.clone(),
        trace: s.trace.iter().cloned().collect(),
        stats: s.stats.clone(),
        swarm: described,
        fingerprint,
    }
}

fn drive(world: &Arc<World>, swarm: &Swarm, rng: &mut StdRng) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(world.seed)
        .tick_duration(TICK)
        .simulation_duration(Duration::from_secs(100_000))
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_MS))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build();
    let service = crate::s3::MemS3::service(Arc::clone(world));
    sim.host(crate::net::S3_HOST, move || {
        crate::net::serve(service.clone())
    });
    for slot in 0..swarm.devices {
        let w = Arc::clone(world);
        sim.host(name(slot), move || {
            crate::device::host(Arc::clone(&w), slot)
        });
    }
    let set_now =
        |sim: &turmoil::Sim<'_>| DRIVER_NOW.with(|n| *n.lock().expect("clock") = sim.elapsed());
    // The bucket must exist before anyone uses it.
    sim.client("admin", async {
        let client = crate::net::s3_client(&crate::net::partition_name(0, usize::MAX, 0));
        client
            .create_bucket()
            .bucket(crate::net::BUCKET)
            .send()
            .await
            .map_err(|e| format!("create bucket: {e:?}"))?;
        Ok(())
    });
    while !sim.step().expect("simulation step") {}

    let steps = swarm.chaos_secs * 1000 / TICK.as_millis() as u64;
    let plan = schedule(swarm, rng, steps);
    for step in 0..steps {
        if let Some(faults) = plan.get(&step) {
            for f in faults {
                inject(world, &mut sim, f.clone());
            }
        }
        sim.step().expect("simulation step");
        set_now(&sim);
        if world.state().violations.len() > 3 {
            return;
        }
    }

    // Heal everything and let the devices sync until nothing changes.
    world.event("heal: repair links, restart devices, healthy bucket");
    let n = swarm.devices;
    for slot in 0..n {
        sim.repair(name(slot), crate::net::S3_HOST);
        sim.release(name(slot), crate::net::S3_HOST);
        let crashed = std::mem::take(&mut world.state().slots[slot].crashed);
        if crashed {
            sim.bounce(name(slot));
        }
        world.state().slots[slot].installed = true;
    }
    sim.set_max_message_latency(Duration::from_millis(20));
    {
        let mut s = world.state();
        s.faults = BucketFaults::default();
        s.phase = Phase::Quiesce;
        s.last_work = sim.elapsed();
    }
    let limit = sim.elapsed() + Duration::from_secs(600);
    loop {
        sim.step().expect("simulation step");
        set_now(&sim);
        let s = world.state();
        let quiet = s
            .slots
            .iter()
            .all(|sl| sl.quiet_since.is_some_and(|t| t > s.last_work));
        if quiet {
            break;
        }
        if sim.elapsed() > limit {
            let why: Vec<String> = s
                .slots
                .iter()
                .map(|sl| {
                    format!(
                        "{}: {}",
                        sl.name,
                        sl.last_error.clone().unwrap_or_else(|| "syncing".into())
                    )
                })
                .collect();
            drop(s);
            world.violation(
                "quiescence",
                format!("devices did not converge within 600 s: {}", why.join("; ")),
            );
            return;
        }
    }
    world.event("quiescent");
    world.state().phase = Phase::Done;
    for slot in 0..n {
        sim.crash(name(slot));
    }
    drop(sim);
    for violation in crate::check::final_checks(world) {
        world.violation(violation.invariant, violation.detail);
    }
}

fn inject(world: &Arc<World>, sim: &mut turmoil::Sim<'_>, fault: Fault) {
    let s3 = crate::net::S3_HOST;
    match fault {
        Fault::Partition(slot) => {
            world.fault(format!("partition {} from the bucket", name(slot)));
            sim.partition(name(slot), s3);
        }
        Fault::Repair(slot) => {
            world.event(format!("repair {}", name(slot)));
            sim.repair(name(slot), s3);
        }
        Fault::Hold(slot) => {
            world.fault(format!("hold {}'s link (timeouts)", name(slot)));
            sim.hold(name(slot), s3);
        }
        Fault::Release(slot) => {
            world.event(format!("release {}", name(slot)));
            sim.release(name(slot), s3);
        }
        Fault::Crash(slot) => {
            let busy = world.state().slots[slot].busy;
            if world.state().slots[slot].crashed {
                return;
            }
            world.fault(format!("crash {} while {busy}", name(slot)));
            sim.crash(name(slot));
            world.state().slots[slot].crashed = true;
        }
        Fault::Restart(slot) => {
            if std::mem::take(&mut world.state().slots[slot].crashed) {
                world.event(format!("restart {}", name(slot)));
                sim.bounce(name(slot));
            }
        }
        Fault::Bounce(slot) => {
            let (busy, crashed) = {
                let s = world.state();
                (s.slots[slot].busy, s.slots[slot].crashed)
            };
            if !crashed {
                world.fault(format!("bounce {} while {busy}", name(slot)));
                sim.bounce(name(slot));
            }
        }
        Fault::BucketErrors(f) => {
            world.fault(format!("bucket misbehaves: {f:?}"));
            let mut s = world.state();
            s.faults = BucketFaults {
                latency_ms: s.faults.latency_ms,
                ..f
            };
        }
        Fault::BucketHealthy => {
            world.event("bucket healthy");
            let latency = world.state().faults.latency_ms;
            world.state().faults = BucketFaults {
                latency_ms: latency,
                ..BucketFaults::default()
            };
        }
        Fault::Latency(ms) => {
            if ms > 0 {
                world.fault(format!("latency up to {ms} ms"));
            }
            world.state().faults.latency_ms = ms;
            sim.set_max_message_latency(Duration::from_millis(20 + ms / 4));
        }
        Fault::Jump(ms) => {
            world.fault(format!("{} min pass with nothing happening", ms / 60_000));
            world.state().jumped_ms += ms;
        }
        Fault::Skew(slot, ms) => {
            if world.state().slots[slot].skew_ms == 48 * 3_600_000 {
                return;
            }
            world.fault(format!("{}'s clock now off by {} s", name(slot), ms / 1000));
            world.state().slots[slot].skew_ms = ms;
        }
        Fault::Backup(slot) => backup(world, slot),
        Fault::Restore(slot) => restore(world, sim, slot),
        Fault::Install(slot) => {
            world.event(format!("install new device {}", name(slot)));
            world.state().slots[slot].installed = true;
        }
    }
}

/// Copies a device's database aside (SQLite's `VACUUM INTO`, a consistent
/// copy even while the device runs).
fn backup(world: &World, slot: usize) {
    let (dir, installed) = {
        let s = world.state();
        (s.slots[slot].dir.clone(), s.slots[slot].installed)
    };
    let db = dir.join("library.db");
    if !installed || !db.exists() {
        return;
    }
    let path = dir.join("backup.db");
    let _ = std::fs::remove_file(&path);
    let seq = (|| -> rusqlite::Result<u64> {
        let conn = rusqlite::Connection::open(&db)?;
        conn.execute("VACUUM INTO ?", [path.to_string_lossy().as_ref()])?;
        let backup = rusqlite::Connection::open(&path)?;
        backup.query_row("SELECT coalesce(max(seq), 0) FROM op_log", [], |r| r.get(0))
    })();
    match seq {
        Ok(seq) => {
            world.event(format!("backup of {} at seq {seq}", name(slot)));
            world.state().slots[slot].backup = Some((path, seq));
        }
        Err(e) => world.event(format!("backup of {} failed: {e}", name(slot))),
    }
}

/// Stops a device, puts its old backup back, and starts it again. Its next
/// push must be refused if its history in the bucket went further.
fn restore(world: &Arc<World>, sim: &mut turmoil::Sim<'_>, slot: usize) {
    let (backup, dir, id) = {
        let s = world.state();
        let sl = &s.slots[slot];
        (sl.backup.clone(), sl.dir.clone(), sl.id)
    };
    let Some((path, seq)) = backup else {
        return;
    };
    world.fault(format!(
        "restore {} from its backup at seq {seq}",
        name(slot)
    ));
    sim.crash(name(slot));
    for f in ["library.db-wal", "library.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::copy(&path, dir.join("library.db")).expect("restore the backup");
    crate::check::discard_unpushed_after(world, id, seq);
    let heads = crate::check::heads_now(world);
    let ahead = heads
        .values()
        .any(|(_, h)| h.device_id == id && h.seq > seq);
    {
        let mut s = world.state();
        s.stats.restores += 1;
        s.slots[slot].restored = ahead;
        s.slots[slot].restored_since_id = true;
        s.slots[slot].crashed = false;
    }
    sim.bounce(name(slot));
}

/// Turns a panic message into an invariant and a short detail: the merge's
/// cross-check shows the first line where the fast merge and the reference
/// differ, not both dumps.
fn explain_panic(msg: &str) -> (&'static str, String) {
    let unquote = |s: &str| -> String {
        let s = s.trim();
        serde_json::from_str::<String>(s).unwrap_or_else(|_| s.to_owned())
    };
    if msg.contains("diverged from the reference merge")
        && let Some((head, rest)) = msg.split_once("\n  left: ")
        && let Some((left, right)) = rest.split_once("\n right: ")
    {
        let right = right.trim_end_matches(|c| c != '"');
        let (left, right) = (unquote(left), unquote(right));
        let diff = left
            .lines()
            .zip(right.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("fast: {a}\n    reference: {b}"))
            .unwrap_or_else(|| {
                format!(
                    "fast has {} lines, reference {}",
                    left.lines().count(),
                    right.lines().count()
                )
            });
        return ("merge cross-check", format!("{head}\n    {diff}"));
    }
    let short: String = msg.chars().take(600).collect();
    ("no panic", short)
}

thread_local! {
    /// The message of the last panic on this thread (the first one wins:
    /// a panic in a device task is re-raised by turmoil as another).
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// Whether this thread is running a seed (whose panics are reported as
    /// violations rather than printed).
    static IN_SEED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics are caught per seed and reported as violations: keep their
/// messages, print nothing.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_SEED.with(std::cell::Cell::get) {
                return previous(info);
            }
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".to_owned());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| {
                let mut p = p.borrow_mut();
                if p.is_none() {
                    *p = Some(format!("{msg}{at}"));
                }
            });
        }));
    });
}

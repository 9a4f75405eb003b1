//! Group `crypto`: the chunked object format (64 KiB chunks, each sealed on
//! its own with its associated data) against libsodium sealing the same
//! bytes in one call.
//!
//! Goal (issue #7): chunked encryption and decryption run at least at 0.8x
//! the speed of the single call.

use serde_json::json;

use super::{Context, Group};
use crate::measure::{Timed, timed};
use crate::report::{Figure, GroupReport, RatioStyle, Unit};
use crate::rng::Rng;
use crate::workload::Scale;

/// Chunked against whole-message XChaCha20-Poly1305.
#[derive(Debug, Clone, Copy)]
pub struct Crypto;

/// Least the chunked format's speed may be, as a part of the single call's.
pub const MIN_RATIO: f64 = 0.8;

/// The object size measured at `scale`.
pub fn object_len(scale: Scale) -> usize {
    match scale {
        Scale::Smoke => 1 << 20,
        Scale::Medium | Scale::Large => 64 << 20,
    }
}

/// The bucket path the chunked objects are bound to.
pub const PATH: &str = "storage/be/nc/bae-bench-object";

/// libsodium's XChaCha20-Poly1305-IETF called directly, once per message:
/// the baseline. This module is the benchmark's only `unsafe` code.
pub mod raw {
    #![allow(unsafe_code)]

    use std::ffi::c_ulonglong;

    use libsodium_sys as ffi;

    const TAG_LEN: usize = 16;

    fn init() {
        // SAFETY: `sodium_init` takes no arguments, is thread-safe and may be
        // called any number of times.
        let rc = unsafe { ffi::sodium_init() };
        assert_ne!(rc, -1, "libsodium failed to initialise");
    }

    /// `msg` sealed in one call: ciphertext then the 16-byte tag.
    pub fn seal(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        init();
        let mut out = vec![0u8; msg.len() + TAG_LEN];
        let mut written: c_ulonglong = 0;
        // SAFETY: `out` is writable for `msg.len() + 16` bytes, what libsodium
        // writes; `msg` and `aad` are readable for the lengths passed; `nonce`
        // and `key` have the sizes libsodium reads (24, 32); `nsec` must be
        // null. `out` is a fresh allocation, so nothing aliases it.
        let rc = unsafe {
            ffi::crypto_aead_xchacha20poly1305_ietf_encrypt(
                out.as_mut_ptr(),
                &mut written,
                msg.as_ptr(),
                msg.len() as c_ulonglong,
                aad.as_ptr(),
                aad.len() as c_ulonglong,
                std::ptr::null(),
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        assert_eq!(rc, 0, "crypto_aead_xchacha20poly1305_ietf_encrypt failed");
        assert_eq!(written as usize, out.len());
        out
    }

    /// The plaintext of `sealed`, or `None` if it does not authenticate.
    pub fn open(key: &[u8; 32], nonce: &[u8; 24], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        init();
        let len = sealed.len().checked_sub(TAG_LEN)?;
        let mut out = vec![0u8; len];
        let mut written: c_ulonglong = 0;
        // SAFETY: `out` is writable for `sealed.len() - 16` bytes, the most
        // libsodium writes; `sealed` and `aad` are readable for the lengths
        // passed; `nonce` and `key` have the sizes libsodium reads; `nsec`
        // must be null. `out` is a fresh allocation, so nothing aliases it.
        let rc = unsafe {
            ffi::crypto_aead_xchacha20poly1305_ietf_decrypt(
                out.as_mut_ptr(),
                &mut written,
                std::ptr::null_mut(),
                sealed.as_ptr(),
                sealed.len() as c_ulonglong,
                aad.as_ptr(),
                aad.len() as c_ulonglong,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        (rc == 0 && written as usize == len).then_some(out)
    }
}

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Encrypt,
    RawEncrypt,
    Decrypt,
    RawDecrypt,
}

impl Op {
    const ALL: [Op; 4] = [Op::Encrypt, Op::RawEncrypt, Op::Decrypt, Op::RawDecrypt];

    fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::RawEncrypt => "raw_encrypt",
            Op::Decrypt => "decrypt",
            Op::RawDecrypt => "raw_decrypt",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Op::Encrypt => "chunked encrypt (bae_crypto::encrypt)",
            Op::RawEncrypt => "baseline: libsodium encrypt, one call",
            Op::Decrypt => "chunked decrypt (bae_crypto::decrypt)",
            Op::RawDecrypt => "baseline: libsodium decrypt, one call",
        }
    }
}

/// The inputs: a plaintext, the key, nonce and associated data, and both
/// encryptions of it.
#[derive(Debug)]
pub struct Inputs {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The key.
    pub key: [u8; 32],
    /// The base nonce of the chunked object and the nonce of the raw call.
    pub nonce: [u8; 24],
    /// The raw call's associated data: as long as a chunk's.
    pub aad: Vec<u8>,
    /// `bae_crypto::encrypt` of the plaintext.
    pub object: Vec<u8>,
    /// `raw::seal` of the plaintext.
    pub sealed: Vec<u8>,
}

impl Inputs {
    /// `len` deterministic bytes and their encryptions.
    pub fn new(len: usize) -> Inputs {
        let plaintext = Rng::new(7).bytes(len);
        let key = [7u8; 32];
        let nonce: [u8; 24] = std::array::from_fn(|i| i as u8);
        // tag (10) + path length (8) + path + index (8) + last flag (1)
        let aad = vec![0x5a; 10 + 8 + PATH.len() + 9];
        let object = bae_crypto::encrypt(
            &bae_crypto::LibraryKey::from_bytes(key),
            PATH,
            &plaintext,
            nonce,
        );
        let sealed = raw::seal(&key, &nonce, &aad, &plaintext);
        Inputs {
            plaintext,
            key,
            nonce,
            aad,
            object,
            sealed,
        }
    }

    /// Both decryptions give the plaintext back.
    pub fn check(&self) -> anyhow::Result<()> {
        let key = bae_crypto::LibraryKey::from_bytes(self.key);
        anyhow::ensure!(
            bae_crypto::decrypt(&key, PATH, &self.object)? == self.plaintext,
            "the chunked object does not decrypt to the plaintext"
        );
        anyhow::ensure!(
            raw::open(&self.key, &self.nonce, &self.aad, &self.sealed).as_ref()
                == Some(&self.plaintext),
            "the raw ciphertext does not decrypt to the plaintext"
        );
        Ok(())
    }
}

impl Group for Crypto {
    fn name(&self) -> &'static str {
        "crypto"
    }

    fn title(&self) -> &'static str {
        "chunked XChaCha20-Poly1305 objects against one libsodium call on the same bytes"
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<GroupReport> {
        let len = object_len(ctx.spec.scale);
        let input = Inputs::new(len);
        input.check()?;
        let key = bae_crypto::LibraryKey::from_bytes(input.key);
        // Each measurement is short: more runs than the other groups.
        let runs = if ctx.spec.scale == Scale::Smoke {
            ctx.runs
        } else {
            ctx.runs.max(15)
        };
        let mut times: std::collections::BTreeMap<Op, Vec<Timed>> = Default::default();
        for _ in 0..runs {
            for op in Op::ALL {
                let (out, t) = match op {
                    Op::Encrypt => {
                        timed(|| bae_crypto::encrypt(&key, PATH, &input.plaintext, input.nonce))
                    }
                    Op::RawEncrypt => {
                        timed(|| raw::seal(&input.key, &input.nonce, &input.aad, &input.plaintext))
                    }
                    Op::Decrypt => {
                        let (r, t) = timed(|| bae_crypto::decrypt(&key, PATH, &input.object));
                        (r?, t)
                    }
                    Op::RawDecrypt => {
                        let (r, t) = timed(|| {
                            raw::open(&input.key, &input.nonce, &input.aad, &input.sealed)
                        });
                        (
                            r.ok_or_else(|| anyhow::anyhow!("raw decryption failed"))?,
                            t,
                        )
                    }
                };
                // Dropped after the timer stopped, for every op alike.
                drop(out);
                times.entry(op).or_default().push(t);
            }
        }
        // On-CPU time where the platform gives it: a run of tens of
        // milliseconds on a busy machine is mostly preempted otherwise.
        let speed = |op: Op| {
            let best = Timed::best(&times[&op]);
            len as f64 / best.cpu.unwrap_or(best.wall)
        };
        let on_cpu = times.values().flatten().all(|t| t.cpu.is_some());
        let fig = |op: Op| {
            Figure::new(
                format!("crypto_bytes_per_s.{}", op.name()),
                op.label(),
                Unit::BytesPerSecond,
                speed(op),
            )
        };
        let figures = vec![
            fig(Op::RawEncrypt),
            fig(Op::Encrypt)
                .against(
                    "crypto_bytes_per_s.raw_encrypt",
                    speed(Op::RawEncrypt),
                    RatioStyle::Times,
                )
                .goal_at_least(
                    MIN_RATIO,
                    "chunked encryption runs at >= 0.8x one libsodium call",
                ),
            fig(Op::RawDecrypt),
            fig(Op::Decrypt)
                .against(
                    "crypto_bytes_per_s.raw_decrypt",
                    speed(Op::RawDecrypt),
                    RatioStyle::Times,
                )
                .goal_at_least(
                    MIN_RATIO,
                    "chunked decryption runs at >= 0.8x one libsodium call",
                ),
        ];
        let details = json!({
            "object_bytes": len,
            "chunked_object_bytes": input.object.len(),
            "raw_sealed_bytes": input.sealed.len(),
            "runs": times.iter().map(|(op, t)| (op.name(), t.iter().map(Timed::json).collect::<Vec<_>>()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        });
        let notes = vec![format!(
            "{} MiB of deterministic bytes, best of {runs} runs; throughput over the benchmark \
             thread's {} (wall and CPU times of every run in the JSON). Chunked = the bae-obj-v1 format: \
             {} chunks of 64 KiB, each sealed with its own nonce and associated data (path, index, \
             last flag) into one output buffer, and the decryption of that object. Baseline = one \
             crypto_aead_xchacha20poly1305_ietf_encrypt / _decrypt call over the whole buffer with \
             associated data of a chunk's length, into a freshly allocated buffer. Both outputs are \
             allocated inside the timed span and freed outside it. Both decrypt to the plaintext \
             (checked).",
            len >> 20,
            if on_cpu {
                "on-CPU time (schedstat), as a run lasts tens of milliseconds and wall time on a \
                 busy machine is mostly preemption"
            } else {
                "wall time (no CPU time on this platform)"
            },
            len.div_ceil(65_536)
        )];
        Ok(GroupReport {
            name: self.name().to_owned(),
            title: self.title().to_owned(),
            figures,
            details,
            notes,
        })
    }
}

//! Deterministic audio synthesis for the demo library: short melodies in a
//! few timbres, 16-bit stereo PCM.

use std::f32::consts::TAU;

/// A timbre: how one note sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Voice {
    /// A sine with two soft overtones.
    Sine,
    /// A band-limited square (odd harmonics), darker with each note.
    Square,
    /// A plucked string (Karplus-Strong).
    Pluck,
}

/// A small deterministic generator (SplitMix64), so the same seed always
/// gives the same files.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A float in `[-1, 1)`.
    pub(crate) fn signed(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Semitone offsets of a major pentatonic scale over two octaves.
const SCALE: [i32; 10] = [0, 2, 4, 7, 9, 12, 14, 16, 19, 21];

/// Synthesizes `seconds` of a melody: interleaved stereo `i32` samples in
/// the 16-bit range.
pub(crate) fn melody(
    voice: Voice,
    root_midi: i32,
    seconds: f32,
    sample_rate: u32,
    seed: u64,
) -> Vec<i32> {
    let mut rng = Rng::new(seed);
    let total = (seconds * sample_rate as f32).round().max(1.0) as usize;
    let mut mix = vec![0f32; total * 2];
    let beat = (sample_rate as f32 * (0.18 + 0.04 * rng.below(4) as f32)) as usize;
    let mut start = 0usize;
    let mut note_index = 0usize;
    while start < total {
        let step = SCALE[rng.below(SCALE.len() as u64) as usize];
        let midi = root_midi + step;
        let freq = 440.0 * 2f32.powf((midi - 69) as f32 / 12.0);
        let len = beat * (1 + rng.below(3) as usize);
        let end = (start + len).min(total);
        // Notes alternate gently between left and right.
        let pan = 0.5
            + 0.3
                * if note_index.is_multiple_of(2) {
                    -1.0
                } else {
                    1.0
                };
        let tone = note(voice, freq, end - start, sample_rate, &mut rng);
        for (i, s) in tone.iter().enumerate() {
            mix[(start + i) * 2] += s * (1.0 - pan);
            mix[(start + i) * 2 + 1] += s * pan;
        }
        start = end;
        note_index += 1;
    }
    // A quiet drone under the melody, and fades at both ends.
    let drone = 440.0 * 2f32.powf((root_midi - 12 - 69) as f32 / 12.0);
    let fade = (sample_rate as usize / 20).min(total / 2).max(1);
    mix.chunks_mut(2).enumerate().for_each(|(i, frame)| {
        let d = 0.08 * (TAU * drone * i as f32 / sample_rate as f32).sin();
        let gain = (i.min(total - 1 - i) as f32 / fade as f32).min(1.0);
        for s in frame.iter_mut() {
            *s = (*s + d) * gain;
        }
    });
    mix.iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 0.8 * f32::from(i16::MAX)).round() as i32)
        .collect()
}

fn note(voice: Voice, freq: f32, len: usize, sample_rate: u32, rng: &mut Rng) -> Vec<f32> {
    let sr = sample_rate as f32;
    let attack = (sr * 0.01) as usize;
    let envelope = |i: usize| {
        let a = if i < attack {
            i as f32 / attack.max(1) as f32
        } else {
            1.0
        };
        a * (-3.0 * i as f32 / len.max(1) as f32).exp()
    };
    match voice {
        Voice::Sine => (0..len)
            .map(|i| {
                let t = TAU * freq * i as f32 / sr;
                0.5 * envelope(i) * (t.sin() + 0.3 * (2.0 * t).sin() + 0.1 * (3.0 * t).sin())
            })
            .collect(),
        Voice::Square => {
            let harmonics: Vec<f32> = (0..8)
                .map(|k| (2 * k + 1) as f32)
                .take_while(|h| h * freq < sr / 2.0)
                .collect();
            (0..len)
                .map(|i| {
                    let t = TAU * freq * i as f32 / sr;
                    let s: f32 = harmonics.iter().map(|h| (h * t).sin() / h).sum();
                    0.35 * envelope(i) * s
                })
                .collect()
        }
        Voice::Pluck => {
            // Karplus-Strong: a burst of noise through a delay line with a
            // low-pass filter in its feedback.
            let period = (sr / freq).round().max(2.0) as usize;
            let mut line: Vec<f32> = (0..period).map(|_| rng.signed()).collect();
            let mut out = Vec::with_capacity(len);
            for i in 0..len {
                let j = i % period;
                let next = line[(j + 1) % period];
                let s = line[j];
                line[j] = 0.996 * 0.5 * (s + next);
                out.push(0.6 * s);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn melodies_are_deterministic_and_audible() {
        for voice in [Voice::Sine, Voice::Square, Voice::Pluck] {
            let a = melody(voice, 60, 0.5, 8000, 7);
            assert_eq!(a, melody(voice, 60, 0.5, 8000, 7));
            assert_ne!(a, melody(voice, 60, 0.5, 8000, 8));
            assert_eq!(a.len(), 2 * 4000);
            let peak = a.iter().map(|s| s.abs()).max().unwrap();
            assert!(
                peak > 1000 && peak <= i32::from(i16::MAX),
                "{voice:?}: {peak}"
            );
        }
    }
}

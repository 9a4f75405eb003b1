//! Procedural cover art for the demo library, encoded as PNG.

use crate::synth::Rng;

/// Draws a `size`×`size` cover: a diagonal gradient between two colours
/// picked from `seed`, with a few rings. Returns PNG bytes.
pub(crate) fn cover_png(size: u32, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut colour = || {
        [
            40 + rng.below(200) as u8,
            40 + rng.below(200) as u8,
            40 + rng.below(200) as u8,
        ]
    };
    let (from, to, ring) = (colour(), colour(), colour());
    let rings: Vec<(f32, f32, f32)> = (0..3 + rng.below(3))
        .map(|_| {
            let s = size as f32;
            (
                s * (0.2 + 0.6 * (rng.below(1000) as f32 / 1000.0)),
                s * (0.2 + 0.6 * (rng.below(1000) as f32 / 1000.0)),
                s * (0.08 + 0.2 * (rng.below(1000) as f32 / 1000.0)),
            )
        })
        .collect();
    let mut pixels = Vec::with_capacity((size * size * 3) as usize);
    for y in 0..size {
        for x in 0..size {
            let t = (x + y) as f32 / (2 * size.max(1)) as f32;
            let mut px = [0u8; 3];
            for c in 0..3 {
                px[c] = (f32::from(from[c]) * (1.0 - t) + f32::from(to[c]) * t) as u8;
            }
            for (cx, cy, r) in &rings {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                if (d - r).abs() < size as f32 / 60.0 {
                    px = ring;
                }
            }
            pixels.extend_from_slice(&px);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, size, size);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header into a Vec");
        writer
            .write_image_data(&pixels)
            .expect("PNG data into a Vec");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn covers_are_png() {
        let png = super::cover_png(32, 1);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_ne!(png, super::cover_png(32, 2));
    }
}

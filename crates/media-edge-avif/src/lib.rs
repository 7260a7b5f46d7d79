//! AVIF encoding for the image processor, in a crate of its own for one reason: rav1e's encoder is
//! generic, so it is compiled in whichever crate calls `ravif`. Called from here, through a plain
//! function, it is compiled with this crate's profile (optimised, no debug assertions, see the
//! workspace `Cargo.toml`) instead of the image processor's unoptimised test profile, where one
//! encode took 30 times as long as in a release build.

/// What to encode: interleaved 8-bit pixels with 1 (gray), 3 (RGB) or 4 (RGBA, straight alpha)
/// channels, row by row, exactly `width × height × channels` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 1–100 (ravif's scale over rav1e's quantizer).
    pub quality: u8,
    /// rav1e's speed preset, 1 (slowest, smallest) – 10 (fastest).
    pub speed: u8,
}

/// Encodes an AVIF file (8-bit, 4:4:4, full range; alpha as a separate plane, colour under fully
/// transparent pixels made uniform). rav1e runs in the caller's rayon pool.
#[inline(never)]
pub fn encode(pixels: Pixels<'_>, settings: Settings) -> Result<Vec<u8>, String> {
    let expected = u64::from(pixels.width) * u64::from(pixels.height) * u64::from(pixels.channels);
    if pixels.width == 0 || pixels.height == 0 || pixels.data.len() as u64 != expected {
        return Err(format!(
            "{}×{}×{} pixels in {} bytes",
            pixels.width,
            pixels.height,
            pixels.channels,
            pixels.data.len()
        ));
    }
    let quality = f32::from(settings.quality.clamp(1, 100));
    let encoder = ravif::Encoder::new()
        .with_quality(quality)
        // Alpha edges show more than colour errors (stickers, logos): at least 90.
        .with_alpha_quality(quality.max(90.0))
        .with_speed(settings.speed.clamp(1, 10))
        // 8-bit: 10-bit scored 1 point higher at equal bytes but took 2–3 times as long
        // (docs/benchmarks.md, formats).
        .with_bit_depth(ravif::BitDepth::Eight)
        .with_alpha_color_mode(ravif::AlphaColorMode::UnassociatedClean)
        .with_num_threads(None);
    let (w, h) = (pixels.width as usize, pixels.height as usize);
    let encoded = match pixels.channels {
        4 => {
            let rgba: Vec<ravif::RGBA8> =
                pixels.data.chunks_exact(4).map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3])).collect();
            encoder.encode_rgba(ravif::Img::new(rgba.as_slice(), w, h))
        }
        3 => {
            let rgb: Vec<ravif::RGB8> =
                pixels.data.chunks_exact(3).map(|p| ravif::RGB8::new(p[0], p[1], p[2])).collect();
            encoder.encode_rgb(ravif::Img::new(rgb.as_slice(), w, h))
        }
        1 => {
            let rgb: Vec<ravif::RGB8> = pixels.data.iter().map(|&v| ravif::RGB8::new(v, v, v)).collect();
            encoder.encode_rgb(ravif::Img::new(rgb.as_slice(), w, h))
        }
        n => return Err(format!("{n} channels")),
    };
    encoded.map(|e| e.avif_file).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_an_avif_file_and_refuses_a_mismatched_buffer() {
        let data: Vec<u8> = (0..32 * 16 * 3).map(|i| (i % 251) as u8).collect();
        let avif =
            encode(Pixels { data: &data, width: 32, height: 16, channels: 3 }, Settings { quality: 60, speed: 9 })
                .unwrap();
        assert_eq!(&avif[4..12], b"ftypavif");
        let bad =
            encode(Pixels { data: &data, width: 33, height: 16, channels: 3 }, Settings { quality: 60, speed: 9 });
        assert!(bad.is_err());
    }
}

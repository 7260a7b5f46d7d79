//! An original's own bytes without metadata: what a variant at the original's size can be when
//! it is smaller than anything we would encode (a hand-optimised logo, a small WebP banner).
//!
//! Only what a browser needs to show the image stays: coding data and colour information (ICC
//! profile, gamma, sRGB and cICP chunks). EXIF, XMP, text and timestamps go.

use crate::codecs::jpeg_markers;
use crate::source_format::SourceFormat;

/// `None` when the original cannot be passed through: a format browsers do not all take here, an
/// animation, or a structure we do not recognise.
pub fn strip_metadata(bytes: &[u8], format: SourceFormat) -> Option<Vec<u8>> {
    match format {
        SourceFormat::Jpeg => jpeg_markers::strip_metadata(bytes),
        SourceFormat::Png => strip_png(bytes),
        SourceFormat::WebP => strip_webp(bytes, false),
        SourceFormat::Gif => None,
    }
}

/// An animated WebP without its EXIF and XMP chunks: how an animated WebP original is stored.
pub fn strip_animated_webp(bytes: &[u8]) -> Option<Vec<u8>> {
    strip_webp(bytes, true)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Keeps the chunks that change what is shown. The animation chunks of an APNG go too: what is
/// left is its default image, the one the still variants are made from.
fn strip_png(bytes: &[u8]) -> Option<Vec<u8>> {
    const KEEP: [&[u8; 4]; 13] = [
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV",
        b"cLLI",
    ];
    let mut rest = bytes.strip_prefix(PNG_SIGNATURE)?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(PNG_SIGNATURE);
    loop {
        let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let kind: &[u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let chunk = rest.get(..length.checked_add(12)?)?;
        if KEEP.contains(&kind) {
            out.extend_from_slice(chunk);
        }
        rest = &rest[chunk.len()..];
        if kind == b"IEND" {
            return Some(out);
        }
    }
}

/// A WebP without its EXIF and XMP chunks (and their flags in the VP8X header), or anything after
/// the RIFF size. `None` for an animation unless `animated`.
fn strip_webp(bytes: &[u8], animated: bool) -> Option<Vec<u8>> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WEBP" {
        return None;
    }
    let riff_end = (u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize).checked_add(8)?;
    let mut rest = bytes.get(12..riff_end.min(bytes.len()))?;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..12]);
    while rest.len() >= 8 {
        let kind: &[u8; 4] = rest[..4].try_into().ok()?;
        let length = u32::from_le_bytes(rest[4..8].try_into().ok()?) as usize;
        let padded = length.checked_add(8 + length % 2)?;
        let chunk = rest.get(..padded).or_else(|| rest.get(..length + 8))?;
        match kind {
            b"ANIM" | b"ANMF" if !animated => return None,
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut header = chunk.to_vec();
                *header.get_mut(8)? &= !(0x08 | 0x04); // EXIF, XMP flags
                out.extend_from_slice(&header);
            }
            _ => out.extend_from_slice(chunk),
        }
        rest = &rest[chunk.len()..];
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&[0, 0, 0, 0]); // CRC: copied as it is
        chunk
    }

    #[test]
    fn png_keeps_image_and_colour_chunks() {
        let parts = [
            png_chunk(b"IHDR", &[0; 13]),
            png_chunk(b"tEXt", b"Software\0Photoshop"),
            png_chunk(b"iCCP", b"p\0\0zz"),
            png_chunk(b"eXIf", b"MM\0*"),
            png_chunk(b"acTL", &[0; 8]),
            png_chunk(b"IDAT", b"pixels"),
            png_chunk(b"IEND", b""),
        ];
        let mut png = PNG_SIGNATURE.to_vec();
        parts.iter().for_each(|p| png.extend_from_slice(p));
        png.extend_from_slice(b"trailing junk");
        let mut expected = PNG_SIGNATURE.to_vec();
        for i in [0, 2, 5, 6] {
            expected.extend_from_slice(&parts[i]);
        }
        assert_eq!(strip_metadata(&png, SourceFormat::Png), Some(expected));
        assert_eq!(strip_metadata(&png[..40], SourceFormat::Png), None, "truncated");
    }

    fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut out = b"RIFF\0\0\0\0WEBP".to_vec();
        for (kind, data) in chunks {
            out.extend_from_slice(*kind);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(0);
            }
        }
        let size = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&size.to_le_bytes());
        out
    }

    #[test]
    fn webp_loses_exif_and_xmp_and_their_flags() {
        let mut vp8x = [0u8; 10];
        vp8x[0] = 0x20 | 0x08 | 0x04;
        let with =
            riff(&[(b"VP8X", &vp8x), (b"ICCP", b"abc"), (b"VP8 ", b"frame"), (b"EXIF", b"MM"), (b"XMP ", b"<x/>")]);
        let mut clean_vp8x = [0u8; 10];
        clean_vp8x[0] = 0x20;
        let without = riff(&[(b"VP8X", &clean_vp8x), (b"ICCP", b"abc"), (b"VP8 ", b"frame")]);
        assert_eq!(strip_metadata(&with, SourceFormat::WebP), Some(without));
        let animated = riff(&[(b"VP8X", &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (b"ANIM", &[0; 6]), (b"ANMF", b"f")]);
        assert_eq!(strip_metadata(&animated, SourceFormat::WebP), None);
        let mut tagged = riff(&[
            (b"VP8X", &[2 | 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            (b"ANIM", &[0; 6]),
            (b"ANMF", b"f"),
            (b"EXIF", b"GPS"),
        ]);
        tagged.extend_from_slice(b"appended zip");
        assert_eq!(strip_animated_webp(&tagged), Some(animated));
        let simple = riff(&[(b"VP8L", b"lossless")]);
        assert_eq!(strip_metadata(&simple, SourceFormat::WebP), Some(simple.clone()));
    }
}

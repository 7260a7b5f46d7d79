//! The probe uploads, made here so the smoke test needs no files: a photo, a PNG with alpha and a
//! small animated GIF, under names holding a space, a `+` and Hangul (what real uploads hold).

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use crate::error::DoctorError;

pub struct Probe {
    /// `photo`, `alpha`, `animation`, `gone`.
    pub label: &'static str,
    /// File name under the run's prefix.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Large enough for every default variant (the PC one is 1920 wide at most; smaller originals
/// are not enlarged, and still give every variant).
const PHOTO: (u32, u32) = (1600, 1200);

pub fn probes() -> Result<Vec<Probe>, DoctorError> {
    Ok(vec![
        Probe { label: "photo", name: "photo 1+1 사진.jpg", content_type: "image/jpeg", bytes: photo()? },
        Probe { label: "alpha", name: "alpha +투명.png", content_type: "image/png", bytes: alpha()? },
        Probe { label: "animation", name: "animated 1+1 움짤.gif", content_type: "image/gif", bytes: animation()? },
    ])
}

/// Uploaded and deleted at once: the processor must report it gone, not forbidden.
pub fn gone() -> Result<Probe, DoctorError> {
    Ok(Probe {
        label: "gone",
        name: "gone +삭제.jpg",
        content_type: "image/jpeg",
        bytes: encode_jpeg(&scene(320, 240))?,
    })
}

/// Smooth gradients with some texture, so every encoder has real work and nothing is flat.
fn scene(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let fx = x as f32 / width as f32;
        let fy = y as f32 / height as f32;
        let ripple = ((x as f32 / 17.0).sin() * (y as f32 / 23.0).cos() * 24.0) as i32;
        let c = |v: f32| (v * 255.0) as i32 + ripple;
        Rgb([c(fx).clamp(0, 255) as u8, c(fy).clamp(0, 255) as u8, c(1.0 - fx * fy).clamp(0, 255) as u8])
    })
}

fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>, DoctorError> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Jpeg).map_err(|e| DoctorError::Probe(format!("JPEG: {e}")))?;
    Ok(out.into_inner())
}

fn photo() -> Result<Vec<u8>, DoctorError> {
    encode_jpeg(&scene(PHOTO.0, PHOTO.1))
}

fn alpha() -> Result<Vec<u8>, DoctorError> {
    let (w, h) = (800, 600);
    let base = scene(w, h);
    // A disc, opaque in the middle and fading to fully transparent at its edge.
    let img = RgbaImage::from_fn(w, h, |x, y| {
        let Rgb([r, g, b]) = *base.get_pixel(x, y);
        let dx = x as f32 - w as f32 / 2.0;
        let dy = y as f32 - h as f32 / 2.0;
        let d = (dx * dx + dy * dy).sqrt() / (h as f32 / 2.0);
        Rgba([r, g, b, ((1.0 - d).clamp(0.0, 1.0) * 255.0) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).map_err(|e| DoctorError::Probe(format!("PNG: {e}")))?;
    Ok(out.into_inner())
}

fn animation() -> Result<Vec<u8>, DoctorError> {
    let (w, h) = (160, 120);
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder.set_repeat(Repeat::Infinite).map_err(|e| DoctorError::Probe(format!("GIF: {e}")))?;
        for i in 0..8u32 {
            // A square moving across the gradient: every frame differs.
            let base = scene(w, h);
            let frame = RgbaImage::from_fn(w, h, |x, y| {
                let inside = x >= i * 16 && x < i * 16 + 32 && (40..80).contains(&y);
                let Rgb([r, g, b]) = *base.get_pixel(x, y);
                if inside {
                    Rgba([255, 255, 255, 255])
                } else {
                    Rgba([r, g, b, 255])
                }
            });
            encoder
                .encode_frame(Frame::from_parts(frame, 0, 0, Delay::from_numer_denom_ms(100, 1)))
                .map_err(|e| DoctorError::Probe(format!("GIF: {e}")))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_probe_is_the_format_its_name_says() {
        for probe in probes().unwrap().into_iter().chain([gone().unwrap()]) {
            let format = image::guess_format(&probe.bytes).unwrap();
            let expected = match probe.content_type {
                "image/jpeg" => ImageFormat::Jpeg,
                "image/png" => ImageFormat::Png,
                _ => ImageFormat::Gif,
            };
            assert_eq!(format, expected, "{}", probe.name);
        }
        let gif = image::codecs::gif::GifDecoder::new(Cursor::new(animation().unwrap())).unwrap();
        use image::AnimationDecoder;
        assert_eq!(gif.into_frames().count(), 8);
    }
}

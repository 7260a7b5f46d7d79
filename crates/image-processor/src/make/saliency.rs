//! Where a picture's interest is, when the uploader did not say: in the spirit of libvips'
//! `attention` smart crop, each pixel of a small copy scores for edges (detail draws the eye), skin
//! tones (people) and saturation (products, logos); the map is blurred so a region beats a lone
//! pixel, and its peak is the focus. Cheap by design: it runs on a copy about 128 px wide.

use crate::crop::Focus;

/// The width the caller shrinks the picture to before [`focus`] (a few thousand pixels).
pub const WORK_WIDTH: u32 = 128;

/// A peak below this (on a 0–3 scale) is no interest at all: a flat picture is cropped centred.
const FLAT: f32 = 0.02;

/// The focus of `pixels` (`channels` 1, 3 or 4 per pixel, rows of `width`), or `None` when nothing
/// stands out (a flat picture) or the buffer does not match its size.
pub fn focus(pixels: &[u8], width: u32, height: u32, channels: u8) -> Option<Focus> {
    let (w, h, c) = (width as usize, height as usize, usize::from(channels));
    if w < 3 || h < 3 || !(1..=4).contains(&c) || pixels.len() < w * h * c {
        return None;
    }
    let rgb = |i: usize| -> (f32, f32, f32) {
        let p = &pixels[i * c..i * c + c];
        match c {
            1 | 2 => (f32::from(p[0]), f32::from(p[0]), f32::from(p[0])),
            _ => (f32::from(p[0]), f32::from(p[1]), f32::from(p[2])),
        }
    };
    let luma: Vec<f32> = (0..w * h)
        .map(|i| {
            let (r, g, b) = rgb(i);
            0.299 * r + 0.587 * g + 0.114 * b
        })
        .collect();
    let mut score = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            // Sobel on luma, inside the border.
            let edge = if x > 0 && y > 0 && x + 1 < w && y + 1 < h {
                let at = |dx: isize, dy: isize| luma[((y as isize + dy) as usize) * w + (x as isize + dx) as usize];
                let gx = at(1, -1) + 2.0 * at(1, 0) + at(1, 1) - at(-1, -1) - 2.0 * at(-1, 0) - at(-1, 1);
                let gy = at(-1, 1) + 2.0 * at(0, 1) + at(1, 1) - at(-1, -1) - 2.0 * at(0, -1) - at(1, -1);
                ((gx.abs() + gy.abs()) / 255.0).min(1.0)
            } else {
                0.0
            };
            let (r, g, b) = rgb(i);
            // Skin in YCbCr (the classic Chai & Ngan box), away from the darkest pixels.
            let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
            let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
            let skin =
                if (77.0..=127.0).contains(&cb) && (133.0..=173.0).contains(&cr) && luma[i] > 50.0 { 1.0 } else { 0.0 };
            // Saturation, counted only where it is strong (a tinted sky or wall is not a subject).
            let (max, min) = (r.max(g).max(b), r.min(g).min(b));
            let saturation = if max > 40.0 { (max - min) / max } else { 0.0 };
            let saturated = ((saturation - 0.45) / 0.55).clamp(0.0, 1.0);
            score[i] = edge + 0.8 * skin + 0.6 * saturated;
        }
    }
    let radius = (w.min(h) / 12).max(1);
    let blurred = box_blur(&box_blur(&score, w, h, radius), w, h, radius);
    let (best, peak) =
        blurred.iter().enumerate().fold((0, f32::MIN), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    if peak < FLAT {
        return None;
    }
    let (x, y) = (best % w, best / w);
    Some(Focus::Point { x: (x as f64 + 0.5) / w as f64, y: (y as f64 + 0.5) / h as f64 })
}

/// A box blur of `radius` along rows then columns (twice is near a Gaussian).
fn box_blur(values: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &values[y * w..(y + 1) * w];
        let mut prefix = vec![0.0f32; w + 1];
        for x in 0..w {
            prefix[x + 1] = prefix[x] + row[x];
        }
        for x in 0..w {
            let (a, b) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            rows[y * w + x] = (prefix[b] - prefix[a]) / (b - a) as f32;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for x in 0..w {
        let mut prefix = vec![0.0f32; h + 1];
        for y in 0..h {
            prefix[y + 1] = prefix[y] + rows[y * w + x];
        }
        for y in 0..h {
            let (a, b) = (y.saturating_sub(radius), (y + radius + 1).min(h));
            out[y * w + x] = (prefix[b] - prefix[a]) / (b - a) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(w: usize, h: usize) -> Vec<u8> {
        // A gentle gradient: no edges, no skin, little saturation.
        (0..w * h)
            .flat_map(|i| {
                let v = 90 + ((i % w) * 60 / w) as u8;
                [v, v + 5, v + 10]
            })
            .collect()
    }

    #[test]
    fn a_flat_picture_has_no_focus_and_a_wrong_buffer_is_refused() {
        assert_eq!(focus(&canvas(128, 40), 128, 40, 3), None);
        assert_eq!(focus(&[0; 10], 128, 40, 3), None);
    }

    #[test]
    fn detail_skin_and_colour_each_draw_the_focus() {
        let (w, h) = (128usize, 40usize);
        // Stripes (detail) near the right.
        let mut stripes = canvas(w, h);
        for y in 10..30 {
            for x in 100..116 {
                let v = if x % 2 == 0 { 20 } else { 235 };
                stripes[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[v, v, v]);
            }
        }
        // A skin-toned disc near the left.
        let mut skin = canvas(w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - 20.0, y as f32 - 20.0);
                if dx * dx + dy * dy < 100.0 {
                    skin[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[224, 172, 140]);
                }
            }
        }
        // A saturated red block in the middle.
        let mut red = canvas(w, h);
        for y in 12..28 {
            for x in 56..72 {
                red[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[220, 20, 30]);
            }
        }
        for (pixels, expected_x) in [(stripes, 108.0), (skin, 20.0), (red, 64.0)] {
            let Some(Focus::Point { x, y }) = focus(&pixels, w as u32, h as u32, 3) else { panic!("no focus") };
            assert!((x * w as f64 - expected_x).abs() < 8.0, "x {} not near {expected_x}", x * w as f64);
            assert!((y * h as f64 - 20.0).abs() < 8.0, "y {}", y * h as f64);
        }
    }
}

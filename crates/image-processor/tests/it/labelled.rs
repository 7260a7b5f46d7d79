//! The labelled set of art direction's quality bar: pictures with one subject at a known box (a
//! face, a product, a block of text) on a quiet background, in banner, portrait and photo shapes,
//! each with the shape to crop it to. Made here, deterministically: the tests
//! (`art_direction.rs`) and `cargo run --example crop-hits` (ours against libvips' smartcrop) use
//! the same pictures.

use image::{Rgb, RgbImage};
use image_processor::crop::{crop_box, Aspect, CropBox, Focus, FocusSource};
use image_processor::make::render::automatic_focus;

/// A deterministic generator (xorshift), so the set is the same on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Subject {
    /// A skin-toned oval with eyes and a mouth.
    Face,
    /// A saturated product shape with a highlight.
    Product,
    /// Lines of dark text on a light card.
    Text,
}

/// One labelled picture: the image, its subject's box, and the shape to crop to.
pub struct Labelled {
    pub name: String,
    pub image: RgbImage,
    pub subject: CropBox,
    pub aspect: Aspect,
    /// On a busy background (scattered muted strokes, like foliage): detail that is not the subject.
    pub busy: bool,
}

/// The set: 3 subjects × 4 canvases (two banners, a portrait, a square-ish photo) × 6 positions,
/// each cropped to the shape that cuts the most (1:1 or 4:5 of a banner, 16:9 of a portrait);
/// four positions on a quiet background, two on a busy one.
pub fn labelled_set() -> Vec<Labelled> {
    let mut random = Random(0x5eed_c0ff_ee11_2233);
    let canvases = [(1920u32, 600u32, "4x5"), (1600, 500, "1x1"), (900, 1400, "16x9"), (1200, 900, "4x5")];
    let mut set = Vec::new();
    for subject in [Subject::Face, Subject::Product, Subject::Text] {
        for &(w, h, shape) in &canvases {
            let Some(aspect) = Aspect::parse(shape) else { continue };
            // The subject is a third of the box's short side: it always fits in the crop.
            let full = crop_box(w, h, aspect, Focus::Point { x: 0.5, y: 0.5 });
            let size = full.width.min(full.height) / 3;
            for position in 0..6 {
                let busy = position >= 4;
                let x = random.below(w - size);
                let y = random.below(h - size);
                let subject_box = CropBox { x, y, width: size, height: size };
                let image = paint(w, h, subject, subject_box, busy, &mut random);
                let background = if busy { "busy" } else { "quiet" };
                set.push(Labelled {
                    name: format!("{subject:?}-{w}x{h}-{shape}-{background}-{position}"),
                    image,
                    subject: subject_box,
                    aspect,
                    busy,
                });
            }
        }
    }
    set
}

/// A quiet background (a soft two-colour gradient with faint grain, like sky or a studio wall),
/// when `busy` with muted strokes scattered over it (foliage, a patterned cloth), and the subject
/// inside `at`.
fn paint(w: u32, h: u32, subject: Subject, at: CropBox, busy: bool, random: &mut Random) -> RgbImage {
    let (top, bottom) = ([150u8, 170, 190], [205u8, 200, 185]);
    let mut image = RgbImage::from_fn(w, h, |_, y| {
        let t = y as f32 / h as f32;
        let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
        Rgb([mix(top[0], bottom[0]), mix(top[1], bottom[1]), mix(top[2], bottom[2])])
    });
    for pixel in image.pixels_mut() {
        let grain = (random.below(7) as i16) - 3;
        for c in &mut pixel.0 {
            *c = (i16::from(*c) + grain).clamp(0, 255) as u8;
        }
    }
    if busy {
        // Strokes 3 px wide, 20-60 px long, in muted greens and greys, all over the picture.
        let strokes = (w * h / 800).max(200);
        for _ in 0..strokes {
            let (x0, y0) = (random.below(w) as f32, random.below(h) as f32);
            let length = 20 + random.below(40);
            let angle = random.below(628) as f32 / 100.0;
            let shade = 60 + random.below(110) as u8;
            let colour = Rgb([shade, shade.saturating_add(12), shade.saturating_sub(8)]);
            for step in 0..length {
                let (x, y) = (x0 + angle.cos() * step as f32, y0 + angle.sin() * step as f32);
                for (dx, dy) in [(0i32, 0i32), (1, 0), (0, 1)] {
                    let (px, py) = (x as i32 + dx, y as i32 + dy);
                    if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                        image.put_pixel(px as u32, py as u32, colour);
                    }
                }
            }
        }
    }
    let (cx, cy, r) =
        (at.x as f32 + at.width as f32 / 2.0, at.y as f32 + at.height as f32 / 2.0, at.width as f32 / 2.0);
    for y in at.y..at.y + at.height {
        for x in at.x..at.x + at.width {
            let (dx, dy) = ((x as f32 - cx) / r, (y as f32 - cy) / r);
            let colour = match subject {
                Subject::Face => {
                    let inside = dx * dx / 0.55 + dy * dy / 0.85 < 1.0;
                    let eye = ((dx.abs() - 0.3).powi(2) + (dy + 0.25).powi(2)) < 0.012;
                    let mouth = dy > 0.35 && dy < 0.45 && dx.abs() < 0.3;
                    match (inside, eye || mouth) {
                        (true, true) => Some([60, 35, 30]),
                        (true, false) => Some([224, 172, 140]),
                        _ => None,
                    }
                }
                Subject::Product => {
                    let inside = dx.abs() < 0.7 && dy.abs() < 0.9;
                    let highlight = dx > 0.3 && dx < 0.45 && dy.abs() < 0.6;
                    match (inside, highlight) {
                        (true, true) => Some([250, 230, 230]),
                        (true, false) => Some([200, 25, 40]),
                        _ => None,
                    }
                }
                Subject::Text => {
                    let card = dx.abs() < 0.95 && dy.abs() < 0.95;
                    let line = ((dy + 1.0) * 6.0).fract() < 0.45 && dy.abs() < 0.8 && dx.abs() < 0.8;
                    let letter = ((dx + 1.0) * 14.0).fract() < 0.7;
                    match (card, line && letter) {
                        (true, true) => Some([25, 25, 30]),
                        (true, false) => Some([245, 245, 240]),
                        _ => None,
                    }
                }
            };
            if let Some(c) = colour {
                image.put_pixel(x, y, Rgb(c));
            }
        }
    }
    image
}

/// The crop the pipeline makes for one labelled picture (with `FACES=on`: faces first, then the
/// saliency, as `render`; the set has no real faces, so a face found is a false one).
pub fn automatic_crop(item: &Labelled) -> (CropBox, FocusSource) {
    let (w, h) = item.image.dimensions();
    let (focus, source) = automatic_focus(image::DynamicImage::ImageRgb8(item.image.clone()), true);
    (crop_box(w, h, item.aspect, focus), source)
}

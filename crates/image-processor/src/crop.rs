//! Art direction: a variant with a shape (`VARIANTS=mobile:640:4x5`) is the largest box of that
//! shape the upright original holds, placed around the picture's focus, then scaled down (never
//! up). The focus comes from the uploader (`x-amz-meta-focus`, `media-edge process --focus`) or,
//! without one, from `make::saliency`; with neither it is the centre.
//!
//! Pure geometry in the upright original's pixels: no decoding, no AWS.

use std::fmt;

/// A variant's shape, `4x5` (width by height), reduced (`8x10` is `4x5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aspect {
    pub width: u32,
    pub height: u32,
}

impl Aspect {
    /// `4x5`, `16x9`, `1x1` (also with `:` or `/`); each side 1–100.
    pub fn parse(text: &str) -> Option<Aspect> {
        let (w, h) = text.trim().split_once(['x', 'X', ':', '/'])?;
        let (w, h): (u32, u32) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
        if !(1..=100).contains(&w) || !(1..=100).contains(&h) {
            return None;
        }
        let g = gcd(w, h);
        Some(Aspect { width: w / g, height: h / g })
    }

    /// Height of a variant `width` wide in this shape (at least 1 px).
    pub fn height_for(&self, width: u32) -> u32 {
        let h = (u64::from(width) * u64::from(self.height) + u64::from(self.width) / 2) / u64::from(self.width);
        (h as u32).max(1)
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// What to keep in the picture, in fractions (0–1) of the upright original, left and top first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Focus {
    Point {
        x: f64,
        y: f64,
    },
    /// A rectangle: as much of it as the box holds stays inside, centred.
    Area {
        x: f64,
        y: f64,
        width: f64,
        height: f64,
    },
}

// Its numbers are never NaN (parse refuses them; the saliency makes fractions of whole pixels),
// so equality is total, as settings that contain a focus need.
impl Eq for Focus {}

impl Focus {
    /// `0.72,0.40` (a point) or `0.1,0.2,0.5,0.6` (x, y, width, height), each 0–1, the rectangle
    /// inside the picture. Spaces allowed; anything else is an error saying what is expected.
    pub fn parse(text: &str) -> Result<Focus, String> {
        let expected = "a point x,y or a rectangle x,y,width,height, each a fraction 0-1 of the picture";
        let numbers: Vec<f64> = text
            .split(',')
            .map(|n| n.trim().parse::<f64>().ok().filter(|v| v.is_finite() && (0.0..=1.0).contains(v)))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("focus {text:?} is not {expected}"))?;
        match numbers[..] {
            [x, y] => Ok(Focus::Point { x, y }),
            [x, y, width, height]
                if width > 0.0 && height > 0.0 && x + width <= 1.0 + 1e-9 && y + height <= 1.0 + 1e-9 =>
            {
                Ok(Focus::Area { x, y, width, height })
            }
            _ => Err(format!("focus {text:?} is not {expected} (a rectangle inside the picture)")),
        }
    }

    /// Its centre, in fractions.
    pub fn centre(&self) -> (f64, f64) {
        match *self {
            Focus::Point { x, y } => (x, y),
            Focus::Area { x, y, width, height } => (x + width / 2.0, y + height / 2.0),
        }
    }
}

impl fmt::Display for Focus {
    /// As [`Focus::parse`] reads it, to 3 decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Focus::Point { x, y } => write!(f, "{x:.3},{y:.3}"),
            Focus::Area { x, y, width, height } => write!(f, "{x:.3},{y:.3},{width:.3},{height:.3}"),
        }
    }
}

/// Where a focus came from, for the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusSource {
    /// The upload's `focus` metadata, or `media-edge process --focus`.
    Uploader,
    /// `make::faces`: the rectangle around every face found.
    Faces,
    /// `make::saliency`: edges, skin tones, saturation.
    Saliency,
    /// Nothing stood out: the centre.
    Centre,
}

impl FocusSource {
    pub fn name(self) -> &'static str {
        match self {
            FocusSource::Uploader => "uploader",
            FocusSource::Faces => "faces",
            FocusSource::Saliency => "saliency",
            FocusSource::Centre => "centre",
        }
    }
}

/// A box in the upright original's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The largest `aspect` box inside `width`×`height`, placed so the focus is as centred as the
/// edges allow (an area that fits stays wholly inside).
pub fn crop_box(width: u32, height: u32, aspect: Aspect, focus: Focus) -> CropBox {
    let (w, h) = (u64::from(width.max(1)), u64::from(height.max(1)));
    let (aw, ah) = (u64::from(aspect.width), u64::from(aspect.height));
    // Wider than the shape: full height; otherwise full width.
    let (box_w, box_h) = if w * ah > h * aw {
        (((h * aw + ah / 2) / ah).clamp(1, w), h)
    } else {
        (w, ((w * ah + aw / 2) / aw).clamp(1, h))
    };
    let (cx, cy) = focus.centre();
    let place = |centre: f64, size: u64, whole: u64| -> u32 {
        let start = (centre * whole as f64 - size as f64 / 2.0).round();
        start.clamp(0.0, (whole - size) as f64) as u32
    };
    CropBox { x: place(cx, box_w, w), y: place(cy, box_h, h), width: box_w as u32, height: box_h as u32 }
}

/// The variant's size from a box: `max_width` wide at most (never more than the box), in `aspect`.
pub fn cropped_size(crop: CropBox, aspect: Aspect, max_width: u32) -> (u32, u32) {
    let width = max_width.clamp(1, crop.width);
    (width, aspect.height_for(width).min(crop.height.max(1)))
}

/// How wide a decode the variants need: each variant's width, and for one with a shape, as much
/// more as its box is narrower than the original (a 4:5 box of a 4:1 banner keeps a fifth of its
/// width, so a 640 px variant needs the banner decoded 3,200 px wide).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeededWidth(Vec<(u32, Option<Aspect>)>);

impl NeededWidth {
    pub fn fixed(width: u32) -> Self {
        NeededWidth(vec![(width, None)])
    }

    pub fn of(variants: impl IntoIterator<Item = (u32, Option<Aspect>)>) -> Self {
        NeededWidth(variants.into_iter().collect())
    }

    /// The upright width to decode an original of `width`×`height` at (at most its own).
    pub fn for_upright(&self, width: u32, height: u32) -> Option<u32> {
        self.0
            .iter()
            .map(|&(variant_width, aspect)| match aspect {
                None => u64::from(variant_width),
                Some(aspect) => {
                    let box_width = u64::from(crop_box(width, height, aspect, Focus::Point { x: 0.5, y: 0.5 }).width);
                    (u64::from(variant_width) * u64::from(width)).div_ceil(box_width.max(1))
                }
            })
            .max()
            .map(|needed| needed.min(u64::from(width)) as u32)
    }
}

/// Whether `inner` lies wholly inside `outer` (the quality bar's hit).
pub fn holds(outer: CropBox, inner: CropBox) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.width <= outer.x + outer.width
        && inner.y + inner.height <= outer.y + outer.height
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_focus_parse_and_print() {
        assert_eq!(Aspect::parse("4x5"), Some(Aspect { width: 4, height: 5 }));
        assert_eq!(Aspect::parse("16:9"), Some(Aspect { width: 16, height: 9 }));
        assert_eq!(Aspect::parse("8x10"), Some(Aspect { width: 4, height: 5 }));
        for bad in ["", "4", "0x5", "4x0", "x5", "4x5x6", "101x1", "-1x1"] {
            assert_eq!(Aspect::parse(bad), None, "{bad}");
        }
        assert_eq!(Focus::parse(" 0.72, 0.40 "), Ok(Focus::Point { x: 0.72, y: 0.40 }));
        assert_eq!(Focus::parse("0.1,0.2,0.5,0.6"), Ok(Focus::Area { x: 0.1, y: 0.2, width: 0.5, height: 0.6 }));
        for bad in ["", "0.5", "1.2,0.5", "0.5,NaN", "0.6,0,0.5,1", "0,0,0,1", "a,b", "0.1,0.2,0.3"] {
            assert!(Focus::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Focus::parse("0.72,0.4").unwrap().to_string(), "0.720,0.400");
    }

    #[test]
    fn the_box_is_the_largest_of_its_shape_and_centred_on_the_focus_as_far_as_the_edges_allow() {
        let square = Aspect::parse("1x1").unwrap();
        // A 1920×600 banner, 1:1: full height, around the point.
        let b = crop_box(1920, 600, square, Focus::Point { x: 0.5, y: 0.5 });
        assert_eq!(b, CropBox { x: 660, y: 0, width: 600, height: 600 });
        let b = crop_box(1920, 600, square, Focus::Point { x: 0.9, y: 0.1 });
        assert_eq!(b, CropBox { x: 1320, y: 0, width: 600, height: 600 }, "clamped to the right edge");
        let b = crop_box(1920, 600, square, Focus::Point { x: 0.0, y: 0.5 });
        assert_eq!(b.x, 0);
        // Portrait 1000×2000 to 16:9: full width.
        let wide = Aspect::parse("16x9").unwrap();
        let b = crop_box(1000, 2000, wide, Focus::Point { x: 0.5, y: 0.25 });
        assert_eq!(b, CropBox { x: 0, y: 219, width: 1000, height: 563 });
        // Already the shape: the whole picture.
        assert_eq!(
            crop_box(800, 1000, Aspect::parse("4x5").unwrap(), Focus::Point { x: 0.1, y: 0.9 }),
            CropBox { x: 0, y: 0, width: 800, height: 1000 }
        );
    }

    #[test]
    fn an_area_that_fits_stays_inside_wherever_it_is() {
        let square = Aspect::parse("1x1").unwrap();
        for step in 0..=20 {
            let x = f64::from(step) * 0.04; // 0 … 0.8
            let area = Focus::Area { x, y: 0.3, width: 0.2, height: 0.4 };
            let b = crop_box(2000, 800, square, area);
            let subject = CropBox { x: (x * 2000.0) as u32, y: 240, width: 400, height: 320 };
            assert!(holds(b, subject), "{x}: {b:?}");
        }
        // Larger than the box: centred on it.
        let b = crop_box(2000, 800, square, Focus::Area { x: 0.1, y: 0.0, width: 0.8, height: 1.0 });
        assert_eq!(b.x, 600);
    }

    #[test]
    fn a_shaped_variant_needs_as_much_more_of_the_width_as_its_box_leaves_out() {
        let shape = Aspect::parse("4x5").unwrap();
        let needed = NeededWidth::of([(640, Some(shape)), (1920, None)]);
        // A 4:1 banner 8,000 px wide: the 4:5 box is 1,600 px wide (a fifth): 3,200 px for 640.
        assert_eq!(needed.for_upright(8000, 2000), Some(3200));
        // Narrower originals: never more than the original.
        assert_eq!(needed.for_upright(2400, 600), Some(2400));
        // A portrait original holds the shape at full width: the widest variant decides.
        assert_eq!(needed.for_upright(3000, 4000), Some(1920));
        assert_eq!(NeededWidth::fixed(1024).for_upright(4000, 3000), Some(1024));
        assert_eq!(NeededWidth::default().for_upright(4000, 3000), None);
    }

    #[test]
    fn variants_are_never_upscaled() {
        let shape = Aspect::parse("4x5").unwrap();
        let b = crop_box(1920, 600, shape, Focus::Point { x: 0.5, y: 0.5 });
        assert_eq!((b.width, b.height), (480, 600));
        assert_eq!(cropped_size(b, shape, 640), (480, 600));
        assert_eq!(cropped_size(b, shape, 200), (200, 250));
    }
}

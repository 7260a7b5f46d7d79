//! Faces, for the automatic crop: in a picture of people the faces are what a crop must keep, and
//! the saliency alone (edges, skin, saturation) lets a tie or a table of bright chips outbid them.
//! SeetaFace's frontal detector (the `rustface` crate, its 1.2 MB model embedded from
//! `models/`) runs on a grey copy [`WORK_SHORT_SIDE`] px on its shorter side; every face found becomes
//! one rectangle, the focus. Measured on photos of people (examples/face-hits.rs,
//! docs/pipeline.md "Faces"): what it finds, what it costs, and why this model.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use crate::crop::Focus;

/// The shorter side of the grey copy the detector reads. Its window is 40 px, so a face smaller
/// than a tenth of the picture's shorter side is not found (a face in the crowd, which should not
/// steer the crop anyway). Sized by the shorter side because banners are where crops matter: a
/// 1920×600 banner's faces are a fifth of its height and a sixteenth of its width.
pub const WORK_SHORT_SIDE: u32 = 400;

/// The longer side's cap, which bounds the detector's time on a long strip (a 4000×500 one is read
/// at 1280×160: only faces a quarter of its height or more are found).
pub const WORK_LONG_SIDE_MAX: u32 = 1280;

/// The size of the grey copy for a `width`×`height` picture: never larger than it.
pub fn work_size(width: u32, height: u32) -> (u32, u32) {
    let (short, long) = (width.min(height).max(1), width.max(height).max(1));
    let scale =
        (f64::from(WORK_SHORT_SIDE) / f64::from(short)).min(f64::from(WORK_LONG_SIDE_MAX) / f64::from(long)).min(1.0);
    let at = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (at(width), at(height))
}

/// rustface's window: a copy smaller than this on either side has no room for a face (and the
/// detector refuses it with a panic).
const WINDOW: u32 = 40;

/// Real faces in the measured photos scored 10.9 to 38; the detector's own default of 2.0 also
/// took half a face cut by the picture's edge (2.7). Only the clear ones steer a crop.
const SCORE: f64 = 5.0;

static MODEL_BYTES: &[u8] = include_bytes!("../../models/seeta_fd_frontal_v1.0.bin");

/// The model, parsed once per process (about 5 ms).
fn model() -> Option<&'static rustface::Model> {
    static MODEL: OnceLock<Option<rustface::Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| match rustface::read_model(MODEL_BYTES) {
            Ok(model) => Some(model),
            Err(error) => {
                tracing::error!(%error, "the embedded face model does not load: crops use the saliency");
                None
            }
        })
        .as_ref()
}

/// A face, in fractions (0–1) of the picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Face {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The detector's confidence (above [`SCORE`]).
    pub score: f64,
}

/// The faces in `grey` (one byte per pixel, rows of `width`), largest first. Empty when the
/// picture is too small for the detector, the buffer does not match its size, or the detector
/// fails (a panic inside it is caught and logged: the crop falls back to the saliency).
pub fn find(grey: &[u8], width: u32, height: u32) -> Vec<Face> {
    if width < WINDOW || height < WINDOW || grey.len() != width as usize * height as usize {
        return Vec::new();
    }
    let Some(model) = model() else { return Vec::new() };
    let found = catch_unwind(AssertUnwindSafe(|| {
        let mut detector = rustface::create_detector_with_model(model.clone());
        detector.set_min_face_size(WINDOW);
        detector.set_score_thresh(SCORE);
        detector.set_pyramid_scale_factor(0.8);
        detector.set_slide_window_step(4, 4);
        detector.detect(&rustface::ImageData::new(grey, width, height))
    }));
    let found = match found {
        Ok(found) => found,
        Err(_) => {
            tracing::warn!(width, height, "the face detector failed: crops use the saliency");
            return Vec::new();
        }
    };
    let (w, h) = (f64::from(width), f64::from(height));
    let mut faces: Vec<Face> = found
        .iter()
        .filter_map(|face| {
            let b = face.bbox();
            // Boxes can reach past the edges; keep the part inside.
            let (left, top) = (f64::from(b.x()).max(0.0), f64::from(b.y()).max(0.0));
            let right = (f64::from(b.x()) + f64::from(b.width())).min(w);
            let bottom = (f64::from(b.y()) + f64::from(b.height())).min(h);
            (right > left && bottom > top).then(|| Face {
                x: left / w,
                y: top / h,
                width: (right - left) / w,
                height: (bottom - top) / h,
                score: face.score(),
            })
        })
        .collect();
    faces.sort_by(|a, b| (b.width * b.height).total_cmp(&(a.width * a.height)));
    faces
}

/// The focus that keeps every face: the rectangle around them all (the crop keeps as much of it
/// as fits, centred). None without faces.
pub fn focus(faces: &[Face]) -> Option<Focus> {
    let left = faces.iter().map(|f| f.x).reduce(f64::min)?;
    let top = faces.iter().map(|f| f.y).reduce(f64::min)?;
    let right = faces.iter().map(|f| f.x + f.width).reduce(f64::max)?;
    let bottom = faces.iter().map(|f| f.y + f.height).reduce(f64::max)?;
    Some(Focus::Area { x: left, y: top, width: (right - left).min(1.0), height: (bottom - top).min(1.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_model_loads() {
        assert!(model().is_some());
    }

    #[test]
    fn pictures_too_small_or_wrongly_sized_have_no_faces_and_do_not_panic() {
        assert!(find(&[0; 39 * 100], 39, 100).is_empty());
        assert!(find(&[0; 10], 100, 100).is_empty());
        assert!(find(&[128; 100 * 100], 100, 100).is_empty(), "a flat grey picture has no face");
    }

    #[test]
    fn the_grey_copy_is_400_on_its_shorter_side_at_most_1280_long_and_never_larger() {
        assert_eq!(work_size(1920, 600), (1280, 400));
        assert_eq!(work_size(970, 2204), (400, 909));
        assert_eq!(work_size(4000, 500), (1280, 160));
        assert_eq!(work_size(320, 320), (320, 320));
    }

    #[test]
    fn the_focus_is_the_rectangle_around_every_face() {
        let face = |x, y| Face { x, y, width: 0.1, height: 0.2, score: 10.0 };
        let Some(Focus::Area { x, y, width, height }) = focus(&[face(0.1, 0.5), face(0.6, 0.2)]) else {
            panic!("an area");
        };
        assert!((x - 0.1).abs() < 1e-9 && (y - 0.2).abs() < 1e-9);
        assert!((width - 0.6).abs() < 1e-9 && (height - 0.5).abs() < 1e-9);
        assert_eq!(focus(&[]), None);
    }
}

//! Where another tool's crop landed: shared by the crop-hits and face-hits examples.

use image_processor::crop::CropBox;

/// Where `crop` (cut from `image` without resampling) sits in it: the offset whose pixels match.
pub fn locate(image: &image::RgbImage, crop: &image::RgbImage) -> Option<CropBox> {
    let (w, h) = image.dimensions();
    let (cw, ch) = crop.dimensions();
    if cw > w || ch > h {
        return None;
    }
    let matches = |x: u32, y: u32| {
        (0..ch)
            .step_by(7)
            .all(|dy| (0..cw).step_by(7).all(|dx| image.get_pixel(x + dx, y + dy) == crop.get_pixel(dx, dy)))
    };
    for y in 0..=h - ch {
        for x in 0..=w - cw {
            if matches(x, y) {
                return Some(CropBox { x, y, width: cw, height: ch });
            }
        }
    }
    None
}

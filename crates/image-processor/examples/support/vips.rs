//! libvips' smart crop, and where it landed: shared by the crop-hits and face-hits examples.

use image_processor::crop::CropBox;

/// Where `crop` (cut from `image` without resampling) sits in it: the offset whose pixels match.
fn locate(image: &image::RgbImage, crop: &image::RgbImage) -> Option<CropBox> {
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

/// libvips' `smartcrop --interesting attention` of `input` (a PNG of `image`) to `width`×`height`,
/// and where in `image` its crop sits (None when it cannot be found pixel for pixel).
pub fn attention(image: &image::RgbImage, input: &std::path::Path, width: u32, height: u32) -> Option<CropBox> {
    let output = input.with_extension("crop.png");
    let status = std::process::Command::new("vips")
        .arg("smartcrop")
        .arg(input)
        .arg(&output)
        .arg(width.to_string())
        .arg(height.to_string())
        .args(["--interesting", "attention"])
        .status()
        .unwrap();
    assert!(status.success(), "vips smartcrop failed on {}", input.display());
    let cropped = image::open(&output).unwrap().to_rgb8();
    locate(image, &cropped)
}

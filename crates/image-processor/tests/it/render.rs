//! Rendering real files of every accepted kind, and refusing hostile ones. No AWS involved.

use crate::support::{contains, fixture};
use image::GenericImageView;
use image_processor::decode::SourceFormat;
use image_processor::error::ImageError;
use image_processor::limits::Limits;
use image_processor::render::{render, OutputFormat, RenderSettings, Rendered};

fn render_fixture(name: &str) -> Result<Rendered, ImageError> {
    render(&fixture(name), name, &RenderSettings::default())
}

fn sizes(rendered: &Rendered) -> Vec<(String, u32, u32)> {
    rendered.variants.iter().map(|v| (v.name.clone(), v.width, v.height)).collect()
}

fn decode_output(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("variant decodes")
}

#[test]
fn exif_orientation_is_applied_and_metadata_stripped() {
    let original = fixture("oriented.jpg");
    assert!(contains(&original, b"Exif\0\0") && contains(&original, b"Patient Name"), "fixture has EXIF");

    let rendered = render_fixture("oriented.jpg").unwrap();
    // Stored 2400×1600 with orientation 6: upright it is 1600×2400, and never upscaled.
    assert_eq!((rendered.width, rendered.height), (1600, 2400));
    assert_eq!(
        sizes(&rendered),
        vec![
            ("thumbnail".into(), 200, 300),
            ("mobile".into(), 640, 960),
            ("tablet".into(), 1024, 1536),
            ("pc".into(), 1600, 2400),
        ]
    );
    for variant in &rendered.variants {
        assert_eq!(variant.format, OutputFormat::Jpeg);
        assert!(!contains(&variant.bytes, b"Exif"), "{} carries EXIF", variant.name);
        assert!(!contains(&variant.bytes, b"Patient Name"), "{} leaks the artist tag", variant.name);
        assert!(!contains(&variant.bytes, b"TestCam"), "{} leaks the camera model", variant.name);
        let img = decode_output(&variant.bytes);
        assert_eq!(img.dimensions(), (variant.width, variant.height));
    }
    // The stored top-left corner (red) is at the top right once upright.
    let thumb = decode_output(&rendered.variants[0].bytes).to_rgb8();
    let top_right = thumb.get_pixel(195, 5);
    let top_left = thumb.get_pixel(5, 5);
    assert!(top_right[0] > 200 && top_right[1] < 60 && top_right[2] < 60, "top right is {top_right:?}");
    assert!(top_left[1] > 100, "top left should not be red: {top_left:?}");
}

#[test]
fn jpeg_kinds_decode() {
    let progressive = render_fixture("progressive.jpg").unwrap();
    assert_eq!(progressive.source_format, SourceFormat::Jpeg);
    assert_eq!(sizes(&progressive)[3], ("pc".into(), 1920, 1280));
    assert_eq!(sizes(&progressive)[0], ("thumbnail".into(), 200, 133));

    // CMYK must come out in the right colours, not inverted: the centre rectangle is green.
    let cmyk = render_fixture("cmyk.jpg").unwrap();
    let mobile = decode_output(&cmyk.variants[1].bytes).to_rgb8();
    let centre = mobile.get_pixel(mobile.width() / 2, mobile.height() / 2);
    assert!(centre[1] > 120 && centre[0] < 90 && centre[2] < 90, "CMYK centre is {centre:?}");

    let gray = render_fixture("gray.jpg").unwrap();
    let thumb = decode_output(&gray.variants[0].bytes);
    assert_eq!(thumb.color(), image::ColorType::L8, "grayscale stays one channel");
}

#[test]
fn png_kinds_decode_and_transparency_decides_the_format() {
    for name in ["rgb16.png", "palette.png", "interlaced.png", "opaque-alpha.png"] {
        let rendered = render_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(rendered.variants.iter().all(|v| v.format == OutputFormat::Jpeg), "{name}: opaque images become JPEG");
    }
    let alpha = render_fixture("alpha.png").unwrap();
    for variant in &alpha.variants {
        assert_eq!(variant.format, OutputFormat::Png);
        let img = decode_output(&variant.bytes).to_rgba8();
        assert_eq!(img.get_pixel(0, 0)[3], 0, "corner stays transparent");
        let centre = img.get_pixel(img.width() / 2, img.height() / 2);
        assert_eq!(centre[3], 255, "centre stays opaque");
    }
    // 640 wide: thumbnail and mobile only differ when the original is wider.
    assert_eq!(sizes(&alpha)[1], ("mobile".into(), 640, 480));
    assert_eq!(sizes(&alpha)[3], ("pc".into(), 640, 480));
    assert_eq!(alpha.variants[1].bytes, alpha.variants[3].bytes, "same size, encoded once");
}

#[test]
fn gif_and_webp_decode() {
    let gif = render_fixture("static.gif").unwrap();
    assert_eq!((gif.source_format, gif.frames), (SourceFormat::Gif, 1));
    assert_eq!(sizes(&gif)[0], ("thumbnail".into(), 200, 150));

    let animated = render_fixture("animated.gif").unwrap();
    assert_eq!(animated.frames, 3);
    let first = decode_output(&animated.variants[0].bytes).to_rgb8();
    let px = first.get_pixel(10, 10);
    assert!(px[0] > 200 && px[1] < 60, "first frame is red: {px:?}");

    let webp = render_fixture("photo.webp").unwrap();
    assert_eq!(webp.source_format, SourceFormat::WebP);
    assert_eq!(sizes(&webp)[3], ("pc".into(), 1000, 750));
}

#[test]
fn decompression_bomb_is_refused_from_its_header() {
    let bomb = fixture("bomb.png");
    assert!(bomb.len() < 100_000, "a small file...");
    match render(&bomb, "bomb.png", &RenderSettings::default()) {
        Err(ImageError::TooLarge(reason)) => assert!(reason.contains("20000×20000"), "{reason}"),
        other => panic!("expected TooLarge, got {:?}", other.map(|r| sizes(&r))),
    }
}

#[test]
fn limits_are_configurable() {
    let settings =
        RenderSettings { limits: Limits { max_pixels: 1_000_000, ..Limits::default() }, ..RenderSettings::default() };
    assert!(matches!(render(&fixture("progressive.jpg"), "p.jpg", &settings), Err(ImageError::TooLarge(_))));
    let settings =
        RenderSettings { limits: Limits { max_frames: 2, ..Limits::default() }, ..RenderSettings::default() };
    assert!(matches!(render(&fixture("animated.gif"), "a.gif", &settings), Err(ImageError::TooLarge(_))));
    let settings =
        RenderSettings { limits: Limits { max_input_bytes: 1000, ..Limits::default() }, ..RenderSettings::default() };
    assert!(matches!(render(&fixture("static.gif"), "a.gif", &settings), Err(ImageError::TooLarge(_))));
}

#[test]
fn truncated_files_are_corrupt() {
    for name in ["oriented.jpg", "progressive.jpg", "alpha.png", "static.gif", "photo.webp"] {
        let bytes = fixture(name);
        let truncated = &bytes[..bytes.len() / 2];
        match render(truncated, name, &RenderSettings::default()) {
            Err(ImageError::Corrupt(_)) => {}
            other => panic!("{name} cut in half: expected Corrupt, got {:?}", other.map(|r| sizes(&r))),
        }
    }
}

#[test]
fn files_that_are_not_what_they_claim_are_refused() {
    let not_image = b"<html>definitely not a picture</html>".to_vec();
    assert!(matches!(render(&not_image, "x.jpg", &RenderSettings::default()), Err(ImageError::Unsupported(_))));
    let jpeg = fixture("gray.jpg");
    let err = render(&jpeg, "photo.png", &RenderSettings::default()).unwrap_err();
    assert!(matches!(err, ImageError::Mismatch(_)), "{err}");
    assert!(err.to_string().contains("JPEG"), "{err}");
}

/// A large JPEG decodes at 1/2 scale (DCT scaling) and its variants match those made from the
/// full-size decode: the shortcut costs no visible quality.
#[test]
fn large_jpegs_decode_at_a_reduced_scale_without_visible_loss() {
    use image_processor::decode::{decode, decode_for_width};
    use image_processor::render::render_decoded;

    // A 4000×3000 photo-like image: smooth gradients plus fine texture.
    let (w, h) = (4000u32, 3000u32);
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let texture = ((x * 7 + y * 13) % 17) as u8 * 3;
            pixels.extend([(x * 255 / w) as u8 ^ texture, (y * 255 / h) as u8, ((x + y) / 28) as u8 ^ texture]);
        }
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode(&pixels, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    let settings = RenderSettings::default();

    let scaled = decode_for_width(&jpeg, "big.jpg", &settings.limits, Some(1920)).unwrap();
    assert_eq!((scaled.image.width(), scaled.image.height()), (2000, 1500));
    let full = decode(&jpeg, "big.jpg", &settings.limits).unwrap();
    assert_eq!((full.image.width(), full.image.height()), (4000, 3000));

    let from_scaled = render(&jpeg, "big.jpg", &settings).unwrap();
    assert_eq!((from_scaled.width, from_scaled.height), (4000, 3000), "reports the original's size");
    let from_full = render_decoded(full, &settings.variants, settings.jpeg_quality).unwrap();
    for (a, b) in from_scaled.variants.iter().zip(&from_full.variants) {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let (a, b) = (decode_output(&a.bytes).to_rgb8(), decode_output(&b.bytes).to_rgb8());
        let mse = a.as_raw().iter().zip(b.as_raw()).map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2)).sum::<f64>()
            / a.as_raw().len() as f64;
        let psnr = 10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10();
        assert!(psnr > 38.0, "{}×{}: PSNR {psnr:.1} dB between scaled and full decode", a.width(), a.height());
    }
}

#[test]
fn transparent_pixels_keep_their_colour_and_do_not_bleed() {
    // Left half fully transparent red, right half half-transparent blue-green, 1000×500: variants
    // narrower than 1000 px are resized premultiplied, and all are divided back before encoding.
    let original = image::RgbaImage::from_fn(1000, 500, |x, _| {
        if x < 500 {
            image::Rgba([255, 0, 0, 0])
        } else {
            image::Rgba([20, 120, 220, 128])
        }
    });
    let mut png = Vec::new();
    original.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let rendered = render(&png, "half.png", &RenderSettings::default()).unwrap();
    for variant in &rendered.variants {
        assert_eq!(variant.format, OutputFormat::Png);
        let img = decode_output(&variant.bytes).to_rgba8();
        let (w, h) = img.dimensions();
        let [_, _, _, a] = img.get_pixel(w * 3 / 4, h / 2).0;
        assert!(a.abs_diff(128) <= 2, "{}: alpha {a}", variant.name);
        assert_eq!(img.get_pixel(w / 4, h / 2)[3], 0, "{}: transparent side stays transparent", variant.name);
        // Every visible pixel has the opaque side's colour as straight (not premultiplied) alpha,
        // including those at the edge, whose filter window reaches into the transparent red.
        for x in 0..w {
            let [r, g, b, a] = img.get_pixel(x, h / 2).0;
            if a >= 32 {
                assert!(
                    r.abs_diff(20) <= 6 && g.abs_diff(120) <= 6 && b.abs_diff(220) <= 6,
                    "{} at x={x} (alpha {a}): {r},{g},{b}",
                    variant.name
                );
            }
        }
    }
}

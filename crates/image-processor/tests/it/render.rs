//! Rendering real files of every accepted kind, and refusing hostile ones. No AWS involved.

use crate::support::{contains, decode_image, fixture, psnr};
use image::GenericImageView;
use image_processor::error::ImageError;
use image_processor::limits::Limits;
use image_processor::make::render::{render, OutputFormat, RenderSettings, Rendered};
use image_processor::source_format::SourceFormat;

fn render_fixture(name: &str) -> Result<Rendered, ImageError> {
    render(&fixture(name), name, &RenderSettings::default())
}

fn sizes(rendered: &Rendered) -> Vec<(String, u32, u32)> {
    rendered.variants.iter().map(|v| (v.name.clone(), v.width, v.height)).collect()
}

fn decode_output(bytes: &[u8]) -> image::DynamicImage {
    decode_image(bytes)
}

fn fallback(variant: &image_processor::make::render::RenderedVariant) -> &[u8] {
    &variant.fallback().expect("every variant has a fallback").bytes
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
        assert_eq!(variant.fallback().unwrap().format, OutputFormat::Jpeg);
        for file in &variant.formats {
            // At its own size the original would be smaller, but it is stored sideways.
            assert!(!file.from_original, "{}: a rotated original is never passed through", variant.name);
            let what = format!("{} {:?}", variant.name, file.format);
            assert!(!contains(&file.bytes, b"Exif"), "{what} carries EXIF");
            assert!(!contains(&file.bytes, b"Patient Name"), "{what} leaks the artist tag");
            assert!(!contains(&file.bytes, b"TestCam"), "{what} leaks the camera model");
            let img = decode_output(&file.bytes);
            assert_eq!(img.dimensions(), (variant.width, variant.height), "{what}");
        }
    }
    // The stored top-left corner (red) is at the top right once upright, in every format.
    for file in &rendered.variants[0].formats {
        let thumb = decode_output(&file.bytes).to_rgb8();
        let top_right = thumb.get_pixel(195, 5);
        let top_left = thumb.get_pixel(5, 5);
        assert!(
            top_right[0] > 200 && top_right[1] < 60 && top_right[2] < 60,
            "{:?}: top right {top_right:?}",
            file.format
        );
        assert!(top_left[1] > 100, "{:?}: top left should not be red: {top_left:?}", file.format);
    }
}

#[test]
fn jpeg_kinds_decode() {
    let progressive = render_fixture("progressive.jpg").unwrap();
    assert_eq!(progressive.source_format, SourceFormat::Jpeg);
    assert_eq!(sizes(&progressive)[3], ("pc".into(), 1920, 1280));
    assert_eq!(sizes(&progressive)[0], ("thumbnail".into(), 200, 133));

    // CMYK must come out in the right colours, not inverted: the centre rectangle is green.
    let cmyk = render_fixture("cmyk.jpg").unwrap();
    let mobile = decode_output(fallback(&cmyk.variants[1])).to_rgb8();
    let centre = mobile.get_pixel(mobile.width() / 2, mobile.height() / 2);
    assert!(centre[1] > 120 && centre[0] < 90 && centre[2] < 90, "CMYK centre is {centre:?}");

    let gray = render_fixture("gray.jpg").unwrap();
    let thumb = decode_output(fallback(&gray.variants[0]));
    assert_eq!(thumb.color(), image::ColorType::L8, "grayscale JPEG stays one channel");
}

#[test]
fn png_kinds_decode_and_transparency_decides_the_format() {
    for name in ["rgb16.png", "palette.png", "interlaced.png", "opaque-alpha.png"] {
        let rendered = render_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for variant in &rendered.variants {
            let fallback = variant.fallback().unwrap();
            // A JPEG, unless the original itself (a PNG) is the smaller file at its own size.
            let expected = if fallback.from_original { OutputFormat::Png } else { OutputFormat::Jpeg };
            assert_eq!(fallback.format, expected, "{name} {}: opaque images fall back to JPEG", variant.name);
            assert!(!fallback.from_original || (variant.width, variant.height) == (rendered.width, rendered.height));
        }
    }
    let alpha = render_fixture("alpha.png").unwrap();
    for variant in &alpha.variants {
        assert_eq!(variant.fallback().unwrap().format, OutputFormat::Png);
        for file in &variant.formats {
            let img = decode_output(&file.bytes).to_rgba8();
            assert_eq!(img.get_pixel(0, 0)[3], 0, "{:?}: corner stays transparent", file.format);
            let centre = img.get_pixel(img.width() / 2, img.height() / 2);
            assert_eq!(centre[3], 255, "{:?}: centre stays opaque", file.format);
        }
    }
    // 640 wide: thumbnail and mobile only differ when the original is wider.
    assert_eq!(sizes(&alpha)[1], ("mobile".into(), 640, 480));
    assert_eq!(sizes(&alpha)[3], ("pc".into(), 640, 480));
    assert_eq!(alpha.variants[1].formats, alpha.variants[3].formats, "same size, encoded once");
}

#[test]
fn gif_and_webp_decode() {
    let gif = render_fixture("static.gif").unwrap();
    assert_eq!((gif.source_format, gif.frames), (SourceFormat::Gif, 1));
    assert_eq!(sizes(&gif)[0], ("thumbnail".into(), 200, 150));

    let animated = render_fixture("animated.gif").unwrap();
    assert_eq!(animated.frames, 3);
    let first = decode_output(fallback(&animated.variants[0])).to_rgb8();
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
    use image_processor::make::render::render_decoded;
    use image_processor::read::decode::{decode, decode_for_width};

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
    let fallback_only =
        image_processor::make::render::EncodeSettings { avif: false, webp: false, ..settings.encode.clone() };
    let from_full = render_decoded(full, &settings.variants, &fallback_only, None, Default::default()).unwrap();
    for (a, b) in from_scaled.variants.iter().zip(&from_full.variants) {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let (a, b) = (decode_output(fallback(a)).to_rgb8(), decode_output(fallback(b)).to_rgb8());
        let psnr = psnr(&a, &b);
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
    for (variant, file) in rendered.variants.iter().flat_map(|v| v.formats.iter().map(move |f| (v, f))) {
        // Lossy AVIF and WebP move colours more than PNG does.
        let tolerance = if file.format == OutputFormat::Png { 6 } else { 12 };
        let img = decode_output(&file.bytes).to_rgba8();
        let (w, h) = img.dimensions();
        let [_, _, _, a] = img.get_pixel(w * 3 / 4, h / 2).0;
        assert!(a.abs_diff(128) <= 3, "{} {:?}: alpha {a}", variant.name, file.format);
        assert_eq!(img.get_pixel(w / 4, h / 2)[3], 0, "{}: transparent side stays transparent", variant.name);
        // Every visible pixel has the opaque side's colour as straight (not premultiplied) alpha,
        // including those at the edge, whose filter window reaches into the transparent red.
        for x in 0..w {
            let [r, g, b, a] = img.get_pixel(x, h / 2).0;
            // Lossy formats subsample colour in 2×2 blocks (WebP) or blur edges: judged from 4 px
            // past the edge; the lossless PNG right up to it.
            let near_edge = x.abs_diff(w / 2) < 4;
            if a >= 32 && (file.format == OutputFormat::Png || !near_edge) {
                assert!(
                    r.abs_diff(20) <= tolerance && g.abs_diff(120) <= tolerance && b.abs_diff(220) <= tolerance,
                    "{} {:?} at x={x} (alpha {a}): {r},{g},{b}",
                    variant.name,
                    file.format
                );
            }
        }
    }
}

/// A photo gets AVIF, WebP and JPEG at every size, each smaller than the next and each showing
/// the same picture as the JPEG.
#[test]
fn photos_come_in_avif_webp_and_jpeg_each_smaller_than_the_next() {
    let rendered = render_fixture("progressive.jpg").unwrap();
    for variant in &rendered.variants {
        let formats: Vec<(OutputFormat, usize)> = variant.formats.iter().map(|f| (f.format, f.bytes.len())).collect();
        // Best first, each kept file smaller than the next, the fallback last. At small sizes an
        // AVIF's container can cost more than AV1 saves over WebP: then it is left out, with why.
        let found: Vec<OutputFormat> = formats.iter().map(|f| f.0).collect();
        let expected: Vec<OutputFormat> = [OutputFormat::Avif, OutputFormat::WebP, OutputFormat::Jpeg]
            .into_iter()
            .filter(|f| !variant.skipped.iter().any(|s| s.format == *f))
            .collect();
        assert_eq!(found, expected, "{}: {formats:?} (skipped {:?})", variant.name, variant.skipped);
        assert!(variant.skipped.iter().all(|s| s.reason.contains("no smaller than")), "{:?}", variant.skipped);
        assert!(formats.windows(2).all(|pair| pair[0].1 < pair[1].1), "{}: {formats:?}", variant.name);
        if variant.name == "pc" {
            assert_eq!(
                found,
                [OutputFormat::Avif, OutputFormat::WebP, OutputFormat::Jpeg],
                "a 1920 px photo keeps all three"
            );
        }
        let reference = decode_output(fallback(variant)).to_rgb8();
        for file in &variant.formats[..variant.formats.len() - 1] {
            let image = decode_output(&file.bytes).to_rgb8();
            let psnr = psnr(&image, &reference);
            assert!(psnr > 30.0, "{} {:?}: PSNR {psnr:.1} dB against the JPEG", variant.name, file.format);
        }
    }
    // Signatures: what browsers sniff.
    let pc = &rendered.variants[3];
    assert_eq!(&pc.formats[0].bytes[4..12], b"ftypavif");
    assert_eq!(&pc.formats[1].bytes[8..12], b"WEBP");
    assert!(rendered.placeholder.is_some());
}

/// A small, carefully compressed PNG logo: at its own size the original's bytes (without their
/// text chunks) beat any re-encode, and nothing stored is larger than it.
#[test]
fn an_original_smaller_than_any_encode_is_passed_through_without_metadata() {
    // Flat colours with a transparent border compress very well with the best zlib setting.
    let logo = image::RgbaImage::from_fn(400, 120, |x, y| {
        if x < 10 || y < 10 || x >= 390 || y >= 110 {
            image::Rgba([0, 0, 0, 0])
        } else if (x / 20) % 2 == 0 {
            image::Rgba([230, 40, 40, 255])
        } else {
            image::Rgba([250, 250, 250, 255])
        }
    });
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(logo.as_raw(), 400, 120, image::ExtendedColorType::Rgba8)
    .unwrap();
    use image::ImageEncoder;
    // A text chunk after IHDR, as editors write them.
    let text = b"tEXtSoftware\0PhotoEditor 9";
    let mut chunk = ((text.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(text);
    chunk.extend_from_slice(&[0; 4]);
    png.splice(33..33, chunk);

    let rendered = render(&png, "logo.png", &RenderSettings::default()).unwrap();
    let pc = &rendered.variants[3];
    assert_eq!((pc.width, pc.height), (400, 120));
    for file in &pc.formats {
        assert!(
            file.bytes.len() <= png.len(),
            "{:?} is {} bytes, the original {}",
            file.format,
            file.bytes.len(),
            png.len()
        );
    }
    // Best zlib compression beats our fast PNG encoder: the original is the fallback.
    let fallback = pc.fallback().unwrap();
    assert!(fallback.from_original, "{} bytes, the original {}", fallback.bytes.len(), png.len());
    assert_eq!(fallback.bytes.len(), png.len() - (text.len() + 8), "exactly the text chunk removed");
    assert!(!contains(&fallback.bytes, b"PhotoEditor"), "metadata removed");
    assert_eq!(decode_output(&fallback.bytes).to_rgba8(), logo, "the original's pixels, exactly");
    // Whatever won, the smallest file any viewer gets is no larger than the original.
    let smallest = pc.formats.iter().map(|f| f.bytes.len()).min().unwrap();
    assert!(smallest < png.len());
    // Smaller variants are re-encoded (the original is not their size).
    assert!(rendered.variants[0].formats.iter().all(|f| !f.from_original));
}

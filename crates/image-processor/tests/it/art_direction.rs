//! Art direction (VARIANTS `mobile:640:4x5`): each shaped variant is the largest box of its shape
//! around the picture's focus. The quality bar is the labelled set (`labelled.rs`): every
//! automatic crop must keep the subject wholly inside.

use image_processor::crop::{holds, Aspect, CropBox, FocusSource};
use image_processor::make::render::{render, RenderSettings, VariantSpec};

use crate::labelled::{automatic_crop, labelled_set};
use crate::support::*;

#[test]
fn every_automatic_crop_of_the_labelled_set_keeps_its_subject() {
    let set = labelled_set();
    assert_eq!(set.len(), 72);
    assert_eq!(set.iter().filter(|item| item.busy).count(), 24, "a third on a busy background");
    let misses: Vec<String> = set
        .iter()
        .filter_map(|item| {
            let (crop, source) = automatic_crop(item);
            (!holds(crop, item.subject) || source != FocusSource::Saliency)
                .then(|| format!("{}: subject {:?}, crop {crop:?} ({source:?})", item.name, item.subject))
        })
        .collect();
    assert!(misses.is_empty(), "{} of {} missed:\n{}", misses.len(), set.len(), misses.join("\n"));
}

/// Two people on a banner (`fixtures/astronaut.jpg` twice: NASA's portrait of Eileen Collins,
/// public domain, as scikit-image ships it, 320 px). The saliency has one peak, and a box
/// centred on one face loses the other; the faces are one rectangle, and the 16:9 box holds both.
/// (The same as the group photo of docs/pipeline.md's "Faces", where the saliency lost faces.)
/// With `FACES=on`; with it off (the default), the saliency's box, which loses a face.
#[test]
fn the_crop_keeps_every_face_where_the_saliencys_one_peak_would_not() {
    let photo = decode_image(&fixture("astronaut.jpg")).to_rgb8();
    assert_eq!(photo.dimensions(), (320, 320));
    let mut banner = image::RgbImage::from_pixel(1280, 400, image::Rgb([236, 236, 232]));
    image::imageops::replace(&mut banner, &photo, 0, 40);
    image::imageops::replace(&mut banner, &photo, 560, 40);
    // Each face's box (bench/faces/labels.json's, checked by eye), and the two together.
    let faces = CropBox { x: 111, y: 81, width: 619, height: 59 };
    let wide = Aspect::parse("16x9").expect("16x9");
    let banner = image::DynamicImage::ImageRgb8(banner);

    let mut png = Vec::new();
    banner.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("png");
    let settings = RenderSettings {
        variants: vec![VariantSpec::shaped("hero", 640, wide)],
        faces: true,
        ..Harness::default_settings()
    };
    // The premise, with FACES=off (the default): the saliency's one peak loses a face.
    let saliency_only =
        render(&png, "banner.png", &RenderSettings { faces: false, ..settings.clone() }).expect("render");
    assert_eq!(saliency_only.focus.map(|f| f.1), Some(FocusSource::Saliency));
    let by_saliency = saliency_only.variants[0].crop.expect("a box");
    assert!(!holds(by_saliency, faces), "the premise: the saliency alone loses a face ({by_saliency:?})");

    let rendered = render(&png, "banner.png", &settings).expect("render");
    let (focus, source) = rendered.focus.expect("a focus");
    assert_eq!(source, FocusSource::Faces, "{focus}");
    let crop = rendered.variants[0].crop.expect("a box");
    assert!(holds(crop, faces), "{crop:?} {faces:?} ({focus})");
    assert_ne!(
        settings.fingerprint(),
        RenderSettings { faces: false, ..settings.clone() }.fingerprint(),
        "another version"
    );
}

/// The photo alone, cropped to four shapes with `FACES=on`: each keeps the face, found as a face.
#[test]
fn a_portraits_crops_keep_its_face_in_every_shape() {
    let bytes = fixture("astronaut.jpg");
    let face = CropBox { x: 111, y: 41, width: 59, height: 59 };
    for shape in ["4x5", "9x16", "16x9", "21x9"] {
        let aspect = Aspect::parse(shape).expect("shape");
        let settings = RenderSettings {
            variants: vec![VariantSpec::shaped("v", 320, aspect)],
            faces: true,
            ..Harness::default_settings()
        };
        let rendered = render(&bytes, "astronaut.jpg", &settings).expect("render");
        assert_eq!(rendered.focus.map(|f| f.1), Some(FocusSource::Faces), "{shape}");
        let crop = rendered.variants[0].crop.expect("a box");
        assert!(holds(crop, face), "{shape}: {crop:?}");
    }
}

/// Through the renderer: a banner with a shaped mobile variant. The box follows the uploader's
/// focus when given, the saliency otherwise; sizes are the shape's, never upscaled; the
/// unshaped variants keep the banner's shape.
#[test]
fn the_renderer_crops_shaped_variants_around_the_focus() {
    let item = labelled_set().into_iter().find(|i| i.name.starts_with("Product-1920x600")).expect("a banner");
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(item.image.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let shape = Aspect::parse("4x5").expect("shape");
    let settings = RenderSettings {
        variants: vec![
            VariantSpec::shaped("thumbnail", 200, Aspect::parse("1x1").expect("1x1")),
            VariantSpec::shaped("mobile", 640, shape),
            VariantSpec::new("pc", 1920),
        ],
        ..Harness::default_settings()
    };
    let rendered = render(&png, "banner.png", &settings).expect("render");
    let (focus, source) = rendered.focus.expect("a focus");
    assert_eq!(source, FocusSource::Saliency, "{focus}");
    let by_name = |name: &str| rendered.variants.iter().find(|v| v.name == name).expect("variant");
    let mobile = by_name("mobile");
    // The banner is 600 high: the 4:5 box is 480×600, and the variant is never upscaled to 640.
    assert_eq!((mobile.width, mobile.height), (480, 600));
    let crop = mobile.crop.expect("a box");
    assert!(holds(crop, item.subject), "{crop:?} {:?}", item.subject);
    assert_eq!((by_name("thumbnail").width, by_name("thumbnail").height), (200, 200));
    assert_eq!((by_name("pc").width, by_name("pc").height, by_name("pc").crop), (1920, 600, None));
    // Its pixels are the box's: the mobile JPEG's middle is the product's red.
    let jpeg = mobile.fallback().expect("fallback");
    let decoded = decode_image(&jpeg.bytes).to_rgb8();
    let subject_centre = (
        (item.subject.x + item.subject.width / 2 - crop.x) * decoded.width() / crop.width,
        (item.subject.y + item.subject.height / 2 - crop.y) * decoded.height() / crop.height,
    );
    let p = decoded.get_pixel(subject_centre.0.saturating_sub(10), subject_centre.1);
    assert!(p[0] > 150 && p[1] < 90, "{p:?} at {subject_centre:?}");

    // The uploader's focus wins: the left edge.
    let left =
        RenderSettings { focus: Some(image_processor::crop::Focus::Point { x: 0.0, y: 0.5 }), ..settings.clone() };
    let rendered = render(&png, "banner.png", &left).expect("render");
    assert_eq!(rendered.focus.map(|f| f.1), Some(FocusSource::Uploader));
    let mobile = rendered.variants.iter().find(|v| v.name == "mobile").expect("mobile");
    assert_eq!(mobile.crop.map(|c| c.x), Some(0));
    assert_ne!(settings.fingerprint(), left.fingerprint(), "another focus is another version");
}

/// On the emulator: an upload's `focus` metadata places the boxes (and is its own version), the
/// manifest records the focus, each box and the `<picture>` source at the mobile breakpoint; a
/// focus that does not parse fails that upload and says what is expected.
#[tokio::test]
async fn an_uploads_focus_metadata_places_the_crop_and_the_manifest_shows_it() {
    let settings = RenderSettings {
        variants: vec![
            VariantSpec::shaped("mobile", 640, Aspect::parse("4x5").expect("shape")),
            VariantSpec::new("pc", 1920),
        ],
        ..Harness::default_settings()
    };
    let h = Harness::with_settings("art", settings).await;
    let item = labelled_set().into_iter().find(|i| i.name.starts_with("Face-1920x600")).expect("a banner");
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(item.image.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    h.upload("uploads/auto.png", png.clone()).await;
    h.upload_with_metadata("uploads/left.png", png.clone(), &[("focus", "0.05,0.5")]).await;
    h.upload_with_metadata("uploads/typo.png", png, &[("focus", "left")]).await;
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");
    let statuses = h.statuses().await;
    let typo = statuses.iter().find(|s| s.source.key == "uploads/typo.png").expect("typo status");
    let reason = &typo.failure.as_ref().expect("a failure").reason;
    assert!(reason.contains("metadata focus") && reason.contains("a point x,y"), "{reason}");

    let auto = h.manifest("uploads/auto.png").await;
    let focus = auto.focus.as_ref().expect("focus");
    assert_eq!(focus.source, "saliency");
    let mobile = auto.variants.iter().find(|v| v.name == "mobile").expect("mobile");
    assert_eq!((mobile.aspect.as_deref(), mobile.width, mobile.height), (Some("4x5"), 480, 600));
    let [x, y, w, hh] = mobile.crop.expect("crop");
    assert!(holds(CropBox { x, y, width: w, height: hh }, item.subject), "{:?} {:?}", mobile.crop, item.subject);
    let picture = auto.picture.as_deref().expect("picture");
    assert!(picture.starts_with("<picture><source media=\"(max-width: 767px)\""), "{picture}");
    assert!(picture.contains("width=\"480\" height=\"600\""), "{picture}");
    h.assert_page_urls_resolve(&auto).await;

    let left = h.manifest("uploads/left.png").await;
    assert_eq!(left.focus.as_ref().map(|f| (f.at.as_str(), f.source.as_str())), Some(("0.050,0.500", "uploader")));
    assert_eq!(left.variants.iter().find(|v| v.name == "mobile").and_then(|v| v.crop).map(|c| c[0]), Some(0));
    assert_ne!(left.source_version, auto.source_version, "another focus is another version");
}

/// An animation with a shaped `mobile` variant: its poster's mobile variant and its mobile MP4 are
/// the same box, so a phone gets the same framing still or moving.
#[tokio::test]
async fn an_animations_mobile_mp4_gets_the_same_box_as_its_poster() {
    let settings = RenderSettings {
        variants: vec![VariantSpec::shaped("mobile", 640, Aspect::parse("4x5").expect("shape"))],
        ..Harness::default_settings()
    };
    let h = Harness::with_settings("art-gif", settings).await;
    h.upload("uploads/banner.gif", animated_gif(400, 200, &[100, 100, 100])).await;
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");
    let manifest = h.manifest("uploads/banner.gif").await;
    let variant = |name: &str| manifest.variants.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("{name}"));
    let (poster, video) = (variant("mobile"), variant("video-mobile"));
    assert_eq!((poster.width, poster.height, poster.aspect.as_deref()), (160, 200, Some("4x5")));
    assert_eq!((video.width, video.height), (160, 200));
    assert_eq!(video.crop, poster.crop);
    assert!(video.crop.is_some());
    let full = variant("video");
    assert_eq!((full.width, full.height, full.crop), (400, 200, None));

    // The page's elements: the full MP4's <video> keeps its box (the cropped MP4 is not one of its
    // sources: one element cannot change its box by source), and the cropped one has its own, at
    // the mobile media query, with the mobile still (the same box) as its poster.
    let video_html = manifest.video.as_deref().expect("video");
    assert!(
        video_html.contains("width=\"400\" height=\"200\"") && !video_html.contains("video-mobile"),
        "{video_html}"
    );
    let [art] = &manifest.video_media[..] else { panic!("one art-directed video: {:?}", manifest.video_media) };
    assert_eq!(art.media, "(max-width: 767px)");
    let mobile_poster = poster.key.as_deref().expect("mobile key");
    assert!(
        art.video.contains("width=\"160\" height=\"200\"") && art.video.contains("video-mobile.mp4"),
        "{}",
        art.video
    );
    let poster_url = image_processor::store::manifest::url_for(mobile_poster);
    assert!(art.video.contains(&format!("poster=\"{poster_url}\"")), "{} {poster_url}", art.video);
    h.assert_page_urls_resolve(&manifest).await;
}

//! Art direction's quality bar and cost, measured (`make bench`, docs/benchmarks.md):
//!
//! 1. Hit rates on the labelled set (crates/image-processor/tests/it/labelled.rs): how often the
//!    crop keeps the whole subject, ours (saliency) against libvips' `smartcrop --interesting
//!    attention` (Debian's libvips-tools), on the same pictures and boxes.
//! 2. What cropping costs a 4-size set: the renderer's time with and without shaped variants, on
//!    the pictures given as arguments (the bench corpus), with the saliency's own time.
//!
//! `cargo run --release --example crop-hits -- [PHOTO…]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/labelled.rs"]
mod labelled;

use std::process::Command;
use std::time::{Duration, Instant};

use image_processor::crop::{holds, Aspect, CropBox};
use image_processor::make::render::{render, RenderSettings, VariantSpec};

fn main() {
    let dir = std::env::temp_dir().join(format!("crop-hits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let set = labelled::labelled_set();
    let vips = Command::new("vips").arg("--version").output().is_ok();
    // Hits per background: [quiet, busy] for ours, libvips', a centred crop; and how many of each.
    let (mut ours, mut theirs, mut centred, mut count) = ([0; 2], [0; 2], [0; 2], [0; 2]);
    for item in &set {
        let b = usize::from(item.busy);
        count[b] += 1;
        let (crop, _) = labelled::automatic_crop(item);
        ours[b] += usize::from(holds(crop, item.subject));
        let middle = image_processor::crop::Focus::Point { x: 0.5, y: 0.5 };
        let centre = image_processor::crop::crop_box(item.image.width(), item.image.height(), item.aspect, middle);
        centred[b] += usize::from(holds(centre, item.subject));
        if !vips {
            continue;
        }
        let input = dir.join(format!("{}.png", item.name));
        let output = dir.join(format!("{}-crop.png", item.name));
        item.image.save(&input).unwrap();
        let target = image_processor::crop::crop_box(
            item.image.width(),
            item.image.height(),
            item.aspect,
            image_processor::crop::Focus::Point { x: 0.5, y: 0.5 },
        );
        let status = Command::new("vips")
            .arg("smartcrop")
            .arg(&input)
            .arg(&output)
            .arg(target.width.to_string())
            .arg(target.height.to_string())
            .args(["--interesting", "attention"])
            .status()
            .unwrap();
        assert!(status.success(), "vips smartcrop failed on {}", item.name);
        let cropped = image::open(&output).unwrap().to_rgb8();
        let found = locate(&item.image, &cropped);
        theirs[b] += usize::from(found.is_some_and(|at| holds(at, item.subject)));
    }
    let rate = |hits: [usize; 2]| {
        let cell =
            |i: usize| format!("{} of {} ({:.0}%)", hits[i], count[i], 100.0 * hits[i] as f64 / count[i].max(1) as f64);
        format!("{} | {}", cell(0), cell(1))
    };
    println!("| labelled set ({} pictures): subject kept whole | quiet background | busy background |", set.len());
    println!("|---|---|---|");
    println!("| media-edge saliency | {} |", rate(ours));
    if vips {
        println!("| libvips smartcrop attention | {} |", rate(theirs));
    } else {
        println!("| libvips smartcrop attention | not measured: no `vips` (Debian libvips-tools) | |");
    }
    println!("| a centred crop (no focus) | {} |", rate(centred));

    // The cost on real photos: the same 4-size set, with two variants shaped, and without.
    let photos: Vec<String> = std::env::args().skip(1).collect();
    if photos.is_empty() {
        return;
    }
    let plain = RenderSettings::default();
    // FFMPEG_PATH names the pinned ffmpeg for AVIF, as for the processor.
    let plain = RenderSettings {
        encode: image_processor::make::render::EncodeSettings {
            ffmpeg_path: std::env::var_os("FFMPEG_PATH").map(Into::into).unwrap_or(plain.encode.ffmpeg_path.clone()),
            ..plain.encode.clone()
        },
        ..plain
    };
    let shaped = RenderSettings {
        variants: vec![
            VariantSpec::shaped("thumbnail", 200, Aspect::parse("1x1").unwrap()),
            VariantSpec::shaped("mobile", 640, Aspect::parse("4x5").unwrap()),
            VariantSpec::new("tablet", 1024),
            VariantSpec::new("pc", 1920),
        ],
        ..plain.clone()
    };
    println!("\n| photo | 4-size set, no shapes (ms) | thumbnail 1:1 and mobile 4:5 (ms) | difference |");
    println!("|---|---|---|---|");
    for photo in photos {
        let bytes = std::fs::read(&photo).unwrap();
        let name = std::path::Path::new(&photo).file_name().unwrap().to_string_lossy().to_string();
        let best = |settings: &RenderSettings| -> Duration {
            (0..5)
                .map(|_| {
                    let started = Instant::now();
                    render(&bytes, &name, settings).unwrap();
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let (a, b) = (best(&plain), best(&shaped));
        let difference = 100.0 * (b.as_secs_f64() - a.as_secs_f64()) / a.as_secs_f64();
        println!("| {name} | {} | {} | {difference:+.1}% |", a.as_millis(), b.as_millis());
    }
}

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

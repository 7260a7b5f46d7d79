//! Art direction's quality bar and cost, measured (`make bench`, docs/benchmarks.md):
//!
//! 1. Hit rates on the labelled set (crates/image-processor/tests/it/labelled.rs): how often the
//!    crop keeps the whole subject, ours (saliency) against libvips' `smartcrop --interesting
//!    attention` (Debian's libvips-tools), on the same pictures and boxes.
//! 2. What cropping costs a 4-size set: the renderer's time with and without shaped variants, on
//!    the pictures given as arguments (the bench corpus), with the saliency (the default) and with
//!    `FACES=on` (the detector runs, finds no face in these, and the saliency decides).
//!
//! `cargo run --release --example crop-hits -- [PHOTO…]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/vips.rs"]
mod vips;

#[path = "../tests/it/labelled.rs"]
mod labelled;

use std::process::Command;

use image_processor::crop::{holds, Aspect};
use image_processor::make::render::{automatic_focus, render, RenderSettings, VariantSpec};

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
        item.image.save(&input).unwrap();
        let target = image_processor::crop::crop_box(
            item.image.width(),
            item.image.height(),
            item.aspect,
            image_processor::crop::Focus::Point { x: 0.5, y: 0.5 },
        );
        let found = vips::attention(&item.image, &input, target.width, target.height);
        theirs[b] += usize::from(found.is_some_and(|at| holds(at, item.subject)));
    }
    let rate = |hits: [usize; 2]| {
        let cell =
            |i: usize| format!("{} of {} ({:.0}%)", hits[i], count[i], 100.0 * hits[i] as f64 / count[i].max(1) as f64);
        format!("{} | {}", cell(0), cell(1))
    };
    println!("| labelled set ({} pictures): subject kept whole | quiet background | busy background |", set.len());
    println!("|---|---|---|");
    println!("| media-edge: the saliency (FACES=on finds no face in them) | {} |", rate(ours));
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
    let with_faces = RenderSettings { faces: true, ..shaped.clone() };
    println!("\n| photo | 4-size set, no shapes (CPU ms) | thumbnail 1:1 and mobile 4:5 (CPU ms) | difference | in output pixels | and FACES=on (CPU ms) | difference |");
    println!("|---|---|---|---|---|---|---|");
    let mut focus_rows = Vec::new();
    for photo in photos {
        let bytes = std::fs::read(&photo).unwrap();
        let name = std::path::Path::new(&photo).file_name().unwrap().to_string_lossy().to_string();
        // CPU time, this process's and its ffmpeg children's (the AVIF encodes), of each setting
        // in turn, seven rounds: wall time on a shared VM moved by ±10% between identical runs.
        // The figure is the median over rounds of each round's ratio to the unshaped set.
        let settings = [&plain, &shaped, &with_faces];
        let mut cpu = [vec![], vec![], vec![]];
        // The shapes change the sizes: a 4:5 mobile variant of a 3:2 photo has 1.9× the pixels of
        // its unshaped one, and encoding them is most of the difference (not the crop).
        let pixels = |s: &RenderSettings| -> f64 {
            render(&bytes, &name, s).unwrap().variants.iter().map(|v| f64::from(v.width) * f64::from(v.height)).sum()
        };
        let more_pixels = 100.0 * (pixels(&shaped) / pixels(&plain) - 1.0); // also the warm-up
        for _ in 0..7 {
            for (i, s) in settings.iter().enumerate() {
                let before = cpu_ms();
                render(&bytes, &name, s).unwrap();
                cpu[i].push(cpu_ms() - before);
            }
        }
        let ratio = |i: usize| {
            let mut r: Vec<f64> = cpu[i].iter().zip(&cpu[0]).map(|(x, a)| x / a).collect();
            r.sort_by(f64::total_cmp);
            100.0 * (r[r.len() / 2] - 1.0)
        };
        let median = |i: usize| {
            let mut v = cpu[i].clone();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        // Cropping's own work: finding the focus (the copy, the saliency; and the detector with
        // FACES=on), best of 5, on the decoded photo: what the sets above spend beyond encoding
        // the sizes the shapes ask for. The crop itself is a view, not a copy.
        let decoded = image::load_from_memory(&bytes).unwrap();
        let focus_ms = |faces: bool| -> f64 {
            (0..5)
                .map(|_| {
                    let image = decoded.clone();
                    let started = std::time::Instant::now();
                    automatic_focus(image, faces);
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .fold(f64::MAX, f64::min)
        };
        let (saliency_ms, faces_ms) = (focus_ms(false), focus_ms(true));
        let share = |ms: f64| 100.0 * ms / median(0);
        focus_rows.push(format!(
            "| {name} | {saliency_ms:.1} ({:.1}%) | {faces_ms:.1} ({:.1}%) |",
            share(saliency_ms),
            share(faces_ms)
        ));
        println!(
            "| {name} | {:.0} | {:.0} | {:+.1}% | {more_pixels:+.1}% | {:.0} | {:+.1}% |",
            median(0),
            median(1),
            ratio(1),
            median(2),
            ratio(2)
        );
    }
    println!("\n| photo | finding the focus, saliency: ms (of the unshaped set's CPU) | with FACES=on |");
    println!("|---|---|---|");
    for row in focus_rows {
        println!("{row}");
    }
}

/// CPU milliseconds of this process and of its children waited for (ffmpeg's AVIF encodes).
fn cpu_ms() -> f64 {
    let at = |who| {
        // SAFETY: getrusage writes into the struct we own; all-zero is a valid rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
        ms(usage.ru_utime) + ms(usage.ru_stime)
    };
    at(libc::RUSAGE_SELF) + at(libc::RUSAGE_CHILDREN)
}

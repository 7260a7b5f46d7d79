//! Real photos of people: does the automatic crop keep every face? (docs/pipeline.md, "Faces")
//!
//! The labelled set of crop-hits is generated; this is the check on photographs: the pictures
//! and face boxes of bench/faces/labels.json (bench/faces.py fetches the pictures), each cropped
//! to five shapes by the pipeline's own `render`, by libvips' `smartcrop --interesting attention`
//! and centred. A shape that cannot hold every face of a picture, or that is the picture's own
//! shape, is left out.
//!
//! `cargo run --release --example face-hits -p image-processor -- bench/faces/labels.json DIR`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/vips.rs"]
mod vips;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use image_processor::crop::{crop_box, holds, Aspect, CropBox, Focus};
use image_processor::make::render::{automatic_focus, render, RenderSettings, VariantSpec};

const SHAPES: [&str; 5] = ["1x1", "4x5", "9x16", "16x9", "21x9"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [labels, dir] = [&args[0], &args[1]];
    let labels: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(labels).unwrap()).unwrap();
    let work = std::env::temp_dir().join(format!("face-hits-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let vips = Command::new("vips").arg("--version").output().is_ok();
    let (mut ours, mut salient, mut theirs, mut centred, mut count) = (0, 0, 0, 0, 0);
    let mut found = Vec::new();
    println!("| photo | shape | faces kept: ours, FACES=on (focus from) | ours, FACES=off (the saliency) | libvips attention | centred |");
    println!("|---|---|---|---|---|---|");
    for photo in labels["photos"].as_array().unwrap() {
        let file = Path::new(dir).join(Path::new(photo["path"].as_str().unwrap()).file_name().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        // The decoded, upright picture: what the boxes, the crops and libvips' input all refer to.
        let image = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let (w, h) = image.dimensions();
        let png = work.join(format!("{name}.png"));
        image.save(&png).unwrap();
        let faces: Vec<CropBox> = photo["faces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let f: Vec<f64> = b.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                let at = |v: f64, of: u32| (v * f64::from(of)).round() as u32;
                CropBox { x: at(f[0], w), y: at(f[1], h), width: at(f[2], w), height: at(f[3], h) }
            })
            .collect();
        let all_faces = union(&faces);
        // The focus as the pipeline finds it, timed (best of 5): the grey copy and the detector,
        // and the saliency when no face is found.
        let (mut best, mut focus) = (f64::MAX, None);
        for _ in 0..5 {
            let started = Instant::now();
            focus = Some(automatic_focus(image::DynamicImage::ImageRgb8(image.clone()), true));
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        found.push(format!("| {name} | {w}×{h} | {} | {:?} | {best:.1} |", faces.len(), focus.map(|f| f.1.name())));
        // What the pipeline chooses with FACES=off (its saliency, from its own small copy).
        let (salient_point, _) = automatic_focus(image::DynamicImage::ImageRgb8(image.clone()), false);
        for shape in SHAPES {
            let aspect = Aspect::parse(shape).unwrap();
            let centre = crop_box(w, h, aspect, Focus::Point { x: 0.5, y: 0.5 });
            let fits = centre.width >= all_faces.width && centre.height >= all_faces.height;
            if (centre.width, centre.height) == (w, h) || !fits {
                continue;
            }
            count += 1;
            let settings = RenderSettings {
                variants: vec![VariantSpec::shaped("v", 320, aspect)],
                faces: true,
                ..only_fallback()
            };
            let rendered = render(&bytes, &name, &settings).unwrap();
            let crop = rendered.variants[0].crop.unwrap();
            let source = rendered.focus.map_or("none", |(_, source)| source.name());
            let hit = holds(crop, all_faces);
            ours += usize::from(hit);
            let by_saliency = holds(crop_box(w, h, aspect, salient_point), all_faces);
            salient += usize::from(by_saliency);
            let c = holds(centre, all_faces);
            centred += usize::from(c);
            // The same PNG each time: its crop is written beside it per shape.
            let v = vips.then(|| {
                let input = work.join(format!("{name}-{shape}.png"));
                std::fs::copy(&png, &input).unwrap();
                vips::attention(&image, &input, centre.width, centre.height).is_some_and(|at| holds(at, all_faces))
            });
            theirs += usize::from(v == Some(true));
            let mark = |b: bool| if b { "yes" } else { "**no**" };
            println!(
                "| {name} ({} face{}) | {shape} | {} ({source}) | {} | {} | {} |",
                faces.len(),
                if faces.len() == 1 { "" } else { "s" },
                mark(hit),
                mark(by_saliency),
                v.map_or("not measured", mark),
                mark(c)
            );
        }
    }
    let rate = |n: usize| format!("{n} of {count} ({:.0}%)", 100.0 * n as f64 / count.max(1) as f64);
    println!(
        "| **all** | | **{}** | **{}** | **{}** | **{}** |",
        rate(ours),
        rate(salient),
        if vips { rate(theirs) } else { "-".into() },
        rate(centred)
    );
    println!("\n| photo | size | faces labelled | focus from | finding the focus, ms (best of 5) |");
    println!("|---|---|---|---|---|");
    for line in found {
        println!("{line}");
    }
    std::fs::remove_dir_all(&work).ok();
}

/// The settings of the pipeline with the JPEG/PNG fallback alone: the crop is the same in every
/// format, and this is about where it lands.
fn only_fallback() -> RenderSettings {
    let mut settings = RenderSettings::default();
    settings.encode.avif = false;
    settings.encode.webp = false;
    settings
}

fn union(boxes: &[CropBox]) -> CropBox {
    let x = boxes.iter().map(|b| b.x).min().unwrap();
    let y = boxes.iter().map(|b| b.y).min().unwrap();
    let right = boxes.iter().map(|b| b.x + b.width).max().unwrap();
    let bottom = boxes.iter().map(|b| b.y + b.height).max().unwrap();
    CropBox { x, y, width: right - x, height: bottom - y }
}

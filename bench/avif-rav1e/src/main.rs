//! `avif-rav1e IN.ppm OUT.avif key=value…` encodes a binary PPM (P6) as an 8-bit AVIF with rav1e,
//! one thread, one tile, and prints `<bytes> <encode ms>`. Keys: `q` (rav1e quantizer 0–255),
//! `speed` (preset 0–10), `sub` (444|420), `pmin`/`pmax` (partition sizes 4–64), `cdef`, `lrf`,
//! `fastdeblock`, `rdotx`, `reduced`, `fdi` (fine directional intra), `tune` (psy|psnr).
//! Like ravif: BT.601 full range, no look-ahead, no scene detection. Unset keys keep the preset's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rav1e::prelude::*;
use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).expect("read the PPM");
    let (w, h, rgb) = parse_ppm(&data);
    let opts: HashMap<&str, &str> = args[3..].iter().map(|a| a.split_once('=').expect("key=value")).collect();
    let flag = |k: &str| opts.get(k).map(|v| *v == "1");
    let q: usize = opts.get("q").map_or(128, |v| v.parse().unwrap());
    let speed: u8 = opts.get("speed").map_or(9, |v| v.parse().unwrap());
    let sub420 = opts.get("sub") == Some(&"420");
    let block = |s: &str| match s {
        "4" => BlockSize::BLOCK_4X4,
        "8" => BlockSize::BLOCK_8X8,
        "16" => BlockSize::BLOCK_16X16,
        "32" => BlockSize::BLOCK_32X32,
        "64" => BlockSize::BLOCK_64X64,
        other => panic!("partition size {other}"),
    };
    let mut speed_settings = SpeedSettings::from_preset(speed);
    speed_settings.multiref = false;
    speed_settings.rdo_lookahead_frames = 1;
    speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
    if let (Some(min), Some(max)) = (opts.get("pmin"), opts.get("pmax")) {
        speed_settings.partition.partition_range = PartitionRange::new(block(min), block(max));
    }
    if let Some(v) = flag("cdef") {
        speed_settings.cdef = v
    }
    if let Some(v) = flag("lrf") {
        speed_settings.lrf = v
    }
    if let Some(v) = flag("fastdeblock") {
        speed_settings.fast_deblock = v
    }
    if let Some(v) = flag("rdotx") {
        speed_settings.transform.rdo_tx_decision = v
    }
    if let Some(v) = flag("reduced") {
        speed_settings.transform.reduced_tx_set = v
    }
    if let Some(v) = flag("fdi") {
        speed_settings.prediction.fine_directional_intra = v
    }
    let config = Config::new()
        .with_encoder_config(EncoderConfig {
            width: w,
            height: h,
            bit_depth: 8,
            chroma_sampling: if sub420 { ChromaSampling::Cs420 } else { ChromaSampling::Cs444 },
            pixel_range: PixelRange::Full,
            color_description: Some(ColorDescription {
                transfer_characteristics: TransferCharacteristics::SRGB,
                color_primaries: ColorPrimaries::BT709,
                matrix_coefficients: MatrixCoefficients::BT601,
            }),
            still_picture: true,
            quantizer: q,
            min_quantizer: q as u8,
            tune: if opts.get("tune") == Some(&"psnr") { Tune::Psnr } else { Tune::Psychovisual },
            tiles: 1,
            speed_settings,
            ..EncoderConfig::default()
        })
        .with_threads(1);

    let start = Instant::now();
    let mut ctx: Context<u8> = config.new_context().expect("encoder config");
    let mut frame = ctx.new_frame();
    let (y, u, v, chroma_w) = to_ycbcr(w, h, rgb, sub420);
    frame.planes[0].copy_from_raw_u8(&y, w, 1);
    frame.planes[1].copy_from_raw_u8(&u, chroma_w, 1);
    frame.planes[2].copy_from_raw_u8(&v, chroma_w, 1);
    ctx.send_frame(frame).expect("send frame");
    ctx.flush();
    let mut av1 = Vec::new();
    loop {
        match ctx.receive_packet() {
            Ok(mut packet) => av1.append(&mut packet.data),
            Err(EncoderStatus::Encoded) => continue,
            Err(EncoderStatus::LimitReached) => break,
            Err(e) => panic!("encode: {e:?}"),
        }
    }
    let ms = start.elapsed().as_millis();
    let mut avif = avif_serialize::Aviffy::new();
    avif.set_matrix_coefficients(avif_serialize::constants::MatrixCoefficients::Bt601).set_full_color_range(true);
    if sub420 {
        avif.set_chroma_subsampling((true, true));
    }
    let file = avif.to_vec(&av1, None, w as u32, h as u32, 8);
    std::fs::write(&args[2], &file).expect("write the AVIF");
    println!("{} {ms}", file.len());
}

fn parse_ppm(data: &[u8]) -> (usize, usize, &[u8]) {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while data[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !data[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&data[start..i]).unwrap().to_string());
    }
    assert_eq!(fields[0], "P6", "binary PPM only");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, &data[i + 1..i + 1 + w * h * 3])
}

/// BT.601 full range (what ravif writes); 4:2:0 chroma is the mean of each 2×2 block.
fn to_ycbcr(w: usize, h: usize, rgb: &[u8], sub420: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>, usize) {
    let (cw, ch) = if sub420 { (w.div_ceil(2), h.div_ceil(2)) } else { (w, h) };
    let mut y_plane = vec![0u8; w * h];
    let (mut cb_sum, mut cr_sum, mut count) = (vec![0f32; cw * ch], vec![0f32; cw * ch], vec![0f32; cw * ch]);
    for row in 0..h {
        for col in 0..w {
            let o = (row * w + col) * 3;
            let (r, g, b) = (f32::from(rgb[o]), f32::from(rgb[o + 1]), f32::from(rgb[o + 2]));
            let y = 0.299 * r + 0.587 * g + 0.114 * b;
            y_plane[row * w + col] = y.round().clamp(0.0, 255.0) as u8;
            let c = if sub420 { (row / 2) * cw + col / 2 } else { row * w + col };
            cb_sum[c] += (b - y) * (0.5 / (1.0 - 0.114)) + 128.0;
            cr_sum[c] += (r - y) * (0.5 / (1.0 - 0.299)) + 128.0;
            count[c] += 1.0;
        }
    }
    let mean = |sum: &[f32]| sum.iter().zip(&count).map(|(s, n)| (s / n).round().clamp(0.0, 255.0) as u8).collect();
    (y_plane, mean(&cb_sum), mean(&cr_sum), cw)
}

//! `ssimulacra2-score REFERENCE.png DISTORTED.png…` prints one SSIMULACRA2 score per distorted
//! image (same size as the reference; decode AVIF/WebP/JPEG to PNG first). Scores: 90 is visually
//! lossless, 70 high quality, 50 medium. Transparent pixels are composited on a grey checkerboard
//! first, as libjxl's reference tool does, so alpha errors count.
use ssimulacra2::{compute_frame_ssimulacra2, ColorPrimaries, Rgb, TransferCharacteristic};

fn load(path: &str) -> (Vec<[f32; 3]>, usize, usize) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{path}: {e}")).to_rgba8();
    let (w, h) = image.dimensions();
    let pixels = image
        .enumerate_pixels()
        .map(|(x, y, p)| {
            let back = if ((x / 8) + (y / 8)) % 2 == 0 { 0.4 } else { 0.6 };
            let a = f32::from(p[3]) / 255.0;
            [0, 1, 2].map(|c| f32::from(p[c]) / 255.0 * a + back * (1.0 - a))
        })
        .collect();
    (pixels, w as usize, h as usize)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (reference, rest) = args.split_first().expect("usage: ssimulacra2-score REFERENCE DISTORTED…");
    let (pixels, w, h) = load(reference);
    let source = Rgb::new(pixels, w, h, TransferCharacteristic::SRGB, ColorPrimaries::BT709).expect("reference");
    for path in rest {
        let (pixels, dw, dh) = load(path);
        assert_eq!((dw, dh), (w, h), "{path} is {dw}×{dh}, the reference {w}×{h}");
        let distorted = Rgb::new(pixels, w, h, TransferCharacteristic::SRGB, ColorPrimaries::BT709).expect("image");
        let score = compute_frame_ssimulacra2(source.clone(), distorted).expect("score");
        println!("{score:.3}");
    }
}

//! Whether a served file is what its name says: images decode, an AVIF and an MP4 are well-formed
//! ISO BMFF with a picture or frames in them, and, where an ffmpeg is at hand (the same pinned
//! build `make` fetches), they decode through it too.

use std::path::{Path, PathBuf};

/// What a served file was found to be; `Err` says why it is not a usable file of its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    /// Video samples (MP4 only).
    pub frames: Option<u32>,
    /// "ffmpeg" when ffmpeg decoded every frame too, "structure" when only the boxes were read.
    pub by: &'static str,
}

pub fn decode(format: &str, bytes: &[u8], ffmpeg: Option<&Path>) -> Result<Decoded, String> {
    let structural = match format {
        "jpeg" | "png" | "webp" => {
            let image_format = match format {
                "jpeg" => image::ImageFormat::Jpeg,
                "png" => image::ImageFormat::Png,
                _ => image::ImageFormat::WebP,
            };
            let img = image::load_from_memory_with_format(bytes, image_format).map_err(|e| e.to_string())?;
            return Ok(Decoded { width: img.width(), height: img.height(), frames: None, by: "image" });
        }
        "avif" => avif(bytes)?,
        "mp4" => mp4(bytes)?,
        other => return Err(format!("no check for format {other}")),
    };
    match ffmpeg {
        Some(ffmpeg) => {
            ffmpeg_decodes(ffmpeg, format, bytes)?;
            Ok(Decoded { by: "ffmpeg", ..structural })
        }
        None => Ok(structural),
    }
}

/// An ffmpeg to decode AVIF and MP4 with: FFMPEG_PATH, else the checkout's pinned build.
pub fn find_ffmpeg() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("FFMPEG_PATH").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86_64" };
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../.local/ffmpeg/{arch}/bin/ffmpeg"));
    local.is_file().then_some(local)
}

fn ffmpeg_decodes(ffmpeg: &Path, format: &str, bytes: &[u8]) -> Result<(), String> {
    let file = std::env::temp_dir().join(format!("media-edge-doctor-{}-{}.{format}", std::process::id(), unique()));
    std::fs::write(&file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let output = std::process::Command::new(ffmpeg)
        .args(["-v", "error", "-xerror", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output();
    let _ = std::fs::remove_file(&file);
    let output = output.map_err(|e| format!("running {}: {e}", ffmpeg.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() && stderr.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("ffmpeg cannot decode it: {}", stderr.trim()))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One ISO BMFF box: its type and payload.
type BmffBox<'a> = ([u8; 4], &'a [u8]);

/// The boxes at one level.
fn boxes(data: &[u8]) -> Result<Vec<BmffBox<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err("truncated box header".into());
        }
        let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let (header, size) = match size32 {
            0 => (8, rest.len() as u64),
            1 => {
                if rest.len() < 16 {
                    return Err("truncated large box header".into());
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[8..16]);
                (16, u64::from_be_bytes(b))
            }
            n => (8, n),
        };
        if size < header as u64 || size > rest.len() as u64 {
            return Err(format!("box {} overruns the file", String::from_utf8_lossy(&kind)));
        }
        let size = size as usize;
        out.push((kind, &rest[header..size]));
        rest = &rest[size..];
    }
    Ok(out)
}

fn child<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let (_, payload) = boxes(data).ok()?.into_iter().find(|(kind, _)| kind == *first)?;
    if rest.is_empty() {
        Some(payload)
    } else {
        child(payload, rest)
    }
}

fn brands(data: &[u8]) -> Result<Vec<[u8; 4]>, String> {
    // The top level is read whole first, so a truncated file says so.
    let ftyp = boxes(data)?.into_iter().find(|(kind, _)| kind == b"ftyp").map(|(_, p)| p).ok_or("no ftyp box")?;
    if ftyp.len() < 8 {
        return Err("short ftyp box".into());
    }
    let mut brands = vec![[ftyp[0], ftyp[1], ftyp[2], ftyp[3]]];
    brands.extend(ftyp[8..].chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]));
    Ok(brands)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// An AVIF still: the `avif` brand, an `av1C` property and the picture's size (`ispe`).
pub fn avif(data: &[u8]) -> Result<Decoded, String> {
    if !brands(data)?.iter().any(|b| b == b"avif") {
        return Err("not an AVIF (no avif brand)".into());
    }
    // meta is a full box: 4 bytes of version and flags before its children.
    let meta = child(data, &[b"meta"]).ok_or("no meta box")?;
    let properties = child(meta.get(4..).ok_or("short meta box")?, &[b"iprp", b"ipco"]).ok_or("no item properties")?;
    let props = boxes(properties)?;
    if !props.iter().any(|(k, _)| k == b"av1C") {
        return Err("no AV1 codec configuration (av1C)".into());
    }
    let ispe = props.iter().find(|(k, _)| k == b"ispe").map(|(_, p)| *p).ok_or("no picture size (ispe)")?;
    let (width, height) = (be32(ispe, 4).ok_or("short ispe")?, be32(ispe, 8).ok_or("short ispe")?);
    let mdat = child(data, &[b"mdat"]).ok_or("no mdat box")?;
    if mdat.is_empty() {
        return Err("empty mdat".into());
    }
    Ok(Decoded { width, height, frames: None, by: "structure" })
}

/// An MP4 video: an H.264 (or HEVC/AV1) track with its frame count (`stsz`) and size (`tkhd`).
pub fn mp4(data: &[u8]) -> Result<Decoded, String> {
    let brands = brands(data)?;
    if !brands.iter().any(|b| matches!(b, b"isom" | b"mp41" | b"mp42" | b"iso2" | b"iso5" | b"avc1" | b"dash")) {
        return Err(format!(
            "not an MP4 (brands {:?})",
            brands.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>()
        ));
    }
    let moov = child(data, &[b"moov"]).ok_or("no moov box (not playable before the whole file arrives)")?;
    if child(data, &[b"mdat"]).is_none_or(<[u8]>::is_empty) {
        return Err("no media data (mdat)".into());
    }
    for (kind, trak) in boxes(moov)? {
        if &kind != b"trak" {
            continue;
        }
        let Some(stbl) = child(trak, &[b"mdia", b"minf", b"stbl"]) else { continue };
        let Some(stsd) = child(stbl, &[b"stsd"]) else { continue };
        // stsd: version/flags, entry count, then the first sample entry's box header.
        let codec = stsd.get(12..16).unwrap_or_default();
        if !matches!(codec, b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"av01") {
            continue;
        }
        let stsz = child(stbl, &[b"stsz"]).ok_or("video track without sample sizes (stsz)")?;
        let frames = be32(stsz, 8).ok_or("short stsz")?;
        let tkhd = child(trak, &[b"tkhd"]).ok_or("video track without header (tkhd)")?;
        // Width and height are the header's last 8 bytes, 16.16 fixed point.
        let end = tkhd.len();
        let width = be32(tkhd, end.saturating_sub(8)).ok_or("short tkhd")? >> 16;
        let height = be32(tkhd, end.saturating_sub(4)).ok_or("short tkhd")? >> 16;
        if frames == 0 {
            return Err("video track with no frames".into());
        }
        return Ok(Decoded { width, height, frames: Some(frames), by: "structure" });
    }
    Err("no video track".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../image-processor/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn broken_files_are_refused_with_a_reason() {
        assert!(avif(b"not a box at all").is_err());
        assert!(mp4(&[0, 0, 0, 8, b'f', b't', b'y', b'p']).is_err());
        let truncated = [0u8, 0, 1, 0, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm'];
        assert!(mp4(&truncated).unwrap_err().contains("overruns"));
        assert!(decode("webp", b"RIFF....WEBP", None).is_err());
        assert!(decode("gif", b"GIF89a", None).is_err());
    }

    #[test]
    fn a_real_png_decodes() {
        let png = fixture("alpha.png");
        let d = decode("png", &png, None).unwrap();
        assert!(d.width > 0 && d.height > 0);
    }
}

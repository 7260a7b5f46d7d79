//! Walks a JPEG's marker structure to find where the image really ends.
//!
//! The JPEG decoder is lenient: given a truncated upload it fills the missing part with grey and
//! reports success. Walking the markers (segments by their lengths, entropy-coded data up to the
//! next marker) until EOI tells a complete file from a cut-off one without decoding anything, and
//! ignores data appended after EOI (motion photos append a video there).

use crate::error::ImageError;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// `Ok` if the data holds a complete JPEG (SOI … EOI), `Corrupt` otherwise.
pub fn check_complete(data: &[u8]) -> Result<(), ImageError> {
    segments(data).map(|_| ())
}

/// One marker segment: the marker byte and where the segment lies, from its 0xFF to its end
/// (for SOS, the end of the entropy-coded data that follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    marker: u8,
    start: usize,
    end: usize,
}

/// The segments between SOI and EOI (both excluded), or `Corrupt` if the file is incomplete.
fn segments(data: &[u8]) -> Result<Vec<Segment>, ImageError> {
    let truncated = || {
        ImageError::Corrupt(
            "JPEG ends before its end marker: the file is incomplete (was the upload cut short?)".into(),
        )
    };
    if data.len() < 4 || data[0] != 0xFF || data[1] != SOI {
        return Err(ImageError::Corrupt("JPEG does not start with a start-of-image marker".into()));
    }
    let mut found = Vec::new();
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while pos < data.len() && data[pos] == 0xFF && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if pos + 1 >= data.len() {
            return Err(truncated());
        }
        if data[pos] != 0xFF || data[pos + 1] == 0x00 {
            // Bytes where a marker should be (FF 00 is not a marker either): libjpeg (and so every
            // browser) skips them to the next marker ("extraneous bytes before marker"), and so
            // does this walk.
            let skipped = data[pos..].windows(2).position(|w| w[0] == 0xFF && w[1] != 0x00 && w[1] != 0xFF);
            pos += skipped.ok_or_else(truncated)?;
        }
        let start = pos;
        let marker = data[pos + 1];
        pos += 2;
        match marker {
            EOI => return Ok(found),
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => {
                found.push(Segment { marker, start, end: pos });
                continue;
            }
            _ => {}
        }
        let length = match data.get(pos..pos + 2) {
            Some(bytes) => usize::from(u16::from_be_bytes([bytes[0], bytes[1]])),
            None => return Err(truncated()),
        };
        if length < 2 {
            return Err(ImageError::Corrupt(format!("JPEG segment at byte {pos} has length {length}")));
        }
        pos += length;
        if pos > data.len() {
            return Err(truncated());
        }
        if marker == SOS {
            pos = skip_entropy_coded(data, pos).ok_or_else(truncated)?;
        }
        found.push(Segment { marker, start, end: pos });
    }
}

/// The JPEG without what a browser does not need to show it: EXIF, XMP, IPTC, comments, MPF and
/// anything after EOI (a second MPO picture, a motion photo's video). Kept: JFIF, the ICC profile
/// (colours), Adobe (colour transform) and every coding segment. `None` if the file is incomplete.
///
/// Only for originals whose EXIF orientation is upright: without EXIF a rotated photo would show
/// sideways.
pub fn strip_metadata(data: &[u8]) -> Option<Vec<u8>> {
    let segments = segments(data).ok()?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&[0xFF, SOI]);
    for segment in segments {
        let payload = data.get(segment.start + 4..segment.end).unwrap_or(&[]);
        let keep = match segment.marker {
            0xE0 => payload.starts_with(b"JFIF\0"),
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            0xEE => payload.starts_with(b"Adobe"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&data[segment.start..segment.end]);
        }
    }
    out.extend_from_slice(&[0xFF, EOI]);
    Some(out)
}

/// What the file holds beyond its first picture that variants do not carry, in words for the
/// manifest and status event: an HDR gain map (Ultra HDR, Adobe's XMP `hdrgm`, ISO 21496-1) or
/// the further pictures of a multi-picture (MPO) file. Read from the first picture's metadata.
pub fn not_carried_over(data: &[u8]) -> Vec<String> {
    let Ok(segments) = segments(data) else { return Vec::new() };
    let (mut gain_map, mut multi_picture) = (false, false);
    for segment in segments {
        let payload = data.get(segment.start + 4..segment.end).unwrap_or(&[]);
        match segment.marker {
            0xE1 if payload.starts_with(b"http://ns.adobe.com/xap/1.0/\0") => {
                gain_map |= contains(payload, b"http://ns.adobe.com/hdr-gain-map/1.0/");
            }
            0xE2 if payload.starts_with(b"urn:iso:std:iso:ts:21496:-1\0") => gain_map = true,
            0xE2 if payload.starts_with(b"MPF\0") => multi_picture = true,
            _ => {}
        }
    }
    if gain_map {
        vec!["HDR gain map (Ultra HDR): the variants show the standard-range picture".to_string()]
    } else if multi_picture {
        vec!["further pictures of a multi-picture (MPO) file: the variants show the first".to_string()]
    } else {
        Vec::new()
    }
}

/// The EXIF data (the TIFF structure after `Exif\0\0`) of the first APP1 that has it.
pub fn exif(data: &[u8]) -> Option<&[u8]> {
    segments(data).ok()?.into_iter().find_map(|segment| {
        let payload = data.get(segment.start + 4..segment.end)?;
        (segment.marker == 0xE1).then(|| payload.strip_prefix(b"Exif\0\0")).flatten()
    })
}

/// The ICC profile, reassembled from its numbered APP2 chunks; `None` if absent or incomplete.
pub fn icc_profile(data: &[u8]) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, u8, &[u8])> = segments(data)
        .ok()?
        .into_iter()
        .filter(|s| s.marker == 0xE2)
        .filter_map(|s| {
            let rest = data.get(s.start + 4..s.end)?.strip_prefix(b"ICC_PROFILE\0")?;
            Some((*rest.first()?, *rest.get(1)?, rest.get(2..)?))
        })
        .collect();
    chunks.sort_by_key(|&(sequence, _, _)| sequence);
    let count = usize::from(chunks.first()?.1);
    let numbered_in_order = chunks.iter().enumerate().all(|(i, &(sequence, _, _))| usize::from(sequence) == i + 1);
    (chunks.len() == count && numbered_in_order)
        .then(|| chunks.iter().flat_map(|&(_, _, part)| part).copied().collect())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Returns the position of the first marker after entropy-coded data that starts at `pos`
/// (0xFF00 is a stuffed data byte, 0xFFD0–D7 are restart markers inside the data).
fn skip_entropy_coded(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let offset = data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        pos += offset;
        match *data.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(scan: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, SOI, 0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        jpeg.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01]);
        jpeg.extend_from_slice(scan);
        jpeg
    }

    #[test]
    fn complete_and_truncated() {
        let mut complete = minimal(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        complete.extend_from_slice(&[0xFF, EOI]);
        assert!(check_complete(&complete).is_ok());
        let mut with_trailer = complete.clone();
        with_trailer.extend_from_slice(b"ftypmp42\xFF\xDA garbage");
        assert!(check_complete(&with_trailer).is_ok(), "data after EOI is ignored");
        for cut in 2..complete.len() - 1 {
            assert!(check_complete(&complete[..cut]).is_err(), "cut at {cut} must be refused");
        }
        assert!(check_complete(b"\xFF\xD8").is_err());
        // Junk where a marker should be is skipped, as libjpeg does.
        let mut junk = minimal(&[0x12]);
        junk.splice(8..8, *b"\xFF\x00junk\xFF\x00");
        junk.extend_from_slice(&[0xFF, EOI]);
        assert!(check_complete(&junk).is_ok());
        assert!(check_complete(b"GIF89a").is_err());
    }

    #[test]
    fn stripping_keeps_what_decoding_needs_and_drops_the_rest() {
        let mut jpeg = vec![0xFF, SOI];
        jpeg.extend_from_slice(b"\xFF\xE0\x00\x07JFIF\0");
        jpeg.extend_from_slice(b"\xFF\xE1\x00\x0AExif\0\0MM");
        jpeg.extend_from_slice(b"\xFF\xE2\x00\x0FICC_PROFILE\0\x01");
        jpeg.extend_from_slice(b"\xFF\xE2\x00\x06MPF\0");
        jpeg.extend_from_slice(b"\xFF\xFE\x00\x05hi!");
        jpeg.extend_from_slice(b"\xFF\xDB\x00\x03\x07");
        jpeg.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01, 0x12, 0xFF, 0x00, 0x34, 0xFF, EOI]);
        jpeg.extend_from_slice(b"\xFF\xD8second picture\xFF\xD9");
        let stripped = strip_metadata(&jpeg).unwrap();
        let mut expected = vec![0xFF, SOI];
        expected.extend_from_slice(b"\xFF\xE0\x00\x07JFIF\0");
        expected.extend_from_slice(b"\xFF\xE2\x00\x0FICC_PROFILE\0\x01");
        expected.extend_from_slice(b"\xFF\xDB\x00\x03\x07");
        expected.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01, 0x12, 0xFF, 0x00, 0x34, 0xFF, EOI]);
        assert_eq!(stripped, expected);
        assert!(check_complete(&stripped).is_ok());
        assert_eq!(strip_metadata(&jpeg[..jpeg.len() - 30]), None, "truncated");
        assert_eq!(not_carried_over(&jpeg).len(), 1, "an MPO's second picture");
        assert!(not_carried_over(&expected).is_empty());
    }

    #[test]
    fn exif_and_icc_are_read_from_their_segments() {
        let mut jpeg = vec![0xFF, SOI];
        jpeg.extend_from_slice(b"\xFF\xE1\x00\x0AExif\0\0MM");
        jpeg.extend_from_slice(b"\xFF\xE2\x00\x13ICC_PROFILE\0\x02\x02def"); // bytes 14..35
        jpeg.extend_from_slice(b"\xFF\xE2\x00\x13ICC_PROFILE\0\x01\x02abc");
        jpeg.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01, 0x12, 0xFF, EOI]);
        assert_eq!(exif(&jpeg), Some(&b"MM"[..]));
        assert_eq!(icc_profile(&jpeg).as_deref(), Some(&b"abcdef"[..]));
        let one_of_two = [&jpeg[..14], &jpeg[35..]].concat();
        assert_eq!(icc_profile(&one_of_two), None, "an incomplete profile is no profile");
    }

    #[test]
    fn gain_maps_are_noticed_from_either_kind_of_metadata() {
        let with = |segment: &[u8]| {
            let mut jpeg = vec![0xFF, SOI];
            jpeg.extend_from_slice(&[0xFF, segment[0]]);
            jpeg.extend_from_slice(&(segment.len() as u16 + 1).to_be_bytes());
            jpeg.extend_from_slice(&segment[1..]);
            jpeg.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01, 0x12, 0xFF, EOI]);
            not_carried_over(&jpeg)
        };
        let xmp = b"\xE1http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:hdrgm=\"http://ns.adobe.com/hdr-gain-map/1.0/\" hdrgm:Version=\"1.0\"/>";
        assert!(with(xmp)[0].starts_with("HDR gain map"));
        assert!(with(b"\xE2urn:iso:std:iso:ts:21496:-1\0\0\0")[0].starts_with("HDR gain map"));
        assert!(with(b"\xE1http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>").is_empty());
    }
}

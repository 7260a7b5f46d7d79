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
    let truncated = || ImageError::Corrupt("JPEG ends before its end marker (truncated upload?)".into());
    if data.len() < 4 || data[0] != 0xFF || data[1] != SOI {
        return Err(ImageError::Corrupt("JPEG does not start with a start-of-image marker".into()));
    }
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while pos < data.len() && data[pos] == 0xFF && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if pos + 1 >= data.len() {
            return Err(truncated());
        }
        if data[pos] != 0xFF {
            return Err(ImageError::Corrupt(format!("JPEG marker expected at byte {pos}")));
        }
        let marker = data[pos + 1];
        pos += 2;
        match marker {
            EOI => return Ok(()),
            // Standalone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
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
    }
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
        assert!(check_complete(b"GIF89a").is_err());
    }
}

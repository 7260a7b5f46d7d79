//! What an original is: the formats we accept, by name and by file extension. Shared by every
//! stage (reading sniffs it, making and ffmpeg depend on it, the manifest names it).

use image::ImageFormat;

/// The formats we accept as originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
}

impl SourceFormat {
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Png => "PNG",
            SourceFormat::Gif => "GIF",
            SourceFormat::WebP => "WebP",
        }
    }

    pub(crate) fn image_format(self) -> ImageFormat {
        match self {
            SourceFormat::Jpeg => ImageFormat::Jpeg,
            SourceFormat::Png => ImageFormat::Png,
            SourceFormat::Gif => ImageFormat::Gif,
            SourceFormat::WebP => ImageFormat::WebP,
        }
    }

    /// What a file name's extension claims, if it names one of our formats.
    pub fn from_extension(ext: &str) -> Option<SourceFormat> {
        match ext.to_ascii_lowercase().as_str() {
            // MPO: a camera's multi-picture JPEG, whose first picture is the image.
            "jpg" | "jpeg" | "jpe" | "jfif" | "mpo" => Some(SourceFormat::Jpeg),
            "png" | "apng" => Some(SourceFormat::Png),
            "gif" => Some(SourceFormat::Gif),
            "webp" => Some(SourceFormat::WebP),
            _ => None,
        }
    }
}

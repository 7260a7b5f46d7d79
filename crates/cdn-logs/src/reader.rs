//! Feeds log bytes, plain or gzipped, chunk by chunk into a [`Sink`] (the report's `Aggregate`, or
//! one side of a comparison): the same path for local files and S3 objects, with memory bounded by
//! one chunk and one line.

use std::io::{self, Read, Write};

use flate2::write::MultiGzDecoder;

use crate::aggregate::Aggregate;
use crate::json;
use crate::nginx::parse_nginx_line;
use crate::parse::{parse_line, Columns, Request};
use crate::sink::{Dialect, Sink};

/// Lines longer than this are malformed (CloudFront's are well under 8 KiB) and are skipped
/// without being buffered.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Splits bytes into lines and hands them to the aggregate.
struct LineSplitter<'a, S: Sink> {
    aggregate: &'a mut S,
    source: &'a str,
    columns: Option<Columns>,
    line_number: u64,
    partial: Vec<u8>,
    /// Inside a line already known to be too long: drop bytes until its end.
    skipping: bool,
}

impl<S: Sink> LineSplitter<'_, S> {
    fn line(&mut self, line: &[u8]) {
        self.line_number += 1;
        self.aggregate.input().lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        if self.aggregate.dialect() == Dialect::Nginx {
            match parse_nginx_line(line) {
                Ok(request) => self.aggregate.add(&Request::from(&request)),
                Err(why) => self.aggregate.input().malformed(self.source, self.line_number, why),
            }
            return;
        }
        if line[0] == b'{' {
            // Standard logging v2, JSON output: each line names its own fields.
            let aggregate = &mut *self.aggregate;
            if let Err(why) = json::read_line(line, |request| aggregate.add(request)) {
                self.aggregate.input().malformed(self.source, self.line_number, &why);
            }
            return;
        }
        if line[0] == b'#' {
            if let Some(names) = line.strip_prefix(b"#Fields:") {
                match Columns::from_header(&String::from_utf8_lossy(names)) {
                    Ok(columns) => self.columns = Some(columns),
                    Err(why) => {
                        // Lines after it are reported as having no usable header.
                        self.columns = None;
                        self.aggregate.input().malformed(self.source, self.line_number, &why.to_string());
                    }
                }
            }
            return;
        }
        let Some(columns) = &self.columns else {
            self.aggregate.input().malformed(
                self.source,
                self.line_number,
                "no usable #Fields header before this line",
            );
            return;
        };
        match parse_line(line, columns) {
            Ok(request) => self.aggregate.add(&request),
            Err(why) => self.aggregate.input().malformed(self.source, self.line_number, why),
        }
    }

    fn too_long(&mut self) {
        self.line_number += 1;
        self.aggregate.input().lines += 1;
        let why = format!("line longer than {MAX_LINE_BYTES} bytes");
        self.aggregate.input().malformed(self.source, self.line_number, &why.to_string());
    }

    fn finish(&mut self) {
        if self.skipping {
            self.skipping = false;
        } else if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.line(&last);
        }
    }
}

impl<S: Sink> Write for LineSplitter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', buf) {
            if self.skipping {
                self.skipping = false;
            } else if self.partial.len() + (newline - start) > MAX_LINE_BYTES {
                self.partial.clear();
                self.too_long();
            } else if self.partial.is_empty() {
                self.line(&buf[start..newline]);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&buf[start..newline]);
                self.line(&line);
                line.clear();
                self.partial = line;
            }
            start = newline + 1;
        }
        let rest = &buf[start..];
        if !self.skipping && !rest.is_empty() {
            if self.partial.len() + rest.len() > MAX_LINE_BYTES {
                self.partial.clear();
                self.skipping = true;
                self.too_long();
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Decoder<'a, S: Sink> {
    /// Waiting for the first two bytes, which say whether the input is gzip.
    Sniffing(LineSplitter<'a, S>, Vec<u8>),
    Plain(LineSplitter<'a, S>),
    Gzip(Box<MultiGzDecoder<LineSplitter<'a, S>>>),
}

/// One log file or object being read. Gzip is recognised by its magic bytes, not the name.
pub struct LogFeed<'a, S: Sink = Aggregate> {
    decoder: Option<Decoder<'a, S>>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl<'a, S: Sink> LogFeed<'a, S> {
    pub fn new(source: &'a str, aggregate: &'a mut S) -> Self {
        aggregate.input().files += 1;
        let splitter =
            LineSplitter { aggregate, source, columns: None, line_number: 0, partial: Vec::new(), skipping: false };
        LogFeed { decoder: Some(Decoder::Sniffing(splitter, Vec::new())) }
    }

    /// The next chunk of the file. An error means the rest of the file is unreadable (corrupt gzip).
    pub fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self.decoder.take() {
            Some(Decoder::Sniffing(splitter, mut head)) => {
                let input = splitter.aggregate.input();
                input.bytes_read = input.bytes_read.saturating_add(chunk.len() as u64);
                head.extend_from_slice(chunk);
                if head.len() < GZIP_MAGIC.len() {
                    self.decoder = Some(Decoder::Sniffing(splitter, head));
                    return Ok(());
                }
                let mut decoder = if head.starts_with(&GZIP_MAGIC) {
                    Decoder::Gzip(Box::new(MultiGzDecoder::new(splitter)))
                } else {
                    Decoder::Plain(splitter)
                };
                let result = decoder.write(&head);
                self.decoder = Some(decoder);
                result
            }
            Some(mut decoder) => {
                let input = decoder.splitter().aggregate.input();
                input.bytes_read = input.bytes_read.saturating_add(chunk.len() as u64);
                let result = decoder.write(chunk);
                self.decoder = Some(decoder);
                result
            }
            None => Ok(()),
        }
    }

    /// The end of the file: the last line without a newline counts; a gzip stream must be complete.
    pub fn finish(mut self) -> io::Result<()> {
        match self.decoder.take() {
            Some(Decoder::Sniffing(mut splitter, head)) => {
                splitter.write_all(&head)?;
                splitter.finish();
                Ok(())
            }
            Some(Decoder::Plain(mut splitter)) => {
                splitter.finish();
                Ok(())
            }
            Some(Decoder::Gzip(mut gzip)) => {
                let complete = gzip.try_finish();
                // The text after a broken stream's last newline is a fragment, not a line.
                if complete.is_ok() {
                    gzip.get_mut().finish();
                }
                complete
            }
            None => Ok(()),
        }
    }
}

impl<'a, S: Sink> Decoder<'a, S> {
    fn splitter(&mut self) -> &mut LineSplitter<'a, S> {
        match self {
            Decoder::Sniffing(splitter, _) | Decoder::Plain(splitter) => splitter,
            Decoder::Gzip(gzip) => gzip.get_mut(),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Sniffing(splitter, _) | Decoder::Plain(splitter) => splitter.write_all(bytes),
            Decoder::Gzip(gzip) => gzip.write_all(bytes),
        }
    }
}

/// Chunk size for reading files: large enough to amortise calls, small enough to stay in cache.
const CHUNK_BYTES: usize = 256 * 1024;

/// Reads a local file: Parquet (v2) by its magic bytes, anything else as text, plain or gzipped.
pub fn read_file<S: Sink>(source: &str, aggregate: &mut S, mut file: std::fs::File, on_chunk: impl Fn(usize)) {
    use std::io::Seek;
    let mut head = [0; 4];
    // nginx writes text (plain or gzipped) only.
    let is_parquet = aggregate.dialect() == Dialect::CloudFront
        && file.read_exact(&mut head).is_ok()
        && &head == crate::parquet::MAGIC;
    if let Err(e) = file.rewind() {
        aggregate.input().unreadable.push(format!("{source}: {e}"));
        return;
    }
    if is_parquet {
        on_chunk(file.metadata().map_or(0, |m| m.len()) as usize);
        if let Err(why) = crate::parquet::read(source, aggregate, file) {
            aggregate.input().unreadable.push(format!("{source}: {why}"));
        }
    } else {
        read_from(source, aggregate, file, on_chunk);
    }
}

/// Reads a whole file into the aggregate; one that breaks off is recorded as unreadable, and the
/// lines before the break still count. `on_chunk` sees each chunk's size (progress).
pub fn read_from<S: Sink>(source: &str, aggregate: &mut S, mut input: impl Read, on_chunk: impl Fn(usize)) {
    let mut buffer = vec![0; CHUNK_BYTES];
    let outcome = {
        let mut feed = LogFeed::new(source, aggregate);
        loop {
            match input.read(&mut buffer) {
                Ok(0) => break feed.finish(),
                Ok(n) => {
                    on_chunk(n);
                    if let Err(e) = feed.push(&buffer[..n]) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        }
    };
    if let Err(e) = outcome {
        aggregate.input().unreadable.push(format!("{source}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::TimeRange;
    use crate::definitions::Definitions;

    const LOG: &str = "#Version: 1.0\n#Fields: date time sc-bytes cs-uri-stem x-edge-result-type\n\
        2026-11-21\t13:00:00\t100\t/a.jpg\tHit\n\
        2026-11-21\t13:00:01\t200\t/b.jpg\tMiss\r\n\
        garbage\n\
        2026-11-21\t14:00:00\t300\t/a.jpg\tHit";

    fn read_in_chunks(bytes: &[u8], chunk: usize) -> Aggregate {
        let mut aggregate = Aggregate::new(Definitions::load().unwrap(), TimeRange::default());
        let mut feed = LogFeed::new("test.log", &mut aggregate);
        let outcome = bytes.chunks(chunk).try_for_each(|c| feed.push(c)).and_then(|()| feed.finish());
        if let Err(e) = outcome {
            aggregate.input.unreadable.push(e.to_string());
        }
        aggregate
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn any_chunking_reads_the_same_lines() {
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let a = read_in_chunks(LOG.as_bytes(), chunk);
            assert_eq!((a.total.requests, a.total.bytes, a.total.hits), (3, 600, 2), "chunk {chunk}");
            assert_eq!(a.input.malformed, 1);
            assert_eq!(a.input.malformed_examples, [("test.log".into(), 5, "fewer fields than #Fields names".into())]);
            assert!(a.input.unreadable.is_empty());
        }
    }

    #[test]
    fn gzip_by_magic_bytes_and_concatenated_members() {
        let mut two_members = gzip(&LOG.as_bytes()[..100]);
        two_members.extend(gzip(&LOG.as_bytes()[100..]));
        for chunk in [1, 5, 4096] {
            let a = read_in_chunks(&two_members, chunk);
            assert_eq!((a.total.requests, a.total.bytes), (3, 600), "chunk {chunk}");
        }
    }

    #[test]
    fn truncated_gzip_keeps_what_was_read_and_is_reported() {
        let whole = gzip(LOG.repeat(200).as_bytes());
        let a = read_in_chunks(&whole[..whole.len() / 2], 512);
        assert!(a.total.requests > 0 && a.total.requests < 600, "{}", a.total.requests);
        assert_eq!(a.input.unreadable.len(), 1, "{:?}", a.input.unreadable);
    }

    #[test]
    fn v2_json_lines_count_as_the_legacy_lines_they_match() {
        let json = "{\"timestamp\":\"1795266000\",\"sc-bytes\":\"100\",\"cs-uri-stem\":\"/a.jpg\",\"x-edge-result-type\":\"Hit\"}\n\
            {\"timestamp\":\"1795266001\",\"sc-bytes\":\"200\",\"cs-uri-stem\":\"/b.jpg\",\"x-edge-result-type\":\"Miss\"}\r\n\
            {\"timestamp\":\"1795266001\",\"sc-bytes\":\n\
            {\"timestamp\":\"1795269600\",\"sc-bytes\":300,\"cs-uri-stem\":\"/a.jpg\",\"x-edge-result-type\":\"Hit\"}";
        let legacy = read_in_chunks(LOG.as_bytes(), 4096);
        for chunk in [1, 7, 4096] {
            for bytes in [json.as_bytes().to_vec(), gzip(json.as_bytes())] {
                let a = read_in_chunks(&bytes, chunk);
                assert_eq!(a.total, legacy.total, "chunk {chunk}");
                assert_eq!(a.hours, legacy.hours, "chunk {chunk}");
                assert_eq!(a.objects["/a.jpg"].all, legacy.objects["/a.jpg"].all);
                assert_eq!(a.input.malformed, 1);
                assert!(a.input.malformed_examples[0].2.starts_with("not a v2 JSON record"), "{:?}", a.input);
            }
        }
    }

    #[test]
    fn lines_before_fields_and_overlong_lines_are_malformed() {
        let overlong = format!("2026-11-21\t13:00:00\t1\t/{}\tHit\n", "x".repeat(MAX_LINE_BYTES));
        let data = LOG.find("\n2026").unwrap() + 1;
        let log = format!("2026-11-21\t13:00:00\t1\t/early\tHit\n{}{overlong}{}", &LOG[..data], &LOG[data..]);
        let a = read_in_chunks(log.as_bytes(), 1000);
        assert_eq!(a.total.requests, 3);
        assert_eq!(a.input.malformed, 3, "{:?}", a.input.malformed_examples);
        assert_eq!(a.input.malformed_examples[0].2, "no usable #Fields header before this line");
        assert!(a.input.malformed_examples[1].2.contains("longer than"));
    }
}

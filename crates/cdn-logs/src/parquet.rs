//! CloudFront standard logging (v2) in its Parquet output. Columns are found by name, compared
//! without case and punctuation, so `cs(User-Agent)`, `cs_user_agent` and `CS-USER-AGENT` are one
//! column (the delivery may rename fields to Parquet-friendly names). Only the columns the report
//! reads are decoded.

use std::borrow::Cow;
use std::sync::Arc;

use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use crate::json::{add_record, Record, Value};
use crate::parse::civil_from_timestamp;
use crate::sink::Sink;

/// Parquet files start (and end) with these bytes.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// A log name with case and punctuation dropped: `cs(User-Agent)` → `csuseragent`.
fn normalized(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The report's fields by normalized name.
const FIELDS: [&str; 14] = [
    "timestamp",
    "timestampms",
    "date",
    "time",
    "scbytes",
    "csuristem",
    "scstatus",
    "csuseragent",
    "xedgeresulttype",
    "sccontenttype",
    "viewerrequestlogdata",
    "csmethod",
    "timetaken",
    "sccontentlen",
];

/// Reads every row of a Parquet log into the aggregate. A file that cannot be opened or breaks
/// off is an error (recorded as unreadable by the caller); rows read before a break still count,
/// and a row without a needed field is a malformed line, numbered from 1.
pub fn read<R: ChunkReader + 'static, S: Sink>(source: &str, aggregate: &mut S, input: R) -> Result<(), String> {
    let stats = aggregate.input();
    stats.files += 1;
    stats.bytes_read = stats.bytes_read.saturating_add(input.len());
    let reader = SerializedFileReader::new(input).map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let root = reader.metadata().file_metadata().schema_descr().root_schema();
    let selected: Vec<Arc<Type>> =
        root.get_fields().iter().filter(|f| FIELDS.contains(&normalized(f.name()).as_str())).cloned().collect();
    let projection = Type::group_type_builder(root.name()).with_fields(selected).build().map_err(|e| e.to_string())?;
    let rows = reader.get_row_iter(Some(projection)).map_err(|e| e.to_string())?;
    for (index, row) in rows.enumerate() {
        let row = row.map_err(|e| format!("broke off after {index} rows: {e}"))?;
        aggregate.input().lines += 1;
        let mut record = Record::default();
        for (name, field) in row.get_column_iter() {
            let value = value(field);
            let typed_time = matches!(field, Field::TimestampMillis(_) | Field::TimestampMicros(_));
            let slot = match normalized(name).as_str() {
                // A typed timestamp column is already seconds (see `value`), whatever its name.
                "timestamp" | "timestampms" if typed_time => &mut record.timestamp,
                "timestamp" => &mut record.timestamp,
                "timestampms" => &mut record.timestamp_ms,
                "date" => &mut record.date,
                "time" => &mut record.time,
                "scbytes" => &mut record.bytes,
                "csuristem" => &mut record.uri,
                "scstatus" => &mut record.status,
                "csuseragent" => &mut record.user_agent,
                "xedgeresulttype" => &mut record.result_type,
                "sccontenttype" => &mut record.content_type,
                "viewerrequestlogdata" => &mut record.log_data,
                "csmethod" => &mut record.method,
                "timetaken" => &mut record.time_taken,
                "sccontentlen" => &mut record.content_len,
                _ => continue,
            };
            *slot = Some(value);
        }
        if let Err(why) = add_record(&record, |request| aggregate.add(request)) {
            aggregate.input().malformed(source, index as u64 + 1, &why);
        }
    }
    Ok(())
}

/// A Parquet value as a v2 field value: text, a whole number, a number or missing.
fn value(field: &Field) -> Value<'_> {
    match field {
        Field::Str(text) if text == "-" => Value::Missing,
        Field::Str(text) => Value::Text(Cow::Borrowed(text)),
        Field::Bytes(bytes) => match std::str::from_utf8(bytes.data()) {
            Ok("-") | Err(_) => Value::Missing,
            Ok(text) => Value::Text(Cow::Owned(text.to_string())),
        },
        Field::Byte(n) => signed(i64::from(*n)),
        Field::Short(n) => signed(i64::from(*n)),
        Field::Int(n) => signed(i64::from(*n)),
        Field::Long(n) => signed(*n),
        Field::UByte(n) => Value::Integer(u64::from(*n)),
        Field::UShort(n) => Value::Integer(u64::from(*n)),
        Field::UInt(n) => Value::Integer(u64::from(*n)),
        Field::ULong(n) => Value::Integer(*n),
        Field::Float(n) => Value::Number(f64::from(*n)),
        Field::Double(n) => Value::Number(*n),
        // A typed date column: the text the legacy and JSON formats carry.
        Field::Date(days) => {
            let (y, m, d, ..) = civil_from_timestamp(i64::from(*days) * 86_400);
            Value::Text(Cow::Owned(format!("{y:04}-{m:02}-{d:02}")))
        }
        // A typed timestamp column: seconds, as `timestamp` carries them.
        Field::TimestampMillis(ms) => signed(ms.div_euclid(1000)),
        Field::TimestampMicros(us) => signed(us.div_euclid(1_000_000)),
        _ => Value::Missing,
    }
}

fn signed(n: i64) -> Value<'static> {
    u64::try_from(n).map_or(Value::Missing, Value::Integer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregate, TimeRange};
    use crate::definitions::Definitions;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::writer::SerializedFileWriter;

    /// A Parquet log with string columns named as a delivery might name them.
    fn parquet_log(columns: &[(&str, Vec<Option<&str>>)], long: Option<(&str, Vec<i64>)>) -> bytes::Bytes {
        use parquet::basic::{ConvertedType, Repetition, Type as Physical};
        let mut fields: Vec<Arc<Type>> = columns
            .iter()
            .map(|(name, _)| {
                let field = Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
                    .with_repetition(Repetition::OPTIONAL)
                    .with_converted_type(ConvertedType::UTF8);
                Arc::new(field.build().unwrap())
            })
            .collect();
        if let Some((name, _)) = &long {
            let field = Type::primitive_type_builder(name, Physical::INT64).with_repetition(Repetition::REQUIRED);
            fields.push(Arc::new(field.build().unwrap()));
        }
        let schema = Arc::new(Type::group_type_builder("schema").with_fields(fields).build().unwrap());
        let mut buffer = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut buffer, schema, Default::default()).unwrap();
        let mut group = writer.next_row_group().unwrap();
        for (_, values) in columns {
            let mut column = group.next_column().unwrap().unwrap();
            let present: Vec<ByteArray> = values.iter().flatten().map(|v| ByteArray::from(*v)).collect();
            let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
            column.typed::<ByteArrayType>().write_batch(&present, Some(&levels), None).unwrap();
            column.close().unwrap();
        }
        if let Some((_, values)) = &long {
            let mut column = group.next_column().unwrap().unwrap();
            column.typed::<Int64Type>().write_batch(values, None, None).unwrap();
            column.close().unwrap();
        }
        group.close().unwrap();
        writer.close().unwrap();
        bytes::Bytes::from(buffer)
    }

    fn aggregate() -> Aggregate {
        Aggregate::new(Definitions::load().unwrap(), TimeRange::default())
    }

    #[test]
    fn columns_by_name_whatever_the_delivery_calls_them() {
        let log = parquet_log(
            &[
                ("cs_uri_stem", vec![Some("/a.avif"), Some("/b.webp"), Some("/a.avif")]),
                ("sc_bytes", vec![Some("100"), Some("200"), Some("300")]),
                ("x_edge_result_type", vec![Some("Hit"), Some("Miss"), None]),
                ("sc_content_type", vec![Some("image/avif"), Some("image/webp"), Some("-")]),
                ("c_ip", vec![Some("203.0.113.7"), Some("203.0.113.8"), Some("203.0.113.9")]),
            ],
            Some(("timestamp_ms", vec![1_795_266_000_000, 1_795_266_001_500, 1_795_269_600_000])),
        );
        let mut a = aggregate();
        read("log.parquet", &mut a, log).unwrap();
        assert_eq!((a.total.requests, a.total.bytes, a.total.hits, a.total.misses), (3, 600, 1, 1));
        assert_eq!((a.input.lines, a.input.malformed, a.input.files), (3, 0, 1));
        assert_eq!(a.objects["/a.avif"].all.requests, 2);
        assert_eq!(a.hours.len(), 2);
        assert_eq!(a.by_content_type()["image/webp"].bytes, 200);
    }

    #[test]
    fn rows_without_a_needed_field_are_malformed_and_broken_files_are_errors() {
        let log = parquet_log(
            &[
                ("timestamp", vec![Some("1795266000"), Some("1795266000"), Some("1795266000")]),
                ("cs(User-Agent)", vec![Some("Mobi"), None, None]),
                ("sc-bytes", vec![Some("1"), Some("12k"), Some("3")]),
                ("cs-uri-stem", vec![Some("/a"), Some("/b"), None]),
            ],
            None,
        );
        let mut a = aggregate();
        read("log.parquet", &mut a, log.clone()).unwrap();
        assert_eq!(a.total.requests, 1);
        let why: Vec<_> = a.input.malformed_examples.iter().map(|(_, line, why)| (*line, why.as_str())).collect();
        assert_eq!(why, [(2, "bad sc-bytes"), (3, "empty cs-uri-stem")]);

        let truncated = log.slice(..log.len() - 10);
        let error = read("cut.parquet", &mut aggregate(), truncated).unwrap_err();
        assert!(error.starts_with("not a readable Parquet file"), "{error}");
    }
}

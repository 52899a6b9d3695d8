//! CSV: MISP's CSV export and plain `value[,type]` rows.
//!
//! - With a header (first non-comment row naming a known column), columns
//!   are found by name: value (`value`, `ioc`, `indicator`, `observable`),
//!   type (`type`, `ioc_type`), `comment`/`description`, `to_ids`,
//!   `date`/`first_seen`/`timestamp`, tags (`attribute_tag`, `tags`,
//!   comma-separated). MISP's export header is
//!   `uuid,event_id,category,type,value,comment,to_ids,date[,…]`.
//! - Without a header, column 1 is the value and column 2 (optional) the type.
//!
//! Types are MISP attribute types (mapped by [`super::misp`], shared with
//! the MISP JSON importer) or iocd type names (`ipv4`, `sha256` …; plain
//! CSV only). An empty type means "detect". Rows of other types are skipped.
//!
//! A row too short to hold the value column, or not UTF-8, is a per-line
//! error; the rest of the file imports. `#` lines are comments.

use super::{
    apply_tag, blank, clip, misp, normalize_as, parse_time_str, Ctx, FileError, Format, Item,
    ItemError, Want,
};
use crate::ioc::{detect, IocType};
use std::collections::VecDeque;
use std::str::FromStr;

/// Header names that mark a first row as a header.
const HEADER_WORDS: &[&str] = &[
    "value",
    "ioc",
    "indicator",
    "observable",
    "type",
    "ioc_type",
    "uuid",
    "event_id",
    "category",
    "to_ids",
    "comment",
];

/// True when `fields` (a first row) look like a CSV header.
pub(crate) fn is_header<'f>(fields: impl IntoIterator<Item = &'f str>) -> bool {
    fields
        .into_iter()
        .any(|f| HEADER_WORDS.contains(&f.trim().trim_matches('"').to_ascii_lowercase().as_str()))
}

/// True when a headerless first row reads `value,type` (`1.2.3.4,ipv4`,
/// `evil.com,domain`).
pub(crate) fn is_value_type_row(line: &str) -> bool {
    let mut it = line.split(',');
    let (Some(v), Some(t), None) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    detect(v).is_ok() && (IocType::from_str(t).is_ok() || misp::attribute_parts(t, v).is_some())
}

/// Where the columns are.
#[derive(Debug)]
struct Layout {
    value: usize,
    ty: Option<usize>,
    comment: Option<usize>,
    to_ids: Option<usize>,
    date: Option<usize>,
    tags: Option<usize>,
    /// MISP export: the type column holds MISP types only.
    misp: bool,
}

impl Layout {
    fn plain() -> Layout {
        Layout {
            value: 0,
            ty: Some(1),
            comment: None,
            to_ids: None,
            date: None,
            tags: None,
            misp: false,
        }
    }

    fn from_header(fields: &[String]) -> Result<Layout, FileError> {
        let names: Vec<String> = fields
            .iter()
            .map(|f| f.trim().to_ascii_lowercase())
            .collect();
        let find = |wanted: &[&str]| {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n == w))
        };
        let value = find(&["value", "ioc", "indicator", "observable"]).ok_or_else(|| {
            FileError::WrongFormat {
                format: Format::Csv,
                reason: format!(
                    "the header ({}) has no value column (value, ioc, indicator or observable)",
                    clip(&names.join(","))
                ),
            }
        })?;
        Ok(Layout {
            value,
            ty: find(&["type", "ioc_type"]),
            comment: find(&["comment", "description"]),
            to_ids: find(&["to_ids"]),
            date: find(&["date", "first_seen", "timestamp"]),
            tags: find(&["attribute_tag", "tags", "tag"]),
            misp: find(&["event_id", "category"]).is_some(),
        })
    }
}

/// Iterator over the items of a CSV file (see the module docs).
pub struct CsvItems<'a> {
    records: ::csv::ByteRecordsIntoIter<&'a [u8]>,
    layout: Layout,
    /// Items of a row that yields more than one (`domain|ip`).
    pending: VecDeque<Item>,
    ctx: Ctx,
    /// A first data row read while looking for the header.
    first: Option<::csv::ByteRecord>,
}

impl<'a> CsvItems<'a> {
    /// Reads the first row to learn the layout.
    ///
    /// Errors: [`FileError::WrongFormat`] for a header without a value column.
    pub(crate) fn new(bytes: &'a [u8], ctx: Ctx) -> Result<CsvItems<'a>, FileError> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let mut records = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(bytes)
            .into_byte_records();
        let mut layout = Layout::plain();
        let mut first = None;
        if let Some(Ok(rec)) = records.next() {
            let fields: Vec<String> = rec
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            if is_header(fields.iter().map(String::as_str)) {
                layout = Layout::from_header(&fields)?;
            } else {
                first = Some(rec);
            }
        }
        // A first row that failed to read (not UTF-8 is fine for byte
        // records, so only an I/O-level error) is dropped: the reader over a
        // slice does not fail that way.
        Ok(CsvItems {
            records,
            layout,
            pending: VecDeque::new(),
            ctx,
            first,
        })
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> usize {
        self.records.reader().position().byte() as usize
    }

    fn row(&mut self, rec: &::csv::ByteRecord) {
        let line = rec.position().map(|p| p.line() as usize);
        let err = |reason: String| Item::Error(ItemError { line, reason });
        let mut fields = Vec::with_capacity(rec.len());
        for (i, f) in rec.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s.trim()),
                Err(e) => {
                    self.pending.push_back(err(format!(
                        "column {} is not valid UTF-8 (bad byte at offset {}); re-encode the file as UTF-8",
                        i + 1,
                        e.valid_up_to()
                    )));
                    return;
                }
            }
        }
        if fields.iter().all(|f| f.is_empty()) {
            return;
        }
        let l = &self.layout;
        let Some(value) = fields.get(l.value).copied() else {
            self.pending.push_back(err(format!(
                "row has {} column(s); the value is in column {}",
                fields.len(),
                l.value + 1
            )));
            return;
        };
        let col = |c: Option<usize>| {
            c.and_then(|i| fields.get(i).copied())
                .filter(|s| !s.is_empty())
        };
        let ty = col(l.ty);
        let parts: Vec<(Want, &str)> = match ty {
            None => vec![(Want::Any, value)],
            Some(t) => match misp::attribute_parts(t, value) {
                Some(p) => p,
                None => match IocType::from_str(t) {
                    Ok(it) if !l.misp => vec![(Want::Type(it), value)],
                    _ => {
                        self.pending
                            .push_back(Item::Unmapped(misp::unmapped_name(t)));
                        return;
                    }
                },
            },
        };
        let mut base = blank();
        base.description = col(l.comment).map(str::to_string);
        if let Some(t) = col(l.to_ids) {
            base.to_ids = matches!(t.to_ascii_lowercase().as_str(), "1" | "true" | "yes");
        }
        base.seen = col(l.date).and_then(parse_time_str);
        for tag in col(l.tags).into_iter().flat_map(|t| t.split(',')) {
            apply_tag(&mut base, tag);
        }
        for (want, raw) in parts {
            match normalize_as(raw, want) {
                Ok(n) => {
                    let mut o = base.clone();
                    o.ioc_type = n.ioc_type;
                    o.value = n.value;
                    o.reserved = n.reserved;
                    self.pending
                        .push_back(Item::Observation(self.ctx.finish(o)));
                }
                Err(e) => self.pending.push_back(err(match ty {
                    Some(t) => format!("{e} (type {t})"),
                    None => e.to_string(),
                })),
            }
        }
    }
}

impl Iterator for CsvItems<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            let rec = match self.first.take() {
                Some(r) => r,
                None => match self.records.next()? {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map(|p| p.line() as usize);
                        return Some(Item::Error(ItemError {
                            line,
                            reason: format!("unreadable row: {e}"),
                        }));
                    }
                },
            };
            self.row(&rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_bytes, ImportDefaults, Parsed};

    fn parse(bytes: &[u8]) -> Parsed {
        parse_bytes(bytes, "x.csv", Format::Csv, &ImportDefaults::default()).unwrap()
    }

    fn values(p: &Parsed) -> Vec<(IocType, &str)> {
        p.observations
            .iter()
            .map(|o| (o.ioc_type, o.value.as_str()))
            .collect()
    }

    #[test]
    fn misp_export_columns() {
        let p = parse(
            b"uuid,event_id,category,type,value,comment,to_ids,date\n\
              u1,1,Network activity,domain|ip,evil.com|1.2.3.4,c2 pair,1,1600000000\n\
              u2,1,Payload delivery,filename|sha1,a.exe|DA39A3EE5E6B4B0D3255BFEF95601890AFD80709,,0,20200101\n\
              u3,1,Other,text,hello,,0,1600000000\n\
              u4,1,Network activity,link,https://blog.example/report,,0,1600000000\n\
              u5,1,Network activity,ip-dst\n",
        );
        assert_eq!(
            values(&p),
            vec![
                (IocType::Domain, "evil.com"),
                (IocType::Ipv4, "1.2.3.4"),
                (IocType::Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            ]
        );
        assert_eq!(p.skipped, 2);
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, Some(6));
        assert!(
            p.errors[0].reason.contains("value is in column 5"),
            "{}",
            p.errors[0].reason
        );
        assert_eq!(p.observations[0].description.as_deref(), Some("c2 pair"));
        assert!(p.observations[0].to_ids && !p.observations[2].to_ids);
        assert_eq!(
            p.observations[2].seen.map(|t| t.timestamp()),
            Some(1_577_836_800)
        );
    }

    #[test]
    fn plain_rows_with_and_without_header() {
        let with = parse(b"value,type\n1.2.3.4,ipv4\nevil.com,\nhxxp://x[.]com/a,url\n");
        let without = parse(b"1.2.3.4,ipv4\nevil.com\nhxxp://x[.]com/a,url\n");
        for p in [&with, &without] {
            assert_eq!(
                values(p),
                vec![
                    (IocType::Ipv4, "1.2.3.4"),
                    (IocType::Domain, "evil.com"),
                    (IocType::Url, "http://x.com/a")
                ]
            );
            assert!(p.errors.is_empty(), "{:?}", p.errors);
        }
    }

    #[test]
    fn header_without_value_column_is_a_file_error() {
        let e = parse_bytes(
            b"uuid,type\n1,2\n",
            "x.csv",
            Format::Csv,
            &ImportDefaults::default(),
        )
        .err();
        assert!(
            matches!(
                e,
                Some(FileError::WrongFormat {
                    format: Format::Csv,
                    ..
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn sniffing_helpers() {
        assert!(is_header("uuid,event_id,category,type,value".split(',')));
        assert!(!is_header("1.2.3.4,ipv4".split(',')));
        assert!(is_value_type_row("1.2.3.4,ipv4"));
        assert!(is_value_type_row("evil.com,domain"));
        assert!(!is_value_type_row("evil.com,hello"));
    }
}

//! CSV: MISP's CSV export, plain `value[,type]` rows, and the tables
//! researchers publish with one column per IOC kind.
//!
//! - With a header (first non-comment row naming a known column), columns
//!   are found by name (case-insensitive; `_`, `-` and spaces alike):
//!   value (`value`, `ioc`, `indicator`, `observable`), type (`type`,
//!   `ioc_type`), `comment`/`description`/`notes`, `to_ids`,
//!   `date`/`first_seen`/`timestamp`, tags (`attribute_tag`, `tags`,
//!   comma-separated), malware family (`malware family`, `family`: a tag).
//!   MISP's export header is
//!   `uuid,event_id,category,type,value,comment,to_ids,date[,…]`.
//! - A header without a value column but naming IOC columns
//!   ([`ioc_column`]: `Domain`, `IP`, `URL`, `MD5`, `SHA1`, `SHA256`,
//!   `SHA512`, `Hash`, `C2`, `Email` …) takes an IOC from every non-empty
//!   cell of each such column, typed by the column (`C2` and `Hash` by
//!   content): `Domain,Relevant resolution,Malware Family` gives the
//!   domains (tagged with the family), `MD5,SHA256,VirusTotal` both hashes
//!   of each row. A cell that is not of its column's kind but is another
//!   IOC (a URL in the Domain column) is taken as what it is. Other
//!   columns (`Relevant resolution`, `VirusTotal`) are not read. `--column NAME` ([`super::ImportDefaults::columns`]) names
//!   the IOC columns instead, for any other layout.
//! - A header naming neither is a file error that says so and how to go on
//!   (`--format text`, `--column`), not a rejected row per line.
//! - Without a header, column 1 is the value and column 2 (optional) the type.
//!
//! Types are MISP attribute types (mapped by [`super::misp`], shared with
//! the MISP JSON importer) or iocd type names (`ipv4`, `sha256` …; plain
//! CSV only). An empty type means "detect". Rows of other types are skipped.
//!
//! A row too short to hold the value column, or not UTF-8, is a per-line
//! error; the rest of the file imports. `#` lines are comments.

use super::{
    apply_tag, blank, clip, misp, normalize_as, parse_time_str, Ctx, FileError, Item, ItemError,
    Want,
};
use crate::ioc::{detect, IocType};
use std::collections::VecDeque;
use std::str::FromStr;

/// Header names that mark a first row as a header (in [`column_name`]
/// form), besides the IOC columns of [`ioc_column`].
const HEADER_WORDS: &[&str] = &[
    "value",
    "ioc",
    "indicator",
    "observable",
    "type",
    "ioc type",
    "uuid",
    "event id",
    "category",
    "to ids",
    "comment",
    "description",
];

/// A header cell as compared: trimmed, quotes dropped, lower-case, `_` and
/// `-` as spaces, runs of spaces as one (`"SHA-256"` → `sha 256`).
pub(crate) fn column_name(f: &str) -> String {
    let f = f
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase()
        .replace(['_', '-'], " ");
    f.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The IOC kind a column named `name` (in [`column_name`] form) holds, if
/// it names one: `domain(s)`/`hostname`/`host`/`fqdn` → domain,
/// `ip(s)`/`ip address`/`ipv4`/`ipv6`/`ip src`/`ip dst` → IP, `url(s)` →
/// URL, `md5`/`sha1`/`sha256`/`sha512` (also `sha 256`) → that hash,
/// `hash(es)`/`file hash` → a hash by length, `c2`/`c&c`/`c2 server` → by
/// content, `email`/`e mail`/`email address`/`sender` → email.
pub(crate) fn ioc_column(name: &str) -> Option<Want> {
    Some(match name {
        "domain" | "domains" | "hostname" | "host" | "fqdn" | "domain name" => {
            Want::Type(IocType::Domain)
        }
        "ip" | "ips" | "ip address" | "ip addresses" | "ipv4" | "ipv6" | "ip src" | "ip dst"
        | "ip addr" => Want::Ip,
        "url" | "urls" => Want::Type(IocType::Url),
        "md5" => Want::Type(IocType::Md5),
        "sha1" | "sha 1" => Want::Type(IocType::Sha1),
        "sha256" | "sha 256" => Want::Type(IocType::Sha256),
        "sha512" | "sha 512" => Want::Type(IocType::Sha512),
        "hash" | "hashes" | "file hash" | "c2" | "c&c" | "c2 server" | "c2 servers" | "cnc" => {
            Want::Any
        }
        "email" | "emails" | "e mail" | "email address" | "sender" => Want::Type(IocType::Email),
        _ => return None,
    })
}

/// True when `fields` (a first row) look like a CSV header: a cell names a
/// known column and no cell is itself an IOC (`evil.com,domain` is a
/// `value,type` row, not a header).
pub(crate) fn is_header<'f>(fields: impl IntoIterator<Item = &'f str>) -> bool {
    let mut named = false;
    for f in fields {
        if detect(f.trim().trim_matches('"')).is_ok() {
            return false;
        }
        let n = column_name(f);
        named |= HEADER_WORDS.contains(&n.as_str()) || ioc_column(&n).is_some();
    }
    named
}

/// True when a first row is a header iocd does not know
/// (`Family,First reported,Notes`): two or more cells, none an IOC, and
/// the second no type name either (so it is no `value,type` row with a
/// bad value). Such a file is reported as an unrecognized layout instead
/// of rejecting or skipping every row.
pub(crate) fn is_unknown_header<'f>(fields: impl IntoIterator<Item = &'f str>) -> bool {
    let cells: Vec<&str> = fields
        .into_iter()
        .map(|f| f.trim().trim_matches('"'))
        .collect();
    let is_type = |t: &str| IocType::from_str(t).is_ok() || misp::attribute_parts(t, "").is_some();
    cells.len() >= 2
        && cells.iter().all(|c| !c.is_empty() && detect(c).is_err())
        && !is_type(cells[1])
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

/// Where the IOCs of a row are.
#[derive(Debug)]
enum Iocs {
    /// One value column (MISP export, plain CSV), typed by the type column.
    Value(usize),
    /// IOC columns: (index, header text, kind).
    Columns(Vec<(usize, String, Want)>),
}

/// Where the columns are.
#[derive(Debug)]
struct Layout {
    iocs: Iocs,
    ty: Option<usize>,
    comment: Option<usize>,
    to_ids: Option<usize>,
    date: Option<usize>,
    tags: Option<usize>,
    /// Malware family: its cell becomes a tag.
    family: Option<usize>,
    /// MISP export: the type column holds MISP types only.
    misp: bool,
}

impl Layout {
    fn plain() -> Layout {
        Layout {
            iocs: Iocs::Value(0),
            ty: Some(1),
            comment: None,
            to_ids: None,
            date: None,
            tags: None,
            family: None,
            misp: false,
        }
    }

    /// The layout a header names; `columns` (`--column`) forces the IOC
    /// columns.
    ///
    /// Errors: [`FileError::CsvLayout`] for a header with neither a value
    /// column nor an IOC column, or without a `--column` it names.
    fn from_header(fields: &[String], columns: &[String]) -> Result<Layout, FileError> {
        let names: Vec<String> = fields.iter().map(|f| column_name(f)).collect();
        let find = |wanted: &[&str]| {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n == w))
        };
        let shown = || {
            clip(
                &fields
                    .iter()
                    .map(|f| f.trim())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        let iocs = if !columns.is_empty() {
            let mut picked = Vec::new();
            for c in columns {
                let want = column_name(c);
                let Some(i) = names.iter().position(|n| *n == want) else {
                    return Err(FileError::CsvLayout(format!(
                        "--column '{c}' is not in the header ({})",
                        shown()
                    )));
                };
                picked.push((
                    i,
                    fields[i].trim().to_string(),
                    ioc_column(&want).unwrap_or(Want::Any),
                ));
            }
            Iocs::Columns(picked)
        } else if let Some(v) = find(&["value", "ioc", "indicator", "observable"]) {
            Iocs::Value(v)
        } else {
            let picked: Vec<(usize, String, Want)> = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| ioc_column(n).map(|w| (i, fields[i].trim().to_string(), w)))
                .collect();
            if picked.is_empty() {
                return Err(FileError::CsvLayout(format!(
                    "the header ({}) names no IOC column (value, ioc, indicator, or a kind such as Domain, IP, URL, MD5, SHA256, C2, Email). Name the IOC columns with --column NAME, or read the file as one IOC per line with --format text",
                    shown()
                )));
            }
            Iocs::Columns(picked)
        };
        Ok(Layout {
            iocs,
            ty: find(&["type", "ioc type"]),
            comment: find(&["comment", "description", "notes"]),
            to_ids: find(&["to ids"]),
            date: find(&["date", "first seen", "timestamp"]),
            tags: find(&["attribute tag", "tags", "tag"]),
            family: find(&["malware family", "family", "malware"]),
            misp: find(&["event id", "category"]).is_some(),
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
    /// Errors: [`FileError::CsvLayout`] for a header that names no IOC column.
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
            let cells = || fields.iter().map(String::as_str);
            if is_header(cells()) || is_unknown_header(cells()) || !ctx.defaults.columns.is_empty()
            {
                layout = Layout::from_header(&fields, &ctx.defaults.columns)?;
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
        let col = |c: Option<usize>| {
            c.and_then(|i| fields.get(i).copied())
                .filter(|s| !s.is_empty())
        };
        let ty = col(l.ty);
        // (kind, raw value, what to name in an error)
        let parts: Vec<(Want, &str, String)> = match &l.iocs {
            Iocs::Columns(cols) => cols
                .iter()
                .filter_map(|(i, name, want)| {
                    col(Some(*i)).map(|v| (*want, v, format!("column '{name}'")))
                })
                .collect(),
            Iocs::Value(vi) => {
                let Some(value) = fields.get(*vi).copied() else {
                    self.pending.push_back(err(format!(
                        "row has {} column(s); the value is in column {}",
                        fields.len(),
                        vi + 1
                    )));
                    return;
                };
                let what = ty.map(|t| format!("type {t}")).unwrap_or_default();
                match ty {
                    None => vec![(Want::Any, value, what)],
                    Some(t) => match misp::attribute_parts(t, value) {
                        Some(p) => p.into_iter().map(|(w, v)| (w, v, what.clone())).collect(),
                        None => match IocType::from_str(t) {
                            Ok(it) if !l.misp => vec![(Want::Type(it), value, what)],
                            _ => {
                                self.pending
                                    .push_back(Item::Unmapped(misp::unmapped_name(t)));
                                return;
                            }
                        },
                    },
                }
            }
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
        if let Some(f) = col(l.family) {
            apply_tag(&mut base, f);
        }
        let direction = ty.and_then(misp::attribute_direction);
        let by_column = matches!(l.iocs, Iocs::Columns(_));
        for (want, raw, what) in parts {
            // A table column is a hint, not a promise: a URL in the Domain
            // column, a SHA-256 in the MD5 column is still that IOC.
            let n = normalize_as(raw, want).or_else(|e| {
                if by_column {
                    detect(raw).map_err(|_| e)
                } else {
                    Err(e)
                }
            });
            match n {
                Ok(n) => {
                    let mut o = base.clone();
                    o.ioc_type = n.ioc_type;
                    o.value = n.value;
                    o.reserved = n.reserved;
                    let mut o = self.ctx.finish(o);
                    misp::set_direction(&mut o, direction);
                    self.pending.push_back(Item::Observation(o));
                }
                Err(e) if what.is_empty() => self.pending.push_back(err(e.to_string())),
                Err(e) => self.pending.push_back(err(format!("{e} ({what})"))),
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
    use crate::import::{parse_bytes, Format, ImportDefaults, Parsed};

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
        assert!(matches!(e, Some(FileError::CsvLayout(_))), "{e:?}");
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

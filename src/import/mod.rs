//! Importers: one file per input format, each a pure function from bytes to
//! [`Observation`]s plus per-item errors. None of them touches the store; the
//! CLI (`cli::import_cmd`) batches what they yield into `Store::ingest`.
//!
//! | format | file | follows |
//! |--------|------|---------|
//! | [`Format::Misp`] | [`misp`] | MISP core format, event JSON (`{"Event":…}`, `{"response":[…]}`, lists) |
//! | [`Format::Csv`]  | [`csv`]  | MISP CSV export columns, or plain `value[,type]` rows |
//! | [`Format::Text`] | [`text`] | one IOC per line, `#`/`//` comments, defanged values |
//! | [`Format::Stix`] | [`stix`] | STIX 2.1 bundles: indicator patterns, SCOs, vulnerability, attack-pattern |
//! | [`Format::OpenIoc`] | [`openioc`] | OpenIOC 1.0 (`<ioc>`) and 1.1 (`<OpenIOC>`) XML: network, DNS, URL, email and file-hash terms |
//!
//! Every value goes through [`crate::ioc::normalize`]; importers only decide
//! *which* strings are IOCs and what type hint they carry.
//!
//! ## Two kinds of failure
//! - [`FileError`]: the file cannot be read at all (binary, empty, invalid
//!   JSON, unknown JSON shape). Found before the first observation is
//!   yielded, so a caller that ingests as it iterates never half-imports a
//!   file that fails this way.
//! - [`ItemError`]: one line, row or attribute is bad; the rest imports.
//!
//! Encoding policy: JSON formats must be valid UTF-8 as a whole
//! ([`FileError::NotUtf8`] with the byte offset). Line formats (text, CSV)
//! report a non-UTF-8 line or row as an [`ItemError`] and go on, so one
//! stray Latin-1 byte does not cost a million-line list.

pub mod csv;
mod lenient_json;
pub mod misp;
pub mod openioc;
pub mod stix;
pub mod text;
pub mod xml_root;

use crate::ioc::{normalize, IocError, IocType, Normalized, Observation, Source, Tlp};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Input format. `Auto` sniffs the content (see [`detect_format`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Auto,
    Misp,
    Csv,
    Text,
    Stix,
    /// OpenIOC 1.0 / 1.1 XML.
    #[value(name = "openioc")]
    OpenIoc,
    /// RSS 2.0 / RSS 1.0 / Atom feed: one article per item, IOCs extracted
    /// from each ([`crate::articles::feed`]).
    Rss,
    /// A report document (HTML, Markdown, AsciiDoc or plain text): one
    /// article, IOCs extracted from its text ([`crate::articles::document`]).
    Report,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Misp => "misp",
            Format::Csv => "csv",
            Format::Text => "text",
            Format::Stix => "stix",
            Format::OpenIoc => "openioc",
            Format::Rss => "rss",
            Format::Report => "report",
        })
    }
}

/// What the command line adds where a file states nothing.
#[derive(Debug, Clone, Default)]
pub struct ImportDefaults {
    /// Source name (`--source`). Used when the file names no producer (MISP
    /// `Orgc`, STIX `created_by_ref`); text and CSV files always use it.
    pub source: Option<String>,
    /// Confidence 0–100 (`--confidence`) for observations without one.
    pub confidence: Option<u8>,
    /// Tags (`--tag`) added to every observation.
    pub tags: Vec<String>,
    /// CSV columns holding IOCs (`--column`, header names, any case):
    /// overrides the columns the header would name. Empty: by header.
    pub columns: Vec<String>,
    /// Set by a scheduled feed ([`crate::feeds`]): its IOCs carry the
    /// feed's name as source whatever the file says, and its TLP where the
    /// file states none.
    pub feed: Option<FeedDefaults>,
}

/// What a scheduled feed forces on every observation it imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDefaults {
    /// The feed's name: the source name of all its IOCs (a file's own
    /// producer, MISP `Orgc` or STIX `created_by_ref`, is replaced).
    pub source: String,
    /// Source reference where the file gives none: the feed URL or path
    /// (credentials never appear in it).
    pub reference: String,
    /// TLP for observations whose file states none.
    pub tlp: Option<Tlp>,
}

/// Source name used when neither the file nor `--source` names one.
pub const FALLBACK_SOURCE: &str = "import";

/// One bad line, row, attribute or STIX object. The rest of the file imports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemError {
    /// 1-based line for line formats (text, CSV); `None` for JSON formats,
    /// whose reason names the attribute uuid or STIX id instead.
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// One step of an import: an IOC, a rejected item, or an item that is well
/// formed but carries no supported IOC: counted, not reported as an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Observation(Observation),
    Error(ItemError),
    /// Nothing to import (a deleted MISP attribute, a STIX comparison on
    /// `file:name`).
    Skipped,
    /// An item of a type iocd has no IOC type for, named as the file names
    /// it (MISP `text`, `filename`, `link`, a CSV row typed `regkey`): the
    /// summary counts these by type name.
    Unmapped(String),
}

/// A whole file parsed into memory (see [`parse_bytes`]).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The format actually used (never `Auto`).
    pub format: Format,
    pub observations: Vec<Observation>,
    pub errors: Vec<ItemError>,
    /// Items without a supported IOC type ([`Item::Skipped`] and
    /// [`Item::Unmapped`]).
    pub skipped: u64,
    /// [`Item::Unmapped`] counts by type name.
    pub unmapped: BTreeMap<String, u64>,
    /// File-level notes that did not stop the import (trailing commas fixed).
    pub warnings: Vec<String>,
}

/// Largest JSON document parsed (it is held in memory as a tree, several
/// times its size). Text and CSV files are streamed and have no limit here.
pub const MAX_JSON_BYTES: usize = 256 * 1024 * 1024;

/// Why a whole file could not be imported. Messages say what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("binary file (NUL byte at offset {offset}); iocd imports MISP/STIX JSON, CSV and text IOC lists")]
    Binary { offset: usize },
    #[error("the file is UTF-16 encoded; convert it first, e.g. `iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8`")]
    Utf16,
    #[error("not valid UTF-8 (first bad byte at offset {offset}); re-encode the file as UTF-8")]
    NotUtf8 { offset: usize },
    #[error("invalid JSON at line {line}, column {column}: {msg}")]
    InvalidJson {
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("unknown JSON format (top-level {found}); iocd reads MISP events ({{\"Event\":…}}, {{\"response\":[…]}}) and STIX 2.1 bundles")]
    UnknownJson { found: String },
    #[error("not a {format} file: {reason}; try --format auto")]
    WrongFormat { format: Format, reason: String },
    #[error("unrecognized CSV layout: {0}")]
    CsvLayout(String),
    #[error("invalid XML at line {line}: {msg}")]
    InvalidXml { line: usize, msg: String },
    #[error("unsupported format: {0}")]
    Unsupported(String),
    #[error("the file is {size} bytes; JSON files over {limit} bytes are not imported — split it, or export it as CSV")]
    TooLarge { size: usize, limit: usize },
}

/// Items of one file, yielded lazily. Text and CSV are streamed line by line
/// from the byte slice; MISP and STIX are parsed whole first (so every
/// [`FileError`] happens before the first item).
pub struct Items<'a> {
    /// The format in use (never `Auto`).
    pub format: Format,
    /// File-level warnings known before iteration (JSON repairs).
    pub warnings: Vec<String>,
    /// The articles of an RSS/Atom feed or report document (their IOCs
    /// are the items); empty for every other format. The caller stores
    /// them ([`crate::store::Store::put_articles`]).
    pub articles: Vec<crate::articles::Article>,
    inner: Inner<'a>,
    len: usize,
}

enum Inner<'a> {
    Text(text::TextItems<'a>),
    Csv(Box<csv::CsvItems<'a>>),
    Done(std::vec::IntoIter<Item>),
}

impl Items<'_> {
    /// Bytes of the input consumed so far (for progress bars).
    pub fn consumed(&self) -> usize {
        match &self.inner {
            Inner::Text(t) => t.consumed(),
            Inner::Csv(c) => c.consumed(),
            Inner::Done(_) => self.len,
        }
    }
}

impl Iterator for Items<'_> {
    type Item = Item;
    fn next(&mut self) -> Option<Item> {
        match &mut self.inner {
            Inner::Text(t) => t.next(),
            Inner::Csv(c) => c.next(),
            Inner::Done(v) => v.next(),
        }
    }
}

/// Parses a whole file into memory: [`parse_iter`] collected.
///
/// Errors: [`FileError`] when the file cannot be read at all.
pub fn parse_bytes(
    bytes: &[u8],
    file_name: &str,
    format: Format,
    defaults: &ImportDefaults,
) -> Result<Parsed, FileError> {
    let items = parse_iter(bytes, file_name, format, defaults)?;
    let mut p = Parsed {
        format: items.format,
        observations: Vec::new(),
        errors: Vec::new(),
        skipped: 0,
        unmapped: BTreeMap::new(),
        warnings: items.warnings.clone(),
    };
    for item in items {
        match item {
            Item::Observation(o) => p.observations.push(o),
            Item::Error(e) => p.errors.push(e),
            Item::Skipped => p.skipped += 1,
            Item::Unmapped(t) => {
                p.skipped += 1;
                *p.unmapped.entry(t).or_default() += 1;
            }
        }
    }
    Ok(p)
}

/// Parses `bytes` (the content of `file_name`, whose name only serves as a
/// hint: `.csv`, `.sha256` …) as `format`, lazily.
///
/// Errors: [`FileError`] for an empty, binary, UTF-16, or (JSON formats)
/// non-UTF-8, invalid, oversized or unrecognized file; or a file that is not
/// the forced `format`.
pub fn parse_iter<'a>(
    bytes: &'a [u8],
    file_name: &str,
    format: Format,
    defaults: &ImportDefaults,
) -> Result<Items<'a>, FileError> {
    check_readable(bytes)?;
    let ctx = Ctx {
        defaults: defaults.clone(),
        file_name: file_name.to_string(),
    };
    let first = first_significant_byte(bytes);
    let looks_json = matches!(first, Some(b'{' | b'['));
    let format = match format {
        Format::Auto if looks_json => Format::Auto, // decided after parsing, below
        Format::Auto if crate::articles::document::is_document_name(file_name) => Format::Report,
        Format::Auto if first == Some(b'<') => sniff_xml(bytes)?,
        Format::Auto => sniff_line_format(bytes, file_name)?,
        f => f,
    };
    let done = |format, warnings, items: Vec<Item>| Items {
        format,
        warnings,
        articles: Vec::new(),
        inner: Inner::Done(items.into_iter()),
        len: bytes.len(),
    };
    match format {
        Format::OpenIoc => {
            let items = openioc::items(bytes, &ctx)?;
            Ok(done(format, Vec::new(), items))
        }
        Format::Rss | Format::Report => {
            let opts = crate::articles::config::extract_options();
            let articles = if format == Format::Rss {
                let src = defaults.feed.as_ref().map(|f| f.source.as_str());
                crate::articles::feed::parse(bytes, src.or(defaults.source.as_deref()), &opts)?
            } else {
                let src = match &defaults.feed {
                    Some(f) => f.source.clone(),
                    None => ctx.default_source(),
                };
                vec![crate::articles::document::parse(
                    bytes, file_name, &src, &opts,
                )?]
            };
            let items = articles
                .iter()
                .flat_map(|a| crate::articles::observations(a, defaults.confidence))
                .map(|o| Item::Observation(ctx.finish(o)))
                .collect();
            let mut it = done(format, Vec::new(), items);
            it.articles = articles;
            Ok(it)
        }
        Format::Text => Ok(Items {
            format,
            warnings: Vec::new(),
            articles: Vec::new(),
            inner: Inner::Text(text::TextItems::new(bytes, file_name, ctx)),
            len: bytes.len(),
        }),
        Format::Csv => Ok(Items {
            format,
            warnings: Vec::new(),
            articles: Vec::new(),
            inner: Inner::Csv(Box::new(csv::CsvItems::new(bytes, ctx)?)),
            len: bytes.len(),
        }),
        Format::Auto | Format::Misp | Format::Stix => {
            let (value, warnings) = parse_json(bytes)?;
            let format = match format {
                Format::Auto => classify_json(&value)?,
                f => f,
            };
            let items = if format == Format::Misp {
                misp::items(&value, &ctx)?
            } else {
                stix::items(&value, &ctx)?
            };
            Ok(done(format, warnings, items))
        }
    }
}

/// Detects the format of `bytes` from its content (and, for CSV, its name):
/// JSON with `Event`/`response` → MISP; JSON with `"type": "bundle"` or STIX
/// objects → STIX; a `.csv` name or a first line holding a known CSV header
/// (`value`, `type`, `uuid` …) → CSV; anything else → text.
///
/// Errors: as [`parse_iter`] (JSON is parsed to be classified).
pub fn detect_format(bytes: &[u8], file_name: &str) -> Result<Format, FileError> {
    check_readable(bytes)?;
    if crate::articles::document::is_document_name(file_name) {
        return Ok(Format::Report);
    }
    if first_significant_byte(bytes) == Some(b'<') {
        return sniff_xml(bytes);
    }
    if matches!(first_significant_byte(bytes), Some(b'{' | b'[')) {
        let (value, _) = parse_json(bytes)?;
        classify_json(&value)
    } else {
        sniff_line_format(bytes, file_name)
    }
}

/// Per-file context handed to every importer.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub defaults: ImportDefaults,
    pub file_name: String,
}

impl Ctx {
    /// Fills what the file left empty from the defaults, adds the `--tag`s,
    /// and dedupes tags and techniques.
    pub fn finish(&self, mut o: Observation) -> Observation {
        if o.confidence.is_none() {
            o.confidence = self.defaults.confidence;
        }
        if o.source.is_none() {
            o.source = Some(Source {
                name: self.default_source(),
                reference: Some(self.file_name.clone()),
                direction: None,
            });
        }
        if let Some(f) = &self.defaults.feed {
            let src = o.source.get_or_insert_with(|| Source {
                name: String::new(),
                reference: None,
                direction: None,
            });
            src.name = f.source.clone();
            if src.reference.as_deref().is_none_or(|r| r == self.file_name) {
                src.reference = Some(f.reference.clone());
            }
            if o.tlp.is_none() {
                o.tlp = f.tlp;
            }
        }
        o.tags.extend(self.defaults.tags.iter().cloned());
        o.tags.sort();
        o.tags.dedup();
        o.techniques.sort();
        o.techniques.dedup();
        o
    }

    /// `--source`, else [`FALLBACK_SOURCE`].
    pub fn default_source(&self) -> String {
        self.defaults
            .source
            .clone()
            .unwrap_or_else(|| FALLBACK_SOURCE.to_string())
    }
}

/// What an importer knows about the type of a raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Exactly this type.
    Type(IocType),
    /// An IPv4 or IPv6 address, by content (MISP `ip-dst`).
    Ip,
    /// Whatever [`crate::ioc::detect`] finds.
    Any,
}

/// An observation with no value yet: importers fill in shared metadata
/// first, then set type and value per IOC.
pub(crate) fn blank() -> Observation {
    Observation::new(Normalized {
        ioc_type: IocType::Domain,
        value: String::new(),
        reserved: false,
    })
}

/// Normalizes `raw` as `want`.
pub(crate) fn normalize_as(raw: &str, want: Want) -> Result<Normalized, IocError> {
    match want {
        Want::Type(t) => normalize(raw, Some(t)),
        Want::Ip if raw.contains(':') => normalize(raw, Some(IocType::Ipv6)),
        Want::Ip => normalize(raw, Some(IocType::Ipv4)),
        Want::Any => normalize(raw, None),
    }
}

/// Applies one tag (MISP tag name, CSV `attribute_tag` entry, STIX label):
/// `tlp:…` sets the TLP; ATT&CK galaxy tags
/// (`misp-galaxy:mitre-attack-pattern="Name - T1234"`, also the older
/// `mitre-enterprise-attack-attack-pattern`) add technique ids and are not
/// kept as tags (the ids say the same, and tags are capped per record);
/// anything else is kept verbatim.
pub(crate) fn apply_tag(o: &mut Observation, tag: &str) {
    let tag = tag.trim();
    if tag.is_empty() {
        return;
    }
    if tag.len() > 4 && tag.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tlp:")) {
        if let Ok(t) = Tlp::from_str(tag) {
            o.tlp = Some(t);
            return;
        }
    }
    if tag.starts_with("misp-galaxy:") && tag.contains("attack-pattern") {
        let ids = attack_ids(tag);
        if !ids.is_empty() {
            o.techniques.extend(ids);
            return;
        }
    }
    o.tags.push(tag.to_string());
}

/// Every ATT&CK technique id (`T1234`, `T1234.001`) standing as a word in
/// `s`, e.g. `"Malware - T1587.001"` → `["T1587.001"]`.
pub(crate) fn attack_ids(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= b.len() {
        let starts_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if b[i] == b'T' && starts_word && digits(&b[i + 1..i + 5]) {
            let mut end = i + 5;
            if end + 4 <= b.len() && b[end] == b'.' && digits(&b[end + 1..end + 4]) {
                end += 4;
            }
            if end == b.len() || !b[end].is_ascii_alphanumeric() {
                out.push(s[i..end].to_string());
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Parses a time as files state it: RFC 3339, unix seconds (string or
/// number), `YYYY-MM-DD` or `YYYYMMDD` (midnight UTC). `None` if it is none
/// of these.
pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|s| Utc.timestamp_opt(s, 0).single()),
        Value::String(s) => parse_time_str(s),
        _ => None,
    }
}

/// String form of [`parse_time`].
pub(crate) fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        if s.len() == 8 {
            return NaiveDate::parse_from_str(s, "%Y%m%d")
                .ok()
                .and_then(midnight);
        }
        return s
            .parse::<i64>()
            .ok()
            .and_then(|n| Utc.timestamp_opt(n, 0).single());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // MISP writes `2021-06-09T00:00:00.000000+00:00` (RFC 3339) but also
    // `2021-06-09 10:00:00`.
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(midnight)
}

fn midnight(d: NaiveDate) -> Option<DateTime<Utc>> {
    d.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

/// MISP writes booleans as `true`, `"1"`, `1` or `"true"`.
pub(crate) fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// First 200 characters of `s`, for error messages.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= 200 {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(200).collect();
        c.push('…');
        c
    }
}

/// How far into a file binary sniffing looks.
const SNIFF_BYTES: usize = 8 * 1024;

/// The checks every format shares: empty, UTF-16, binary.
fn check_readable(bytes: &[u8]) -> Result<(), FileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(FileError::Utf16);
    }
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if let Some(offset) = head.iter().position(|&b| b == 0) {
        return Err(FileError::Binary { offset });
    }
    Ok(())
}

/// The first byte after a UTF-8 BOM and whitespace.
fn first_significant_byte(bytes: &[u8]) -> Option<u8> {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter().copied().find(|c| !c.is_ascii_whitespace())
}

/// CSV or text (the content is not JSON).
fn sniff_line_format(bytes: &[u8], file_name: &str) -> Result<Format, FileError> {
    if file_name.to_ascii_lowercase().ends_with(".csv") {
        return Ok(Format::Csv);
    }
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let first_line = head
        .split(|&b| b == b'\n')
        .map(|l| {
            String::from_utf8_lossy(l)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"));
    match first_line {
        Some(l)
            if l.contains(',') && (csv::is_header(l.split(',')) || csv::is_value_type_row(&l)) =>
        {
            Ok(Format::Csv)
        }
        // A one-column table (`MD5` then hashes): its header is no bad IOC.
        Some(l) if csv::ioc_column(&csv::column_name(&l)).is_some() => Ok(Format::Csv),
        _ => Ok(Format::Text),
    }
}

/// XML: OpenIOC, or a file error naming what iocd reads.
fn sniff_xml(bytes: &[u8]) -> Result<Format, FileError> {
    if openioc::looks_like(bytes) {
        return Ok(Format::OpenIoc);
    }
    if crate::articles::feed::looks_like(bytes) {
        return Ok(Format::Rss);
    }
    if crate::articles::feed::root(bytes).is_some_and(|r| r.eq_ignore_ascii_case("html")) {
        return Ok(Format::Report);
    }
    Err(FileError::Unsupported(
        "the file is XML but neither OpenIOC (<ioc> or <OpenIOC>; STIX 1.x?) nor an RSS/Atom feed; iocd imports OpenIOC, RSS/Atom, MISP/STIX 2.1 JSON, CSV, text lists and report documents".into(),
    ))
}

/// Parses JSON, forgiving trailing commas (returned as a warning).
fn parse_json(bytes: &[u8]) -> Result<(Value, Vec<String>), FileError> {
    if bytes.len() > MAX_JSON_BYTES {
        return Err(FileError::TooLarge {
            size: bytes.len(),
            limit: MAX_JSON_BYTES,
        });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(FileError::NotUtf8 {
            offset: e.valid_up_to(),
        });
    }
    lenient_json::parse(bytes)
}

/// MISP or STIX, by shape.
fn classify_json(v: &Value) -> Result<Format, FileError> {
    if misp::looks_like(v) {
        return Ok(Format::Misp);
    }
    if stix::looks_like(v) {
        return Ok(Format::Stix);
    }
    Err(FileError::UnknownJson {
        found: describe_json(v),
    })
}

/// `keys duvelDetails` / `array of 3 numbers` — what an unknown JSON holds.
pub(crate) fn describe_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let keys: Vec<&str> = m.keys().take(5).map(String::as_str).collect();
            if keys.is_empty() {
                "an empty object".into()
            } else {
                format!(
                    "keys: {}{}",
                    keys.join(", "),
                    if m.len() > 5 { ", …" } else { "" }
                )
            }
        }
        Value::Array(a) => match a.first() {
            None => "an empty array".into(),
            Some(first) => format!("an array whose first element has {}", describe_json(first)),
        },
        Value::String(_) => "a string".into(),
        Value::Number(_) => "a number".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Null => "null".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_ids_are_words() {
        assert_eq!(attack_ids("Malware - T1587.001"), vec!["T1587.001"]);
        assert_eq!(
            attack_ids("a T1059 and T1071.004\""),
            vec!["T1059", "T1071.004"]
        );
        assert!(attack_ids("XT1059 T10590 T105").is_empty());
        assert_eq!(attack_ids("T1059.12"), vec!["T1059"]);
    }

    /// Found by fuzz/import_csv: a tag with a multi-byte character across
    /// byte 4 panicked on the `tlp:` prefix check.
    #[test]
    fn a_tag_with_a_multibyte_character_near_its_start_is_kept() {
        let mut o = Observation::new(crate::ioc::detect("1.2.3.4").unwrap());
        apply_tag(&mut o, "tl\u{e9}p:x");
        apply_tag(&mut o, "abc\u{20ac}def");
        assert_eq!(o.tags, vec!["tl\u{e9}p:x", "abc\u{20ac}def"]);
        assert_eq!(o.tlp, None);
    }

    #[test]
    fn tags_split_into_tlp_techniques_and_tags() {
        let mut o = Observation::new(crate::ioc::detect("1.2.3.4").unwrap());
        apply_tag(&mut o, "tlp:amber");
        apply_tag(
            &mut o,
            "misp-galaxy:mitre-attack-pattern=\"Malware - T1587.001\"",
        );
        apply_tag(&mut o, "misp-galaxy:threat-actor=\"Turla Group\"");
        assert_eq!(o.tlp, Some(Tlp::Amber));
        assert_eq!(o.techniques, vec!["T1587.001"]);
        assert_eq!(o.tags, vec!["misp-galaxy:threat-actor=\"Turla Group\""]);
    }

    #[test]
    fn times_in_file_forms() {
        let t = |s: &str| parse_time_str(s).map(|d| d.to_rfc3339());
        assert_eq!(
            t("1698415603").as_deref(),
            Some("2023-10-27T14:06:43+00:00")
        );
        assert_eq!(
            t("2023-11-01").as_deref(),
            Some("2023-11-01T00:00:00+00:00")
        );
        assert_eq!(t("20231101").as_deref(), Some("2023-11-01T00:00:00+00:00"));
        assert_eq!(
            t("2021-06-09T10:00:00.000000+02:00").as_deref(),
            Some("2021-06-09T08:00:00+00:00")
        );
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn file_level_errors() {
        let d = ImportDefaults::default();
        let err = |b: &[u8]| parse_bytes(b, "x", Format::Auto, &d).err();
        assert_eq!(err(b""), Some(FileError::Empty));
        assert_eq!(err(b" \n\t\n"), Some(FileError::Empty));
        assert_eq!(err(b"abc\0def"), Some(FileError::Binary { offset: 3 }));
        assert_eq!(err(b"\xff\xfe1\x002\x00"), Some(FileError::Utf16));
        assert_eq!(
            err(b"{\"a\": \"\xff\"}"),
            Some(FileError::NotUtf8 { offset: 7 })
        );
        assert!(matches!(
            err(b"{\"Event\": {"),
            Some(FileError::InvalidJson { line: 1, .. })
        ));
        assert!(matches!(
            err(b"{\"duvel\": 1}"),
            Some(FileError::UnknownJson { .. })
        ));
        assert!(matches!(
            err(b"<?xml version=\"1.0\"?><stix:STIX_Package/>"),
            Some(FileError::Unsupported(_))
        ));
        assert!(matches!(
            parse_bytes(
                b"{\"type\":\"bundle\",\"objects\":[]}",
                "x",
                Format::Misp,
                &d
            )
            .err(),
            Some(FileError::WrongFormat {
                format: Format::Misp,
                ..
            })
        ));
    }

    #[test]
    fn detects_formats() {
        assert_eq!(detect_format(b"{\"Event\":{}}", "a.json"), Ok(Format::Misp));
        assert_eq!(detect_format(b"[{\"response\":[]}]", "a"), Ok(Format::Misp));
        assert_eq!(
            detect_format(
                b" {\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": []}",
                "a"
            ),
            Ok(Format::Stix)
        );
        assert_eq!(detect_format(b"1.2.3.4\n", "a.csv"), Ok(Format::Csv));
        assert_eq!(
            detect_format(b"# c\nuuid,event_id,category,type,value\n", "a"),
            Ok(Format::Csv)
        );
        assert_eq!(
            detect_format(b"value,type\n1.2.3.4,ipv4\n", "a"),
            Ok(Format::Csv)
        );
        assert_eq!(
            detect_format(b"1.2.3.4\nevil.com\n", "a.txt"),
            Ok(Format::Text)
        );
        assert_eq!(detect_format(b"1.2.3.4,ipv4\n", "a.txt"), Ok(Format::Csv));
        assert_eq!(
            detect_format(b"1.2.3.4,c2 server\n", "a.txt"),
            Ok(Format::Text)
        );
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let d = ImportDefaults {
            source: Some("feed".into()),
            confidence: Some(80),
            tags: vec!["x".into(), "a".into()],
            columns: Vec::new(),
            feed: None,
        };
        let p = parse_bytes(b"evil.com\n", "list.txt", Format::Auto, &d).unwrap();
        let o = &p.observations[0];
        assert_eq!(o.confidence, Some(80));
        assert_eq!(o.tags, vec!["a", "x"]);
        assert_eq!(
            o.source,
            Some(Source {
                name: "feed".into(),
                reference: Some("list.txt".into()),
                direction: None,
            })
        );
    }
}

//! CSV listing export: the [`IocRecord`] fields as columns (RFC 4180
//! quoting via the `csv` crate), with spreadsheet formula injection
//! neutralized.
//!
//! Columns: `id,type,value,confidence,confidence_level,tlp,tags,sources,
//! techniques,first_seen,last_seen,added_at,modified,to_ids,reserved,
//! description`. List cells are joined with `;`; a source is written
//! `name` or `name (reference)`.
//!
//! Formula injection (OWASP "CSV Injection"): a cell that starts with `=`,
//! `+`, `-`, `@`, tab or carriage return would be evaluated by Excel or
//! LibreOffice when the file is opened, and IOC values, descriptions and
//! tags come from third-party feeds. Such cells get a leading `'`, which
//! spreadsheets show as text and hide.

use super::json::IocRecord;
use crate::ioc::{Indicator, Tlp};
use std::borrow::{Borrow, Cow};
use std::io::{self, Write};

/// Options of the CSV export.
#[derive(Debug, Clone, Default)]
pub struct CsvOptions {
    /// One TLP for every row instead of each IOC's own.
    pub tlp: Option<Tlp>,
}

/// The header row.
pub const HEADER: [&str; 16] = [
    "id",
    "type",
    "value",
    "confidence",
    "confidence_level",
    "tlp",
    "tags",
    "sources",
    "techniques",
    "first_seen",
    "last_seen",
    "added_at",
    "modified",
    "to_ids",
    "reserved",
    "description",
];

/// Prefixes `'` to a cell a spreadsheet would read as a formula.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// Writes the header and one row per IOC; returns the number of rows
/// (header not counted). Lines end with `\r\n` (RFC 4180).
pub fn write_csv<W, I>(w: &mut W, items: I, opts: &CsvOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w);
    out.write_record(HEADER).map_err(io::Error::from)?;
    let mut n = 0u64;
    for item in items {
        let r = IocRecord::new(item.borrow(), opts.tlp);
        let sources = r
            .sources
            .iter()
            .map(|s| match &s.reference {
                Some(reference) => format!("{} ({reference})", s.name),
                None => s.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(";");
        let id = r.id.to_string();
        let confidence = r.confidence.to_string();
        let tags = r.tags.join(";");
        let techniques = r.techniques.join(";");
        let [first_seen, last_seen, added_at, modified] =
            [r.first_seen, r.last_seen, r.added_at, r.modified].map(|t| t.to_string());
        let row: [&str; 16] = [
            &id,
            r.ioc_type.as_str(),
            r.value,
            &confidence,
            r.confidence_level.as_str(),
            r.tlp.as_str(),
            &tags,
            &sources,
            &techniques,
            &first_seen,
            &last_seen,
            &added_at,
            &modified,
            if r.to_ids { "true" } else { "false" },
            if r.reserved { "true" } else { "false" },
            r.description.unwrap_or(""),
        ];
        for cell in row {
            out.write_field(neutralize(cell).as_bytes())
                .map_err(io::Error::from)?;
        }
        out.write_record(None::<&[u8]>).map_err(io::Error::from)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

//! OpenIOC 1.1 export (`GET /api/v1/iocs/openioc`): one XML document, one
//! `IndicatorItem` per IOC under a single `OR` indicator.
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="…" last-modified="…" published-date="…">
//!   <metadata>
//!     <short_description>iocd IOCs</short_description>
//!     <description>…</description>
//!     <authored_by>iocd</authored_by>
//!     <authored_date>…</authored_date>
//!   </metadata>
//!   <criteria>
//!     <Indicator operator="OR" id="…">
//!       <IndicatorItem id="<IOC id>" condition="is" preserve-case="false" negate="false">
//!         <Context document="PortItem" search="PortItem/remoteIP" type="mir"/>
//!         <Content type="IP">1.2.3.4</Content>
//!       </IndicatorItem>
//!     </Indicator>
//!   </criteria>
//! </OpenIOC>
//! ```
//!
//! Structure per the OpenIOC 1.1 schema (`ioc.xsd`: root element `OpenIOC`
//! with required `id`, `last-modified`, `published-date`; `metadata` with a
//! required `authored_date`; `IndicatorItem` with required `id`,
//! `condition`, `preserve-case`, `negate`). Terms per `current.iocterms`
//! ([`mapping`]): PortItem/remoteIP, DnsEntryItem/Host, UrlHistoryItem/URL,
//! FileItem/Md5sum|Sha1sum|Sha256sum, Email/From. OpenIOC has no term for
//! SHA-512, CVE ids or ATT&CK techniques: those IOCs are left out (and not
//! counted). Text and attributes are XML-escaped; characters XML 1.0 cannot
//! carry at all (most C0 controls) become U+FFFD.

use super::mapping;
use crate::ioc::Indicator;
use chrono::{DateTime, Utc};
use std::borrow::Borrow;
use std::io::{self, Write};
use uuid::Uuid;

/// The OpenIOC 1.1 namespace.
pub const NAMESPACE: &str = "http://openioc.org/schemas/OpenIOC_1.1";

/// Options of the OpenIOC export.
#[derive(Debug, Clone)]
pub struct OpenIocOptions {
    /// `authored_by` (default "iocd").
    pub author: String,
    /// `short_description` (default "iocd IOCs").
    pub short_description: String,
    /// `description`, when given.
    pub description: Option<String>,
    /// Document id; default a fresh UUIDv4 (an OpenIOC document is a
    /// snapshot, not a stable object).
    pub id: Option<Uuid>,
    /// `last-modified`, `published-date`, `authored_date`; default now.
    pub now: Option<DateTime<Utc>>,
}

impl Default for OpenIocOptions {
    fn default() -> Self {
        OpenIocOptions {
            author: "iocd".to_string(),
            short_description: "iocd IOCs".to_string(),
            description: None,
            id: None,
            now: None,
        }
    }
}

/// Escapes text for XML content and double-quoted attributes: `&`, `<`,
/// `>`, `"`, `'`; characters not allowed in XML 1.0 become U+FFFD.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes the OpenIOC 1.1 document and returns the number of
/// `IndicatorItem`s (IOCs of types without an OpenIOC term are skipped).
pub fn write_openioc<W, I>(w: &mut W, items: I, opts: &OpenIocOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    let now = mapping::timestamp(opts.now.unwrap_or_else(Utc::now));
    let id = opts.id.unwrap_or_else(Uuid::new_v4);
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        w,
        "<OpenIOC xmlns=\"{NAMESPACE}\" id=\"{id}\" last-modified=\"{now}\" published-date=\"{now}\">"
    )?;
    writeln!(w, "  <metadata>")?;
    writeln!(
        w,
        "    <short_description>{}</short_description>",
        escape_xml(&opts.short_description)
    )?;
    if let Some(d) = &opts.description {
        writeln!(w, "    <description>{}</description>", escape_xml(d))?;
    }
    writeln!(
        w,
        "    <authored_by>{}</authored_by>",
        escape_xml(&opts.author)
    )?;
    writeln!(w, "    <authored_date>{now}</authored_date>")?;
    writeln!(w, "  </metadata>")?;
    writeln!(w, "  <criteria>")?;
    // The one OR indicator: its id is derived from the document id.
    let or_id = Uuid::new_v5(&id, b"criteria");
    writeln!(w, "    <Indicator operator=\"OR\" id=\"{or_id}\">")?;
    let mut n = 0u64;
    for item in items {
        let i = item.borrow();
        let Some(term) = mapping::mapping(i.ioc_type).openioc else {
            continue;
        };
        writeln!(
            w,
            "      <IndicatorItem id=\"{}\" condition=\"is\" preserve-case=\"false\" negate=\"false\">",
            i.id
        )?;
        writeln!(
            w,
            "        <Context document=\"{}\" search=\"{}\" type=\"mir\"/>",
            term.document, term.search
        )?;
        writeln!(
            w,
            "        <Content type=\"{}\">{}</Content>",
            term.content_type,
            escape_xml(&i.value)
        )?;
        writeln!(w, "      </IndicatorItem>")?;
        n += 1;
    }
    writeln!(w, "    </Indicator>")?;
    writeln!(w, "  </criteria>")?;
    writeln!(w, "</OpenIOC>")?;
    Ok(n)
}

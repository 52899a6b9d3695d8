//! CEF export (`GET /api/v1/iocs/cef`): one ArcSight Common Event Format
//! line per IOC (CEF Implementation Standard, revision 25).
//!
//! ```text
//! CEF:0|iocd|iocd|0.1.0|ioc:ipv4|Malicious IPv4 Address|9|rt=… dst=1.2.3.4 … msg=C2 IP from "Operation X"
//! ```
//!
//! Header, as ArcSight and QRadar read it:
//!
//! | field | content | ArcSight / QRadar |
//! |---|---|---|
//! | Signature ID | `ioc:<type>` (`ioc:ipv4`, `ioc:sha256`): one per IOC type, never per value | `deviceEventClassId` / the Event ID a QID map is keyed on: one mapping per type, not one per IOC |
//! | Name | the type's label (`Malicious IPv4 Address`, `Malicious File Hash (SHA-256)`), no value in it | `name` / Event Name: the CEF standard asks that the name not repeat what other fields carry, so events group by kind; the value is in its own key (`dst`, `fileHash` …) |
//! | Severity | confidence / 10, rounded (0–10) | `agentSeverity` / Severity |
//!
//! Header fields 2–7 escape `\` and `|` (and a newline, which may not appear
//! in a header, becomes a space). Extension values escape `\`, `=`, and
//! newlines as `\n` / `\r`; a `|` in an extension needs no escape. The line
//! therefore has exactly seven unescaped `|` before the extension.
//!
//! Extension keys (all from the CEF extension dictionary):
//!
//! | key | content |
//! |---|---|
//! | `rt` | modified (ms since epoch) |
//! | `start` / `end` | first_seen / last_seen (ms since epoch) |
//! | `externalId` | the IOC id (stable across exports) |
//! | `cat` | the IOC type (`ipv4`, `sha256`, ...) |
//! | type key | the value in the standard key of its type: `dst`, `c6a2`, `dhost`, `request`, `fileHash`, `suser`, `cs6` ([`mapping`]) |
//! | `cs5` | hash algorithm (`MD5`, `SHA-256`) for `fileHash` |
//! | `cn1` | confidence 0–100 |
//! | `cs1` | TLP |
//! | `cs2` | tags, comma-separated |
//! | `cs3` | source names, comma-separated |
//! | `cs4` | ATT&CK technique ids, comma-separated |
//! | `msg` | the description, else `C2 IP from "<report title>"` ([`mapping::comment`]); absent for IOCs from a plain list, whose file name says nothing about them (`cs3` names the source) |
//!
//! Each `csN`/`cnN` is preceded by its `csNLabel`/`cnNLabel`, as the
//! standard asks for custom fields.

use super::mapping;
use crate::ioc::{Indicator, Tlp};
use std::borrow::Borrow;
use std::io::{self, Write};

/// Options of the CEF export.
#[derive(Debug, Clone)]
pub struct CefOptions {
    /// One TLP for every line instead of each IOC's own.
    pub tlp: Option<Tlp>,
    /// Header "Device Vendor" (default "iocd").
    pub vendor: String,
    /// Header "Device Product" (default "iocd").
    pub product: String,
    /// Header "Device Version" (default: this crate's version).
    pub version: String,
}

impl Default for CefOptions {
    fn default() -> Self {
        CefOptions {
            tlp: None,
            vendor: "iocd".to_string(),
            product: "iocd".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Escapes a CEF header field: `\` → `\\`, `|` → `\|`; CR/LF → space.
pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a CEF extension value: `\` → `\\`, `=` → `\=`, LF → `\n`,
/// CR → `\r`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped_value(&mut out, s);
    out
}

fn push_escaped_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Appends ` key=value` (value escaped) to a line.
fn ext(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    line.push_str(key);
    line.push('=');
    push_escaped_value(line, value);
}

/// The CEF line of one IOC, without the trailing newline.
pub fn cef_line(i: &Indicator, opts: &CefOptions) -> String {
    let m = mapping::mapping(i.ioc_type);
    let mut e = String::with_capacity(256);
    ext(&mut e, "rt", &i.modified.timestamp_millis().to_string());
    ext(
        &mut e,
        "start",
        &i.first_seen.timestamp_millis().to_string(),
    );
    ext(&mut e, "end", &i.last_seen.timestamp_millis().to_string());
    ext(&mut e, "externalId", &i.id.to_string());
    ext(&mut e, "cat", i.ioc_type.as_str());
    if let Some((label_key, label)) = m.cef.label {
        ext(&mut e, label_key, label);
    }
    ext(&mut e, m.cef.key, &i.value);
    if let Some(alg) = mapping::hash_algorithm(i.ioc_type) {
        let (key, label_key, label) = mapping::CEF_HASH_ALGORITHM;
        ext(&mut e, label_key, label);
        ext(&mut e, key, alg);
    }
    ext(&mut e, "cn1Label", "confidence");
    ext(&mut e, "cn1", &i.confidence.to_string());
    ext(&mut e, "cs1Label", "tlp");
    ext(&mut e, "cs1", mapping::tlp(i, opts.tlp).as_str());
    if !i.tags.is_empty() {
        ext(&mut e, "cs2Label", "tags");
        ext(&mut e, "cs2", &i.tags.join(","));
    }
    if !i.sources.is_empty() {
        let names: Vec<&str> = i.sources.iter().map(|s| s.name.as_str()).collect();
        ext(&mut e, "cs3Label", "sources");
        ext(&mut e, "cs3", &names.join(","));
    }
    if !i.techniques.is_empty() {
        ext(&mut e, "cs4Label", "mitreAttackTechniques");
        ext(&mut e, "cs4", &i.techniques.join(","));
    }
    if let Some(c) = mapping::comment(i) {
        ext(&mut e, "msg", &c);
    }
    format!(
        "CEF:0|{}|{}|{}|{}|{}|{}|{}",
        escape_header(&opts.vendor),
        escape_header(&opts.product),
        escape_header(&opts.version),
        escape_header(m.cef_signature),
        escape_header(m.label),
        mapping::severity(i.confidence),
        e
    )
}

/// Writes one CEF line (`\n`-terminated) per IOC; returns the count.
pub fn write_cef<W, I>(w: &mut W, items: I, opts: &CefOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    let mut n = 0u64;
    for item in items {
        let line = cef_line(item.borrow(), opts);
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

//! OpenIOC 1.0 and 1.1 XML (Mandiant's `ioc.xsd`; the `current.iocterms`
//! term list), as MISP's OpenIOC import reads it.
//!
//! Accepted roots: `<ioc>` (1.0, `http://schemas.mandiant.com/2010/ioc`,
//! indicators under `<definition>`) and `<OpenIOC>` (1.1,
//! `http://openioc.org/schemas/OpenIOC_1.1`, under `<criteria>`; what
//! `GET /api/v1/iocs/openioc` writes). Every `IndicatorItem`, at any depth
//! of the `AND`/`OR` tree, is read by its `Context/@search` term:
//!
//! | term (`search`, any case) | IOC |
//! |---|---|
//! | `PortItem/remoteIP`, `RouteEntryItem/Destination`, `ArpEntryItem/IPv4Address`, `DnsEntryItem/RecordData/IPv4Address` | IP (remote IP: direction destination, MISP `ip-dst`) |
//! | `DnsEntryItem/Host`, `DnsEntryItem/RecordName`, `DnsEntryItem/RecordData/Host`, `UrlHistoryItem/HostName` | domain |
//! | `UrlHistoryItem/URL` | URL |
//! | `Network/DNS`, `Network/URI`, `Network/String` | by content (a domain, or the IP publishers also put in `Network/DNS`); a value that is no IOC (a path, a user agent) is counted as skipped under the term |
//! | `Email/From`, `Email/Sender` / `Email/ReplyTo` | email (source / destination) |
//! | `…/Md5sum`, `…/Sha1sum`, `…/Sha256sum`, `…/Sha512sum` (FileItem, DriverItem, ProcessItem …) | that hash |
//!
//! Other terms (`Snort/Snort`, `RegistryItem/…`, `FileItem/FileName` …)
//! are counted by term name as having no iocd type; `negate="true"` items
//! are skipped (they describe what the IOC is *not*). The value is the
//! `Content` text; some publishers also put the value in the item's `id`
//! attribute, which is imported too when it is a valid IOC of the term's
//! type (a UUID never is).
//!
//! Per observation: source name `--source`, else `authored_by`, else
//! "import"; reference = `short_description` (the report title, so
//! exports say `C2 domain from "Operation Windigo"`); seen =
//! `authored_date`, else the root's `last-modified`.
//!
//! Errors: [`FileError::InvalidXml`] for XML that does not parse,
//! [`FileError::WrongFormat`] for XML that is not OpenIOC (STIX 1.x …).
//! The document is parsed whole before the first item is yielded.

use super::{
    blank, clip, misp, normalize_as, parse_time_str, Ctx, FileError, Format, Item, ItemError, Want,
};
use crate::ioc::{detect, Direction, IocType, Source};
use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// How a term's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// Exactly this kind; an invalid value is a rejected item.
    Typed(Want, Option<Direction>),
    /// Whatever the value is, if it is an IOC at all (`Network/URI`).
    ByContent,
}

/// The reading of an OpenIOC search term (`current.iocterms`), `None`
/// when iocd has no IOC type for it.
fn term(search: &str) -> Option<Term> {
    let s = search.trim().to_ascii_lowercase();
    let hash = [
        ("md5sum", IocType::Md5),
        ("sha1sum", IocType::Sha1),
        ("sha256sum", IocType::Sha256),
        ("sha512sum", IocType::Sha512),
    ];
    if let Some((_, t)) = hash.iter().find(|(suffix, _)| s.ends_with(suffix)) {
        return Some(Term::Typed(Want::Type(*t), None));
    }
    let domain = Term::Typed(Want::Type(IocType::Domain), None);
    Some(match s.as_str() {
        "portitem/remoteip" => Term::Typed(Want::Ip, Some(Direction::Dst)),
        "routeentryitem/destination"
        | "arpentryitem/ipv4address"
        | "dnsentryitem/recorddata/ipv4address" => Term::Typed(Want::Ip, None),
        "dnsentryitem/host"
        | "dnsentryitem/recordname"
        | "dnsentryitem/recorddata/host"
        | "urlhistoryitem/hostname" => domain,
        // Publishers put resolved IPs there too (ESET's Windigo release).
        "network/dns" => Term::ByContent,
        "urlhistoryitem/url" => Term::Typed(Want::Type(IocType::Url), None),
        "network/uri" | "network/string" => Term::ByContent,
        "email/from" | "email/sender" => {
            Term::Typed(Want::Type(IocType::Email), Some(Direction::Src))
        }
        "email/replyto" | "email/reply-to" => {
            Term::Typed(Want::Type(IocType::Email), Some(Direction::Dst))
        }
        _ => return None,
    })
}

/// True when `bytes` (after a BOM and whitespace) start an XML document
/// whose root element is `ioc` or `OpenIOC`.
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    super::xml_root::root_element(bytes).is_some_and(|r| r == "ioc" || r == "OpenIOC")
}

fn is_root(e: &BytesStart) -> bool {
    matches!(e.local_name().as_ref(), b"ioc" | b"OpenIOC")
}

/// One `IndicatorItem` as read.
#[derive(Default)]
struct RawItem {
    id: String,
    negate: bool,
    search: String,
    content: String,
}

/// Document metadata.
#[derive(Default)]
struct Meta {
    title: Option<String>,
    author: Option<String>,
    authored: Option<String>,
    last_modified: Option<String>,
}

fn attr(e: &BytesStart, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn xml_error(r: &Reader<&[u8]>, text: &str, e: impl std::fmt::Display) -> FileError {
    let at = (r.error_position() as usize).min(text.len());
    let before = text.get(..at).unwrap_or("");
    FileError::InvalidXml {
        line: before.matches('\n').count() + 1,
        msg: clip(&e.to_string()),
    }
}

/// Every item of an OpenIOC document.
///
/// Errors: [`FileError::NotUtf8`], [`FileError::InvalidXml`],
/// [`FileError::WrongFormat`] (not OpenIOC).
pub(crate) fn items(bytes: &[u8], ctx: &Ctx) -> Result<Vec<Item>, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut r = Reader::from_reader(text.as_bytes());
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut meta = Meta::default();
    let mut raw: Vec<RawItem> = Vec::new();
    let mut current: Option<RawItem> = None;
    let mut text_buf = String::new();
    let mut rooted = false;
    loop {
        let ev = r.read_event().map_err(|e| xml_error(&r, text, e))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_vec();
                if stack.is_empty() && !rooted {
                    if !is_root(e) {
                        return Err(FileError::WrongFormat {
                            format: Format::OpenIoc,
                            reason: format!(
                                "the root element is <{}>, not <ioc> (OpenIOC 1.0) or <OpenIOC> (1.1)",
                                clip(&String::from_utf8_lossy(&name))
                            ),
                        });
                    }
                    rooted = true;
                    meta.last_modified = attr(e, b"last-modified");
                }
                match name.as_slice() {
                    b"IndicatorItem" => {
                        current = Some(RawItem {
                            id: attr(e, b"id").unwrap_or_default(),
                            negate: attr(e, b"negate").is_some_and(|n| n.trim() == "true"),
                            ..RawItem::default()
                        });
                    }
                    b"Context" => {
                        if let Some(c) = current.as_mut() {
                            c.search = attr(e, b"search").unwrap_or_default();
                        }
                    }
                    _ => {}
                }
                text_buf.clear();
                if matches!(ev, Event::Start(_)) {
                    stack.push(name);
                } else if name == b"IndicatorItem" {
                    raw.extend(current.take());
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| xml_error(&r, text, e))?;
                text_buf.push_str(&s);
            }
            Event::CData(t) => text_buf.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                let Some(name) = stack.pop() else { continue };
                let value = std::mem::take(&mut text_buf).trim().to_string();
                // Metadata sits directly under the root (1.0) or under
                // `metadata` (1.1).
                let meta_level = matches!(
                    stack.last().map(Vec::as_slice),
                    Some(b"ioc" | b"OpenIOC" | b"metadata")
                );
                match name.as_slice() {
                    b"Content" => {
                        if let Some(c) = current.as_mut() {
                            c.content = value;
                        }
                    }
                    b"IndicatorItem" => raw.extend(current.take()),
                    b"short_description" if meta_level => meta.title = Some(value),
                    b"authored_by" if meta_level => meta.author = Some(value),
                    b"authored_date" if meta_level => meta.authored = Some(value),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(FileError::InvalidXml {
            line: text.matches('\n').count() + 1,
            msg: format!(
                "the document ends inside <{}> (truncated file?)",
                clip(&String::from_utf8_lossy(open))
            ),
        });
    }
    if !rooted {
        return Err(FileError::WrongFormat {
            format: Format::OpenIoc,
            reason: "no root element".into(),
        });
    }
    Ok(observations(raw, &meta, ctx))
}

/// An OpenIOC time: RFC 3339, or the schema's `xs:dateTime` without zone
/// (`2014-03-18T20:23:23`, taken as UTC).
fn openioc_time(s: &str) -> Option<DateTime<Utc>> {
    parse_time_str(s).or_else(|| {
        NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc())
    })
}

fn observations(raw: Vec<RawItem>, meta: &Meta, ctx: &Ctx) -> Vec<Item> {
    let mut base = blank();
    base.source = Some(Source::new(
        ctx.defaults
            .source
            .clone()
            .or_else(|| meta.author.clone().filter(|a| !a.is_empty()))
            .unwrap_or_else(|| ctx.default_source()),
        meta.title.clone().filter(|t| !t.is_empty()),
    ));
    base.seen = meta
        .authored
        .as_deref()
        .and_then(openioc_time)
        .or_else(|| meta.last_modified.as_deref().and_then(openioc_time));
    let mut out = Vec::with_capacity(raw.len());
    for item in raw {
        if item.negate {
            out.push(Item::Skipped);
            continue;
        }
        let Some(t) = term(&item.search) else {
            out.push(Item::Unmapped(misp::unmapped_name(&item.search)));
            continue;
        };
        let (want, direction) = match t {
            Term::Typed(w, d) => (w, d),
            Term::ByContent => (Want::Any, None),
        };
        let from_content = normalize_as(&item.content, want);
        // The `id` attribute: imported only when it is itself an IOC of
        // the term's kind (and then not twice).
        let from_id = normalize_as(&item.id, want).ok().filter(|n| {
            from_content.as_ref().map_or(true, |c| c.value != n.value)
                && (t != Term::ByContent || detect(&item.id).is_ok())
        });
        let observe = |n: crate::ioc::Normalized| {
            let mut o = base.clone();
            o.ioc_type = n.ioc_type;
            o.value = n.value;
            o.reserved = n.reserved;
            let mut o = ctx.finish(o);
            misp::set_direction(&mut o, direction);
            Item::Observation(o)
        };
        match from_content {
            Ok(n) => out.push(observe(n)),
            Err(_) if t == Term::ByContent => {
                // A path or a user agent: no IOC, not a bad one.
                if from_id.is_none() {
                    out.push(Item::Unmapped(format!(
                        "{} (not an IOC)",
                        misp::unmapped_name(&item.search)
                    )));
                }
            }
            Err(e) => out.push(Item::Error(ItemError {
                line: None,
                reason: format!(
                    "IndicatorItem {} ({} '{}'): {e}",
                    clip(&item.id),
                    clip(&item.search),
                    clip(&item.content)
                ),
            })),
        }
        if let Some(n) = from_id {
            out.push(observe(n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_bytes, ImportDefaults};

    #[test]
    fn reads_1_0_and_1_1_terms_and_skips_the_rest() {
        let doc = br#"<?xml version="1.0"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="x" last-modified="2014-03-21T15:58:14">
  <short_description>Operation X</short_description>
  <authored_by>Analyst</authored_by>
  <authored_date>2014-03-18T20:23:23</authored_date>
  <definition><Indicator operator="OR" id="i">
    <IndicatorItem id="70c2e7c4-b128-49dd-bc80-82d111ef39ef" condition="contains">
      <Context document="Network" search="Network/URI" type="mir" /><Content type="string">evil.example</Content>
    </IndicatorItem>
    <IndicatorItem id="u2"><Context search="Network/URI"/><Content type="string">/gate.php</Content></IndicatorItem>
    <IndicatorItem id="u3"><Context search="Snort/Snort"/><Content type="string">alert udp any</Content></IndicatorItem>
    <IndicatorItem id="u4" negate="true"><Context search="PortItem/remoteIP"/><Content type="IP">8.8.8.8</Content></IndicatorItem>
    <Indicator operator="AND" id="j">
      <IndicatorItem id="bad.example.org"><Context search="DnsEntryItem/Host"/><Content type="string">good.example.org</Content></IndicatorItem>
      <IndicatorItem id="u6"><Context search="FileItem/Md5sum"/><Content type="md5">D41D8CD98F00B204E9800998ECF8427E</Content></IndicatorItem>
      <IndicatorItem id="u7"><Context search="PortItem/remoteIP"/><Content type="IP">999.1.1.1</Content></IndicatorItem>
    </Indicator>
  </Indicator></definition>
</ioc>"#;
        let p = parse_bytes(doc, "x.ioc", Format::Auto, &ImportDefaults::default()).unwrap();
        assert_eq!(p.format, Format::OpenIoc);
        let v: Vec<&str> = p.observations.iter().map(|o| o.value.as_str()).collect();
        assert_eq!(
            v,
            [
                "evil.example",
                "good.example.org",
                "bad.example.org",
                "d41d8cd98f00b204e9800998ecf8427e"
            ]
        );
        assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
        assert!(p.errors[0].reason.contains("999.1.1.1"));
        assert_eq!(p.unmapped["snort/snort"], 1);
        assert_eq!(p.unmapped["network/uri (not an IOC)"], 1);
        assert_eq!(p.skipped, 3);
        let src = p.observations[0].source.as_ref().unwrap();
        assert_eq!(
            (src.name.as_str(), src.reference.as_deref()),
            ("Analyst", Some("Operation X"))
        );
        assert_eq!(
            p.observations[0].seen.map(|t| t.timestamp()),
            Some(1_395_174_203)
        );
    }

    #[test]
    fn other_xml_and_broken_xml_are_file_errors() {
        let d = ImportDefaults::default();
        let e = parse_bytes(b"<stix:STIX_Package/>", "a.xml", Format::OpenIoc, &d).err();
        assert!(matches!(e, Some(FileError::WrongFormat { .. })), "{e:?}");
        let e = parse_bytes(b"<ioc><definition>", "a.ioc", Format::OpenIoc, &d).err();
        assert!(matches!(e, Some(FileError::InvalidXml { .. })), "{e:?}");
        let e = parse_bytes(b"<?xml version=\"1.0\"?><stix/>", "a.xml", Format::Auto, &d).err();
        assert!(matches!(e, Some(FileError::Unsupported(_))), "{e:?}");
    }
}

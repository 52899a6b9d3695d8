//! RSS 2.0 (and RSS 1.0 / RDF) and Atom 1.0 (RFC 4287) feeds → articles.
//!
//! Read per item (`<item>`, `<entry>`): `title`; `link` (RSS text, Atom
//! `href` of the `alternate` or first link); `guid` / Atom `id` (the id
//! key when there is no link); `pubDate` (RFC 2822) / `published`,
//! `updated`, `dc:date` (RFC 3339); `description` / `summary`;
//! `content:encoded` / Atom `content` (the full text; else the
//! summary); `category` text / Atom `term`. HTML in any of them is
//! rendered to text ([`super::document::html_to_text`]). The parser
//! never resolves DTDs or external entities (no XXE, no entity
//! expansion), and an item past [`MAX_ITEMS`] is dropped.

use super::document::html_to_text;
use super::Article;
use crate::import::FileError;
use crate::ioc::extract::ExtractOptions;
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Most items read from one feed document.
pub const MAX_ITEMS: usize = 10_000;

/// True when the document's root element is `rss`, `feed` (Atom) or
/// `RDF` (RSS 1.0).
pub fn looks_like(bytes: &[u8]) -> bool {
    matches!(root(bytes).as_deref(), Some("rss" | "feed" | "RDF"))
}

/// The local name of the root element of an XML document (first 64 KiB);
/// see [`crate::import::xml_root::root_element`].
pub fn root(bytes: &[u8]) -> Option<String> {
    crate::import::xml_root::root_element(bytes)
}

#[derive(Default)]
struct Item {
    title: String,
    link: Option<String>,
    guid: Option<String>,
    date: Option<DateTime<Utc>>,
    summary: Option<String>,
    content: Option<String>,
    tags: Vec<String>,
}

/// Parses a feed. `source`: the source name to record (`--source` or the
/// feed's name), else the channel's title. `kind` of each article is
/// `rss` or `atom`.
///
/// Errors: [`FileError::NotUtf8`], [`FileError::InvalidXml`] (with its
/// line), [`FileError::WrongFormat`] when the root is not a feed.
pub fn parse(
    bytes: &[u8],
    source: Option<&str>,
    opts: &ExtractOptions,
) -> Result<Vec<Article>, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let kind = match root(text.as_bytes()).as_deref() {
        Some("feed") => "atom",
        Some("rss" | "RDF") => "rss",
        other => {
            return Err(FileError::WrongFormat {
                format: crate::import::Format::Rss,
                reason: format!(
                    "the root element is {}, not rss, feed (Atom) or rdf:RDF",
                    other
                        .map(|o| format!("<{o}>"))
                        .unwrap_or_else(|| "missing".into())
                ),
            })
        }
    };
    let mut r = Reader::from_str(text);
    r.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut channel_title: Option<String> = None;
    let mut channel_link: Option<String> = None;
    let mut items: Vec<Item> = Vec::new();
    let mut cur: Option<Item> = None;
    let mut buf = String::new();
    loop {
        let ev = r.read_event().map_err(|e| xml_error(&r, text, e))?;
        match ev {
            Event::Start(e) => {
                let name = local(&e);
                if (name == "item" || name == "entry") && cur.is_none() {
                    cur = Some(Item::default());
                } else if name == "link" {
                    take_link(&e, cur.as_mut(), &mut channel_link, &path);
                }
                path.push(name);
                buf.clear();
            }
            Event::Empty(e) => {
                let name = local(&e);
                if name == "link" {
                    take_link(&e, cur.as_mut(), &mut channel_link, &path);
                } else if name == "category" {
                    if let (Some(it), Some(t)) = (cur.as_mut(), attr(&e, b"term")) {
                        it.tags.push(t);
                    }
                }
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(t.as_ref()).into_owned());
                buf.push_str(&s);
            }
            Event::CData(c) => buf.push_str(&String::from_utf8_lossy(&c.into_inner())),
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let value = std::mem::take(&mut buf);
                let in_item = path.iter().any(|p| p == "item" || p == "entry");
                if (name == "item" || name == "entry") && !in_item {
                    if let Some(it) = cur.take() {
                        if items.len() < MAX_ITEMS {
                            items.push(it);
                        }
                    }
                } else if let (true, Some(it)) = (in_item, cur.as_mut()) {
                    set_field(it, &name, value);
                } else if name == "title" && channel_title.is_none() {
                    channel_title = Some(value.trim().to_string());
                } else if name == "link" && channel_link.is_none() && !value.trim().is_empty() {
                    channel_link = Some(value.trim().to_string());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let source = source
        .map(str::to_string)
        .or(channel_title.filter(|t| !t.is_empty()))
        .unwrap_or_else(|| crate::import::FALLBACK_SOURCE.to_string());
    let mut opts = opts.clone();
    if let Some(h) = channel_link.as_deref().and_then(super::host_of_url) {
        opts.publisher_domains.push(super::registrable(&h));
    }
    Ok(items
        .into_iter()
        .map(|it| to_article(it, &source, kind, &opts))
        .collect())
}

fn to_article(it: Item, source: &str, kind: &str, opts: &ExtractOptions) -> Article {
    let summary = it.summary.as_deref().map(html_to_text);
    let text = match it.content.as_deref() {
        Some(c) => html_to_text(c),
        None => summary.clone().unwrap_or_default(),
    };
    let title = html_to_text(&it.title);
    let link = it.link.filter(|l| !l.is_empty());
    let key = match (&link, &it.guid) {
        (Some(l), _) => format!("link\0{l}"),
        (None, Some(g)) => format!("guid\0{source}\0{g}"),
        (None, None) => format!("title\0{source}\0{title}"),
    };
    Article::build(
        &key,
        title,
        link,
        source.to_string(),
        it.date,
        summary,
        it.tags,
        text,
        kind,
        opts,
    )
}

fn set_field(it: &mut Item, name: &str, value: String) {
    let v = value.trim().to_string();
    match name {
        "title" => it.title = v,
        "link" if it.link.is_none() && !v.is_empty() => it.link = Some(v),
        "guid" | "id" => it.guid = Some(v),
        "pubDate" | "published" | "date" => it.date = parse_date(&v).or(it.date),
        "updated" | "modified" if it.date.is_none() => it.date = parse_date(&v),
        "description" | "summary" => it.summary = Some(value),
        "encoded" | "content" => it.content = Some(value),
        "category" | "subject" if !v.is_empty() => it.tags.push(v),
        _ => {}
    }
}

/// Atom `<link href rel>`: the `alternate` (or first, rel-less) link of
/// the entry, or of the feed when outside any entry.
fn take_link(
    e: &BytesStart,
    cur: Option<&mut Item>,
    channel_link: &mut Option<String>,
    path: &[String],
) {
    let Some(href) = attr(e, b"href") else { return };
    let rel = attr(e, b"rel").unwrap_or_else(|| "alternate".into());
    if rel != "alternate" {
        return;
    }
    match cur {
        Some(it) if it.link.is_none() => it.link = Some(href),
        Some(_) => {}
        None if channel_link.is_none() && !path.is_empty() => *channel_link = Some(href),
        None => {}
    }
}

/// RFC 2822 (RSS `pubDate`) or RFC 3339 (Atom, Dublin Core).
pub fn parse_date(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    DateTime::parse_from_rfc2822(v)
        .or_else(|_| DateTime::parse_from_rfc3339(v))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| crate::http::params::parse_time(v))
}

fn local(e: &BytesStart) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn attr(e: &BytesStart, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.trim().to_string()))
        .filter(|v| !v.is_empty())
}

fn xml_error(r: &Reader<&[u8]>, text: &str, e: impl std::fmt::Display) -> FileError {
    let at = (r.error_position() as usize).min(text.len());
    let before = text.get(..at).unwrap_or("");
    FileError::InvalidXml {
        line: before.matches('\n').count() + 1,
        msg: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::IocType;

    const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Example Threat Blog</title><link>https://blog.example.com/</link>
<item><title>Campaign &amp; C2</title><link>https://blog.example.com/p/1</link>
<pubDate>Tue, 03 Nov 2026 10:00:00 +0000</pubDate><category>apt</category>
<description>Short &lt;b&gt;summary&lt;/b&gt;</description>
<content:encoded><![CDATA[<p>C2 at <code>evil[.]example</code> and 198.51.100[.]7; see https://blog.example.com/about</p>]]></content:encoded>
</item>
<item><title>No link</title><guid isPermaLink="false">g-2</guid><description>nothing here</description></item>
</channel></rss>"#;

    #[test]
    fn rss_items() {
        let a = parse(RSS.as_bytes(), None, &ExtractOptions::default()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].title, "Campaign & C2");
        assert_eq!(a[0].source, "Example Threat Blog");
        assert_eq!(a[0].link.as_deref(), Some("https://blog.example.com/p/1"));
        assert_eq!(a[0].summary.as_deref(), Some("Short summary"));
        assert_eq!(a[0].tags, vec!["apt".to_string()]);
        assert_eq!(a[0].published.to_rfc3339(), "2026-11-03T10:00:00+00:00");
        let v: Vec<_> = a[0]
            .iocs
            .iter()
            .map(|i| (i.ioc_type, i.value.as_str()))
            .collect();
        assert_eq!(
            v,
            vec![
                (IocType::Domain, "evil.example"),
                (IocType::Ipv4, "198.51.100.7")
            ]
        );
        assert_ne!(a[0].id, a[1].id);
        let again = parse(RSS.as_bytes(), Some("blog"), &ExtractOptions::default()).unwrap();
        assert_eq!(again[0].id, a[0].id, "the id follows the link");
        assert_eq!(again[0].source, "blog");
    }

    #[test]
    fn atom_entries() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<link href="https://atom.example.org/"/>
<entry><title type="html">Report</title><id>urn:x:1</id>
<link rel="self" href="https://atom.example.org/self"/><link href="https://atom.example.org/r/1"/>
<updated>2026-10-01T00:00:00Z</updated><category term="ransomware"/>
<summary>s</summary><content type="html">&lt;p&gt;hxxp://bad[.]example/x&lt;/p&gt;</content></entry></feed>"#;
        let a = parse(atom.as_bytes(), None, &ExtractOptions::default()).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "atom");
        assert_eq!(a[0].link.as_deref(), Some("https://atom.example.org/r/1"));
        assert_eq!(a[0].tags, vec!["ransomware".to_string()]);
        assert_eq!(a[0].iocs[0].value, "http://bad.example/x");
    }

    #[test]
    fn bad_feeds() {
        let e = parse(
            b"<rss><channel><item></channel></rss>",
            None,
            &Default::default(),
        );
        assert!(matches!(e, Err(FileError::InvalidXml { .. })), "{e:?}");
        let e = parse(b"<html></html>", None, &Default::default());
        assert!(matches!(e, Err(FileError::WrongFormat { .. })), "{e:?}");
        let e = parse(b"<rss>\xff</rss>", None, &Default::default());
        assert!(matches!(e, Err(FileError::NotUtf8 { .. })), "{e:?}");
        // An entity bomb is not expanded.
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><rss><channel><item><title>&b;</title></item></channel></rss>"#;
        let a = parse(bomb.as_bytes(), None, &Default::default()).unwrap();
        assert!(a[0].title.len() < 16, "{}", a[0].title);
    }
}

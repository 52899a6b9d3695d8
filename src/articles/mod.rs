//! Articles (issue #14 item 1): news items from RSS 2.0 / Atom feeds and
//! report documents (HTML, Markdown, AsciiDoc, plain text), kept with
//! their full text for search and the IOCs extracted from it
//! ([`crate::ioc::extract`]).
//!
//! Flow: an importer ([`feed::parse`], [`document::parse`]) turns a file
//! into [`Article`]s; [`observations`] turns each article's extracted IOCs
//! into observations whose source reference is the article's title (so a
//! MISP export's `comment` reads `C2 IP from "<title>"`, see
//! [`crate::export::mapping::comment`]); the store keeps the articles
//! ([`crate::store::articles`]) and the IOCs go through the normal ingest.
//! Design notes: docs/articles.md.

pub mod config;
pub mod document;
pub mod feed;

use crate::ioc::extract::{extract, ExtractOptions};
use crate::ioc::{IocType, Observation, Source};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace of article ids (UUIDv5). Fixed forever: ids are handed out.
pub const ARTICLE_NAMESPACE: Uuid = Uuid::from_u128(0x3b9e_51c2_7d4a_4f08_a1c6_92e0_5d7b_4e13);

/// Longest full text kept per article (bytes); the rest is dropped and
/// [`Article::text_truncated`] set. IOCs are extracted from the whole text.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Longest title and summary kept (characters).
pub const MAX_TITLE_CHARS: usize = 512;
pub const MAX_SUMMARY_CHARS: usize = 4096;
/// Most IOCs recorded per article (the rest are still imported).
pub const MAX_IOCS_PER_ARTICLE: usize = 10_000;

/// One IOC an article names: type and normalized value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleIoc {
    #[serde(rename = "type")]
    pub ioc_type: IocType,
    pub value: String,
}

/// A stored article. JSON shape of `GET /api/v1/articles/{id}` (plus the
/// resolved IOCs there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    /// UUIDv5 under [`ARTICLE_NAMESPACE`] of the feed item's link (or guid)
    /// or, for a document, of `source`, file name and title: the same item
    /// imported twice is one article.
    pub id: Uuid,
    pub title: String,
    /// The item's link (feeds) or canonical URL (HTML documents).
    pub link: Option<String>,
    /// Source name: the feed's name, `--source`, or the channel title.
    pub source: String,
    /// Publication time as the feed states it; for a document without one,
    /// the time it was first imported.
    pub published: DateTime<Utc>,
    /// When iocd first stored it (set by the store).
    pub added: DateTime<Utc>,
    pub summary: Option<String>,
    pub tags: Vec<String>,
    /// Plain text (HTML rendered to text), at most [`MAX_TEXT_BYTES`].
    pub text: String,
    pub text_truncated: bool,
    /// `rss`, `atom`, `html`, `markdown`, `asciidoc` or `text`.
    pub kind: String,
    /// The IOCs extracted from title, summary and text, in order of first
    /// occurrence.
    pub iocs: Vec<ArticleIoc>,
}

impl Article {
    /// Builds an article and extracts its IOCs from title, summary and the
    /// full `text` (before truncation). `publisher` hosts are never
    /// extracted (with their subdomains), nor `allow_list` values.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        id_key: &str,
        title: String,
        link: Option<String>,
        source: String,
        published: Option<DateTime<Utc>>,
        summary: Option<String>,
        tags: Vec<String>,
        text: String,
        kind: &str,
        opts: &ExtractOptions,
    ) -> Article {
        let now = Utc::now();
        let mut opts = opts.clone();
        if let Some(h) = link.as_deref().and_then(host_of_url) {
            opts.publisher_domains.push(registrable(&h));
        }
        let mut seen = std::collections::HashSet::new();
        let mut iocs = Vec::new();
        for part in [
            Some(title.as_str()),
            summary.as_deref(),
            Some(text.as_str()),
        ]
        .into_iter()
        .flatten()
        {
            for e in extract(part, &opts) {
                if iocs.len() < MAX_IOCS_PER_ARTICLE
                    && seen.insert((e.ioc.ioc_type, e.ioc.value.clone()))
                {
                    iocs.push(ArticleIoc {
                        ioc_type: e.ioc.ioc_type,
                        value: e.ioc.value,
                    });
                }
            }
        }
        let (text, text_truncated) = truncate(text, MAX_TEXT_BYTES);
        let mut tags: Vec<String> = tags
            .into_iter()
            .map(|t| clip(t.trim(), 128))
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort();
        tags.dedup();
        Article {
            id: Uuid::new_v5(&ARTICLE_NAMESPACE, id_key.as_bytes()),
            title: clip(title.trim(), MAX_TITLE_CHARS),
            link,
            source,
            published: published.unwrap_or(now),
            added: now,
            summary: summary
                .map(|s| clip(s.trim(), MAX_SUMMARY_CHARS))
                .filter(|s| !s.is_empty()),
            tags,
            text,
            text_truncated,
            kind: kind.to_string(),
            iocs,
        }
    }

    /// Whether every word of `q` (whitespace-separated, case-insensitive)
    /// occurs in the title or the text.
    pub fn matches(&self, words: &[String]) -> bool {
        if words.is_empty() {
            return true;
        }
        let title = self.title.to_lowercase();
        let text = self.text.to_lowercase();
        words
            .iter()
            .all(|w| title.contains(w.as_str()) || text.contains(w.as_str()))
    }
}

/// The observations an article contributes: one per extracted IOC, with
/// the article's source name, its title as reference, its tags, and
/// `seen` = published.
pub fn observations(a: &Article, confidence: Option<u8>) -> Vec<Observation> {
    a.iocs
        .iter()
        .filter_map(|i| {
            let n = crate::ioc::normalize(&i.value, Some(i.ioc_type)).ok()?;
            let mut o = Observation::new(n);
            o.seen = Some(a.published.min(Utc::now()));
            o.confidence = confidence;
            o.tags = a.tags.clone();
            o.source = Some(Source {
                name: a.source.clone(),
                reference: Some(a.title.clone()).filter(|t| !t.is_empty()),
                direction: None,
            });
            Some(o)
        })
        .collect()
}

/// The host of an `http(s)://` URL, lower-case, without port.
pub fn host_of_url(u: &str) -> Option<String> {
    let rest = u.trim().split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = &rest[..end];
    let host = auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth);
    let host = host.split(':').next().unwrap_or(host);
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    (!h.is_empty()).then_some(h)
}

/// The registrable domain of a host by the public suffix list
/// (`www.welivesecurity.com` → `welivesecurity.com`, `news.bbc.co.uk` →
/// `bbc.co.uk`), or the host itself when it has none (an IP, a bare
/// suffix).
pub fn registrable(host: &str) -> String {
    psl::domain_str(host).unwrap_or(host).to_string()
}

/// At most `max` characters of `s`.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

fn truncate(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    (s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.welivesecurity.com"), "welivesecurity.com");
        assert_eq!(registrable("eset.com"), "eset.com");
        assert_eq!(registrable("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(
            host_of_url("https://User@Blog.Example.org:8443/x?y").as_deref(),
            Some("blog.example.org")
        );
    }

    #[test]
    fn build_extracts_dedups_and_skips_the_publisher() {
        let a = Article::build(
            "k",
            "Evil campaign hits 198.51.100[.]7".into(),
            Some("https://www.example-news.com/post/1".into()),
            "news".into(),
            None,
            Some("C2 evil[.]example".into()),
            vec![" apt ".into(), "apt".into(), "".into()],
            "See https://www.example-news.com/other and evil.example, 198.51.100.7".into(),
            "rss",
            &ExtractOptions::default(),
        );
        let v: Vec<(IocType, &str)> = a
            .iocs
            .iter()
            .map(|i| (i.ioc_type, i.value.as_str()))
            .collect();
        assert_eq!(
            v,
            vec![
                (IocType::Ipv4, "198.51.100.7"),
                (IocType::Domain, "evil.example")
            ]
        );
        assert_eq!(a.tags, vec!["apt".to_string()]);
        assert_eq!(a.id, Uuid::new_v5(&ARTICLE_NAMESPACE, b"k"));
        let obs = observations(&a, Some(70));
        assert_eq!(obs.len(), 2);
        let src = obs[0].source.as_ref().unwrap();
        assert_eq!(src.name, "news");
        assert_eq!(
            src.reference.as_deref(),
            Some("Evil campaign hits 198.51.100[.]7")
        );
        assert_eq!(obs[0].confidence, Some(70));
    }

    #[test]
    fn long_text_is_truncated_on_a_char_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        let a = Article::build(
            "k",
            "t".into(),
            None,
            "s".into(),
            None,
            None,
            vec![],
            text,
            "text",
            &ExtractOptions::default(),
        );
        assert!(a.text_truncated);
        assert!(a.text.len() <= MAX_TEXT_BYTES);
    }
}

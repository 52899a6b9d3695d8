//! IOC extraction from free text (reports, articles): finds defanged and
//! plain indicators in prose and drops the usual false positives.
//!
//! INTERFACE STUB (issue #14): the signature below is the contract between
//! the articles code and the extractor; the body is a naive placeholder that
//! splits on whitespace and punctuation and runs each token through
//! [`detect`](super::detect). The real extractor replaces the body.

use super::{detect, Normalized};

/// What the caller knows about the text's context.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Domains of the publisher (the article's link host, the feed's host):
    /// never extracted, nor their subdomains.
    pub publisher_domains: Vec<String>,
    /// Values never extracted (config `[articles] allow_list`): exact
    /// normalized values or domains (a domain also covers its subdomains).
    pub allow_list: Vec<String>,
}

/// One IOC found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub ioc: Normalized,
    /// Byte offset of the first occurrence in the input text.
    pub offset: usize,
}

/// Extracts the distinct IOCs of `text` in order of first occurrence.
/// Never panics on any input.
pub fn extract(text: &str, opts: &ExtractOptions) -> Vec<Extracted> {
    let _ = opts;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut offset = 0usize;
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '"') {
        let start = offset;
        offset += token.len() + 1;
        let t = token.trim_matches(|c: char| matches!(c, '(' | ')' | '<' | '>' | '\'' | '`' | '.'));
        if t.len() < 4 {
            continue;
        }
        if let Ok(n) = detect(t) {
            if seen.insert((n.ioc_type, n.value.clone())) {
                out.push(Extracted {
                    ioc: n,
                    offset: start,
                });
            }
        }
    }
    out
}

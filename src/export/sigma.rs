//! Sigma detection rules (Sigma rules specification 2.x) generated from
//! IOCs: one multi-document YAML stream, one rule per (log source, level),
//! covering `network_connection` (IPs), `dns` (domains), `proxy` (URLs) and
//! `process_creation` (Sysmon `Hashes`: MD5, SHA-1, SHA-256). Types with no
//! standard log source (email, SHA-512, CVE, ATT&CK ids) produce no rule;
//! ATT&CK techniques of the IOCs become `attack.tXXXX` tags.
//!
//! Values are written as single-quoted YAML scalars with Sigma's wildcard
//! characters escaped (`*`, `?`, `\` → `\*`, `\?`, `\\`), so a URL with a
//! query string matches literally.

use super::mapping::{mapping, SigmaTarget};
use crate::ioc::{ConfidenceLevel, Indicator, ID_NAMESPACE};
use chrono::{DateTime, Utc};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use uuid::Uuid;

/// `Content-Type` of the rules.
pub const CONTENT_TYPE: &str = "application/yaml";

/// Options of the Sigma export.
#[derive(Debug, Clone)]
pub struct SigmaOptions {
    /// `author` of every rule (default "iocd").
    pub author: String,
    /// `date` of the rules (default: now).
    pub now: Option<DateTime<Utc>>,
}

impl Default for SigmaOptions {
    fn default() -> Self {
        SigmaOptions {
            author: "iocd".into(),
            now: None,
        }
    }
}

/// (category, product, field, level): one rule each.
type GroupKey = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

/// One rule's content while collecting.
#[derive(Default)]
struct Group {
    values: BTreeSet<String>,
    techniques: BTreeSet<String>,
    tactics: BTreeSet<String>,
}

fn level(c: ConfidenceLevel) -> &'static str {
    match c {
        ConfidenceLevel::High => "high",
        ConfidenceLevel::Medium => "medium",
        ConfidenceLevel::Low => "low",
    }
}

/// A single-quoted YAML scalar of a Sigma string value, wildcards escaped.
pub fn sigma_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 4);
    s.push('\'');
    for c in v.chars() {
        match c {
            '*' | '?' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\'' => s.push_str("''"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// Writes the rules for `items` as a multi-document YAML stream; returns the
/// number of IOCs that went into some rule. No IOC → an empty stream.
pub fn write_sigma<W, I>(w: &mut W, items: I, opts: &SigmaOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    // Key: (category, product, field, level) → values; bounded by the
    // caller's page (the API caps it at 1000).
    let mut groups: BTreeMap<GroupKey, (SigmaTarget, Group)> = BTreeMap::new();
    let mut n = 0u64;
    for item in items {
        let i = item.borrow();
        let Some(t) = mapping(i.ioc_type).sigma else {
            continue;
        };
        let lv = level(i.level());
        let (_, g) = groups
            .entry((t.category, t.product, t.field, lv))
            .or_insert_with(|| (t, Group::default()));
        g.values.insert(format!("{}{}", t.value_prefix, i.value));
        for tech in &i.techniques {
            g.techniques
                .insert(format!("attack.{}", tech.to_ascii_lowercase()));
            if let Some(x) = crate::ioc::attack::technique(tech) {
                g.tactics
                    .extend(x.tactics.iter().map(|t| format!("attack.{t}")));
            }
        }
        n += 1;
    }
    let date = opts
        .now
        .unwrap_or_else(Utc::now)
        .format("%Y-%m-%d")
        .to_string();
    for ((category, product, field, lv), (t, g)) in &groups {
        let mut seed = format!("{category}|{}|{field}|{lv}", product.unwrap_or(""));
        for v in &g.values {
            seed.push('|');
            seed.push_str(v);
        }
        let id = Uuid::new_v5(&ID_NAMESPACE, seed.as_bytes());
        writeln!(w, "---")?;
        writeln!(
            w,
            "title: {}",
            sigma_value(&format!("iocd - {} ({} confidence)", t.what, lv))
        )?;
        writeln!(w, "id: {id}")?;
        writeln!(w, "status: experimental")?;
        writeln!(
            w,
            "description: {}",
            sigma_value(&format!("Matches {} indicators of compromise held by iocd at {lv} confidence. Generated {date}.", g.values.len()))
        )?;
        writeln!(w, "author: {}", sigma_value(&opts.author))?;
        writeln!(w, "date: {date}")?;
        let tags: Vec<&String> = g.tactics.iter().chain(g.techniques.iter()).collect();
        if !tags.is_empty() {
            writeln!(w, "tags:")?;
            for tag in tags {
                writeln!(w, "    - {tag}")?;
            }
        }
        writeln!(w, "logsource:")?;
        writeln!(w, "    category: {category}")?;
        if let Some(p) = product {
            writeln!(w, "    product: {p}")?;
        }
        writeln!(w, "detection:")?;
        writeln!(w, "    selection:")?;
        writeln!(w, "        {field}:")?;
        for v in &g.values {
            writeln!(w, "            - {}", sigma_value(v))?;
        }
        writeln!(w, "    condition: selection")?;
        writeln!(w, "falsepositives:")?;
        writeln!(
            w,
            "    - Indicators that were reassigned to legitimate use (shared hosting, sinkholes)"
        )?;
        writeln!(w, "level: {lv}")?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{detect, indicator_id};

    fn ind(v: &str, confidence: u8, techniques: &[&str]) -> Indicator {
        let n = detect(v).unwrap();
        let t = Utc::now();
        Indicator {
            id: indicator_id(n.ioc_type, &n.value),
            ioc_type: n.ioc_type,
            value: n.value,
            first_seen: t,
            last_seen: t,
            added_at: t,
            modified: t,
            confidence,
            tlp: None,
            tags: vec![],
            sources: vec![],
            techniques: techniques.iter().map(|s| s.to_string()).collect(),
            description: None,
            to_ids: true,
            reserved: false,
        }
    }

    #[test]
    fn groups_by_logsource_and_level_and_escapes() {
        let items = vec![
            ind("8.8.4.4", 90, &["T1071.001"]),
            ind("evil.example.com", 90, &[]),
            ind("http://x.example/a?b=*'c", 50, &[]),
            ind(&"AB".repeat(32), 80, &[]),
            ind("x@evil.example", 90, &[]),
            ind("CVE-2021-44228", 90, &[]),
        ];
        let mut out = Vec::new();
        let n = write_sigma(
            &mut out,
            &items,
            &SigmaOptions {
                now: Some(Utc::now()),
                ..Default::default()
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            text.matches("\n---\n").count() + usize::from(text.starts_with("---\n")),
            4
        );
        assert!(
            text.contains("        DestinationIp:\n            - '8.8.4.4'\n"),
            "{text}"
        );
        assert!(text.contains("    - attack.command-and-control\n    - attack.t1071.001\n"));
        assert!(
            text.contains("            - 'http://x.example/a\\?b=\\*''c'\n"),
            "{text}"
        );
        assert!(text.contains("        Hashes|contains:\n            - 'SHA256=abab"));
        assert!(text.contains("    category: process_creation\n    product: windows\n"));
        assert!(text.contains("level: medium\n"));
        assert!(!text.contains("x@evil.example"));
    }
}

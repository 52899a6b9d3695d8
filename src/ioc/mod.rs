//! The IOC domain: types, the stored [`Indicator`] record, detection and
//! normalization. No I/O happens here (docs/design.md, "Modules").

pub mod attack;
pub mod expiry;
pub mod extract;
pub mod merge;
mod normalize;
mod refang;

pub use normalize::{detect, normalize, IocError, Normalized};
pub use refang::refang;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The namespace under which indicator ids are derived (UUIDv5 of
/// `"<type>:<normalized value>"`). Fixed forever: changing it would change
/// every STIX `indicator--<id>` and MISP attribute uuid already handed out.
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2d1e_8a3b_5c47_9e0d_4b2a_7c61_d0e5);

/// One of the eleven IOC types the API knows (spec: `type` query parameter).
///
/// The `u8` code is part of the on-disk key layout (`by_type_added`), so codes
/// are fixed and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IocType {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Email,
    Cve,
    MitreAttack,
}

impl IocType {
    /// Every type, in code order.
    pub const ALL: [IocType; 11] = [
        IocType::Ipv4,
        IocType::Ipv6,
        IocType::Domain,
        IocType::Url,
        IocType::Md5,
        IocType::Sha1,
        IocType::Sha256,
        IocType::Sha512,
        IocType::Email,
        IocType::Cve,
        IocType::MitreAttack,
    ];

    /// The API name (`ipv4`, `sha256`, `mitre_attack`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IocType::Ipv4 => "ipv4",
            IocType::Ipv6 => "ipv6",
            IocType::Domain => "domain",
            IocType::Url => "url",
            IocType::Md5 => "md5",
            IocType::Sha1 => "sha1",
            IocType::Sha256 => "sha256",
            IocType::Sha512 => "sha512",
            IocType::Email => "email",
            IocType::Cve => "cve",
            IocType::MitreAttack => "mitre_attack",
        }
    }

    /// Stable one-byte code used in store keys.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Inverse of [`IocType::code`]; `None` for an unknown byte.
    pub fn from_code(code: u8) -> Option<IocType> {
        IocType::ALL.get(code as usize).copied()
    }

    /// True for the four file-hash types.
    pub fn is_hash(self) -> bool {
        matches!(
            self,
            IocType::Md5 | IocType::Sha1 | IocType::Sha256 | IocType::Sha512
        )
    }
}

impl fmt::Display for IocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IocType {
    type Err = String;
    /// Accepts the API names plus common aliases (`ip`→ipv4 is *not* guessed;
    /// `sha-256`, `sha_256`, `hostname`, `email-addr`, `attack`, `technique`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "ipv4" | "ipv4_addr" | "ip4" => IocType::Ipv4,
            "ipv6" | "ipv6_addr" | "ip6" => IocType::Ipv6,
            "domain" | "domain_name" | "hostname" | "fqdn" => IocType::Domain,
            "url" | "uri" | "link" => IocType::Url,
            "md5" => IocType::Md5,
            "sha1" | "sha_1" => IocType::Sha1,
            "sha256" | "sha_256" => IocType::Sha256,
            "sha512" | "sha_512" => IocType::Sha512,
            "email" | "email_addr" | "email_src" | "email_dst" => IocType::Email,
            "cve" | "vulnerability" => IocType::Cve,
            "mitre_attack" | "attack" | "technique" | "attack_pattern" => IocType::MitreAttack,
            other => return Err(format!("unknown IOC type '{other}'")),
        };
        Ok(t)
    }
}

/// Confidence level derived from the 0–100 confidence score:
/// **high ≥ 70, medium 40–69, low < 40**. Drives the default TLP of exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceLevel {
    Low,
    Medium,
    High,
}

impl ConfidenceLevel {
    /// Level of a 0–100 score (values above 100 count as 100).
    pub fn of(confidence: u8) -> ConfidenceLevel {
        match confidence {
            70.. => ConfidenceLevel::High,
            40..=69 => ConfidenceLevel::Medium,
            _ => ConfidenceLevel::Low,
        }
    }

    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceLevel::Low => "low",
            ConfidenceLevel::Medium => "medium",
            ConfidenceLevel::High => "high",
        }
    }
}

/// Traffic Light Protocol 2.0 level (FIRST TLP 2.0; STIX 2.1 §7.2.1.4 for the
/// marking-definition objects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tlp {
    #[serde(rename = "clear")]
    Clear,
    #[serde(rename = "green")]
    Green,
    #[serde(rename = "amber")]
    Amber,
    #[serde(rename = "amber+strict")]
    AmberStrict,
    #[serde(rename = "red")]
    Red,
}

impl Tlp {
    /// Every level, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// `clear`, `green`, `amber`, `amber+strict`, `red`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The spec's default mapping: high→green, medium→amber, low→clear.
    pub fn from_confidence(confidence: u8) -> Tlp {
        match ConfidenceLevel::of(confidence) {
            ConfidenceLevel::High => Tlp::Green,
            ConfidenceLevel::Medium => Tlp::Amber,
            ConfidenceLevel::Low => Tlp::Clear,
        }
    }
}

impl FromStr for Tlp {
    type Err = String;
    /// Accepts `clear`/`white`, `green`, `amber`, `amber+strict`, `red`, with
    /// or without a `tlp:` prefix, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix("tlp:").unwrap_or(&s);
        Ok(match s {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" | "amber_strict" | "amber strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            other => return Err(format!("unknown TLP level '{other}'")),
        })
    }
}

/// Which end of a connection (IPs) or of a mail (email addresses) a source
/// reported the IOC as: MISP `ip-src`/`ip-dst`, `email-src`/`email-dst`.
/// Kept so that the MISP export gives back the type it was imported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The source side: `ip-src`, `email-src`.
    Src,
    /// The destination side: `ip-dst`, `email-dst` (also `email-reply-to`,
    /// a mailbox the victim writes to).
    Dst,
}

/// Where an IOC was reported: a feed, a MISP event, a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Short source name (`eset`, a feed name, a MISP org).
    pub name: String,
    /// Free text: event info (the report title), STIX report name, file
    /// name, report URL.
    pub reference: Option<String>,
    /// The direction this source stated (MISP `ip-dst` …); `None` when it
    /// stated none. Serialized only when set (JSON `"direction":"dst"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

impl Source {
    /// A source without a direction.
    pub fn new(name: impl Into<String>, reference: Option<String>) -> Source {
        Source {
            name: name.into(),
            reference,
            direction: None,
        }
    }
}

/// The stored IOC record (store tree `indicators`, bincode).
///
/// Times are UTC. `added_at` is when iocd first stored the IOC; `modified`
/// when it last changed (re-seen, merged). The time index is keyed by
/// `modified`, so pollers asking `since=`/`added_after=` see updates too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// UUIDv5 of `type:value` under [`ID_NAMESPACE`]; see [`indicator_id`].
    pub id: Uuid,
    pub ioc_type: IocType,
    /// Normalized value (see [`normalize`]).
    pub value: String,
    /// First time any source saw it (falls back to `added_at`).
    pub first_seen: DateTime<Utc>,
    /// Last time any source saw it.
    pub last_seen: DateTime<Utc>,
    /// When iocd first stored it.
    pub added_at: DateTime<Utc>,
    /// When the record last changed; the time-index key.
    pub modified: DateTime<Utc>,
    /// 0–100; see [`ConfidenceLevel`].
    pub confidence: u8,
    /// Explicit TLP; `None` means "derive from confidence".
    pub tlp: Option<Tlp>,
    /// Free-form tags (MISP tags, feed labels), deduplicated, sorted.
    pub tags: Vec<String>,
    /// Reporting sources, deduplicated by (name, reference).
    pub sources: Vec<Source>,
    /// ATT&CK technique ids (`T1071`, `T1071.001`), deduplicated, sorted.
    pub techniques: Vec<String>,
    pub description: Option<String>,
    /// MISP `to_ids`: fit for automatic detection.
    pub to_ids: bool,
    /// True when the value is an IP in a private, loopback, link-local,
    /// documentation or otherwise reserved range (stored, but flagged).
    pub reserved: bool,
}

/// The deterministic id of an IOC: UUIDv5(`ID_NAMESPACE`, `"<type>:<value>"`).
pub fn indicator_id(ioc_type: IocType, value: &str) -> Uuid {
    let mut name = String::with_capacity(value.len() + 14);
    name.push_str(ioc_type.as_str());
    name.push(':');
    name.push_str(value);
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
}

impl Indicator {
    /// The confidence level of this indicator.
    pub fn level(&self) -> ConfidenceLevel {
        ConfidenceLevel::of(self.confidence)
    }

    /// The TLP to export with: the explicit one, else the confidence default.
    pub fn effective_tlp(&self) -> Tlp {
        self.tlp
            .unwrap_or_else(|| Tlp::from_confidence(self.confidence))
    }
}

/// An IOC as an importer or the API hands it to the store: already
/// normalized, not yet merged. The store fills ids and times.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub ioc_type: IocType,
    pub value: String,
    pub reserved: bool,
    /// When the source saw it; `None` = now.
    pub seen: Option<DateTime<Utc>>,
    pub confidence: Option<u8>,
    pub tlp: Option<Tlp>,
    pub tags: Vec<String>,
    pub source: Option<Source>,
    pub techniques: Vec<String>,
    pub description: Option<String>,
    pub to_ids: bool,
}

impl Observation {
    /// An observation from a normalized value with every optional field empty
    /// and `to_ids` true.
    pub fn new(n: Normalized) -> Observation {
        Observation {
            ioc_type: n.ioc_type,
            value: n.value,
            reserved: n.reserved,
            seen: None,
            confidence: None,
            tlp: None,
            tags: Vec::new(),
            source: None,
            techniques: Vec::new(),
            description: None,
            to_ids: true,
        }
    }

    /// Cleans the free-text fields every importer and the API hand in, so
    /// no exporter ever carries a NUL, a terminal escape or a bidi override
    /// to a SIEM: control characters become spaces (descriptions and
    /// references keep `\n` and `\t`, which every exporter escapes),
    /// Unicode bidi controls are removed, and lengths are capped (tags
    /// and source names 128 characters, references 1,024, descriptions
    /// 4,096). Empty tags are dropped. Called by `Store::ingest`.
    pub fn sanitize(&mut self) {
        fn clean(s: &str, keep_newlines: bool, max: usize) -> String {
            s.chars()
                .filter(|c| !matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}'))
                .map(|c| {
                    if c.is_control() && !(keep_newlines && (c == '\n' || c == '\t')) {
                        ' '
                    } else {
                        c
                    }
                })
                .take(max)
                .collect::<String>()
                .trim()
                .to_string()
        }
        self.tags = self
            .tags
            .iter()
            .map(|t| clean(t, false, MAX_TAG_CHARS))
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(d) = &self.description {
            let d = clean(d, true, MAX_DESCRIPTION_CHARS);
            self.description = (!d.is_empty()).then_some(d);
        }
        if let Some(src) = &mut self.source {
            src.name = clean(&src.name, false, MAX_TAG_CHARS);
            if src.name.is_empty() {
                src.name = "unknown".into();
            }
            src.reference = src
                .reference
                .as_deref()
                .map(|r| clean(r, true, MAX_REFERENCE_CHARS))
                .filter(|r| !r.is_empty());
        }
    }

    /// The id the stored indicator will have.
    pub fn id(&self) -> Uuid {
        indicator_id(self.ioc_type, &self.value)
    }
}

/// Longest tag and source name kept (characters).
pub const MAX_TAG_CHARS: usize = 128;
/// Longest source reference kept (characters).
pub const MAX_REFERENCE_CHARS: usize = 1024;
/// Longest description kept (characters).
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// Confidence given to an IOC whose source states none.
pub const DEFAULT_CONFIDENCE: u8 = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_controls_and_caps_lengths() {
        let mut o = Observation::new(detect("evil.example.com").unwrap());
        o.tags = vec![
            "\u{0}nul".into(),
            "x\ny".into(),
            "   ".into(),
            "a".repeat(500),
        ];
        o.description = Some("line1\r\nCEF:0|spoof\u{0}\u{202e}".into());
        o.source = Some(Source {
            name: "s\u{202e}".into(),
            reference: Some("\u{1b}[31mred".into()),
            direction: None,
        });
        o.sanitize();
        assert_eq!(o.tags[0], "nul");
        assert_eq!(o.tags[1], "x y");
        assert_eq!(o.tags.len(), 3);
        assert_eq!(o.tags[2].chars().count(), MAX_TAG_CHARS);
        assert_eq!(o.description.as_deref(), Some("line1 \nCEF:0|spoof"));
        let src = o.source.unwrap();
        assert_eq!(
            (src.name.as_str(), src.reference.as_deref()),
            ("s", Some("[31mred"))
        );
    }
}

//! The one IOC-type → output-format mapping (docs/design.md, "Modules": the
//! per-type knowledge lives here, not copied into each exporter).
//!
//! Every exporter asks [`mapping`] what an [`IocType`] is called in its
//! format, and uses the helpers below for the fields every format shares
//! (display name, timestamp text, TLP, severity, comment). Adding an IOC type
//! means adding one row to [`TABLE`]; the compiler then points at nothing
//! else, because no exporter matches on `IocType` itself.

use crate::ioc::{Direction, Indicator, IocType, Tlp};
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// How a type appears in STIX 2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StixKind {
    /// An `indicator` SDO whose pattern compares one property of a Cyber
    /// Observable (STIX 2.1 §9 patterning): `[<object>:<path> = '<value>']`.
    Pattern {
        /// SCO type (`ipv4-addr`, `file`).
        object: &'static str,
        /// Object path (`value`, `hashes.'SHA-256'`). Hash names that are not
        /// plain identifiers are quoted, as STIX 2.1 §9.3 requires.
        path: &'static str,
    },
    /// No observable to pattern: a `vulnerability` SDO (STIX 2.1 §4.18)
    /// named after the CVE id, with an external reference `cve`.
    Vulnerability,
    /// An `attack-pattern` SDO (STIX 2.1 §4.1) with its ATT&CK reference.
    AttackPattern,
}

/// How a type appears as a MISP attribute (MISP core format, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MispKind {
    /// Attribute `type` when no source stated a direction: exactly the
    /// table of `docs/spec/misp-export.md` (IPs `ip-src`, email `email-src`).
    pub attr_type: &'static str,
    /// The type for a [`Direction::Dst`] a source stated (a MISP import's
    /// `ip-dst`, `email-dst`); `None`: the type has no direction.
    pub dst_type: Option<&'static str>,
    /// Attribute `category`, one that MISP's describeTypes allows for the type.
    pub category: &'static str,
    /// Whether `to_ids` may be true: false for `vulnerability` (a CVE id
    /// matches no traffic; PyMISP's default for the type), else the IOC's.
    pub to_ids: bool,
}

/// Where a type goes in a CEF extension (ArcSight CEF rev 25, extension
/// dictionary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CefKind {
    /// The standard key that carries the value (`dst`, `dhost`, ...).
    pub key: &'static str,
    /// For the `c6a*`/`cs*` custom keys, which have no meaning of their own:
    /// the `<key>Label` key and its text.
    pub label: Option<(&'static str, &'static str)>,
}

/// An OpenIOC 1.1 indicator term (`current.iocterms`): the `Context` element's
/// `document` and `search`, and the `Content` element's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenIocTerm {
    pub document: &'static str,
    pub search: &'static str,
    pub content_type: &'static str,
}

/// One row of the mapping: everything a format needs to know about a type.
#[derive(Debug, Clone, Copy)]
pub struct TypeMapping {
    pub ioc_type: IocType,
    /// Display-name prefix: "Malicious IPv4 Address" → "Malicious IPv4
    /// Address - 1.2.3.4" (the spec's example `name`); alone, the CEF
    /// event `Name`.
    pub label: &'static str,
    /// What the IOC is called in a generated comment: `C2 IP from "<report
    /// title>"` (the seed's MISP example, `docs/spec/misp-export.md`).
    pub noun: &'static str,
    pub stix: StixKind,
    /// `None` for `mitre_attack`: not in the spec's table; the MISP exporter
    /// turns those into galaxy tags instead.
    pub misp: Option<MispKind>,
    pub cef: CefKind,
    /// `None` where OpenIOC 1.1 has no term (sha512, cve, mitre_attack).
    pub openioc: Option<OpenIocTerm>,
    /// CEF signature id (header field 5).
    pub cef_signature: &'static str,
    /// Where SIEMs keep this kind of value, for hunting queries.
    pub hunt: Hunt,
    /// The Sigma log source and field that see this kind of value (`None`:
    /// no standard log source, so no rule).
    pub sigma: Option<SigmaTarget>,
    /// What Suricata/Snort rules match for this type ([`super::ids_rules`]);
    /// `None`: no network rule (hashes, email, CVE, ATT&CK ids).
    pub ids: Option<IdsKind>,
}

/// The network traffic an IDS rule matches for a type
/// ([`super::ids_rules`]: Suricata and Snort exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdsKind {
    /// Any IP packet to or from the address (two rules).
    Ip,
    /// DNS query, TLS SNI and HTTP Host of the domain or its subdomains
    /// (three rules).
    Domain,
    /// HTTP request with the URL's Host and URI (one rule).
    Url,
}

/// A Sigma rule target (Sigma taxonomy: log source category and field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigmaTarget {
    /// `logsource.category`.
    pub category: &'static str,
    /// `logsource.product`, when the field is product-specific.
    pub product: Option<&'static str>,
    /// Detection field, with modifiers (`Hashes|contains`).
    pub field: &'static str,
    /// Text before the value (Sysmon's `Hashes` holds `SHA256=<hex>`).
    pub value_prefix: &'static str,
    /// What the rule detects, for its title.
    pub what: &'static str,
}

const fn sigma(
    category: &'static str,
    product: Option<&'static str>,
    field: &'static str,
    value_prefix: &'static str,
    what: &'static str,
) -> Option<SigmaTarget> {
    Some(SigmaTarget {
        category,
        product,
        field,
        value_prefix,
        what,
    })
}

/// Field names per SIEM for hunting queries (see [`super::hunting`]):
/// Splunk CIM fields, Microsoft Sentinel `(table, column)` pairs, Elastic
/// Common Schema fields.
#[derive(Debug, Clone, Copy)]
pub struct Hunt {
    pub splunk: &'static [&'static str],
    pub sentinel: &'static [(&'static str, &'static str)],
    pub ecs: &'static [&'static str],
}

const HUNT_IP: Hunt = Hunt {
    splunk: &["src_ip", "dest_ip", "src", "dest"],
    sentinel: &[
        ("CommonSecurityLog", "DestinationIP"),
        ("CommonSecurityLog", "SourceIP"),
        ("DeviceNetworkEvents", "RemoteIP"),
    ],
    ecs: &["source.ip", "destination.ip"],
};
const HUNT_DOMAIN: Hunt = Hunt {
    splunk: &["query", "dest_host", "url_domain"],
    sentinel: &[("DnsEvents", "Name"), ("DeviceNetworkEvents", "RemoteUrl")],
    ecs: &["dns.question.name", "url.domain", "destination.domain"],
};
const HUNT_URL: Hunt = Hunt {
    splunk: &["url"],
    sentinel: &[
        ("CommonSecurityLog", "RequestURL"),
        ("DeviceNetworkEvents", "RemoteUrl"),
    ],
    ecs: &["url.full", "url.original"],
};
const HUNT_MD5: Hunt = Hunt {
    splunk: &["file_hash", "md5"],
    sentinel: &[("DeviceFileEvents", "MD5"), ("DeviceProcessEvents", "MD5")],
    ecs: &["file.hash.md5", "process.hash.md5"],
};
const HUNT_SHA1: Hunt = Hunt {
    splunk: &["file_hash", "sha1"],
    sentinel: &[
        ("DeviceFileEvents", "SHA1"),
        ("DeviceProcessEvents", "SHA1"),
    ],
    ecs: &["file.hash.sha1", "process.hash.sha1"],
};
const HUNT_SHA256: Hunt = Hunt {
    splunk: &["file_hash", "sha256"],
    sentinel: &[
        ("DeviceFileEvents", "SHA256"),
        ("DeviceProcessEvents", "SHA256"),
    ],
    ecs: &["file.hash.sha256", "process.hash.sha256"],
};
const HUNT_SHA512: Hunt = Hunt {
    splunk: &["file_hash", "sha512"],
    sentinel: &[],
    ecs: &["file.hash.sha512", "process.hash.sha512"],
};
const HUNT_EMAIL: Hunt = Hunt {
    splunk: &["src_user", "sender", "recipient"],
    sentinel: &[
        ("EmailEvents", "SenderFromAddress"),
        ("EmailEvents", "RecipientEmailAddress"),
    ],
    ecs: &["email.from.address", "email.to.address"],
};
const HUNT_CVE: Hunt = Hunt {
    splunk: &["cve", "signature"],
    sentinel: &[("DeviceTvmSoftwareVulnerabilities", "CveId")],
    ecs: &["vulnerability.id"],
};
const HUNT_ATTACK: Hunt = Hunt {
    splunk: &["annotations.mitre_attack", "mitre_technique_id"],
    sentinel: &[("SecurityAlert", "Techniques")],
    ecs: &["threat.technique.id", "threat.technique.subtechnique.id"],
};

const fn pat(object: &'static str, path: &'static str) -> StixKind {
    StixKind::Pattern { object, path }
}

const fn misp(attr_type: &'static str, category: &'static str) -> Option<MispKind> {
    Some(MispKind {
        attr_type,
        dst_type: None,
        category,
        to_ids: true,
    })
}

const fn misp_directed(
    attr_type: &'static str,
    dst_type: &'static str,
    category: &'static str,
) -> Option<MispKind> {
    Some(MispKind {
        attr_type,
        dst_type: Some(dst_type),
        category,
        to_ids: true,
    })
}

const fn cef(key: &'static str) -> CefKind {
    CefKind { key, label: None }
}

const fn cef_custom(key: &'static str, label_key: &'static str, label: &'static str) -> CefKind {
    CefKind {
        key,
        label: Some((label_key, label)),
    }
}

const fn term(
    document: &'static str,
    search: &'static str,
    content_type: &'static str,
) -> Option<OpenIocTerm> {
    Some(OpenIocTerm {
        document,
        search,
        content_type,
    })
}

const NET: &str = "Network activity";
const PAYLOAD: &str = "Payload delivery";

/// The mapping, in [`IocType::code`] order (checked by a test).
///
/// Choices worth a word:
/// - ipv6 → CEF `c6a2` ("Source IPv6 Address" slot) with a label, as the
///   issue asks; CEF's `dst` is IPv4-only.
/// - email → MISP `email-src` in *Payload delivery* (MISP's default category
///   for that type); CEF `suser` (the sender of a malicious mail).
/// - hashes → CEF `fileHash`; the algorithm goes in a labelled custom string
///   (see [`CEF_HASH_ALGORITHM`]).
/// - OpenIOC has `FileItem/Md5sum|Sha1sum|Sha256sum` but no SHA-512 term,
///   and nothing for CVEs or techniques: those are left out of OpenIOC.
pub const TABLE: [TypeMapping; 11] = [
    TypeMapping {
        ioc_type: IocType::Ipv4,
        label: "Malicious IPv4 Address",
        noun: "C2 IP",
        stix: pat("ipv4-addr", "value"),
        misp: misp_directed("ip-src", "ip-dst", NET),
        cef: cef("dst"),
        openioc: term("PortItem", "PortItem/remoteIP", "IP"),
        cef_signature: "ioc:ipv4",
        hunt: HUNT_IP,
        sigma: sigma(
            "network_connection",
            None,
            "DestinationIp",
            "",
            "Network Connections to Malicious IP Addresses",
        ),
        ids: Some(IdsKind::Ip),
    },
    TypeMapping {
        ioc_type: IocType::Ipv6,
        label: "Malicious IPv6 Address",
        noun: "C2 IP",
        stix: pat("ipv6-addr", "value"),
        misp: misp_directed("ip-src", "ip-dst", NET),
        cef: cef_custom("c6a2", "c6a2Label", "Malicious IPv6 Address"),
        openioc: term("PortItem", "PortItem/remoteIP", "IP"),
        cef_signature: "ioc:ipv6",
        hunt: HUNT_IP,
        sigma: sigma(
            "network_connection",
            None,
            "DestinationIp",
            "",
            "Network Connections to Malicious IP Addresses",
        ),
        ids: Some(IdsKind::Ip),
    },
    TypeMapping {
        ioc_type: IocType::Domain,
        label: "Malicious Domain",
        noun: "C2 domain",
        stix: pat("domain-name", "value"),
        misp: misp("domain", NET),
        cef: cef("dhost"),
        openioc: term("DnsEntryItem", "DnsEntryItem/Host", "string"),
        cef_signature: "ioc:domain",
        hunt: HUNT_DOMAIN,
        sigma: sigma(
            "dns",
            None,
            "query",
            "",
            "DNS Queries for Malicious Domains",
        ),
        ids: Some(IdsKind::Domain),
    },
    TypeMapping {
        ioc_type: IocType::Url,
        label: "Malicious URL",
        noun: "Malicious URL",
        stix: pat("url", "value"),
        misp: misp("url", NET),
        cef: cef("request"),
        openioc: term("UrlHistoryItem", "UrlHistoryItem/URL", "string"),
        cef_signature: "ioc:url",
        hunt: HUNT_URL,
        sigma: sigma("proxy", None, "c-uri", "", "Requests to Malicious URLs"),
        ids: Some(IdsKind::Url),
    },
    TypeMapping {
        ioc_type: IocType::Md5,
        label: "Malicious File Hash (MD5)",
        noun: "Malicious file",
        stix: pat("file", "hashes.MD5"),
        misp: misp("md5", PAYLOAD),
        cef: cef("fileHash"),
        openioc: term("FileItem", "FileItem/Md5sum", "md5"),
        cef_signature: "ioc:md5",
        hunt: HUNT_MD5,
        sigma: sigma(
            "process_creation",
            Some("windows"),
            "Hashes|contains",
            "MD5=",
            "Execution of Malicious Files by Hash",
        ),
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::Sha1,
        label: "Malicious File Hash (SHA-1)",
        noun: "Malicious file",
        stix: pat("file", "hashes.'SHA-1'"),
        misp: misp("sha1", PAYLOAD),
        cef: cef("fileHash"),
        openioc: term("FileItem", "FileItem/Sha1sum", "sha1"),
        cef_signature: "ioc:sha1",
        hunt: HUNT_SHA1,
        sigma: sigma(
            "process_creation",
            Some("windows"),
            "Hashes|contains",
            "SHA1=",
            "Execution of Malicious Files by Hash",
        ),
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::Sha256,
        label: "Malicious File Hash (SHA-256)",
        noun: "Malicious file",
        stix: pat("file", "hashes.'SHA-256'"),
        misp: misp("sha256", PAYLOAD),
        cef: cef("fileHash"),
        openioc: term("FileItem", "FileItem/Sha256sum", "sha256"),
        cef_signature: "ioc:sha256",
        hunt: HUNT_SHA256,
        sigma: sigma(
            "process_creation",
            Some("windows"),
            "Hashes|contains",
            "SHA256=",
            "Execution of Malicious Files by Hash",
        ),
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::Sha512,
        label: "Malicious File Hash (SHA-512)",
        noun: "Malicious file",
        stix: pat("file", "hashes.'SHA-512'"),
        misp: misp("sha512", PAYLOAD),
        cef: cef("fileHash"),
        openioc: None,
        cef_signature: "ioc:sha512",
        hunt: HUNT_SHA512,
        sigma: None,
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::Email,
        label: "Malicious Email Address",
        noun: "Malicious email address",
        stix: pat("email-addr", "value"),
        misp: misp_directed("email-src", "email-dst", PAYLOAD),
        cef: cef("suser"),
        openioc: term("Email", "Email/From", "string"),
        cef_signature: "ioc:email",
        hunt: HUNT_EMAIL,
        sigma: None,
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::Cve,
        label: "Exploited Vulnerability",
        noun: "Exploited vulnerability",
        stix: StixKind::Vulnerability,
        misp: Some(MispKind {
            attr_type: "vulnerability",
            dst_type: None,
            category: "External analysis",
            to_ids: false,
        }),
        cef: cef_custom("cs6", "cs6Label", "cve"),
        openioc: None,
        cef_signature: "ioc:cve",
        hunt: HUNT_CVE,
        sigma: None,
        ids: None,
    },
    TypeMapping {
        ioc_type: IocType::MitreAttack,
        label: "ATT&CK Technique",
        noun: "ATT&CK technique",
        stix: StixKind::AttackPattern,
        misp: None,
        cef: cef_custom("cs6", "cs6Label", "mitreAttackTechnique"),
        openioc: None,
        cef_signature: "ioc:mitre_attack",
        hunt: HUNT_ATTACK,
        sigma: None,
        ids: None,
    },
];

/// The CEF custom string that names the hash algorithm of a `fileHash`
/// (`cs5Label=hashAlgorithm cs5=SHA-256`): `fileHash` alone does not say.
pub const CEF_HASH_ALGORITHM: (&str, &str, &str) = ("cs5", "cs5Label", "hashAlgorithm");

/// The mapping row of a type.
pub fn mapping(t: IocType) -> &'static TypeMapping {
    // TABLE is in code order (unit test), so indexing cannot miss.
    &TABLE[t.code() as usize]
}

/// The STIX / CEF name of a hash algorithm (`MD5`, `SHA-1`, `SHA-256`,
/// `SHA-512`; STIX 2.1 hash-algorithm-ov); `None` for non-hash types.
pub fn hash_algorithm(t: IocType) -> Option<&'static str> {
    match mapping(t).stix {
        StixKind::Pattern {
            object: "file",
            path,
        } => Some(path.trim_start_matches("hashes.").trim_matches('\'')),
        _ => None,
    }
}

/// Escapes a string for a STIX pattern literal (STIX 2.1 §9.2, string
/// constants): `\` → `\\`, `'` → `\'`. Nothing else needs escaping.
pub fn escape_stix_string(s: &str) -> String {
    StixLiteral(s).to_string()
}

/// [`escape_stix_string`] as a `Display`: writes the escaped text without
/// building it first.
struct StixLiteral<'a>(&'a str);

impl fmt::Display for StixLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['\\', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_char('\\')?;
            f.write_str(&rest[at..at + 1])?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// The STIX pattern of an IOC (`[ipv4-addr:value = '1.2.3.4']`,
/// `[file:hashes.'SHA-256' = '…']`), or `None` for types that are not
/// observables (cve, mitre_attack).
pub fn stix_pattern(t: IocType, value: &str) -> Option<String> {
    StixPattern::of(t, value).map(|p| p.to_string())
}

/// [`stix_pattern`] as a `Display` that serializes (as a JSON string)
/// without an intermediate allocation.
#[derive(Debug, Clone, Copy)]
pub struct StixPattern<'a> {
    object: &'static str,
    path: &'static str,
    value: &'a str,
}

impl<'a> StixPattern<'a> {
    /// The pattern of `value` as type `t`; `None` for cve, mitre_attack.
    pub fn of(t: IocType, value: &'a str) -> Option<StixPattern<'a>> {
        match mapping(t).stix {
            StixKind::Pattern { object, path } => Some(StixPattern {
                object,
                path,
                value,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for StixPattern<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}:{} = '{}']",
            self.object,
            self.path,
            StixLiteral(self.value)
        )
    }
}

/// Display name shared by STIX `name`, CEF `Name` and OpenIOC:
/// "Malicious IPv4 Address - 1.2.3.4"; for techniques the ATT&CK name is
/// appended when known ("ATT&CK Technique - T1071 Application Layer
/// Protocol").
pub fn display_name(i: &Indicator) -> String {
    DisplayName(i).to_string()
}

/// [`display_name`] as a `Display` (serializes as a JSON string without
/// an intermediate allocation).
#[derive(Debug, Clone, Copy)]
pub struct DisplayName<'a>(pub &'a Indicator);

impl fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.0;
        let label = mapping(i.ioc_type).label;
        let technique = match i.ioc_type {
            IocType::MitreAttack => crate::ioc::attack::technique(&i.value),
            _ => None,
        };
        match technique {
            Some(t) => write!(f, "{label} - {} {}", i.value, t.name),
            None => write!(f, "{label} - {}", i.value),
        }
    }
}

/// RFC 3339 with millisecond precision and `Z` (STIX 2.1 §3.2), the one
/// timestamp text of every export: `2024-12-08T14:30:00.000Z`.
pub fn timestamp(t: DateTime<Utc>) -> String {
    Timestamp(t).to_string()
}

/// [`timestamp`] as a value: `Display` writes the text from a stack
/// buffer, `Serialize` emits it as a JSON string with no allocation (the
/// exporters write millions of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let year = t.year();
        if !(0..=9999).contains(&year) {
            // RFC 3339 has four-digit years; chrono's extended form for the
            // rest (never produced by a real feed, but never a panic).
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        let millis = t.timestamp_subsec_millis().min(999);
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut v: u32| {
            for k in (0..width).rev() {
                b[at + k] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year as u32);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        // A leap second (chrono keeps it in the nanoseconds) prints as :59.
        put(17, 2, t.second().min(59));
        put(20, 3, millis);
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

/// These serialize as the JSON string of their `Display` text, written
/// through serde_json's escaper with no intermediate `String`.
macro_rules! serialize_as_display {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_display!(StixPattern<'_>, DisplayName<'_>, Timestamp);

/// The TLP an IOC is exported with: the override when given, else the
/// IOC's own (explicit, or derived from confidence: high→green,
/// medium→amber, low→clear).
pub fn tlp(i: &Indicator, override_tlp: Option<Tlp>) -> Tlp {
    override_tlp.unwrap_or_else(|| i.effective_tlp())
}

/// CEF severity 0–10 from the 0–100 confidence, rounded half up
/// (85 → 9, 50 → 5, 4 → 0).
pub fn severity(confidence: u8) -> u8 {
    ((u16::from(confidence.min(100)) + 5) / 10) as u8
}

/// The MISP attribute type of an IOC: [`MispKind::dst_type`] when the
/// first source that stated a direction said destination (a MISP import's
/// `ip-dst`), else the seed's table ([`MispKind::attr_type`]: `ip-src` for
/// an IP of unknown direction).
pub fn misp_type(i: &Indicator, kind: &MispKind) -> &'static str {
    let first = i.sources.iter().find_map(|s| s.direction);
    match (first, kind.dst_type) {
        (Some(Direction::Dst), Some(dst)) => dst,
        _ => kind.attr_type,
    }
}

/// The human text of an IOC for MISP `comment` and CEF `msg`:
/// 1. its description, when the input gave one (MISP attribute `comment`,
///    STIX indicator `description`, a CSV description column);
/// 2. else `<noun> from "<title>"` ([`TypeMapping::noun`]: `C2 IP from
///    "Operation X"`, the seed's example), the title being the first source
///    reference that is a report title ([`is_report_title`]: a MISP event's
///    `info`, a STIX report's name);
/// 3. else `None` (an IOC from a plain list: its file name says nothing
///    about the IOC, so it is not repeated here; CEF `cs3` and the JSON
///    listing still name the source).
pub fn comment(i: &Indicator) -> Option<Cow<'_, str>> {
    if let Some(d) = i.description.as_deref().filter(|d| !d.trim().is_empty()) {
        return Some(Cow::Borrowed(d));
    }
    let title = i
        .sources
        .iter()
        .filter_map(|s| s.reference.as_deref())
        .find(|r| is_report_title(r))?;
    Some(Cow::Owned(format!(
        "{} from \"{}\"",
        mapping(i.ioc_type).noun,
        title.trim()
    )))
}

/// True when a source reference is a report title rather than the
/// provenance iocd records on its own: an import file name (one word with
/// an extension: `iocs.csv`, `samples.sha256`), a path, a URL, or the
/// `key <name> (<id>)` / `TAXII submission …` notes of the API and TAXII
/// inbox. References are free text, so this is a rule on their shape.
pub fn is_report_title(r: &str) -> bool {
    let r = r.trim();
    if r.is_empty() || r.contains("://") {
        return false;
    }
    if r.starts_with("TAXII submission ") || (r.starts_with("key ") && r.ends_with(')')) {
        return false;
    }
    let one_word = !r.contains(char::is_whitespace);
    let has_ext = r.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=8).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
    });
    !(one_word && (has_ext || r.contains('/')))
}

#[cfg(test)]
mod tests {

    #[test]
    fn timestamp_text_matches_chrono_rfc3339_millis() {
        use chrono::TimeZone;
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Any instant from 1970 to ~2255, any microsecond.
            let micros = x.rem_euclid(9_000_000_000_000_000);
            let t = Utc.timestamp_micros(micros).unwrap();
            assert_eq!(timestamp(t), t.to_rfc3339_opts(SecondsFormat::Millis, true));
            assert_eq!(
                serde_json::to_string(&Timestamp(t)).unwrap(),
                format!("\"{}\"", timestamp(t))
            );
        }
        let t = Utc.with_ymd_and_hms(2024, 12, 8, 14, 30, 0).unwrap();
        assert_eq!(timestamp(t), "2024-12-08T14:30:00.000Z");
        let far = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            timestamp(far),
            far.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }

    #[test]
    fn pattern_and_name_serialize_as_their_text() {
        let p = StixPattern::of(IocType::Url, r#"http://x.com/a'b\c"d"#).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&p.to_string()).unwrap()
        );
        assert_eq!(p.to_string(), r#"[url:value = 'http://x.com/a\'b\\c"d']"#);
    }

    use super::*;

    #[test]
    fn table_is_in_code_order_and_complete() {
        for (n, row) in TABLE.iter().enumerate() {
            assert_eq!(row.ioc_type.code() as usize, n, "{:?}", row.ioc_type);
        }
        assert_eq!(TABLE.len(), IocType::ALL.len());
    }

    #[test]
    fn stix_patterns_escape_quote_and_backslash() {
        assert_eq!(
            stix_pattern(IocType::Url, r"http://x.com/a'b\c").unwrap(),
            r"[url:value = 'http://x.com/a\'b\\c']"
        );
        assert_eq!(
            stix_pattern(IocType::Sha256, "ab").unwrap(),
            "[file:hashes.'SHA-256' = 'ab']"
        );
        assert_eq!(
            stix_pattern(IocType::Md5, "ab").unwrap(),
            "[file:hashes.MD5 = 'ab']"
        );
        assert_eq!(stix_pattern(IocType::Cve, "CVE-2024-1"), None);
    }

    #[test]
    fn hash_algorithms_and_severity() {
        assert_eq!(hash_algorithm(IocType::Md5), Some("MD5"));
        assert_eq!(hash_algorithm(IocType::Sha512), Some("SHA-512"));
        assert_eq!(hash_algorithm(IocType::Url), None);
        assert_eq!(
            (
                severity(0),
                severity(4),
                severity(5),
                severity(85),
                severity(100)
            ),
            (0, 0, 1, 9, 10)
        );
        assert_eq!(severity(255), 10);
    }

    #[test]
    fn report_titles_and_file_names() {
        for (r, title) in [
            ("Operation Dream Job", true),
            ("Turla", true),
            ("New botnet observed beaconing", true),
            ("iocs.csv", false),
            ("samples.sha256", false),
            ("dir/iocs.txt", false),
            ("https://blog.example/report", false),
            ("key splunk (0f3a)", false),
            ("TAXII submission 1 by key x (y)", false),
            ("", false),
        ] {
            assert_eq!(is_report_title(r), title, "{r}");
        }
    }

    #[test]
    fn timestamps_have_millis_and_z() {
        let t = DateTime::from_timestamp(1_733_668_200, 123_456_789).unwrap();
        assert_eq!(timestamp(t), "2024-12-08T14:30:00.123Z");
        let t = DateTime::from_timestamp(1_733_668_200, 0).unwrap();
        assert_eq!(timestamp(t), "2024-12-08T14:30:00.000Z");
    }
}

//! STIX 2.1 export (`GET /api/v1/iocs/stix`, `iocd export --format stix`),
//! as `docs/spec/stix-export.md` describes it.
//!
//! Output, streamed in one pass:
//!
//! ```text
//! {"type":"bundle","id":"bundle--<uuid4>","objects":[      (format=bundle)
//!   identity                                              (include_identity)
//!   indicator | vulnerability | attack-pattern   × N
//!   marking-definition × levels used                      (include_tlp_markings)
//! ]}
//! ```
//!
//! With `format=objects` only the array is written. The marking definitions
//! come last because only then are the TLP levels in use known; STIX gives
//! object order in a bundle no meaning (STIX 2.1 §8).
//!
//! Ids are deterministic: `indicator--<Indicator.id>` (the UUIDv5 of type and
//! value), so the same IOC has the same id in every export, and TAXII
//! consumers update rather than duplicate it. The bundle id alone is random:
//! a bundle is a transport envelope, not an object anyone refers to.

use super::mapping::{self, DisplayName, StixKind, StixPattern, Timestamp};
use super::JsonSeq;
use crate::ioc::expiry::Lifetimes;
use crate::ioc::{attack, Indicator, IocType, Tlp, ID_NAMESPACE};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::borrow::Borrow;
use std::io::{self, Write};
use uuid::Uuid;

/// Media type of the export (STIX 2.1 §1.6 / TAXII 2.1 §1.6.8).
pub const CONTENT_TYPE: &str = "application/stix+json;version=2.1";

/// `format=` of the spec: the bundle envelope (default; most tools expect
/// it) or the bare object array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StixFormat {
    #[default]
    Bundle,
    Objects,
}

impl std::str::FromStr for StixFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bundle" => Ok(StixFormat::Bundle),
            "objects" => Ok(StixFormat::Objects),
            other => Err(format!(
                "unknown STIX format '{other}' (expected bundle or objects)"
            )),
        }
    }
}

/// The spec's query parameters, with its defaults ([`Default`]).
#[derive(Debug, Clone)]
pub struct StixOptions {
    /// `format`: bundle (default) or objects.
    pub format: StixFormat,
    /// `include_identity` (default true): an `identity` SDO that every object
    /// names as `created_by_ref`.
    pub include_identity: bool,
    /// `include_tlp_markings` (default false): the TLP 2.0
    /// `marking-definition` objects of the levels used.
    pub include_tlp_markings: bool,
    /// `tlp`: one level for every object instead of the per-IOC TLP.
    pub tlp: Option<Tlp>,
    /// Name of the identity (configurable; default "iocd"). Its id is
    /// derived from the name, see [`identity_id`].
    pub identity_name: String,
    /// The `[expiry]` lifetimes: an indicator whose type has one carries
    /// `valid_until` = `last_seen + lifetime` (STIX 2.1 §4.7). Default:
    /// never (no `valid_until`).
    pub lifetimes: Lifetimes,
}

impl Default for StixOptions {
    fn default() -> Self {
        StixOptions {
            format: StixFormat::Bundle,
            include_identity: true,
            include_tlp_markings: false,
            tlp: None,
            identity_name: "iocd".to_string(),
            lifetimes: Lifetimes::never(),
        }
    }
}

/// `identity--<UUIDv5(ID_NAMESPACE, "identity:<name>")>`: stable across
/// exports and restarts, so consumers keep one producer identity, and a
/// renamed appliance becomes a new identity rather than a silently edited one.
pub fn identity_id(name: &str) -> String {
    let id = Uuid::new_v5(&ID_NAMESPACE, format!("identity:{name}").as_bytes());
    format!("identity--{id}")
}

/// `created`/`modified` of the identity: fixed, because the identity never
/// changes (a new name is a new id), and a fixed time keeps exports of the
/// same IOCs byte-comparable apart from the bundle id. TAXII serves it as
/// the identity's version and date added.
pub const IDENTITY_TIME: &str = "2025-01-01T00:00:00.000Z";

/// `created` of the TLP 2.0 marking definitions (as OASIS publishes them);
/// also their TAXII version (marking definitions have no `modified`).
pub const TLP_MARKING_TIME: &str = "2022-10-01T00:00:00.000Z";

/// The TLP 2.0 marking-definition ids (OASIS TLP 2.0 extension
/// `extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`; the same
/// UUIDs FIRST publishes for TLP 2.0).
pub fn tlp_marking_id(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

const TLP_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// Writes the STIX 2.1 export of `items` to `w` and returns the number of
/// IOC objects written (identity and markings not counted).
///
/// Each IOC becomes (see [`mapping::StixKind`]):
/// - an `indicator` SDO (§4.7): `name` "Malicious IPv4 Address - 1.2.3.4",
///   `indicator_types ["malicious-activity"]`, `pattern` (§9, escaped),
///   `pattern_type "stix"`, `pattern_version "2.1"`, `valid_from` =
///   first_seen, `created` = added_at, `modified`, `confidence`, `labels` =
///   tags, `kill_chain_phases` (`mitre-attack`, tactic) and
///   `external_references` (`mitre-attack`) from its ATT&CK techniques;
/// - a `vulnerability` SDO (§4.18) for a CVE: `name` = the CVE id,
///   `external_references [{source_name:"cve", external_id}]`;
/// - an `attack-pattern` SDO (§4.1) for an ATT&CK id: ATT&CK name, external
///   reference and kill-chain phases from the embedded table.
///
/// All carry `object_marking_refs` = the TLP 2.0 marking of their TLP and,
/// with the identity, `created_by_ref`. Timestamps are RFC 3339 with
/// milliseconds and `Z` (§3.2). Constant memory whatever the item count.
pub fn write_stix<W, I>(w: &mut W, items: I, opts: &StixOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    if opts.format == StixFormat::Bundle {
        write!(
            w,
            "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":",
            Uuid::new_v4()
        )?;
    }
    let identity = identity_id(&opts.identity_name);
    let created_by = opts.include_identity.then_some(identity.as_str());
    let mut seq = JsonSeq::begin(w)?;
    if opts.include_identity {
        seq.item(&identity_object(&identity, &opts.identity_name))?;
    }
    let mut used = [false; Tlp::ALL.len()];
    let mut n = 0u64;
    for item in items {
        let i = item.borrow();
        let tlp = mapping::tlp(i, opts.tlp);
        used[tlp as usize] = true;
        seq.item(&sdo(i, tlp, created_by, opts.lifetimes.expires_at(i)))?;
        n += 1;
    }
    if opts.include_tlp_markings {
        for t in Tlp::ALL.into_iter().filter(|t| used[*t as usize]) {
            seq.item(&marking_definition(t))?;
        }
    }
    let w = seq.end()?;
    if opts.format == StixFormat::Bundle {
        w.write_all(b"}")?;
    }
    w.write_all(b"\n")?;
    Ok(n)
}

/// The producer `identity` SDO (STIX 2.1 §4.5) every object names as
/// `created_by_ref`. Shared with the TAXII collections.
#[derive(Serialize)]
pub struct Identity<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    spec_version: &'static str,
    id: &'a str,
    created: &'static str,
    modified: &'static str,
    name: &'a str,
    identity_class: &'static str,
}

/// The identity SDO with id `id` (see [`identity_id`]) and `name`.
pub fn identity_object<'a>(id: &'a str, name: &'a str) -> Identity<'a> {
    Identity {
        ty: "identity",
        spec_version: "2.1",
        id,
        created: IDENTITY_TIME,
        modified: IDENTITY_TIME,
        name,
        identity_class: "organization",
    }
}

/// The TLP 2.0 marking definition of a level, as the OASIS extension
/// publishes it (`created` 2022-10-01, `name` "TLP:AMBER+STRICT", property
/// extension `tlp_2_0`).
#[derive(Serialize)]
pub struct MarkingDefinition {
    #[serde(rename = "type")]
    ty: &'static str,
    spec_version: &'static str,
    id: &'static str,
    created: &'static str,
    name: String,
    extensions: std::collections::BTreeMap<&'static str, TlpExtension>,
}

#[derive(Serialize)]
struct TlpExtension {
    extension_type: &'static str,
    tlp_2_0: &'static str,
}

/// The TLP 2.0 marking definition of `t` (shared with the TAXII collections).
pub fn marking_definition(t: Tlp) -> MarkingDefinition {
    let mut extensions = std::collections::BTreeMap::new();
    extensions.insert(
        TLP_EXTENSION,
        TlpExtension {
            extension_type: "property-extension",
            tlp_2_0: t.as_str(),
        },
    );
    MarkingDefinition {
        ty: "marking-definition",
        spec_version: "2.1",
        id: tlp_marking_id(t),
        created: TLP_MARKING_TIME,
        name: format!("TLP:{}", t.as_str().to_ascii_uppercase()),
        extensions,
    }
}

/// One SDO. A single struct for the three kinds keeps the property order
/// of the spec's example (`type, spec_version, id, created, modified,
/// created_by_ref, object_marking_refs, name, ...`) in one place; the
/// kind-specific properties are `None`/empty for the other kinds and skipped.
#[derive(Serialize)]
pub struct Sdo<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    spec_version: &'static str,
    id: SdoId,
    created: Timestamp,
    modified: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by_ref: Option<&'a str>,
    object_marking_refs: [&'static str; 1],
    name: SdoName<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    indicator_types: Option<[&'static str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<StixPattern<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<Timestamp>,
    confidence: u8,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    labels: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kill_chain_phases: Vec<KillChainPhase<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference<'a>>,
}

/// `<type>--<uuid>` (STIX 2.1 §2.9), written without an intermediate
/// string.
struct SdoId {
    ty: &'static str,
    id: Uuid,
}

impl Serialize for SdoId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}--{}", self.ty, self.id))
    }
}

/// The `name` property: the shared display name, or a borrowed text (the
/// CVE id, the ATT&CK technique name).
enum SdoName<'a> {
    Display(DisplayName<'a>),
    Text(&'a str),
}

impl Serialize for SdoName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SdoName::Display(d) => d.serialize(s),
            SdoName::Text(t) => s.serialize_str(t),
        }
    }
}

/// STIX 2.1 §2.7; `phase_name` is the ATT&CK tactic short name.
#[derive(Serialize, PartialEq)]
struct KillChainPhase<'a> {
    kill_chain_name: &'static str,
    phase_name: &'a str,
}

/// STIX 2.1 §2.5.
#[derive(Serialize)]
struct ExternalReference<'a> {
    source_name: &'static str,
    external_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// Kill-chain phases of the techniques (table order, deduplicated).
fn phases<'a>(techniques: impl IntoIterator<Item = &'a str>) -> Vec<KillChainPhase<'static>> {
    let mut out: Vec<KillChainPhase<'static>> = Vec::new();
    for id in techniques {
        for tactic in attack::technique(id)
            .map(|t| t.tactics.as_slice())
            .unwrap_or_default()
        {
            let p = KillChainPhase {
                kill_chain_name: "mitre-attack",
                phase_name: tactic.as_str(),
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn attack_ref(id: &str) -> ExternalReference<'_> {
    ExternalReference {
        source_name: "mitre-attack",
        external_id: id,
        url: Some(attack::url_for(id)),
    }
}

/// The SDO of one IOC with TLP `tlp` (see [`mapping::tlp`]), as in the
/// bundle; the TAXII collections serialize the same value, so both carry
/// the same ids and content.
///
/// `expires_at` (from [`Lifetimes::expires_at`]) becomes an indicator's
/// `valid_until`. STIX 2.1 §4.7 requires `valid_until` later than
/// `valid_from`: `valid_from` is `first_seen`, but never after
/// `last_seen` (a record whose times disagree), and expiry is
/// `last_seen` plus at least one day, so it is always later (also for an
/// expired IOC exported with `include_expired`). Vulnerabilities and
/// attack patterns have no validity window.
pub fn sdo<'a>(
    i: &'a Indicator,
    tlp: Tlp,
    created_by_ref: Option<&'a str>,
    expires_at: Option<DateTime<Utc>>,
) -> Sdo<'a> {
    // STIX requires modified >= created; a record never violates it, but
    // clamp rather than emit an invalid object if one ever did.
    let created = i.added_at.min(i.modified);
    let kind = mapping::mapping(i.ioc_type).stix;
    let ty = match kind {
        StixKind::Pattern { .. } => "indicator",
        StixKind::Vulnerability => "vulnerability",
        StixKind::AttackPattern => "attack-pattern",
    };
    let mut o = Sdo {
        ty,
        spec_version: "2.1",
        id: SdoId { ty, id: i.id },
        created: Timestamp(created),
        modified: Timestamp(i.modified),
        created_by_ref,
        object_marking_refs: [tlp_marking_id(tlp)],
        name: SdoName::Display(DisplayName(i)),
        description: i.description.as_deref().filter(|d| !d.is_empty()),
        indicator_types: None,
        pattern: None,
        pattern_type: None,
        pattern_version: None,
        valid_from: None,
        valid_until: None,
        confidence: i.confidence.min(100),
        labels: &i.tags,
        kill_chain_phases: Vec::new(),
        external_references: Vec::new(),
    };
    match kind {
        StixKind::Pattern { .. } => {
            o.indicator_types = Some(["malicious-activity"]);
            o.pattern = StixPattern::of(i.ioc_type, &i.value);
            o.pattern_type = Some("stix");
            o.pattern_version = Some("2.1");
            let from = i.first_seen.min(i.last_seen);
            o.valid_from = Some(Timestamp(from));
            o.valid_until = expires_at.filter(|e| *e > from).map(Timestamp);
            o.kill_chain_phases = phases(i.techniques.iter().map(String::as_str));
            o.external_references = i.techniques.iter().map(|t| attack_ref(t)).collect();
        }
        StixKind::Vulnerability => {
            o.name = SdoName::Text(&i.value);
            o.external_references = vec![ExternalReference {
                source_name: "cve",
                external_id: &i.value,
                url: Some(format!("https://www.cve.org/CVERecord?id={}", i.value)),
            }];
        }
        StixKind::AttackPattern => {
            debug_assert_eq!(i.ioc_type, IocType::MitreAttack);
            o.name = SdoName::Text(
                attack::technique(&i.value)
                    .map(|t| t.name.as_str())
                    .unwrap_or(&i.value),
            );
            o.kill_chain_phases = phases([i.value.as_str()]);
            o.external_references = vec![attack_ref(&i.value)];
        }
    }
    o
}

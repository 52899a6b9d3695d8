//! MISP event JSON (MISP core format, draft-dulaunoy-misp-core-format §2).
//!
//! Accepted shapes: a bare `{"Event": {…}}`, the REST search answer
//! `{"response": [{"Event": {…}}, …]}`, and a JSON list of either.
//!
//! Attributes are read at event level and inside `Object[].Attribute`.
//! [`attribute_parts`] maps MISP attribute types to IOC types (shared with
//! the CSV importer); attributes of other types (`text`, `filename`,
//! `regkey`, `link`, `uri` …) and deleted ones are *skipped*, not errors.
//!
//! Per observation:
//! - tags: event `Tag`s then attribute `Tag`s, through
//!   [`super::apply_tag`] (`tlp:*` → TLP, ATT&CK galaxy tags → techniques;
//!   an attribute TLP overrides the event's);
//! - techniques: also from `Galaxy[].GalaxyCluster[]` of ATT&CK
//!   attack-pattern galaxies (cluster `value` "Name - T1234");
//! - seen: attribute `first_seen`, else `timestamp` (unix seconds), else
//!   `last_seen`, else the event `date`;
//! - source: `Orgc.name` lower-cased (else `--source`), reference = event `info`;
//! - description: attribute `comment`, else the enclosing object's `comment`;
//! - `to_ids` as given (true when absent).

use super::{
    apply_tag, attack_ids, blank, clip, normalize_as, parse_time, truthy, Ctx, FileError, Format,
    Item, ItemError, Want,
};
use crate::ioc::{Direction, IocType, Observation, Source};
use serde_json::Value;

/// The IOC type wish of a single (non-composite) MISP attribute type, or
/// `None` when iocd has no IOC type for it (`text`, `filename`, `port`,
/// `link`: a reference to a report, `uri`: a path without a host,
/// `target-email`: a victim, not an indicator …).
fn single_type(t: &str) -> Option<Want> {
    Some(match t {
        "ip-src" | "ip-dst" | "ip" => Want::Ip,
        "domain" | "hostname" => Want::Type(IocType::Domain),
        "url" => Want::Type(IocType::Url),
        "email" | "email-src" | "email-dst" | "email-reply-to" | "whois-registrant-email" => {
            Want::Type(IocType::Email)
        }
        "vulnerability" => Want::Type(IocType::Cve),
        "md5" => Want::Type(IocType::Md5),
        "sha1" => Want::Type(IocType::Sha1),
        "sha256" => Want::Type(IocType::Sha256),
        "sha512" => Want::Type(IocType::Sha512),
        _ => return None,
    })
}

/// The IOC parts of one MISP attribute value, with their type wish, or
/// `None` when the MISP type carries no supported IOC (the caller counts it
/// by type name).
///
/// Composite types (`a|b`, MISP core format §2.3.1: the value holds as many
/// `|`-separated parts as the type) are split, and each part is mapped by
/// its own type: `filename|sha256` → the hash, `ip-dst|port` and
/// `hostname|port` → the address, `domain|ip` → both; parts of types
/// without an IOC (filename, port, regkey …) are dropped. `malware-sample`
/// (`filename|md5` in the value) gives the MD5.
pub(crate) fn attribute_parts<'v>(misp_type: &str, value: &'v str) -> Option<Vec<(Want, &'v str)>> {
    let t = misp_type.trim().to_ascii_lowercase();
    if t == "malware-sample" {
        let md5 = value.split('|').nth(1).unwrap_or("");
        return Some(vec![(Want::Type(IocType::Md5), md5)]);
    }
    if !t.contains('|') {
        return single_type(&t).map(|w| vec![(w, value)]);
    }
    let types: Vec<&str> = t.split('|').collect();
    let parts: Vec<&str> = value.splitn(types.len(), '|').collect();
    let out: Vec<(Want, &str)> = types
        .iter()
        .enumerate()
        .filter_map(|(k, ty)| single_type(ty).map(|w| (w, parts.get(k).copied().unwrap_or(""))))
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The direction a MISP type states for its IP or email part: `ip-src`,
/// `ip-src|port`, `email-src` → source; `ip-dst`, `ip-dst|port`,
/// `email-dst`, `email-reply-to` → destination; others none.
pub(crate) fn attribute_direction(misp_type: &str) -> Option<Direction> {
    let t = misp_type.trim().to_ascii_lowercase();
    match t.split('|').next().unwrap_or("") {
        "ip-src" | "email-src" => Some(Direction::Src),
        "ip-dst" | "email-dst" | "email-reply-to" => Some(Direction::Dst),
        _ => None,
    }
}

/// True when `v` has the shape of a MISP event document.
pub(crate) fn looks_like(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.contains_key("Event")
                || m.get("response")
                    .is_some_and(|r| r.is_array() || r.get("Event").is_some())
        }
        Value::Array(a) => a.first().is_some_and(looks_like),
        _ => false,
    }
}

/// Collects the events of a MISP document.
fn events<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
    match v {
        Value::Object(m) => {
            if let Some(e) = m.get("Event") {
                out.push(e);
            } else if let Some(r) = m.get("response") {
                events(r, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| events(x, out)),
        _ => {}
    }
}

/// Every item of a MISP document.
///
/// Errors: [`FileError::WrongFormat`] when the document holds no MISP event.
pub(crate) fn items(doc: &Value, ctx: &Ctx) -> Result<Vec<Item>, FileError> {
    if !looks_like(doc) {
        return Err(FileError::WrongFormat {
            format: Format::Misp,
            reason: format!("no MISP event (top-level {})", super::describe_json(doc)),
        });
    }
    let mut evs = Vec::new();
    events(doc, &mut evs);
    let mut out = Vec::new();
    for ev in evs {
        event_items(ev, ctx, &mut out);
    }
    Ok(out)
}

/// What an event lends every attribute.
struct EventCtx {
    template: Observation,
    seen: Option<chrono::DateTime<chrono::Utc>>,
}

fn event_items(ev: &Value, ctx: &Ctx, out: &mut Vec<Item>) {
    let org = ev
        .pointer("/Orgc/name")
        .or_else(|| ev.pointer("/Org/name"))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let info = ev.get("info").and_then(Value::as_str).map(str::to_string);
    let mut template = blank();
    template.source = Some(Source {
        name: org.unwrap_or_else(|| ctx.default_source()),
        reference: info,
        direction: None,
    });
    for tag in array(ev, "Tag") {
        if let Some(name) = tag.get("name").and_then(Value::as_str) {
            apply_tag(&mut template, name);
        }
    }
    template.techniques.extend(galaxy_techniques(ev));
    let ectx = EventCtx {
        template,
        seen: ev.get("date").and_then(parse_time),
    };
    for a in array(ev, "Attribute") {
        attribute_items(a, None, &ectx, ctx, out);
    }
    for obj in array(ev, "Object") {
        if obj.get("deleted").and_then(truthy) == Some(true) {
            out.extend(array(obj, "Attribute").map(|_| Item::Skipped));
            continue;
        }
        let comment = obj
            .get("comment")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty());
        for a in array(obj, "Attribute") {
            attribute_items(a, comment, &ectx, ctx, out);
        }
    }
}

/// Technique ids from ATT&CK attack-pattern galaxies of an event or attribute.
fn galaxy_techniques(v: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for g in array(v, "Galaxy") {
        let ty = g.get("type").and_then(Value::as_str).unwrap_or("");
        if !ty.contains("attack-pattern") {
            continue;
        }
        for c in array(g, "GalaxyCluster") {
            for key in ["value", "tag_name"] {
                if let Some(s) = c.get(key).and_then(Value::as_str) {
                    ids.extend(attack_ids(s));
                }
            }
        }
    }
    ids
}

fn attribute_items(
    a: &Value,
    object_comment: Option<&str>,
    ev: &EventCtx,
    ctx: &Ctx,
    out: &mut Vec<Item>,
) {
    let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
    let (ty, value, uuid) = (s("type"), s("value"), s("uuid"));
    if a.get("deleted").and_then(truthy) == Some(true) {
        out.push(Item::Skipped);
        return;
    }
    let Some(parts) = attribute_parts(ty, value) else {
        out.push(Item::Unmapped(unmapped_name(ty)));
        return;
    };
    let direction = attribute_direction(ty);
    let mut base = ev.template.clone();
    let event_tlp = base.tlp.take();
    for tag in array(a, "Tag") {
        if let Some(name) = tag.get("name").and_then(Value::as_str) {
            apply_tag(&mut base, name);
        }
    }
    base.tlp = base.tlp.or(event_tlp);
    base.techniques.extend(galaxy_techniques(a));
    base.seen = ["first_seen", "timestamp", "last_seen"]
        .iter()
        .find_map(|k| a.get(*k).and_then(parse_time))
        .or(ev.seen);
    base.description = Some(s("comment"))
        .filter(|c| !c.trim().is_empty())
        .or(object_comment)
        .map(|c| c.trim().to_string());
    base.to_ids = a.get("to_ids").and_then(truthy).unwrap_or(true);
    for (want, raw) in parts {
        match normalize_as(raw, want) {
            Ok(n) => {
                let mut o = base.clone();
                o.ioc_type = n.ioc_type;
                o.value = n.value;
                o.reserved = n.reserved;
                let mut o = ctx.finish(o);
                set_direction(&mut o, direction);
                out.push(Item::Observation(o));
            }
            Err(e) => out.push(Item::Error(ItemError {
                line: None,
                reason: format!("attribute {uuid} ({ty} '{}'): {e}", clip(value)),
            })),
        }
    }
}

/// The MISP type as counted in the import summary: lower-case, clipped
/// (a forged type name cannot bloat the report), `(none)` when empty.
pub(crate) fn unmapped_name(ty: &str) -> String {
    let t: String = ty.trim().to_ascii_lowercase().chars().take(64).collect();
    if t.is_empty() {
        "(none)".into()
    } else {
        t
    }
}

/// Records a stated direction on the observation's source, for IPs and
/// email addresses only (a `domain|ip` domain has none).
pub(crate) fn set_direction(o: &mut Observation, direction: Option<Direction>) {
    let applies = matches!(o.ioc_type, IocType::Ipv4 | IocType::Ipv6 | IocType::Email);
    if let (true, Some(d), Some(src)) = (applies, direction, o.source.as_mut()) {
        src.direction = Some(d);
    }
}

/// The elements of array `key` of `v` (none if absent or not an array).
fn array<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_bytes, ImportDefaults};
    use crate::ioc::Tlp;

    fn parts(t: &str, v: &str) -> Option<Vec<(Want, String)>> {
        attribute_parts(t, v).map(|p| p.into_iter().map(|(w, s)| (w, s.to_string())).collect())
    }

    #[test]
    fn type_mapping() {
        use IocType::*;
        assert_eq!(
            parts("ip-dst", "1.2.3.4"),
            Some(vec![(Want::Ip, "1.2.3.4".into())])
        );
        assert_eq!(
            parts("ip-dst|port", "1.2.3.4|443"),
            Some(vec![(Want::Ip, "1.2.3.4".into())])
        );
        assert_eq!(
            parts("domain|ip", "a.com|1.2.3.4"),
            Some(vec![
                (Want::Type(Domain), "a.com".into()),
                (Want::Ip, "1.2.3.4".into())
            ])
        );
        assert_eq!(
            parts("filename|sha256", "x.exe|ab"),
            Some(vec![(Want::Type(Sha256), "ab".into())])
        );
        assert_eq!(
            parts("SHA1", "ab"),
            Some(vec![(Want::Type(Sha1), "ab".into())])
        );
        assert_eq!(
            parts("hostname", "a.com"),
            Some(vec![(Want::Type(Domain), "a.com".into())])
        );
        assert_eq!(
            parts("email-src", "a@b.c"),
            Some(vec![(Want::Type(Email), "a@b.c".into())])
        );
        assert_eq!(
            parts("vulnerability", "CVE-2020-1"),
            Some(vec![(Want::Type(Cve), "CVE-2020-1".into())])
        );
        for skipped in [
            "link",
            "uri",
            "text",
            "filename",
            "regkey|value",
            "mutex",
            "comment",
            "pdb",
            "yara",
            "btc",
            "port",
            "imphash",
            "filename|imphash",
            "sha224",
        ] {
            assert_eq!(parts(skipped, "x"), None, "{skipped}");
        }
    }

    #[test]
    fn event_fields_reach_observations() {
        let doc = br#"{"Event": {"info": "Op X", "date": "2020-01-02", "Orgc": {"name": "ESET"},
            "Tag": [{"name": "tlp:green"}, {"name": "apt"}],
            "Galaxy": [{"type": "mitre-attack-pattern", "GalaxyCluster": [{"value": "Malware - T1587.001"}]}],
            "Attribute": [
              {"uuid": "u1", "type": "ip-dst", "value": "1.2.3.4", "to_ids": false, "comment": "c2", "timestamp": "1600000000",
               "Tag": [{"name": "tlp:red"}]},
              {"uuid": "u2", "type": "ip-dst", "value": "999.1.1.1"},
              {"uuid": "u3", "type": "text", "value": "hello"}]}}"#;
        let p = parse_bytes(doc, "e.json", Format::Auto, &ImportDefaults::default()).unwrap();
        assert_eq!(p.format, Format::Misp);
        assert_eq!((p.observations.len(), p.errors.len(), p.skipped), (1, 1, 1));
        let o = &p.observations[0];
        assert_eq!(o.value, "1.2.3.4");
        assert_eq!(o.tlp, Some(Tlp::Red));
        assert_eq!(o.tags, vec!["apt"]);
        assert_eq!(o.techniques, vec!["T1587.001"]);
        assert!(!o.to_ids);
        assert_eq!(o.description.as_deref(), Some("c2"));
        assert_eq!(o.seen.map(|t| t.timestamp()), Some(1_600_000_000));
        assert_eq!(
            o.source
                .as_ref()
                .map(|s| (s.name.as_str(), s.reference.as_deref())),
            Some(("eset", Some("Op X")))
        );
        assert!(
            p.errors[0].reason.contains("u2") && p.errors[0].reason.contains("999.1.1.1"),
            "{}",
            p.errors[0].reason
        );
    }
}

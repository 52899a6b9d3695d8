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
use crate::ioc::{IocType, Observation, Source};
use serde_json::Value;

/// The IOC parts of one MISP attribute value, with their type wish, or
/// `None` when the MISP type carries no supported IOC.
///
/// Composite types (`filename|sha256`, `ip-dst|port`, `domain|ip`) are split
/// on `|` into their IOC parts: `filename|sha256` → the hash,
/// `ip-dst|port` → the IP, `domain|ip` → both. `link` (a reference to a
/// report) and `uri` (a path without host) are not IOCs.
pub(crate) fn attribute_parts<'v>(misp_type: &str, value: &'v str) -> Option<Vec<(Want, &'v str)>> {
    let t = misp_type.trim().to_ascii_lowercase();
    let part = |i: usize| value.split('|').nth(i).unwrap_or("");
    let one = |w: Want| Some(vec![(w, value)]);
    let hash = |h: &str| match h {
        "md5" => Some(IocType::Md5),
        "sha1" => Some(IocType::Sha1),
        "sha256" => Some(IocType::Sha256),
        "sha512" => Some(IocType::Sha512),
        _ => None,
    };
    match t.as_str() {
        "ip-src" | "ip-dst" => one(Want::Ip),
        "ip-src|port" | "ip-dst|port" => Some(vec![(Want::Ip, part(0))]),
        "domain" | "hostname" => one(Want::Type(IocType::Domain)),
        "hostname|port" => Some(vec![(Want::Type(IocType::Domain), part(0))]),
        "domain|ip" => Some(vec![
            (Want::Type(IocType::Domain), part(0)),
            (Want::Ip, part(1)),
        ]),
        "url" => one(Want::Type(IocType::Url)),
        "email" | "email-src" | "email-dst" => one(Want::Type(IocType::Email)),
        "vulnerability" => one(Want::Type(IocType::Cve)),
        "malware-sample" => Some(vec![(Want::Type(IocType::Md5), part(1))]),
        _ => {
            if let Some(h) = hash(&t) {
                return one(Want::Type(h));
            }
            let (left, right) = t.split_once('|')?;
            match (left, hash(right)) {
                ("filename", Some(h)) => Some(vec![(Want::Type(h), part(1))]),
                _ => None,
            }
        }
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
        out.push(Item::Skipped);
        return;
    };
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
                out.push(Item::Observation(ctx.finish(o)));
            }
            Err(e) => out.push(Item::Error(ItemError {
                line: None,
                reason: format!("attribute {uuid} ({ty} '{}'): {e}", clip(value)),
            })),
        }
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

//! STIX 2.1 (OASIS STIX Version 2.1, 2021): bundles (§8), a JSON list of
//! objects, or one object.
//!
//! What yields IOCs:
//! - `indicator` (§4.7) with `pattern_type` `stix` (or none): every
//!   comparison `<path> = '<value>'` in the pattern (§9) whose path is
//!   `ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`, `url:value`,
//!   `email-addr:value` or `file:hashes.<MD5|SHA-1|SHA-256|SHA-512>`, wherever
//!   it stands (`OR`/`AND`-joined, nested, with qualifiers). Comparisons with
//!   another operator or on another property are skipped and counted.
//! - SCOs `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr`
//!   (`value`) and `file` (`hashes`) (§6).
//! - `vulnerability` (§4.18): a `name` of the form `CVE-…`, or an external
//!   reference with `source_name` `cve`.
//! - `attack-pattern` (§4.1): an external reference with `source_name`
//!   `mitre-attack` → a `mitre_attack` IOC.
//!
//! Metadata: `confidence` (§3.1), `labels` → tags, techniques from
//! `kill_chain_phases` naming a technique id, `mitre-attack` external
//! references and `indicates` relationships to attack patterns;
//! `valid_from` (else `created`) → seen; `object_marking_refs` naming a TLP
//! marking (the TLP 1.0 ids of §7.2.1.4, the TLP 2.0 ids, or a TLP
//! marking-definition in the bundle) → TLP; `description`, else `name` →
//! description; source = the `created_by_ref` identity's name, lower-cased
//! (else `--source`), reference = the name of a `report` listing the object
//! (else the file name). Revoked objects are skipped.

use super::{
    apply_tag, attack_ids, blank, clip, normalize_as, parse_time, Ctx, FileError, Format, Item,
    ItemError, Want,
};
use crate::ioc::{IocType, Observation, Source, Tlp};
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;

/// Standard TLP marking-definition ids: TLP 1.0 (STIX 2.1 §7.2.1.4) and
/// TLP 2.0 (OASIS TLP 2.0 marking definitions, 2022).
const TLP_MARKINGS: &[(&str, Tlp)] = &[
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// STIX 2.1 cyber-observable types (§6) that carry no supported IOC:
/// counted as skipped rather than ignored.
const OTHER_SCOS: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "email-message",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// True when `v` has the shape of STIX 2.x content.
pub(crate) fn looks_like(v: &Value) -> bool {
    match v {
        Value::Object(_) => {
            let s = |k: &str| v.get(k).and_then(Value::as_str);
            s("type") == Some("bundle")
                || (s("type").is_some() && s("id").is_some_and(|id| id.contains("--")))
        }
        Value::Array(a) => a.first().is_some_and(|x| x.is_object() && looks_like(x)),
        _ => false,
    }
}

/// Every item of a STIX document.
///
/// Errors: [`FileError::WrongFormat`] when the document is not STIX.
pub(crate) fn items(doc: &Value, ctx: &Ctx) -> Result<Vec<Item>, FileError> {
    if !looks_like(doc) {
        return Err(FileError::WrongFormat {
            format: Format::Stix,
            reason: format!(
                "no STIX bundle or object (top-level {})",
                super::describe_json(doc)
            ),
        });
    }
    let objects: Vec<&Value> = match doc {
        Value::Array(a) => a.iter().collect(),
        _ if doc.get("type").and_then(Value::as_str) == Some("bundle") => doc
            .get("objects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect(),
        _ => vec![doc],
    };
    let refs = Refs::collect(&objects);
    let mut out = Vec::new();
    for obj in objects {
        object_items(obj, &refs, ctx, &mut out);
    }
    Ok(out)
}

/// What objects say about each other, gathered in a first pass.
#[derive(Default)]
struct Refs {
    tlp: HashMap<String, Tlp>,
    identity: HashMap<String, String>,
    /// attack-pattern id → technique ids.
    attack: HashMap<String, Vec<String>>,
    /// object id → techniques of attack patterns it `indicates`.
    indicates: HashMap<String, Vec<String>>,
    /// object id → name of a report listing it.
    report: HashMap<String, String>,
}

impl Refs {
    fn collect(objects: &[&Value]) -> Refs {
        let mut r = Refs {
            tlp: TLP_MARKINGS
                .iter()
                .map(|(id, t)| (id.to_string(), *t))
                .collect(),
            ..Refs::default()
        };
        let mut relationships = Vec::new();
        for o in objects {
            let s = |k: &str| o.get(k).and_then(Value::as_str);
            let Some(id) = s("id") else { continue };
            match s("type") {
                Some("marking-definition") => {
                    let level = o
                        .pointer("/definition/tlp")
                        .and_then(Value::as_str)
                        .or(s("name"));
                    if let Some(t) = level.and_then(|l| Tlp::from_str(l).ok()) {
                        r.tlp.insert(id.to_string(), t);
                    }
                }
                Some("identity") => {
                    if let Some(n) = s("name") {
                        r.identity.insert(id.to_string(), n.trim().to_lowercase());
                    }
                }
                Some("attack-pattern") => {
                    r.attack.insert(id.to_string(), mitre_ids(o));
                }
                Some("report") => {
                    let name = s("name").unwrap_or(id);
                    for x in o
                        .get("object_refs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(x) = x.as_str() {
                            r.report
                                .entry(x.to_string())
                                .or_insert_with(|| name.to_string());
                        }
                    }
                }
                Some("relationship") if s("relationship_type") == Some("indicates") => {
                    relationships.push(*o)
                }
                _ => {}
            }
        }
        for rel in relationships {
            let s = |k: &str| rel.get(k).and_then(Value::as_str);
            if let (Some(src), Some(dst)) = (s("source_ref"), s("target_ref")) {
                if let Some(ids) = r.attack.get(dst) {
                    r.indicates
                        .entry(src.to_string())
                        .or_default()
                        .extend(ids.iter().cloned());
                }
            }
        }
        r
    }
}

/// `external_id`s of `mitre-attack` external references.
fn mitre_ids(o: &Value) -> Vec<String> {
    external_ids(o, "mitre-attack")
        .into_iter()
        .flat_map(attack_ids)
        .collect()
}

/// `external_id`s of the external references from `source`.
fn external_ids<'v>(o: &'v Value, source: &str) -> Vec<&'v str> {
    o.get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("source_name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(source))
        })
        .filter_map(|e| e.get("external_id").and_then(Value::as_str))
        .collect()
}

/// The metadata every IOC of object `o` shares.
fn template(o: &Value, refs: &Refs, ctx: &Ctx) -> Observation {
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let id = s("id").unwrap_or("");
    let mut t = blank();
    t.source = Some(Source {
        name: s("created_by_ref")
            .and_then(|c| refs.identity.get(c).cloned())
            .unwrap_or_else(|| ctx.default_source()),
        reference: Some(
            refs.report
                .get(id)
                .cloned()
                .unwrap_or_else(|| ctx.file_name.clone()),
        ),
        direction: None,
    });
    t.confidence = o
        .get("confidence")
        .and_then(Value::as_u64)
        .map(|c| c.min(100) as u8);
    for label in o
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(l) = label.as_str() {
            apply_tag(&mut t, l);
        }
    }
    let markings = o
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    if let Some(tlp) = markings
        .filter_map(Value::as_str)
        .find_map(|m| refs.tlp.get(m))
    {
        t.tlp = Some(*tlp);
    }
    t.techniques.extend(mitre_ids(o));
    for phase in o
        .get("kill_chain_phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = phase.get("phase_name").and_then(Value::as_str) {
            t.techniques.extend(attack_ids(p));
        }
    }
    t.techniques
        .extend(refs.indicates.get(id).into_iter().flatten().cloned());
    t.seen = o
        .get("valid_from")
        .or_else(|| o.get("created"))
        .and_then(parse_time);
    t.description = s("description")
        .or(s("name"))
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    t
}

/// Pushes the IOC `raw` as `want`, or an error naming the object.
fn push(out: &mut Vec<Item>, base: &Observation, ctx: &Ctx, o: &Value, raw: &str, want: Want) {
    match normalize_as(raw, want) {
        Ok(n) => {
            let mut x = base.clone();
            x.ioc_type = n.ioc_type;
            x.value = n.value;
            x.reserved = n.reserved;
            out.push(Item::Observation(ctx.finish(x)));
        }
        Err(e) => out.push(object_error(o, e.to_string())),
    }
}

fn object_error(o: &Value, reason: String) -> Item {
    let id = o.get("id").and_then(Value::as_str).unwrap_or("(no id)");
    Item::Error(ItemError {
        line: None,
        reason: format!("{id}: {reason}"),
    })
}

fn object_items(o: &Value, refs: &Refs, ctx: &Ctx, out: &mut Vec<Item>) {
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    let Some(ty) = s("type") else { return };
    let sco = |t: IocType| Want::Type(t);
    let want = match ty {
        "ipv4-addr" => Some(sco(IocType::Ipv4)),
        "ipv6-addr" => Some(sco(IocType::Ipv6)),
        "domain-name" => Some(sco(IocType::Domain)),
        "url" => Some(sco(IocType::Url)),
        "email-addr" => Some(sco(IocType::Email)),
        _ => None,
    };
    let relevant = want.is_some()
        || matches!(
            ty,
            "indicator" | "file" | "vulnerability" | "attack-pattern"
        );
    if !relevant {
        if OTHER_SCOS.contains(&ty) {
            out.push(Item::Skipped);
        }
        return;
    }
    if o.get("revoked").and_then(Value::as_bool) == Some(true) {
        out.push(Item::Skipped);
        return;
    }
    let base = template(o, refs, ctx);
    if let Some(w) = want {
        match s("value") {
            Some(v) => push(out, &base, ctx, o, v, w),
            None => out.push(object_error(o, format!("{ty} without a value"))),
        }
        return;
    }
    match ty {
        "indicator" => indicator_items(o, &base, ctx, out),
        "file" => {
            let hashes = o.get("hashes").and_then(Value::as_object);
            if hashes.is_none_or(|h| h.is_empty()) {
                out.push(Item::Skipped);
            }
            for (algo, v) in hashes.into_iter().flatten() {
                match (hash_type(algo), v.as_str()) {
                    (Some(t), Some(v)) => push(out, &base, ctx, o, v, Want::Type(t)),
                    _ => out.push(Item::Skipped),
                }
            }
        }
        "vulnerability" => {
            let name = s("name").filter(|n| n.trim().to_ascii_uppercase().starts_with("CVE-"));
            match name.or_else(|| external_ids(o, "cve").first().copied()) {
                Some(cve) => push(out, &base, ctx, o, cve, Want::Type(IocType::Cve)),
                None => out.push(Item::Skipped),
            }
        }
        _ => {
            // attack-pattern
            let ids = mitre_ids(o);
            if ids.is_empty() {
                out.push(Item::Skipped);
            }
            let mut base = base;
            base.techniques.clear();
            for id in ids {
                push(out, &base, ctx, o, &id, Want::Type(IocType::MitreAttack));
            }
        }
    }
}

fn indicator_items(o: &Value, base: &Observation, ctx: &Ctx, out: &mut Vec<Item>) {
    let pattern_type = o
        .get("pattern_type")
        .and_then(Value::as_str)
        .unwrap_or("stix");
    if !pattern_type.eq_ignore_ascii_case("stix") {
        out.push(Item::Skipped);
        return;
    }
    let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
        out.push(object_error(o, "indicator without a pattern".into()));
        return;
    };
    let comparisons = match comparisons(pattern) {
        Ok(c) => c,
        Err(e) => {
            out.push(object_error(o, format!("pattern {}: {e}", clip(pattern))));
            return;
        }
    };
    for c in comparisons {
        match c {
            Comparison::Equals { path, value } => match path_type(&path) {
                Some(t) => push(out, base, ctx, o, &value, Want::Type(t)),
                None => out.push(Item::Skipped),
            },
            Comparison::Other => out.push(Item::Skipped),
        }
    }
}

/// The IOC type an object path compares, if supported.
fn path_type(path: &str) -> Option<IocType> {
    let (object, property) = path.split_once(':')?;
    match (object, property) {
        ("ipv4-addr", "value") => Some(IocType::Ipv4),
        ("ipv6-addr", "value") => Some(IocType::Ipv6),
        ("domain-name", "value") => Some(IocType::Domain),
        ("url", "value") => Some(IocType::Url),
        ("email-addr", "value") => Some(IocType::Email),
        ("file", p) => hash_type(p.strip_prefix("hashes.")?),
        _ => None,
    }
}

/// `MD5`, `SHA-1`, `'SHA-256'`, `SHA512` … (STIX hash-algorithm-ov, §10.7).
fn hash_type(algo: &str) -> Option<IocType> {
    match algo
        .trim_matches('\'')
        .to_ascii_uppercase()
        .replace(['-', '_'], "")
        .as_str()
    {
        "MD5" => Some(IocType::Md5),
        "SHA1" => Some(IocType::Sha1),
        "SHA256" => Some(IocType::Sha256),
        "SHA512" => Some(IocType::Sha512),
        _ => None,
    }
}

/// One comparison expression of a pattern.
#[derive(Debug, PartialEq)]
enum Comparison {
    /// `path = 'value'`.
    Equals { path: String, value: String },
    /// Any other operator, a negation or a non-string right-hand side.
    Other,
}

/// Pattern tokens (STIX 2.1 §9.2). Keywords, numbers and typed literals
/// (`t'…'`, `b'…'`, `h'…'`) only need to be stepped over.
#[derive(Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    Paren,
    Op(&'static str),
    Word,
    Path(String),
    Str(String),
}

/// The comparisons of a STIX pattern, in order.
///
/// Errors: a description of the first syntax problem (unterminated string,
/// unbalanced brackets, unexpected character, no comparison at all).
fn comparisons(pattern: &str) -> Result<Vec<Comparison>, String> {
    let toks = tokenize(pattern)?;
    let mut depth = 0i32;
    for t in &toks {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Err("unbalanced ']'".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced '['".into());
    }
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Path(path) = t {
            out.push(match (toks.get(i + 1), toks.get(i + 2)) {
                (Some(Tok::Op("=")), Some(Tok::Str(v))) => Comparison::Equals {
                    path: path.clone(),
                    value: v.clone(),
                },
                _ => Comparison::Other,
            });
        }
    }
    if out.is_empty() {
        return Err("no comparison (expected e.g. [ipv4-addr:value = '198.51.100.1'])".into());
    }
    Ok(out)
}

fn tokenize(p: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word_char = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        match ch {
            _ if ch.is_whitespace() => i += 1,
            '[' => {
                out.push(Tok::Open);
                i += 1;
            }
            ']' => {
                out.push(Tok::Close);
                i += 1;
            }
            '(' | ')' => {
                out.push(Tok::Paren);
                i += 1;
            }
            '\'' => {
                let (s, end) = string(&c, i)?;
                out.push(Tok::Str(s));
                i = end;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' | '<' | '>' if next == Some('=') => {
                out.push(Tok::Op("cmp"));
                i += 2;
            }
            '<' | '>' => {
                out.push(Tok::Op("cmp"));
                i += 1;
            }
            't' | 'b' | 'h' if next == Some('\'') => {
                let (_, end) = string(&c, i + 1)?;
                out.push(Tok::Word);
                i = end;
            }
            _ if word_char(ch) || ch == '.' || ch == '+' => {
                let start = i;
                while i < c.len() && (word_char(c[i]) || c[i] == '.' || c[i] == '+') {
                    i += 1;
                }
                if c.get(i) != Some(&':') {
                    out.push(Tok::Word);
                    continue;
                }
                // An object path: `type:prop.sub.'quoted key'[*].x`.
                i += 1;
                let mut path: String = c[start..i].iter().collect();
                while i < c.len() {
                    match c[i] {
                        x if word_char(x) || x == '.' => {
                            path.push(x);
                            i += 1;
                        }
                        '\'' => {
                            let (s, end) = string(&c, i)?;
                            path.push('\'');
                            path.push_str(&s);
                            path.push('\'');
                            i = end;
                        }
                        '[' => {
                            let close = c[i..]
                                .iter()
                                .position(|&x| x == ']')
                                .ok_or("unterminated list index")?;
                            path.extend(&c[i..=i + close]);
                            i += close + 1;
                        }
                        _ => break,
                    }
                }
                out.push(Tok::Path(path));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// A quoted string starting at `c[start]` (`'`), with `\'` and `\\`
/// escapes. Returns the content and the index after the closing quote.
fn string(c: &[char], start: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        match c.get(i) {
            None => return Err("unterminated string".into()),
            Some('\\') => match c.get(i + 1) {
                Some(&e @ ('\'' | '\\')) => {
                    s.push(e);
                    i += 2;
                }
                _ => return Err("only \\' and \\\\ may be escaped in a string".into()),
            },
            Some('\'') => return Ok((s, i + 1)),
            Some(&x) => {
                s.push(x);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(path: &str, value: &str) -> Comparison {
        Comparison::Equals {
            path: path.into(),
            value: value.into(),
        }
    }

    #[test]
    fn patterns_with_or_escapes_and_qualifiers() {
        assert_eq!(
            comparisons("[ipv4-addr:value = '1.2.3.4' OR domain-name:value='a.com']").unwrap(),
            vec![
                eq("ipv4-addr:value", "1.2.3.4"),
                eq("domain-name:value", "a.com")
            ]
        );
        assert_eq!(
            comparisons(r"[url:value = 'http://x.com/it\'s\\a'] AND [file:hashes.'SHA-256' = 'ab'] WITHIN 300 SECONDS").unwrap(),
            vec![eq("url:value", r"http://x.com/it's\a"), eq("file:hashes.'SHA-256'", "ab")]
        );
        assert_eq!(
            comparisons("([file:name = 'a.exe' AND file:size > 10] OR [file:hashes.MD5 != 'x']) START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'").unwrap(),
            vec![eq("file:name", "a.exe"), Comparison::Other, Comparison::Other]
        );
        assert_eq!(
            comparisons(
                "[network-traffic:extensions.'http-request-ext'.request_header[*] LIKE 'x%']"
            )
            .unwrap(),
            vec![Comparison::Other]
        );
        assert_eq!(path_type("file:hashes.'SHA-256'"), Some(IocType::Sha256));
        assert_eq!(path_type("file:hashes.SHA1"), Some(IocType::Sha1));
        assert_eq!(path_type("file:hashes.SSDEEP"), None);
    }

    #[test]
    fn pattern_syntax_errors() {
        assert!(comparisons("[ipv4-addr:value = '1.2.3.4]")
            .unwrap_err()
            .contains("unterminated"));
        assert!(comparisons("[ipv4-addr:value = '1.2.3.4'")
            .unwrap_err()
            .contains("unbalanced"));
        assert!(comparisons("[]").unwrap_err().contains("no comparison"));
        assert!(comparisons("[a:b = 'x' ; ]")
            .unwrap_err()
            .contains("unexpected character"));
        assert!(comparisons(r"[a:b = 'x\n']").is_err());
    }

    #[test]
    fn shapes() {
        assert!(looks_like(
            &serde_json::json!({"type": "bundle", "id": "bundle--1"})
        ));
        assert!(looks_like(
            &serde_json::json!([{"type": "indicator", "id": "indicator--1"}])
        ));
        assert!(!looks_like(&serde_json::json!({"type": "x"})));
        assert!(!looks_like(&serde_json::json!([1])));
    }
}

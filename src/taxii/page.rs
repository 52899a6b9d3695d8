//! What a request selects from a collection, and the paging engine shared
//! by `objects/`, `manifest/`, `objects/{id}/` and `objects/{id}/versions/`.
//!
//! ## Order, date added, cursor
//! Objects come in store-index order: `(modified micros, id)`. TAXII's
//! `date_added` is that index time, printed with microseconds, so
//! `added_after=<X-TAXII-Date-Added-Last>` resumes exactly after the last
//! object received. `next` is the store [`Cursor`] of the last object of the
//! page (never an offset): the next page starts strictly after it, so
//! objects added while a client pages only appear at the end, and none is
//! skipped or repeated. A page costs O(limit) store reads at any position.
//!
//! ## The identity and the TLP marking definitions
//! Every readable collection holds six objects that are not IOCs: the
//! producer identity (every object's `created_by_ref`) and the five TLP 2.0
//! marking definitions (every object's `object_marking_refs`). They are
//! ordinary members of the collection with fixed dates added: the
//! identity's `created`, `2025-01-01T00:00:00Z`, and the five markings one
//! microsecond apart after it (each object has its own date added, so a
//! poller at `limit=1` meets all six), so they sort before
//! every IOC: a client paging from the start gets them on its first page
//! (they count against `limit`), and a poller resuming with `added_after`
//! does not get them again. `match[type]=identity` or
//! `match[type]=marking-definition` (and `match[id]`) select them alone.
//! The tier lookback limits IOCs only, never these six.
//!
//! ## Versions
//! iocd keeps one version per object, its current `modified`; `first`,
//! `last` and `all` all select it, and a timestamp selects it when equal to
//! `modified` (millisecond precision, as the objects print it).

use super::collections::Collection;
use crate::export::mapping::{self, StixKind};
use crate::export::stix::{self, identity_id, tlp_marking_id, IDENTITY_TIME, TLP_MARKING_TIME};
use crate::http::error::ApiError;
use crate::http::handlers::Ctx;
use crate::http::params::parse_time;
use crate::ioc::expiry::{ExpiryFilter, Lifetimes};
use crate::ioc::{Indicator, IocType, Tlp};
use crate::store::{Cursor, Query, Store, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Objects per page when the client names no `limit`, and the most it may
/// ask for (larger values are cut to this, as §3.4 allows).
pub const MAX_LIMIT: usize = 1000;
/// Index entries one request may step over while filtering (`match[type]`
/// across several IOC types, `match[version]` timestamps) before it answers
/// a shorter page with `more: true`: keeps every request's cost bounded.
const SCAN_BUDGET: usize = 20_000;
/// Ids one `match[id]` may list.
const MAX_MATCH_IDS: usize = 1000;

/// The STIX type of an IOC type's objects.
pub fn stix_type(t: IocType) -> &'static str {
    match mapping::mapping(t).stix {
        StixKind::Pattern { .. } => "indicator",
        StixKind::Vulnerability => "vulnerability",
        StixKind::AttackPattern => "attack-pattern",
    }
}

/// Microseconds of a fixed RFC 3339 constant.
fn const_micros(ts: &str) -> u64 {
    parse_time(ts)
        .map(|t| t.timestamp_micros().max(0) as u64)
        .unwrap_or(0)
}

fn const_millis(ts: &str) -> i64 {
    parse_time(ts).map(|t| t.timestamp_millis()).unwrap_or(0)
}

/// TAXII timestamp of a date added: RFC 3339, UTC, microseconds, `Z`.
pub fn added_text(micros: u64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The producer identity of this server (`server.identity_name`).
#[derive(Debug, Clone)]
pub struct Producer {
    /// `identity--<uuid>`.
    pub id: String,
    pub name: String,
    uuid: Uuid,
    /// The `[expiry]` lifetimes: indicators of a type with one carry
    /// `valid_until` = their expiry.
    pub lifetimes: Lifetimes,
}

impl Producer {
    pub fn new(name: &str) -> Producer {
        let id = identity_id(name);
        let uuid = id
            .strip_prefix("identity--")
            .and_then(|u| Uuid::parse_str(u).ok())
            .unwrap_or_default();
        Producer {
            id,
            name: name.to_string(),
            uuid,
            lifetimes: Lifetimes::never(),
        }
    }

    /// The configured producer: identity name and expiry lifetimes.
    pub fn from_ctx(ctx: &Ctx<'_>) -> Producer {
        Producer {
            lifetimes: ctx.lifetimes(),
            ..Producer::new(&ctx.state.config().server.identity_name)
        }
    }
}

fn marking_uuid(t: Tlp) -> Uuid {
    let id = tlp_marking_id(t);
    Uuid::parse_str(id.trim_start_matches("marking-definition--")).unwrap_or_default()
}

/// One object of a collection.
#[derive(Debug, Clone)]
pub enum Entry {
    Ioc(Indicator),
    Identity,
    Marking(Tlp),
}

impl Entry {
    /// Position in collection order (and the cursor after it).
    pub fn pos(&self, p: &Producer) -> Cursor {
        match self {
            Entry::Ioc(i) => Cursor::after(i),
            Entry::Identity => Cursor {
                micros: const_micros(IDENTITY_TIME),
                id: p.uuid,
            },
            Entry::Marking(t) => Cursor {
                micros: const_micros(IDENTITY_TIME) + 1 + *t as u64,
                id: marking_uuid(*t),
            },
        }
    }

    /// Date added, microseconds since the epoch.
    pub fn date_added(&self, p: &Producer) -> u64 {
        self.pos(p).micros
    }

    pub fn stix_id(&self, p: &Producer) -> String {
        match self {
            Entry::Ioc(i) => format!("{}--{}", stix_type(i.ioc_type), i.id),
            Entry::Identity => p.id.clone(),
            Entry::Marking(t) => tlp_marking_id(*t).to_string(),
        }
    }

    /// The version: `modified` (marking definitions: `created`), exactly
    /// as the object prints it.
    pub fn version(&self) -> String {
        match self {
            Entry::Ioc(i) => mapping::timestamp(i.modified),
            Entry::Identity => IDENTITY_TIME.to_string(),
            Entry::Marking(_) => TLP_MARKING_TIME.to_string(),
        }
    }

    fn version_millis(&self) -> i64 {
        match self {
            Entry::Ioc(i) => i.modified.timestamp_millis(),
            Entry::Identity => const_millis(IDENTITY_TIME),
            Entry::Marking(_) => const_millis(TLP_MARKING_TIME),
        }
    }

    /// Appends the STIX object: the SDO of `/api/v1/iocs/stix` (same
    /// builder, same id, `created_by_ref` = the identity).
    pub fn write_json(&self, out: &mut Vec<u8>, p: &Producer) -> serde_json::Result<()> {
        match self {
            Entry::Ioc(i) => serde_json::to_writer(
                out,
                &stix::sdo(
                    i,
                    mapping::tlp(i, None),
                    Some(&p.id),
                    p.lifetimes.expires_at(i),
                ),
            ),
            Entry::Identity => serde_json::to_writer(out, &stix::identity_object(&p.id, &p.name)),
            Entry::Marking(t) => serde_json::to_writer(out, &stix::marking_definition(*t)),
        }
    }
}

/// The non-IOC objects of every readable collection, in collection order.
fn fixed_entries(p: &Producer) -> Vec<Entry> {
    let mut v: Vec<Entry> = std::iter::once(Entry::Identity)
        .chain(Tlp::ALL.into_iter().map(Entry::Marking))
        .collect();
    v.sort_by_key(|e| e.pos(p));
    v
}

/// Resolves a STIX id to the entry it names in `coll`, if any (IOCs older
/// than `floor`, the tier lookback, are not visible).
pub fn lookup(
    store: &Store,
    coll: &Collection,
    p: &Producer,
    stix_id: &str,
    floor: u64,
) -> Result<Option<Entry>, StoreError> {
    let Some((ty, uuid)) = stix_id.split_once("--") else {
        return Ok(None);
    };
    let Ok(uuid) = Uuid::parse_str(uuid) else {
        return Ok(None);
    };
    if !coll.can_read() {
        return Ok(None);
    }
    match ty {
        "identity" => Ok((uuid == p.uuid).then_some(Entry::Identity)),
        "marking-definition" => Ok(Tlp::ALL
            .into_iter()
            .find(|t| marking_uuid(*t) == uuid)
            .map(Entry::Marking)),
        _ => Ok(store
            .get(&uuid)?
            .filter(|i| {
                stix_type(i.ioc_type) == ty
                    && coll.holds(i.ioc_type)
                    && Cursor::after(i).micros >= floor
            })
            .map(Entry::Ioc)),
    }
}

/// The filters and position of one request.
#[derive(Debug, Clone)]
pub struct Selection {
    /// IOC types that may appear, by [`IocType::code`].
    types: [bool; IocType::ALL.len()],
    identity: bool,
    markings: bool,
    /// `match[id]` (or the object of `objects/{id}/`).
    ids: Option<Vec<String>>,
    /// `match[version]` timestamps (ms); `None` = first/last/all.
    versions: Option<Vec<i64>>,
    /// `match[spec_version]` admits 2.1 (or is absent).
    spec_ok: bool,
    /// `added_after`, microseconds, exclusive.
    added_after: Option<u64>,
    /// The tier lookback start (microseconds): IOCs added before it are
    /// invisible.
    floor: u64,
    /// `next`.
    after: Option<Cursor>,
    pub limit: usize,
    /// IOCs expired at the request's instant are not members, unless the
    /// request says `include_expired=true` (an iocd extension: TAXII 2.1
    /// has no such filter). `None`: expired ones are members too.
    unexpired: Option<ExpiryFilter>,
}

fn list_param(ctx: &Ctx<'_>, name: &str) -> Option<Vec<String>> {
    ctx.params.get(name).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

impl Selection {
    /// `objects/` and `manifest/`: `added_after`, `limit`, `next`,
    /// `match[id]`, `match[type]`, `match[version]`, `match[spec_version]`.
    pub fn for_list(ctx: &Ctx<'_>, coll: &Collection) -> Result<Selection, ApiError> {
        let mut s = Selection::base(ctx, coll)?;
        if let Some(types) = list_param(ctx, "match[type]") {
            let named = |t: &str| types.iter().any(|x| x == t);
            for t in IocType::ALL {
                s.types[t.code() as usize] &= named(stix_type(t));
            }
            s.identity &= named("identity");
            s.markings &= named("marking-definition");
        }
        if let Some(ids) = list_param(ctx, "match[id]") {
            if ids.len() > MAX_MATCH_IDS {
                return Err(ApiError::invalid_parameter(
                    "match[id]",
                    format!("{} ids; at most {MAX_MATCH_IDS} per request", ids.len()),
                ));
            }
            s.ids = Some(ids);
        }
        Ok(s)
    }

    /// `objects/{id}/` and `objects/{id}/versions/`: that object, with
    /// `added_after`, `limit`, `next`, `match[version]`, `match[spec_version]`.
    pub fn for_object(
        ctx: &Ctx<'_>,
        coll: &Collection,
        stix_id: &str,
    ) -> Result<Selection, ApiError> {
        let mut s = Selection::base(ctx, coll)?;
        s.ids = Some(vec![stix_id.to_string()]);
        Ok(s)
    }

    fn base(ctx: &Ctx<'_>, coll: &Collection) -> Result<Selection, ApiError> {
        let p = ctx.params;
        let mut types = [false; IocType::ALL.len()];
        for t in IocType::ALL {
            types[t.code() as usize] = coll.holds(t);
        }
        let versions = match list_param(ctx, "match[version]") {
            None => None,
            Some(vs) => {
                let mut times = Vec::new();
                let mut any = vs.is_empty();
                for v in vs {
                    match v.as_str() {
                        "first" | "last" | "all" => any = true,
                        _ => times.push(parse_time(&v).map(|t| t.timestamp_millis()).ok_or_else(|| {
                            ApiError::invalid_parameter("match[version]", format!("'{v}' is not first, last, all or a timestamp such as 2026-05-15T00:00:00.000Z"))
                        })?),
                    }
                }
                (!any).then_some(times)
            }
        };
        let spec_ok = list_param(ctx, "match[spec_version]")
            .is_none_or(|v| v.is_empty() || v.iter().any(|x| x == "2.1"));
        let added_after = p
            .time("added_after")?
            .map(|t| t.timestamp_micros().max(0) as u64);
        let after = match p.text("next") {
            Some(c) => Some(Cursor::decode(&c).ok_or_else(|| {
                ApiError::invalid_parameter("next", "not a next value returned by this server")
            })?),
            None => None,
        };
        Ok(Selection {
            types,
            identity: coll.can_read(),
            markings: coll.can_read(),
            ids: None,
            versions,
            spec_ok,
            added_after,
            floor: ctx.lookback_start()?.timestamp_micros().max(0) as u64,
            after,
            limit: p.limit("limit", MAX_LIMIT, MAX_LIMIT)?,
            unexpired: ctx.unexpired_filter()?,
        })
    }

    /// Whether `e` passes every filter and lies after the cursor.
    fn keeps(&self, e: &Entry, p: &Producer) -> bool {
        let member = match e {
            Entry::Ioc(i) => {
                self.types[i.ioc_type.code() as usize]
                    && Cursor::after(i).micros >= self.floor
                    && self.unexpired.is_none_or(|f| f.admits(i))
            }
            Entry::Identity => self.identity,
            Entry::Marking(_) => self.markings,
        };
        let pos = e.pos(p);
        member
            && self.matches_version(e)
            && self.added_after.is_none_or(|a| pos.micros > a)
            && self.after.is_none_or(|c| pos > c)
    }

    /// Whether the request resumes with `next` (the client is paging).
    pub fn resumes(&self) -> bool {
        self.after.is_some()
    }

    /// The same selection, resuming after `c`.
    pub fn resume_after(&self, c: Cursor) -> Selection {
        Selection {
            after: Some(c),
            ..self.clone()
        }
    }

    /// Everything but the lookback start and the expiry instant (which
    /// move with the clock), as text: the read-ahead key.
    pub fn cache_key(&self) -> String {
        format!(
            "{:?}|{}|{}|{:?}|{:?}|{}|{:?}|{:?}|{}|{}",
            self.types,
            self.identity,
            self.markings,
            self.ids,
            self.versions,
            self.spec_ok,
            self.added_after,
            self.after,
            self.limit,
            self.unexpired.is_some()
        )
    }

    /// The tier lookback start, microseconds.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Whether `e` passes `match[version]` and `match[spec_version]`.
    pub fn matches_version(&self, e: &Entry) -> bool {
        self.spec_ok
            && self
                .versions
                .as_ref()
                .is_none_or(|v| v.contains(&e.version_millis()))
    }

    /// The store query's lower time bound: the later of the lookback and
    /// just after `added_after`.
    fn since_micros(&self) -> u64 {
        self.floor.max(self.added_after.map_or(0, |a| a + 1))
    }
}

/// One page.
#[derive(Debug)]
pub struct Selected {
    pub entries: Vec<Entry>,
    /// `more` and `next` of the envelope: `next` is `Some` exactly when
    /// `more` is true.
    pub next: Option<Cursor>,
}

/// Selects one page. Blocking (sled reads): run it on the blocking pool.
pub fn select(
    store: &Store,
    sel: &Selection,
    p: &Producer,
    coll: &Collection,
) -> Result<Selected, StoreError> {
    let mut found: Vec<Entry> = Vec::new();
    // Where a budget-limited scan stopped: nothing after it is known yet.
    let mut boundary: Option<Cursor> = None;
    match &sel.ids {
        Some(ids) => {
            for id in ids {
                if let Some(e) = lookup(store, coll, p, id, sel.floor)? {
                    if sel.keeps(&e, p) {
                        found.push(e);
                    }
                }
            }
        }
        None => {
            found.extend(fixed_entries(p).into_iter().filter(|e| sel.keeps(e, p)));
            let wanted: Vec<IocType> = IocType::ALL
                .into_iter()
                .filter(|t| sel.types[t.code() as usize])
                .collect();
            if sel.spec_ok && !wanted.is_empty() {
                boundary = scan_store(store, sel, p, &wanted, &mut found)?;
            }
        }
    }
    found.sort_by_key(|e| e.pos(p));
    found.dedup_by_key(|e| e.pos(p));
    if let Some(b) = boundary {
        found.retain(|e| e.pos(p) <= b);
    }
    let over = found.len() > sel.limit;
    found.truncate(sel.limit);
    let next = if over {
        found.last().map(|e| e.pos(p))
    } else {
        boundary
    };
    Ok(Selected {
        entries: found,
        next,
    })
}

/// Appends up to `limit + 1` matching IOCs after the cursor. One store page
/// when nothing needs filtering (all types of the `all` collection, or a
/// single type through the per-type index); otherwise pages through the
/// index, filtering, for at most [`SCAN_BUDGET`] entries, and returns where
/// it stopped if the budget ran out first.
fn scan_store(
    store: &Store,
    sel: &Selection,
    p: &Producer,
    wanted: &[IocType],
    out: &mut Vec<Entry>,
) -> Result<Option<Cursor>, StoreError> {
    let ioc_type = match wanted {
        [one] => Some(*one),
        _ => None,
    };
    let filtering =
        (ioc_type.is_none() && wanted.len() < IocType::ALL.len()) || sel.versions.is_some();
    let since = DateTime::<Utc>::from_timestamp_micros(sel.since_micros() as i64);
    let mut after = sel.after;
    let mut got = 0usize;
    let mut scanned = 0usize;
    loop {
        let need = sel.limit + 1 - got;
        let q = Query {
            ioc_type,
            since,
            after,
            limit: if filtering { need.max(256) } else { need },
            unexpired: sel.unexpired,
            ..Query::default()
        };
        let page = store.page(&q)?;
        scanned += page.items.len();
        for i in page.items {
            let e = Entry::Ioc(i);
            if sel.keeps(&e, p) {
                out.push(e);
                got += 1;
            }
        }
        match page.next {
            None => return Ok(None),
            Some(_) if got > sel.limit => return Ok(None),
            Some(c) if scanned >= SCAN_BUDGET => return Ok(Some(c)),
            Some(c) => after = Some(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_objects_sort_first_and_print_micros() {
        let p = Producer::new("iocd");
        let v = fixed_entries(&p);
        assert_eq!(v.len(), 6);
        // Each has its own date added (one microsecond apart), so a
        // client polling by added_after at limit=1 meets all six.
        let added: Vec<u64> = v.iter().map(|e| e.date_added(&p)).collect();
        let t0 = const_micros(IDENTITY_TIME);
        assert_eq!(added, (t0..t0 + 6).collect::<Vec<_>>());
        assert!(matches!(v[0], Entry::Identity));
        assert_eq!(
            added_text(const_micros(IDENTITY_TIME)),
            "2025-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Entry::Marking(Tlp::Red).stix_id(&p),
            tlp_marking_id(Tlp::Red)
        );
        assert_eq!(Entry::Identity.stix_id(&p), identity_id("iocd"));
        assert_eq!(Entry::Marking(Tlp::Red).version(), TLP_MARKING_TIME);
        assert_eq!(stix_type(IocType::Cve), "vulnerability");
        assert_eq!(stix_type(IocType::MitreAttack), "attack-pattern");
        assert_eq!(stix_type(IocType::Sha256), "indicator");
    }
}

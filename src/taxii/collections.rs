//! The collections (TAXII 2.1 §5.1, §5.2): `all`, one read-only collection
//! per IOC type, and the write-only `submissions`.
//!
//! Ids are UUIDv5s of `taxii-collection:<alias>` under the namespace of
//! every iocd id ([`crate::ioc::ID_NAMESPACE`]), the scheme of the STIX
//! identity id (`identity:<name>`): the same on every install and across
//! restarts, so a SIEM configured with a collection id keeps working after
//! a reinstall. The alias (`all`, `ipv4`, ...) is accepted in URLs in place
//! of the id.

use super::error;
use super::{taxii_response, MEDIA_STIX};
use crate::http::error::ApiError;
use crate::http::handlers::Ctx;
use crate::http::Body;
use crate::ioc::{IocType, ID_NAMESPACE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::OnceLock;
use uuid::Uuid;

/// What a collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// Every IOC (indicators, vulnerabilities, attack patterns).
    All,
    /// The IOCs of one type.
    Type(IocType),
    /// Nothing to read; POSTed envelopes are imported into the store
    /// (and so appear in `all` and the type collections).
    Submissions,
}

/// One collection. Every readable collection also serves the producer
/// identity and the five TLP 2.0 marking definitions (see `page.rs`).
#[derive(Debug, Clone)]
pub struct Collection {
    pub id: Uuid,
    /// Short name, usable in URLs instead of the id.
    pub alias: &'static str,
    pub title: String,
    pub description: String,
    pub members: Members,
}

impl Collection {
    pub fn can_read(&self) -> bool {
        self.members != Members::Submissions
    }

    pub fn can_write(&self) -> bool {
        self.members == Members::Submissions
    }

    /// Whether IOCs of type `t` are in this collection.
    pub fn holds(&self, t: IocType) -> bool {
        match self.members {
            Members::All => true,
            Members::Type(x) => x == t,
            Members::Submissions => false,
        }
    }

    /// The collection resource (§5.2.1).
    pub fn resource(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "title": self.title,
            "description": self.description,
            "alias": self.alias,
            "can_read": self.can_read(),
            "can_write": self.can_write(),
            "media_types": [MEDIA_STIX],
        })
    }
}

/// `UUIDv5(ID_NAMESPACE, "taxii-collection:<alias>")`.
pub fn collection_id(alias: &str) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("taxii-collection:{alias}").as_bytes(),
    )
}

fn type_title(t: IocType) -> &'static str {
    match t {
        IocType::Ipv4 => "IPv4 addresses",
        IocType::Ipv6 => "IPv6 addresses",
        IocType::Domain => "Domain names",
        IocType::Url => "URLs",
        IocType::Md5 => "MD5 file hashes",
        IocType::Sha1 => "SHA-1 file hashes",
        IocType::Sha256 => "SHA-256 file hashes",
        IocType::Sha512 => "SHA-512 file hashes",
        IocType::Email => "Email addresses",
        IocType::Cve => "Vulnerabilities (CVE)",
        IocType::MitreAttack => "MITRE ATT&CK techniques",
    }
}

/// Every collection, in listing order: `all`, the types, `submissions`.
pub fn collections() -> &'static [Collection] {
    static ALL: OnceLock<Vec<Collection>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = vec![Collection {
            id: collection_id("all"),
            alias: "all",
            title: "All IOCs".into(),
            description: "Every IOC iocd holds, as STIX 2.1 indicators, vulnerabilities and attack patterns, in the order they were added or last changed.".into(),
            members: Members::All,
        }];
        for t in IocType::ALL {
            let what = match t {
                IocType::Cve => "vulnerability objects",
                IocType::MitreAttack => "attack-pattern objects",
                _ => "indicator objects with STIX patterns",
            };
            v.push(Collection {
                id: collection_id(t.as_str()),
                alias: t.as_str(),
                title: type_title(t).into(),
                description: format!("IOCs of type {} as STIX 2.1 {what}.", t.as_str()),
                members: Members::Type(t),
            });
        }
        v.push(Collection {
            id: collection_id("submissions"),
            alias: "submissions",
            title: "Submissions".into(),
            description: "Write-only: POST a TAXII envelope of STIX 2.1 objects; their IOCs are imported and appear in the other collections.".into(),
            members: Members::Submissions,
        });
        v
    })
}

/// The collection named by a URL segment (id, any case, or alias); 404
/// otherwise.
pub fn find(seg: &str) -> Result<&'static Collection, ApiError> {
    let id = Uuid::parse_str(seg).ok();
    collections()
        .iter()
        .find(|c| Some(c.id) == id || c.alias == seg)
        .ok_or_else(|| {
            error::not_found(format!(
                "No collection '{seg}' in this API root; GET collections/ lists them."
            ))
        })
}

/// A collection that can be read, else 403.
pub fn readable(seg: &str) -> Result<&'static Collection, ApiError> {
    let c = find(seg)?;
    if !c.can_read() {
        return Err(error::forbidden(format!(
            "The {} collection is write-only; read from the all collection ({}) or a type collection.",
            c.alias,
            collection_id("all")
        )));
    }
    Ok(c)
}

/// `GET collections/`.
pub fn list(_ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let all: Vec<Value> = collections().iter().map(Collection::resource).collect();
    Ok(taxii_response(
        StatusCode::OK,
        json!({ "collections": all }).to_string().into_bytes(),
    ))
}

/// `GET collections/{id}/`.
pub fn get(_ctx: &Ctx<'_>, seg: &str) -> Result<Response<Body>, ApiError> {
    let c = find(seg)?;
    Ok(taxii_response(
        StatusCode::OK,
        c.resource().to_string().into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_and_distinct() {
        // Pinned (README lists them): changing these breaks every configured SIEM.
        assert_eq!(
            collection_id("all").to_string(),
            "57dce6a1-9cbf-52cf-89a5-7fecd7501cb4"
        );
        assert_eq!(
            collection_id("ipv4").to_string(),
            "39a9ab30-ada1-57e5-85e7-9ccb8327b7eb"
        );
        assert_eq!(
            collection_id("submissions").to_string(),
            "01ca3e00-a807-5d8d-bf1d-de1e9f80e62d"
        );
        let c = collections();
        assert_eq!(c.len(), 13);
        let mut ids: Vec<Uuid> = c.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 13);
        assert_eq!(
            find(&collection_id("ipv4").to_string().to_uppercase())
                .unwrap()
                .alias,
            "ipv4"
        );
        assert_eq!(find("cve").unwrap().members, Members::Type(IocType::Cve));
        assert!(find("nope").is_err());
        assert!(readable("submissions").is_err());
        assert!(find("submissions").unwrap().can_write());
        assert!(!find("all").unwrap().can_write());
    }
}

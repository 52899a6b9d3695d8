//! The MITRE ATT&CK Enterprise technique table (v18.1), embedded in the
//! binary so air-gapped appliances can map technique ids to names and
//! kill-chain phases (STIX 2.1 §4.x `kill_chain_phases`, kill chain name
//! `mitre-attack`). Source and terms: `enterprise-attack-techniques.md`.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("enterprise-attack-techniques.json");

/// One technique or sub-technique.
#[derive(Debug, Clone, Deserialize)]
pub struct Technique {
    /// `T1071` or `T1071.001`.
    pub id: String,
    pub name: String,
    /// Tactic short names = STIX kill-chain phase names (`command-and-control`).
    pub tactics: Vec<String>,
    /// `attack-pattern--<uuid>` in MITRE's own STIX data.
    pub stix_id: String,
    /// `https://attack.mitre.org/techniques/T1071/001`.
    pub url: String,
}

#[derive(Deserialize)]
struct Table {
    attack_version: String,
    techniques: Vec<Technique>,
}

struct Index {
    version: String,
    by_id: HashMap<String, Technique>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        // The table is compiled in and checked by a unit test; an error here
        // would be a build defect, so fall back to an empty table rather than
        // panic in a server.
        let t: Table = serde_json::from_str(TABLE).unwrap_or(Table {
            attack_version: String::new(),
            techniques: Vec::new(),
        });
        Index {
            version: t.attack_version,
            by_id: t
                .techniques
                .into_iter()
                .map(|x| (x.id.clone(), x))
                .collect(),
        }
    })
}

/// Looks up a technique id (`T1071.001`, upper-case).
pub fn technique(id: &str) -> Option<&'static Technique> {
    index().by_id.get(id)
}

/// The embedded ATT&CK version (`18.1`).
pub fn version() -> &'static str {
    &index().version
}

/// A technique's URL even when it is not in the table (revoked, newer).
pub fn url_for(id: &str) -> String {
    match technique(id) {
        Some(t) => t.url.clone(),
        None => format!(
            "https://attack.mitre.org/techniques/{}",
            id.replace('.', "/")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_loads_and_maps_phases() {
        assert_eq!(version(), "18.1");
        assert!(index().by_id.len() > 600);
        let t = technique("T1071.001").expect("T1071.001 present");
        assert_eq!(t.name, "Web Protocols");
        assert_eq!(t.tactics, vec!["command-and-control".to_string()]);
        assert!(technique("T9999").is_none());
        assert_eq!(
            url_for("T9999.001"),
            "https://attack.mitre.org/techniques/T9999/001"
        );
    }
}

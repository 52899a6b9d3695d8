//! Hunting queries for one IOC (the lookup endpoint): ready-to-paste
//! searches for Splunk (SPL over CIM field names), Microsoft Sentinel (KQL
//! over the standard tables) and Elastic (KQL over ECS fields). The field
//! names per type come from [`super::mapping`]; this file only knows each
//! query language's syntax and string escaping.

use super::mapping::mapping;
use crate::ioc::IocType;
use serde::Serialize;

/// Queries for one value; a language with no field for the type is `None`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HuntingQueries {
    pub splunk: Option<String>,
    pub sentinel_kql: Option<String>,
    pub elastic_kql: Option<String>,
}

/// A double-quoted string literal for SPL and KQL: `\` and `"` escaped.
fn quoted(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '\\' || c == '"' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Builds the three queries for a normalized value of type `t`.
pub fn hunting_queries(t: IocType, value: &str) -> HuntingQueries {
    let h = mapping(t).hunt;
    let q = quoted(value);
    let splunk = (!h.splunk.is_empty()).then(|| {
        let terms: Vec<String> = h.splunk.iter().map(|f| format!("{f}={q}")).collect();
        format!(
            "index=* ({}) | table _time, index, sourcetype, {}",
            terms.join(" OR "),
            h.splunk.join(", ")
        )
    });
    let sentinel_kql = (!h.sentinel.is_empty()).then(|| {
        let parts: Vec<String> = h
            .sentinel
            .iter()
            .map(|(table, col)| {
                let op = if t == IocType::MitreAttack {
                    "has"
                } else {
                    "=~"
                };
                format!("({table} | where {col} {op} {q})")
            })
            .collect();
        format!(
            "union isfuzzy=true {}\n| where TimeGenerated > ago(30d)",
            parts.join(", ")
        )
    });
    let elastic_kql = (!h.ecs.is_empty()).then(|| {
        h.ecs
            .iter()
            .map(|f| format!("{f} : {q}"))
            .collect::<Vec<_>>()
            .join(" or ")
    });
    HuntingQueries {
        splunk,
        sentinel_kql,
        elastic_kql,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_queries_and_escaping() {
        let h = hunting_queries(IocType::Ipv4, "1.2.3.4");
        assert_eq!(
            h.splunk.as_deref(),
            Some("index=* (src_ip=\"1.2.3.4\" OR dest_ip=\"1.2.3.4\" OR src=\"1.2.3.4\" OR dest=\"1.2.3.4\") | table _time, index, sourcetype, src_ip, dest_ip, src, dest")
        );
        assert_eq!(
            h.elastic_kql.as_deref(),
            Some("source.ip : \"1.2.3.4\" or destination.ip : \"1.2.3.4\"")
        );
        assert!(h.sentinel_kql.unwrap().starts_with(
            "union isfuzzy=true (CommonSecurityLog | where DestinationIP =~ \"1.2.3.4\")"
        ));
        let u = hunting_queries(IocType::Url, "http://x.com/a\"b\\c");
        assert_eq!(u.elastic_kql.as_deref(), Some("url.full : \"http://x.com/a\\\"b\\\\c\" or url.original : \"http://x.com/a\\\"b\\\\c\""));
        assert!(hunting_queries(IocType::Sha512, &"a".repeat(128))
            .sentinel_kql
            .is_none());
        assert!(hunting_queries(IocType::MitreAttack, "T1071")
            .sentinel_kql
            .unwrap()
            .contains("Techniques has \"T1071\""));
    }
}

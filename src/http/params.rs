//! Query-string parsing with errors that name the parameter (400
//! `invalid_parameter`).

use super::error::ApiError;
use crate::ioc::{IocType, Tlp};
use chrono::{DateTime, NaiveDate, Utc};

/// Decoded query parameters in order (first occurrence wins on lookup).
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` query text.
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The raw value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every (name, value) pair.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// A non-empty string parameter, trimmed.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// `type`: one of the IOC types, restricted to `allowed` when given.
    pub fn ioc_type(
        &self,
        name: &str,
        allowed: Option<&[IocType]>,
    ) -> Result<Option<IocType>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        let t = IocType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == v.to_ascii_lowercase());
        match t {
            Some(t) if allowed.is_none_or(|a| a.contains(&t)) => Ok(Some(t)),
            _ => {
                let names: Vec<&str> = allowed
                    .unwrap_or(&IocType::ALL)
                    .iter()
                    .map(|t| t.as_str())
                    .collect();
                Err(ApiError::invalid_parameter(
                    name,
                    format!("'{v}' is not one of {}", names.join(", ")),
                ))
            }
        }
    }

    /// An ISO 8601 / RFC 3339 time, or a bare date (midnight UTC).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        let Some(v) = self.text(name) else {
            return Ok(None);
        };
        parse_time(&v).map(Some).ok_or_else(|| {
            ApiError::invalid_parameter(
                name,
                format!("'{v}' is not an ISO 8601 date-time such as 2026-05-15T00:00:00Z"),
            )
        })
    }

    /// A limit: default when absent, capped at `max`, error when not a
    /// positive integer.
    pub fn limit(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(0) | Err(_) => Err(ApiError::invalid_parameter(
                    name,
                    format!("'{v}' is not a positive integer"),
                )),
                Ok(n) => Ok((n.min(max as u64)) as usize),
            },
        }
    }

    /// `true`/`false`/`1`/`0`/`yes`/`no`.
    pub fn boolean(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.text(name).map(|s| s.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ApiError::invalid_parameter(
                    name,
                    format!("'{v}' is not true or false"),
                )),
            },
        }
    }

    /// An integer in `lo..=hi`.
    pub fn int_in(&self, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
                _ => Err(ApiError::invalid_parameter(
                    name,
                    format!("'{v}' is not an integer from {lo} to {hi}"),
                )),
            },
        }
    }

    /// A TLP level (`clear`, `green`, `amber`, `amber+strict`, `red`).
    pub fn tlp(&self, name: &str) -> Result<Option<Tlp>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) => v.parse::<Tlp>().map(Some).map_err(|_| {
                ApiError::invalid_parameter(
                    name,
                    format!("'{v}' is not one of clear, green, amber, amber+strict, red"),
                )
            }),
        }
    }

    /// One of `choices`, or `default`.
    pub fn choice<'a>(
        &self,
        name: &str,
        choices: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(&v))
                .copied()
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        name,
                        format!("'{v}' is not one of {}", choices.join(", ")),
                    )
                }),
        }
    }
}

/// RFC 3339 (`Z` or offset, any fraction), `YYYY-MM-DDTHH:MM:SS` (UTC), or
/// `YYYY-MM-DD`.
pub fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_parameters() {
        let p = Params::parse(Some(
            "type=IPv4&limit=5000&since=2026-05-15&tlp=amber%2Bstrict&x=1&x=2",
        ));
        assert_eq!(p.ioc_type("type", None).unwrap(), Some(IocType::Ipv4));
        assert_eq!(p.limit("limit", 100, 1000).unwrap(), 1000);
        assert_eq!(
            p.time("since").unwrap().unwrap().to_rfc3339(),
            "2026-05-15T00:00:00+00:00"
        );
        assert_eq!(p.tlp("tlp").unwrap(), Some(Tlp::AmberStrict));
        assert_eq!(p.get("x"), Some("1"));
        let bad = Params::parse(Some("limit=-1&type=cidr&since=yesterday"));
        assert_eq!(
            bad.limit("limit", 1, 2).unwrap_err().details["parameter"],
            "limit"
        );
        assert_eq!(
            bad.ioc_type("type", None).unwrap_err().code,
            "invalid_parameter"
        );
        assert!(bad.time("since").is_err());
        assert!(Params::parse(Some("type=mitre_attack"))
            .ioc_type("type", Some(&[IocType::Ipv4]))
            .is_err());
    }
}

//! Demo data: a few hundred harmless, realistic-looking IOCs of every type,
//! generated at first start so every endpoint answers before any real feed
//! is imported. Tagged `demo`, source `iocd-demo`; IPs are from the
//! documentation ranges and domains under `.example`, so nothing here can
//! block real traffic if it leaks into a SIEM.

use crate::ioc::{normalize, IocType, Observation, Source, Tlp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TECHNIQUES: &[&str] = &[
    "T1071.001",
    "T1566.001",
    "T1059.001",
    "T1105",
    "T1486",
    "T1190",
    "T1547.001",
    "T1027",
];
const CVES: &[&str] = &[
    "CVE-2021-44228",
    "CVE-2023-23397",
    "CVE-2024-3400",
    "CVE-2023-4966",
    "CVE-2017-11882",
];
const WORDS: &[&str] = &[
    "update", "cdn", "login", "secure", "mail", "sync", "api", "static", "portal", "files",
];

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.gen_range(0..16)]))
        .collect()
}

/// `n_per_type` observations of each network/hash/email type plus the CVE
/// and ATT&CK lists. Deterministic for a given count.
pub fn observations(n_per_type: usize) -> Vec<Observation> {
    let mut rng = StdRng::seed_from_u64(0x10cd);
    let mut raw: Vec<(IocType, String)> = Vec::new();
    for i in 0..n_per_type {
        let w = WORDS[i % WORDS.len()];
        raw.push((IocType::Ipv4, format!("203.0.113.{}", i % 254 + 1)));
        raw.push((IocType::Ipv4, format!("198.51.100.{}", i % 254 + 1)));
        raw.push((
            IocType::Ipv6,
            format!("2001:db8:{:x}::{:x}", i / 200, i % 200 + 1),
        ));
        raw.push((IocType::Domain, format!("{w}-{i}.malicious.example")));
        raw.push((
            IocType::Url,
            format!(
                "https://{w}-{i}.malicious.example/gate.php?id={}",
                hex(&mut rng, 8)
            ),
        ));
        raw.push((IocType::Md5, hex(&mut rng, 32)));
        raw.push((IocType::Sha1, hex(&mut rng, 40)));
        raw.push((IocType::Sha256, hex(&mut rng, 64)));
        raw.push((IocType::Sha512, hex(&mut rng, 128)));
        raw.push((IocType::Email, format!("{w}{i}@phish.example")));
    }
    raw.extend(CVES.iter().map(|c| (IocType::Cve, c.to_string())));
    raw.extend(
        TECHNIQUES
            .iter()
            .map(|t| (IocType::MitreAttack, t.to_string())),
    );
    let now = chrono::Utc::now();
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, (t, v))| {
            let n = normalize(&v, Some(t)).ok()?;
            let mut o = Observation::new(n);
            o.confidence = Some([95u8, 75, 55, 30][i % 4]);
            o.tags = vec![
                "demo".into(),
                ["botnet", "phishing", "ransomware", "apt"][i % 4].into(),
            ];
            o.source = Some(Source {
                name: "iocd-demo".into(),
                reference: Some("Generated demo data: safe to delete".into()),
                direction: None,
            });
            o.techniques = vec![TECHNIQUES[i % TECHNIQUES.len()].to_string()];
            o.seen = Some(now - chrono::Duration::hours((i % 20) as i64));
            if i % 11 == 0 {
                o.tlp = Some(Tlp::Red);
            }
            o.description = Some(format!("Demo {} indicator", t.as_str()));
            Some(o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_type_is_present() {
        let o = super::observations(20);
        for t in crate::ioc::IocType::ALL {
            assert!(o.iter().any(|x| x.ioc_type == t), "{t}");
        }
        assert_eq!(o.len(), 20 * 10 + 5 + 8);
    }
}

//! TLS material: a generated local CA plus a server certificate signed by it
//! (rcgen), and loading PEM files into a rustls server config.
//!
//! A CA-signed leaf (rather than one self-signed leaf) lets clients trust
//! `ca.crt` once while the server certificate is re-issued with new names.

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// This host's name from the kernel (no NSS lookups).
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Writes `ca`, `cert` (server certificate followed by the CA) and `key`
/// (PKCS#8, mode 0600) unless `cert` and `key` both exist. SANs: localhost,
/// 127.0.0.1, ::1, the host name and `extra_names`. Valid ten years.
/// Returns true when files were generated.
pub fn ensure_certificates(
    ca: &Path,
    cert: &Path,
    key: &Path,
    extra_names: &[String],
) -> Result<bool> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    if cert.exists() != key.exists() {
        bail!(
            "only one of {} and {} exists: supply both, or remove it to have iocd generate a new pair",
            cert.display(),
            key.display()
        );
    }
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    names.extend(host_name());
    names.extend(extra_names.iter().cloned());
    names.dedup();

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "iocd local CA");
    dn.push(DnType::OrganizationName, "iocd");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;

    let leaf_key = KeyPair::generate().context("generating the server key")?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.get(3).cloned().unwrap_or_else(|| "localhost".into()),
    );
    p.distinguished_name = dn;
    for n in &names {
        let san =
            match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.clone().try_into().with_context(|| {
                    format!("'{n}' is not a valid DNS name for the certificate")
                })?),
            };
        p.subject_alt_names.push(san);
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let leaf = p
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .context("signing the server certificate")?;

    for f in [ca, cert, key] {
        if let Some(dir) = f.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    std::fs::write(ca, ca_cert.pem()).with_context(|| format!("writing {}", ca.display()))?;
    std::fs::write(cert, format!("{}{}", leaf.pem(), ca_cert.pem()))
        .with_context(|| format!("writing {}", cert.display()))?;
    write_private(key, leaf_key.serialize_pem().as_bytes())?;
    Ok(true)
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data)?;
    Ok(())
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    use crate::ops::files::{open_regular, read_capped, world_readable_warning, MAX_PEM_BYTES};
    // Regular files of at most 1 MiB each (a FIFO or device is refused).
    let cert_pem = read_capped(cert, MAX_PEM_BYTES, "the TLS certificate")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let (_, meta) = open_regular(key, "the TLS private key")?;
    if let Some(w) = world_readable_warning(key, &meta, "the TLS private key") {
        crate::cli::notice(&format!("warning: {w}"));
    }
    let key_pem = read_capped(key, MAX_PEM_BYTES, "the TLS private key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    Ok((certs, key))
}

fn builder() -> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol setup")
}

/// Certificate and key files are read as regular files of at most 1 MiB
/// ([`crate::ops::files::read_capped`]); a private key every local user
/// may read gets a warning (log and stderr).
///
/// Builds the rustls server config: TLS 1.2 and 1.3 only (ring provider),
/// ALPN `h2` and `http/1.1`.
///
/// Errors name the file and what is wrong with it.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let (certs, key) = read_pem(cert, key)?;
    let mut cfg = builder()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match or are unsupported")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Loads a certificate chain and its private key, checking that they match.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let (certs, key) = read_pem(cert, key)?;
    let ck = CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .context("the TLS certificate and key do not match or are unsupported")?;
    Ok(Arc::new(ck))
}

/// The server's certificate, replaceable while serving (SIGHUP).
///
/// rustls asks the resolver for a certificate on every handshake, so a
/// swap takes effect for the next connection while open connections keep
/// the session they negotiated: nothing is dropped. The lock is held only
/// to clone an `Arc`.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertResolver {
    /// A resolver serving `ck`.
    pub fn new(ck: Arc<CertifiedKey>) -> Arc<CertResolver> {
        Arc::new(CertResolver {
            current: RwLock::new(ck),
        })
    }

    /// Serves `ck` from the next handshake on.
    pub fn replace(&self, ck: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = ck;
    }

    /// Re-reads `cert` and `key`; on success serves them from the next
    /// handshake on. On error the current certificate stays in use.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<()> {
        self.replace(load_certified_key(cert, key)?);
        Ok(())
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// [`server_config`] whose certificate can be replaced while serving:
/// returns the config and its [`CertResolver`].
pub fn reloadable_server_config(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<rustls::ServerConfig>, Arc<CertResolver>)> {
    let resolver = CertResolver::new(load_certified_key(cert, key)?);
    let mut cfg = builder()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(cfg), resolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_loadable_pair_once() {
        let d = tempfile::tempdir().unwrap();
        let (ca, c, k) = (
            d.path().join("t/ca.crt"),
            d.path().join("t/s.crt"),
            d.path().join("t/s.key"),
        );
        assert!(ensure_certificates(&ca, &c, &k, &["iocd.example".into()]).unwrap());
        assert!(!ensure_certificates(&ca, &c, &k, &[]).unwrap());
        server_config(&c, &k).unwrap();
        let (_, resolver) = reloadable_server_config(&c, &k).unwrap();
        // A second pair: its key does not match the first certificate.
        let (ca2, c2, k2) = (
            d.path().join("u/ca.crt"),
            d.path().join("u/s.crt"),
            d.path().join("u/s.key"),
        );
        ensure_certificates(&ca2, &c2, &k2, &[]).unwrap();
        assert!(load_certified_key(&c, &k2).is_err());
        resolver.reload(&c2, &k2).unwrap();
        std::fs::write(&k, "garbage").unwrap();
        assert!(server_config(&c, &k).is_err());
        assert!(resolver.reload(&c, &k).is_err());
    }
}

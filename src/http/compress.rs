//! gzip response bodies for clients that ask for it (`Accept-Encoding:
//! gzip`, RFC 9110 §12.5.3). Listings and exports of up to 1,000 IOCs are
//! tens to hundreds of KiB of repetitive JSON/XML that compress 5–10×: on a
//! 1 Gbit/s LAN link that is the difference between the link and the
//! server being the bottleneck. Used on the cacheable read routes, where a
//! cached response is compressed once and served many times.

use super::Body;
use bytes::Bytes;
use hyper::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use hyper::{HeaderMap, Response};
use std::io::Write;

/// Bodies smaller than this are sent as they are (bytes saved would not
/// pay for the work).
pub const MIN_BYTES: usize = 1024;

/// Whether the request's `Accept-Encoding` admits gzip (RFC 9110
/// §12.5.3): the quality of a `gzip` (or `x-gzip`) entry if one is listed,
/// else that of `*`; no entry, or `q=0`, means no. A malformed quality
/// counts as a refusal (identity is always safe).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named: Option<bool> = None;
    let mut star: Option<bool> = None;
    for item in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut named
        } else if coding == "*" {
            &mut star
        } else {
            continue;
        };
        let ok = parts.all(|p| {
            let p = p.trim();
            match p.get(..2) {
                Some(q) if q.eq_ignore_ascii_case("q=") => quality(&p[2..]).is_some_and(|q| q > 0),
                // Other parameters are not defined for codings: ignore them.
                _ => true,
            }
        });
        // A refusal anywhere wins over an acceptance of the same coding.
        *slot = Some(slot.unwrap_or(true) && ok);
    }
    named.or(star).unwrap_or(false)
}

/// An RFC 9110 §12.4.2 qvalue (`0`, `0.5`, `1.000`) in thousandths, or
/// `None` if malformed.
fn quality(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_val = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_val),
        "1" if frac_val == 0 => Some(1000),
        _ => None,
    }
}

/// The gzip stream of `body` (fast level), or `None` when the body is too
/// small to be worth it or would not shrink.
pub fn gzip(body: &[u8]) -> Option<Bytes> {
    if body.len() < MIN_BYTES {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body).ok()?;
    let out = enc.finish().ok()?;
    (out.len() < body.len()).then(|| Bytes::from(out))
}

/// Marks a response whose representation depends on `Accept-Encoding`.
pub fn set_vary(r: &mut Response<Body>) {
    r.headers_mut()
        .insert(VARY, HeaderValue::from_static("accept-encoding"));
}

/// Replaces the body of `r` with its gzip stream `gz` and says so.
pub fn with_gzip(mut r: Response<Body>, gz: Bytes) -> Response<Body> {
    *r.body_mut() = Body::new(gz);
    r.headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    r
}

/// Compresses `r` if the client accepts gzip and it pays off; always sets
/// `Vary: Accept-Encoding`.
pub fn respond(r: Response<Body>, accepts: bool) -> Response<Body> {
    let mut r = r;
    set_vary(&mut r);
    if !accepts {
        return r;
    }
    let (parts, body) = r.into_parts();
    let bytes = body.into_inner().unwrap_or_default();
    match gzip(&bytes) {
        Some(gz) => with_gzip(Response::from_parts(parts, Body::new(bytes)), gz),
        None => Response::from_parts(parts, Body::new(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn accept_encoding_parsing() {
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("gzip, deflate, br")));
        assert!(accepts_gzip(&h("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("gzip; q=0.000")));
        assert!(!accepts_gzip(&h("deflate, br")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&h("x-gzip-not")));
        assert!(!accepts_gzip(&HeaderMap::new()));
        // A coding named explicitly is decided by its own entry, not `*`.
        assert!(!accepts_gzip(&h("gzip;q=0, *")));
        assert!(!accepts_gzip(&h("*, gzip;q=0")));
        assert!(accepts_gzip(&h("*;q=0, gzip")));
        assert!(accepts_gzip(&h("x-gzip")));
        // Malformed qualities refuse.
        for bad in [
            "gzip;q=abc",
            "gzip;q=NaN",
            "gzip;q=1.5",
            "gzip;q= 0",
            "gzip;q=0.0001",
            "gzip;q=",
        ] {
            assert!(!accepts_gzip(&h(bad)), "{bad}");
        }
        assert!(accepts_gzip(&h("gzip;q=0.001")));
        assert!(accepts_gzip(&h("gzip;q=1.000")));
    }

    #[test]
    fn gzip_round_trips_and_skips_small_bodies() {
        let body =
            "{\"type\":\"indicator\",\"pattern\":\"[ipv4-addr:value = '1.2.3.4']\"},".repeat(200);
        let gz = gzip(body.as_bytes()).unwrap();
        assert!(gz.len() * 5 < body.len(), "{} vs {}", gz.len(), body.len());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(gzip(b"{\"data\":[]}").is_none());
    }
}

//! The harness's HTTP client: reqwest's blocking client with every answer
//! read whole and checked against iocd's OpenAPI document
//! ([`super::conformance::check`]) before the test sees it. The methods
//! keep reqwest's names so tests read as plain reqwest.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;

/// Counts of exchanges checked in this test binary (printed by tests that
/// want to show coverage).
pub static CHECKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Clone, Debug)]
pub struct Client {
    inner: reqwest::blocking::Client,
}

impl Default for Client {
    fn default() -> Self {
        Client::from(reqwest::blocking::Client::new())
    }
}

impl From<reqwest::blocking::Client> for Client {
    fn from(inner: reqwest::blocking::Client) -> Self {
        Client { inner }
    }
}

impl Client {
    pub fn request<U: reqwest::IntoUrl>(&self, m: reqwest::Method, url: U) -> RequestBuilder {
        RequestBuilder {
            inner: self.inner.request(m, url),
            client: self.inner.clone(),
        }
    }
    pub fn get<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::GET, url)
    }
    pub fn post<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::POST, url)
    }
    pub fn put<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::PUT, url)
    }
    pub fn delete<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::DELETE, url)
    }
    pub fn head<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::HEAD, url)
    }
    pub fn patch<U: reqwest::IntoUrl>(&self, url: U) -> RequestBuilder {
        self.request(reqwest::Method::PATCH, url)
    }
}

pub struct RequestBuilder {
    inner: reqwest::blocking::RequestBuilder,
    client: reqwest::blocking::Client,
}

impl RequestBuilder {
    fn map(
        self,
        f: impl FnOnce(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder,
    ) -> Self {
        RequestBuilder {
            inner: f(self.inner),
            client: self.client,
        }
    }
    pub fn header<K, V>(self, k: K, v: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|b| b.header(k, v))
    }
    pub fn headers(self, h: HeaderMap) -> Self {
        self.map(|b| b.headers(h))
    }
    pub fn bearer_auth<T: std::fmt::Display>(self, t: T) -> Self {
        self.map(|b| b.bearer_auth(t))
    }
    pub fn basic_auth<U: std::fmt::Display, P: std::fmt::Display>(
        self,
        u: U,
        p: Option<P>,
    ) -> Self {
        self.map(|b| b.basic_auth(u, p))
    }
    pub fn json<T: serde::Serialize + ?Sized>(self, v: &T) -> Self {
        self.map(|b| b.json(v))
    }
    pub fn body<T: Into<reqwest::blocking::Body>>(self, v: T) -> Self {
        self.map(|b| b.body(v))
    }
    pub fn query<T: serde::Serialize + ?Sized>(self, v: &T) -> Self {
        self.map(|b| b.query(v))
    }
    pub fn timeout(self, d: Duration) -> Self {
        self.map(|b| b.timeout(d))
    }

    /// Sends, reads the whole body, and panics (failing the test) when the
    /// exchange does not conform to the OpenAPI document.
    pub fn send(self) -> reqwest::Result<Response> {
        let req = self.inner.build()?;
        let method = req.method().as_str().to_string();
        let path = req.url().path().to_string();
        let r = self.client.execute(req)?;
        let status = r.status();
        let headers = r.headers().clone();
        let version = r.version();
        let url = r.url().clone();
        let body = r.bytes()?;
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        if let Err(e) = super::conformance::check(
            &method,
            &path,
            status.as_u16(),
            h("content-type"),
            h("content-encoding"),
            &body,
        ) {
            let msg = format!(
                "OpenAPI conformance: {e}\nbody: {}",
                String::from_utf8_lossy(&body[..body.len().min(600)])
            );
            super::conformance::mismatch(&msg);
        }
        CHECKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Response {
            status,
            headers,
            version,
            url,
            body,
        })
    }
}

/// A whole answer (status, headers, body), read and checked.
#[derive(Debug)]
pub struct Response {
    status: reqwest::StatusCode,
    headers: HeaderMap,
    version: reqwest::Version,
    url: reqwest::Url,
    body: bytes::Bytes,
}

impl Response {
    pub fn status(&self) -> reqwest::StatusCode {
        self.status
    }
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    pub fn version(&self) -> reqwest::Version {
        self.version
    }
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }
    pub fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body.to_vec())
    }
    pub fn bytes(self) -> Result<bytes::Bytes, std::convert::Infallible> {
        Ok(self.body)
    }
    pub fn json<T: serde::de::DeserializeOwned>(self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.body)
    }
}

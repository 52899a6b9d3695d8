//! Exporters: one file per output format, each a streaming function from an
//! iterator of [`Indicator`]s plus options to bytes (docs/design.md, "Modules").
//!
//! Every writer has the shape
//!
//! ```text
//! fn write_X<W: Write, I: IntoIterator<Item: Borrow<Indicator>>>(w, items, &XOptions) -> io::Result<u64>
//! ```
//!
//! and returns how many IOCs it wrote. They hold one item at a time (plus,
//! for MISP, the set of distinct ATT&CK technique ids exported), so the HTTP
//! layer can render a page of ≤1000 items into a `Vec<u8>` and the CLI can
//! stream a million into a `BufWriter<File>` in constant memory.
//!
//! What an IOC type is called in each format (STIX pattern, MISP type and
//! category, CEF key, OpenIOC term) lives in one table, [`mapping`]; the
//! writers never match on the IOC type themselves.
//!
//! | format | file | spec followed |
//! |---|---|---|
//! | STIX 2.1 bundle | [`stix`] | STIX 2.1 OS, TLP 2.0 extension, `docs/spec/stix-export.md` |
//! | MISP event | [`misp`] | MISP core format, `docs/spec/misp-export.md` |
//! | CEF | [`cef`] | ArcSight CEF rev 25 |
//! | OpenIOC | [`openioc`] | OpenIOC 1.1 schema and `current.iocterms` |
//! | JSON listing | [`json`] | the API's IOC record |
//! | CSV listing | [`csv`] | RFC 4180 + formula-injection guard |
//! | Sigma rules | [`sigma`] | Sigma rules specification 2.x |
//! | Suricata rules | [`suricata`] (shared: [`ids_rules`]) | Suricata 5+ rule syntax |
//! | Snort rules | [`snort`] (shared: [`ids_rules`]) | Snort 2.9 rule syntax |

pub mod cef;
pub mod csv;
pub mod hunting;
pub mod ids_rules;
pub mod json;
pub mod mapping;
pub mod misp;
pub mod openioc;
pub mod sigma;
pub mod snort;
pub mod stix;
pub mod suricata;

pub use cef::{write_cef, CefOptions};
pub use csv::{write_csv, CsvOptions};
pub use json::{write_json, IocRecord, JsonOptions};
pub use misp::{write_misp, MispOptions};
pub use openioc::{write_openioc, OpenIocOptions};
pub use stix::{write_stix, StixFormat, StixOptions};

use crate::ioc::Indicator;
use serde::Serialize;
use std::borrow::Borrow;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

/// An export format, as named by the CLI `--format` and the API paths
/// (serialized lowercase, `openioc`, for the control socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
    Stix,
    Misp,
    Cef,
    OpenIoc,
    /// Sigma rules (CLI only; the API serves them at `/api/v1/rules/sigma`).
    Sigma,
    /// Suricata 5+ rules (`/api/v1/rules/suricata`).
    Suricata,
    /// Snort 2.9 rules (`/api/v1/rules/snort`).
    Snort,
}

impl Format {
    /// Every IOC-listing format (the detection-rule formats, [`Format::RULES`],
    /// are not in it).
    pub const ALL: [Format; 6] = [
        Format::Json,
        Format::Csv,
        Format::Stix,
        Format::Misp,
        Format::Cef,
        Format::OpenIoc,
    ];

    /// The detection-rule formats: Sigma, Suricata, Snort.
    pub const RULES: [Format; 3] = [Format::Sigma, Format::Suricata, Format::Snort];

    /// `json`, `csv`, `stix`, `misp`, `cef`, `openioc`, `sigma`, `suricata`,
    /// `snort`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Stix => "stix",
            Format::Misp => "misp",
            Format::Cef => "cef",
            Format::OpenIoc => "openioc",
            Format::Sigma => "sigma",
            Format::Suricata => "suricata",
            Format::Snort => "snort",
        }
    }

    /// The HTTP `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json | Format::Misp => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Stix => stix::CONTENT_TYPE,
            Format::Cef => "text/plain; charset=utf-8",
            Format::OpenIoc => "application/xml",
            Format::Sigma => sigma::CONTENT_TYPE,
            Format::Suricata | Format::Snort => ids_rules::CONTENT_TYPE,
        }
    }

    /// A file-name extension for downloads (`iocd-export.stix.json`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Stix => "stix.json",
            Format::Misp => "misp.json",
            Format::Cef => "cef",
            Format::OpenIoc => "ioc",
            Format::Sigma => "sigma.yml",
            Format::Suricata => "suricata.rules",
            Format::Snort => "snort.rules",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "stix" | "stix2" | "stix2.1" => Ok(Format::Stix),
            "misp" => Ok(Format::Misp),
            "cef" => Ok(Format::Cef),
            "openioc" | "ioc" => Ok(Format::OpenIoc),
            "sigma" => Ok(Format::Sigma),
            "suricata" => Ok(Format::Suricata),
            "snort" => Ok(Format::Snort),
            other => Err(format!(
                "unknown export format '{other}' (expected json, csv, stix, misp, cef, openioc, sigma, suricata or snort)"
            )),
        }
    }
}

/// Options of every format, for callers that pick the format at run time
/// (the CLI). Each writer reads only its own part.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub json: JsonOptions,
    pub csv: CsvOptions,
    pub stix: StixOptions,
    pub misp: MispOptions,
    pub cef: CefOptions,
    pub openioc: OpenIocOptions,
    pub sigma: sigma::SigmaOptions,
    /// Suricata and Snort.
    pub ids: ids_rules::IdsOptions,
}

impl ExportOptions {
    /// Sets the TLP override of every format that carries TLP.
    pub fn with_tlp(mut self, tlp: Option<crate::ioc::Tlp>) -> Self {
        self.stix.tlp = tlp;
        self.misp.tlp = tlp;
        self.cef.tlp = tlp;
        self.json.tlp = tlp;
        self.csv.tlp = tlp;
        self
    }
}

/// Writes `items` in `format`; returns the number of IOCs written.
pub fn write<W, I>(format: Format, w: &mut W, items: I, opts: &ExportOptions) -> io::Result<u64>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Indicator>,
{
    match format {
        Format::Json => write_json(w, items, &opts.json),
        Format::Csv => write_csv(w, items, &opts.csv),
        Format::Stix => write_stix(w, items, &opts.stix),
        Format::Misp => write_misp(w, items, &opts.misp),
        Format::Cef => write_cef(w, items, &opts.cef),
        Format::OpenIoc => write_openioc(w, items, &opts.openioc),
        Format::Sigma => sigma::write_sigma(w, items, &opts.sigma),
        Format::Suricata => suricata::write_suricata(w, items, &opts.ids),
        Format::Snort => snort::write_snort(w, items, &opts.ids),
    }
}

/// A JSON array written one element at a time: `[\n<a>,\n<b>\n]`. The
/// writers serialize each object with serde_json and let this put the
/// separators, so an array of a million objects is never held in memory.
pub(crate) struct JsonSeq<'w, W: Write> {
    w: &'w mut W,
    first: bool,
}

impl<'w, W: Write> JsonSeq<'w, W> {
    /// Writes `[`.
    pub(crate) fn begin(w: &'w mut W) -> io::Result<Self> {
        w.write_all(b"[")?;
        Ok(JsonSeq { w, first: true })
    }

    /// Writes one element (and the separator before it).
    pub(crate) fn item<T: Serialize + ?Sized>(&mut self, v: &T) -> io::Result<()> {
        self.w.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut *self.w, v).map_err(io::Error::from)
    }

    /// Writes `]` and hands the writer back.
    pub(crate) fn end(self) -> io::Result<&'w mut W> {
        self.w.write_all(if self.first { b"]" } else { b"\n]" })?;
        Ok(self.w)
    }
}

//! Exporters: one file per output format (owned by the exporter work).

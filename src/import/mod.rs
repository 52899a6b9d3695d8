//! Importers: one file per input format (owned by the importer work).

//! `results.json` (everything, with `schema_version`) and its JSON Schema beside it.

use super::{Exporter, Report};

/// The JSON Schema of `results.json`, checked by the tests.
pub const RESULTS_SCHEMA: &str = include_str!("../../results.schema.json");

/// `results.json` and `results.schema.json`.
pub struct ResultsJson;

impl Exporter for ResultsJson {
    fn files(&self, report: &Report) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![
            (
                "results.json".into(),
                serde_json::to_vec_pretty(report.results)?,
            ),
            (
                "results.schema.json".into(),
                RESULTS_SCHEMA.as_bytes().to_vec(),
            ),
        ])
    }
}

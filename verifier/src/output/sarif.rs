//! SARIF 2.1.0, the format GitHub code scanning reads: one rule per check,
//! one result per finding, located on the manifest line.

use serde_json::{Value, json};

use super::Report;
use crate::finding::{CHECKS, RESULTS, Severity};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

pub fn render(report: &Report) -> String {
    let all = CHECKS.iter().chain(RESULTS);
    let rules: Vec<Value> = all
        .clone()
        .map(|check| {
            json!({
                "id": check.name,
                "name": check.name,
                "shortDescription": { "text": check.summary },
                "fullDescription": { "text": check.summary },
                "help": { "text": check.fix },
                "helpUri": format!("docs/checks.md#{}", check.name),
                "defaultConfiguration": { "level": level(check.severity) },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.check,
                "ruleIndex": all.clone().position(|c| c.name == f.check),
                "level": level(f.severity),
                "message": { "text": f.message },
            });
            if let (Some(origin), Some(map)) = (&f.origin, result.as_object_mut()) {
                map.insert(
                    "locations".into(),
                    json!([{
                        "physicalLocation": {
                            "artifactLocation": { "uri": origin.file_name() },
                            "region": { "startLine": origin.line, "startColumn": origin.column },
                        }
                    }]),
                );
            }
            result
        })
        .collect();
    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "moat",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "automationDetails": { "id": format!("moat/{}/", report.command) },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}

//! The model as JSON: the one machine format every other view can be rebuilt from.
//!
//! Field order is the order of the model's structs and maps are sorted, so writing, reading and
//! writing again gives the same bytes. A reader refuses a report newer than it understands
//! rather than misreading it.

use serde::Deserialize;

use crate::error::ReportError;
use crate::merge::Merged;
use crate::model::{RunReport, FORMAT_VERSION};

/// The report as pretty JSON, ending with a newline.
pub fn to_json(report: &RunReport) -> String {
    pretty(report)
}

/// Reads a report, refusing one whose `format_version` is newer than [`FORMAT_VERSION`].
pub fn from_json(text: &str) -> Result<RunReport, ReportError> {
    check_version(text)?;
    serde_json::from_str(text).map_err(ReportError::Json)
}

/// A merged matrix as pretty JSON, ending with a newline.
pub fn merged_to_json(merged: &Merged) -> String {
    pretty(merged)
}

/// Reads a merged matrix, with the same version check as [`from_json`].
pub fn merged_from_json(text: &str) -> Result<Merged, ReportError> {
    check_version(text)?;
    serde_json::from_str(text).map_err(ReportError::Json)
}

fn pretty<T: serde::Serialize>(value: &T) -> String {
    // The model has string map keys and derived serialisers only, so serialising cannot fail;
    // non-finite floats are written as `null` by serde_json (and then refused on reading).
    let mut text = serde_json::to_string_pretty(value).expect("the result model always serialises");
    text.push('\n');
    text
}

/// Reads only `format_version` first, so a newer report gets a version error rather than a
/// confusing complaint about some field that changed meaning.
fn check_version(text: &str) -> Result<(), ReportError> {
    #[derive(Deserialize)]
    struct Probe {
        format_version: Option<u64>,
    }
    let probe: Probe = serde_json::from_str(text).map_err(ReportError::Json)?;
    match probe.format_version {
        None => Err(ReportError::MissingFormatVersion),
        Some(found) if found > u64::from(FORMAT_VERSION) => Err(ReportError::NewerFormat {
            found,
            supported: FORMAT_VERSION,
        }),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    #[test]
    fn write_read_write_gives_the_same_bytes() {
        let report = sample_report();
        let first = to_json(&report);
        let read = from_json(&first).unwrap();
        assert_eq!(read, report);
        assert_eq!(to_json(&read), first);
    }

    #[test]
    fn a_newer_format_is_refused_with_both_versions_named() {
        let text = to_json(&sample_report()).replacen(
            "\"format_version\": 1",
            "\"format_version\": 99",
            1,
        );
        let err = from_json(&text).unwrap_err();
        assert!(matches!(
            err,
            ReportError::NewerFormat {
                found: 99,
                supported: 1
            }
        ));
        let message = err.to_string();
        assert!(
            message.contains("99") && message.contains("newer"),
            "{message}"
        );
    }

    #[test]
    fn a_report_without_version_is_refused() {
        let err = from_json(r#"{"environment": {}}"#).unwrap_err();
        assert!(matches!(err, ReportError::MissingFormatVersion));
    }

    #[test]
    fn broken_json_is_an_error_not_a_panic() {
        assert!(matches!(
            from_json("{\"format_version\": 1,"),
            Err(ReportError::Json(_))
        ));
        assert!(matches!(
            from_json("{\"format_version\": 1}"),
            Err(ReportError::Json(_))
        ));
    }

    /// Loads the schema and resolves `$ref`s within `$defs`.
    fn schema() -> serde_json::Value {
        let text = include_str!("../schema/run-report.schema.json");
        serde_json::from_str(text).expect("the schema is JSON")
    }

    fn resolve<'a>(
        root: &'a serde_json::Value,
        node: &'a serde_json::Value,
    ) -> &'a serde_json::Value {
        match node.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => {
                let name = r.strip_prefix("#/$defs/").expect("refs point into $defs");
                &root["$defs"][name]
            }
            None => node,
        }
    }

    /// Walks schema and value together: every required property exists in the value, and every
    /// key in the value is documented in the schema.
    fn check(
        root: &serde_json::Value,
        node: &serde_json::Value,
        value: &serde_json::Value,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        let node = resolve(root, node);
        match value {
            serde_json::Value::Object(map) => {
                if let Some(required) = node.get("required").and_then(|r| r.as_array()) {
                    for key in required {
                        let key = key.as_str().unwrap();
                        if !map.contains_key(key) {
                            errors
                                .push(format!("{path}: required `{key}` missing from the sample"));
                        }
                    }
                }
                let props = node.get("properties").and_then(|p| p.as_object());
                let additional = node.get("additionalProperties");
                for (key, child) in map {
                    let child_path = format!("{path}.{key}");
                    match props.and_then(|p| p.get(key)) {
                        Some(sub) => check(root, sub, child, &child_path, errors),
                        None => match additional {
                            Some(sub) if sub.is_object() => {
                                check(root, sub, child, &child_path, errors)
                            }
                            _ => errors.push(format!("{child_path}: not documented in the schema")),
                        },
                    }
                }
            }
            serde_json::Value::Array(items) => {
                if let Some(sub) = node.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        check(root, sub, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_schema_documents_every_field_of_a_full_sample() {
        let root = schema();
        assert_eq!(
            root["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let value: serde_json::Value = serde_json::from_str(&to_json(&sample_report())).unwrap();
        let mut errors = Vec::new();
        check(&root, &root, &value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "schema and model disagree:\n{}",
            errors.join("\n")
        );
    }

    #[test]
    fn the_schema_check_catches_an_undocumented_field() {
        let root = schema();
        let mut value: serde_json::Value =
            serde_json::from_str(&to_json(&sample_report())).unwrap();
        value["environment"]["surprise"] = serde_json::json!(1);
        value.as_object_mut().unwrap().remove("cases");
        let mut errors = Vec::new();
        check(&root, &root, &value, "$", &mut errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn every_schema_definition_has_a_description() {
        let root = schema();
        for (name, def) in root["$defs"].as_object().unwrap() {
            assert!(
                def.get("description").is_some(),
                "$defs.{name} has no description"
            );
            if let Some(props) = def.get("properties").and_then(|p| p.as_object()) {
                for (key, prop) in props {
                    assert!(
                        prop.get("description").is_some(),
                        "$defs.{name}.{key} has no description"
                    );
                }
            }
        }
    }
}

//! The model as JSON: the one machine format every other view can be rebuilt from.
//!
//! Field order is the order of the model's structs and maps are sorted, so writing, reading and
//! writing again gives the same bytes. A reader refuses a report newer than it understands
//! rather than misreading it.

use serde::Deserialize;

use crate::error::ReportError;
use crate::grade::{ClassReport, SubmissionResult};
use crate::merge::Merged;
use crate::model::{RunReport, FORMAT_VERSION};

/// Which JSON document a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// `sockspec run --json`: a [`RunReport`].
    Run,
    /// `sockspec grade --json` and `class.json`: a [`ClassReport`].
    GradeClass,
    /// `sockspec grade --out DIR`'s per-submission JSON: a [`SubmissionResult`].
    GradeSubmission,
}

impl Document {
    pub const ALL: [Document; 3] = [
        Document::Run,
        Document::GradeClass,
        Document::GradeSubmission,
    ];

    /// The checked-in file under `reports/schema/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Document::Run => "run-report.schema.json",
            Document::GradeClass => "grade-class.schema.json",
            Document::GradeSubmission => "grade-submission.schema.json",
        }
    }
}

/// The JSON schema (draft 2020-12) of a document, derived from the model types, so the
/// schema and the model cannot drift apart. Objects are closed (`additionalProperties:
/// false`): a field the model does not know is an error, not silently accepted.
pub fn schema(document: Document) -> String {
    let schema = match document {
        Document::Run => schemars::schema_for!(RunReport),
        Document::GradeClass => schemars::schema_for!(ClassReport),
        Document::GradeSubmission => schemars::schema_for!(SubmissionResult),
    };
    let mut value = schema.to_value();
    close_objects(&mut value);
    pretty(&value)
}

/// Adds `additionalProperties: false` to every object schema that lists its properties and
/// says nothing of others (maps keep their `additionalProperties` schema).
fn close_objects(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), false.into());
            }
            for (key, child) in map.iter_mut() {
                // Property names are data, not schemas: only their values are walked.
                if key == "properties" {
                    if let serde_json::Value::Object(props) = child {
                        props.values_mut().for_each(close_objects);
                    }
                } else {
                    close_objects(child);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

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

    fn validator(document: Document) -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(&schema(document)).unwrap();
        jsonschema::validator_for(&schema).expect("the derived schema is a valid schema")
    }

    /// The JSON Schema errors of `value`, one line each.
    pub(crate) fn violations(document: Document, value: &serde_json::Value) -> Vec<String> {
        validator(document)
            .iter_errors(value)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect()
    }

    #[test]
    fn the_checked_in_schemas_are_the_derived_ones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for document in Document::ALL {
            let path = dir.join(document.file_name());
            let derived = schema(document);
            if std::env::var_os("SOCKSPEC_BLESS").is_some() {
                std::fs::write(&path, &derived).unwrap();
                continue;
            }
            let stored = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                stored == derived,
                "{} is not the schema derived from the model; regenerate it with\n  SOCKSPEC_BLESS=1 cargo test -p sockspec-reports the_checked_in_schemas",
                path.display()
            );
        }
    }

    #[test]
    fn a_full_sample_run_validates_against_the_run_schema() {
        let value: serde_json::Value = serde_json::from_str(&to_json(&sample_report())).unwrap();
        let errors = violations(Document::Run, &value);
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }

    #[test]
    fn the_schema_rejects_an_unknown_field_a_missing_one_and_a_wrong_type() {
        let mut value: serde_json::Value =
            serde_json::from_str(&to_json(&sample_report())).unwrap();
        value["environment"]["surprise"] = serde_json::json!(1);
        value.as_object_mut().unwrap().remove("cases");
        value["format_version"] = serde_json::json!("one");
        let errors = violations(Document::Run, &value);
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}

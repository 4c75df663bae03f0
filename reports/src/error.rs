//! Errors of the report operations that read or combine reports (JSON, JUnit, merge, shards).

use thiserror::Error;

/// What can go wrong reading, writing or combining reports.
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot read the report as JSON")]
    Json(#[source] serde_json::Error),
    #[error("the report has no `format_version`; it was not written by sockspec")]
    MissingFormatVersion,
    #[error(
        "the report has format_version {found}, newer than the {supported} this sockspec reads; \
         use a newer sockspec to read it"
    )]
    NewerFormat { found: u64, supported: u32 },
    #[error("cannot write the JUnit report")]
    Junit(#[source] quick_junit::SerializeError),
    #[error("no report to join; give at least one shard")]
    NoShards,
    #[error(
        "shard {index} ran on a different {field} (`{other}`) than shard 1 (`{first}`); \
         shards of one run share an environment, use `merge` to compare runs"
    )]
    ShardMismatch {
        index: usize,
        field: &'static str,
        first: String,
        other: String,
    },
    #[error("case `{name}` appears in more than one shard; were the shards cut with the same --partition N?")]
    DuplicateCase { name: String },
}

//! The course's property table (domain × type: supported, connection needed, boundaries kept,
//! ordered, reliable), derived from the results of the cases that measure it.
//!
//! A measuring case carries the tags `property`, `domain-<unix|inet|inet6>`,
//! `type-<stream|dgram|seqpacket|raw|rdm>` and `prop-<property>-<value>`: the value its pass
//! establishes (`yes`, `no`, or a qualified word such as `cap-net-raw`). A cell shows the
//! values of its passing cases; a case that failed or errored makes the cell `?`, since the
//! kernel then differs from what the case expected and the value is not established.

use std::collections::BTreeMap;

use crate::model::{CaseResult, Outcome, PropertyRow};

const DOMAINS: [(&str, &str); 3] = [
    ("unix", "AF_UNIX"),
    ("inet", "AF_INET"),
    ("inet6", "AF_INET6"),
];
const TYPES: [(&str, &str); 5] = [
    ("stream", "SOCK_STREAM"),
    ("dgram", "SOCK_DGRAM"),
    ("seqpacket", "SOCK_SEQPACKET"),
    ("raw", "SOCK_RAW"),
    ("rdm", "SOCK_RDM"),
];
const PROPERTIES: [&str; 5] = [
    "supported",
    "connection",
    "boundaries",
    "ordered",
    "reliable",
];

fn value_text(value: &str) -> String {
    match value {
        "cap-net-raw" => "needs CAP_NET_RAW".to_string(),
        "as-dgram" => "yes (as SOCK_DGRAM)".to_string(),
        other => other.to_string(),
    }
}

/// One row per (domain, type) pair that any measuring case covers, in the course's order.
pub fn property_table(cases: &[CaseResult]) -> Vec<PropertyRow> {
    // (domain index, type index) -> property -> values seen.
    let mut cells: BTreeMap<(usize, usize), BTreeMap<&str, Vec<String>>> = BTreeMap::new();
    for case in cases
        .iter()
        .filter(|c| c.tags.iter().any(|t| t == "property"))
    {
        let find = |prefix: &str| case.tags.iter().find_map(|t| t.strip_prefix(prefix));
        let (Some(domain), Some(ty)) = (find("domain-"), find("type-")) else {
            continue;
        };
        let (Some(d), Some(t)) = (
            DOMAINS.iter().position(|(k, _)| *k == domain),
            TYPES.iter().position(|(k, _)| *k == ty),
        ) else {
            continue;
        };
        for tag in case.tags.iter().filter_map(|t| t.strip_prefix("prop-")) {
            let Some(property) = PROPERTIES
                .iter()
                .find(|p| tag.starts_with(&format!("{p}-")))
            else {
                continue;
            };
            let value = &tag[property.len() + 1..];
            let shown = match case.outcome {
                Outcome::Pass => value_text(value),
                Outcome::Skip => "skipped".to_string(),
                Outcome::Fail | Outcome::Error => "?".to_string(),
            };
            let seen = cells
                .entry((d, t))
                .or_default()
                .entry(property)
                .or_default();
            if !seen.contains(&shown) {
                seen.push(shown);
            }
        }
    }
    cells
        .into_iter()
        .map(|((d, t), props)| {
            let unsupported = props
                .get("supported")
                .is_some_and(|v| v == &["no".to_string()]);
            let cell = |p: &str| match props.get(p) {
                Some(values) => values.join(", "),
                None if unsupported => "n/a".to_string(),
                None => "not measured".to_string(),
            };
            PropertyRow {
                domain: DOMAINS[d].1.to_string(),
                socket_type: TYPES[t].1.to_string(),
                supported: cell("supported"),
                connection_needed: cell("connection"),
                boundaries_kept: cell("boundaries"),
                ordered: cell("ordered"),
                reliable: cell("reliable"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_report;

    fn tagged(name: &str, outcome: Outcome, tags: &[&str]) -> CaseResult {
        let mut case = sample_report().cases[0].clone();
        case.name = name.to_string();
        case.outcome = outcome;
        case.tags = tags.iter().map(|t| t.to_string()).collect();
        case
    }

    #[test]
    fn cells_show_what_passing_cases_establish() {
        let cases = vec![
            tagged(
                "a",
                Outcome::Pass,
                &[
                    "property",
                    "domain-inet",
                    "type-stream",
                    "prop-boundaries-no",
                ],
            ),
            tagged(
                "b",
                Outcome::Pass,
                &[
                    "property",
                    "domain-inet",
                    "type-stream",
                    "prop-supported-yes",
                ],
            ),
            tagged(
                "c",
                Outcome::Fail,
                &["property", "domain-inet", "type-dgram", "prop-ordered-yes"],
            ),
            tagged(
                "d",
                Outcome::Pass,
                &[
                    "property",
                    "domain-inet",
                    "type-seqpacket",
                    "prop-supported-no",
                ],
            ),
            tagged(
                "e",
                Outcome::Pass,
                &["domain-inet", "type-raw", "prop-supported-yes"],
            ),
        ];
        let table = property_table(&cases);
        assert_eq!(
            table.len(),
            3,
            "the case without the `property` tag is not counted"
        );
        assert_eq!(
            (
                table[0].socket_type.as_str(),
                table[0].boundaries_kept.as_str()
            ),
            ("SOCK_STREAM", "no")
        );
        assert_eq!(table[0].ordered, "not measured");
        assert_eq!(table[1].ordered, "?", "a failing case establishes nothing");
        assert_eq!(
            table[2].boundaries_kept, "n/a",
            "unsupported pairs have no other properties"
        );
    }
}

//! Grades in the formats learning platforms read: Gradescope's and PrairieLearn's
//! `results.json`, and Autolab's last output line (`{"scores": {...}}`). Each is a thin view
//! over one [`SubmissionResult`]; hidden cases stay hidden where the platform can say so.

use serde_json::{json, Value};

use crate::grade::{GradeOutcome, GradedCase, SubmissionResult};

/// The text a student sees for a case: the verdict's reason, the hint, and for a failure
/// the expected and actual values.
fn case_output(c: &GradedCase) -> String {
    let mut out = String::new();
    match c.outcome {
        GradeOutcome::Pass => out.push_str("passed"),
        GradeOutcome::Fail => out.push_str("failed"),
        GradeOutcome::Error => out.push_str("could not be judged (grader problem, not yours)"),
        GradeOutcome::Gated => out.push_str("not run"),
    }
    if let Some(m) = &c.message {
        out.push_str(": ");
        out.push_str(m);
    }
    if let Some(f) = &c.failure {
        out.push_str(&format!(
            "\n\nat line {}: {}\n  expected: {}\n  actual:   {}",
            f.line, f.statement, f.expected, f.actual
        ));
    }
    if c.outcome != GradeOutcome::Pass {
        if let Some(h) = &c.hint {
            out.push_str("\n\nhint: ");
            out.push_str(h);
        }
    }
    out
}

/// Gradescope `results.json`: one test per case with `score`, `max_score`, `status`,
/// `output` and `visibility` (`after_published` for hidden cases).
pub fn gradescope(r: &SubmissionResult) -> Value {
    let tests: Vec<Value> = r
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "number": format!("{}", i + 1),
                "score": c.points,
                "max_score": c.max_points,
                "status": if c.outcome == GradeOutcome::Pass { "passed" } else { "failed" },
                "output": case_output(c),
                "visibility": if c.hidden { "after_published" } else { "visible" },
                "tags": [c.outcome.as_str()],
            })
        })
        .collect();
    let mut top = json!({
        "score": r.score,
        "execution_time": (r.duration_ms as f64 / 1000.0).ceil() as u64,
        "output": summary(r),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    });
    if let Some(b) = &r.build {
        top["extra_data"] = json!({ "build": b.exit });
    }
    top
}

/// PrairieLearn `results.json`: `score` in 0..1, `gradable`, one test per case with
/// `points`/`max_points`. A submission the grader could not judge at all is not gradable.
pub fn prairielearn(r: &SubmissionResult) -> Value {
    let tests: Vec<Value> = r
        .cases
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "description": c.title,
                "points": c.points,
                "max_points": c.max_points,
                "message": case_output(c),
            })
        })
        .collect();
    let gradable = !r.cases.iter().all(|c| c.outcome == GradeOutcome::Error);
    json!({
        "gradable": gradable,
        "score": if r.max_score > 0.0 { r.score / r.max_score } else { 0.0 },
        "message": summary(r),
        "tests": tests,
    })
}

/// Autolab's last line: `{"scores": {case: points, …}, "scoreboard": [total]}`.
pub fn autolab_line(r: &SubmissionResult) -> String {
    let scores: serde_json::Map<String, Value> = r
        .cases
        .iter()
        .map(|c| (c.name.clone(), json!(c.points)))
        .collect();
    json!({ "scores": scores, "scoreboard": [r.score] }).to_string()
}

fn summary(r: &SubmissionResult) -> String {
    let mut s = format!(
        "{}: {} / {} points",
        r.suite,
        trim(r.score),
        trim(r.max_score)
    );
    if let Some(root) = &r.root_cause {
        s.push_str(&format!("\n{root}"));
    }
    s
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grade::points_for;

    fn result() -> SubmissionResult {
        let case = |name: &str, outcome, hidden| GradedCase {
            name: name.into(),
            title: "t".into(),
            requirement: "basic".into(),
            advisory: false,
            points: points_for(outcome, 2.0),
            max_points: 2.0,
            outcome,
            hidden,
            message: Some("why".into()),
            hint: Some("look here".into()),
            failure: None,
            transcript: Vec::new(),
            source: None,
            server: None,
            duration_ms: 1500,
        };
        let mut r = SubmissionResult {
            format_version: 1,
            submission: "alice".into(),
            path: "alice".into(),
            suite: "echo-tcp".into(),
            reference: false,
            score: 0.0,
            max_score: 0.0,
            root_cause: None,
            build: None,
            cases: vec![
                case("lifecycle/listens", GradeOutcome::Pass, false),
                case("echo-tcp/half-close", GradeOutcome::Fail, true),
            ],
            duration_ms: 3000,
        };
        r.total();
        r
    }

    #[test]
    fn gradescope_shape() {
        let v = gradescope(&result());
        assert_eq!(v["score"], 2.0);
        assert_eq!(v["tests"][0]["status"], "passed");
        assert_eq!(v["tests"][1]["status"], "failed");
        assert_eq!(v["tests"][1]["visibility"], "after_published");
        assert_eq!(v["tests"][1]["max_score"], 2.0);
        assert!(v["tests"][1]["output"]
            .as_str()
            .unwrap()
            .contains("hint: look here"));
        assert!(!v["tests"][0]["output"].as_str().unwrap().contains("hint"));
    }

    #[test]
    fn prairielearn_shape() {
        let v = prairielearn(&result());
        assert_eq!(v["score"], 0.5);
        assert_eq!(v["gradable"], true);
        assert_eq!(v["tests"][1]["points"], 0.0);
        assert_eq!(v["tests"][1]["max_points"], 2.0);
    }

    #[test]
    fn autolab_last_line() {
        let line = autolab_line(&result());
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["scores"]["lifecycle/listens"], 2.0);
        assert_eq!(v["scoreboard"][0], 2.0);
    }
}

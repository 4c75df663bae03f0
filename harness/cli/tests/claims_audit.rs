//! The claims audit: the register (`cases/claims.toml`) and the catalogue agree. Every case
//! that cites a claim decides a named point of it and asserts something observable; every
//! point's cases cite the claim; and each claim's registered `verdict` is what its points
//! establish from the stances of their cases (see `sockspec::claims::audit`).

use sockspec::catalogue;
use sockspec::claims::{self, AuditedCase, Register};

#[test]
fn the_register_agrees_with_the_cases() {
    let root = catalogue::builtin_root();
    let register = Register::load(&root).expect("the register loads");
    let files = catalogue::discover(&root).expect("the catalogue is found");
    let cases = catalogue::load(&root, &files, &register).expect("the catalogue parses");
    let audited: Vec<AuditedCase> = cases
        .iter()
        .map(|c| AuditedCase {
            rel: &c.rel,
            scenario: &c.scenario,
        })
        .collect();
    let problems = claims::audit(&register, &audited);
    assert!(
        problems.is_empty(),
        "the claims register and the catalogue disagree ({} problems):\n  {}\n\
         fix the case or the register's [[claim.point]] / verdict, then regenerate cases/CLAIMS.md",
        problems.len(),
        problems.join("\n  ")
    );
    assert_eq!(register.claims.len(), 167);
}

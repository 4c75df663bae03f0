//! Every scenario of the catalogue and of the docs must parse without a diagnostic.

use std::path::{Path, PathBuf};

fn sock_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sock_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "sock") {
            out.push(path);
        }
    }
}

fn assert_parses(name: &str, source: &str) -> Result<(), String> {
    match sockspec_lang::parse(name, source) {
        Ok(_) => Ok(()),
        Err(diags) => Err(diags.render(false)),
    }
}

#[test]
fn catalogue_and_examples_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    // The folders may not exist yet; each file found must parse.
    for dir in ["cases", "docs/examples"] {
        sock_files(&root.join(dir), &mut files);
    }
    files.sort();
    let errors: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .display()
                .to_string();
            let source = std::fs::read_to_string(path).unwrap();
            assert_parses(&shown, &source).err()
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{} of {} files do not parse:\n\n{}",
        errors.len(),
        files.len(),
        errors.join("\n")
    );
}

/// The fenced examples of the language reference that are whole cases (they start with
/// `case`) must parse too, so the page cannot drift from the parser.
#[test]
fn reference_examples_parse() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenario-language.md");
    let Ok(doc) = std::fs::read_to_string(&path) else {
        return;
    };
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_start().starts_with("```")) {
            (None, true) => current = Some(String::new()),
            (Some(block), true) => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), false) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, false) => {}
        }
    }
    let cases: Vec<&String> = blocks
        .iter()
        .filter(|b| b.trim_start().starts_with("case "))
        .collect();
    assert!(!cases.is_empty(), "the reference has no whole-case example");
    for (i, block) in cases.iter().enumerate() {
        if let Err(rendered) =
            assert_parses(&format!("scenario-language.md example {}", i + 1), block)
        {
            panic!("{rendered}");
        }
    }
}

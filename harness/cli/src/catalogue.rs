//! Finding case files, parsing them, and expanding flavoured cases into trials.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sockspec_lang::{Flavour, Scenario};

use crate::claims::Register;

/// One parsed case file.
#[derive(Debug)]
pub struct CaseFile {
    pub path: PathBuf,
    /// The path relative to its catalogue root, without `.sock`: `stream-message/coalesce`.
    pub rel: String,
    /// The first folder of `rel` (or `misc` for a file at the root).
    pub theme: String,
    pub source: String,
    pub scenario: Scenario,
}

/// One trial: a case, or one flavour of a flavoured case.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    pub name: String,
    pub case: Arc<CaseFile>,
    pub flavour: Option<Flavour>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read `{path}`")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` does not exist")]
    Missing(String),
    #[error("no case files (*.sock) under `{0}`")]
    Empty(String),
    /// Rendered diagnostics of every malformed file, in one block.
    #[error("{count} malformed case file(s)\n\n{rendered}")]
    Malformed { count: usize, rendered: String },
}

/// The built-in catalogue, as built into this binary: every file under the repository's
/// `cases/` at build time. `FILES` is (path relative to `cases/`, contents), sorted; `HASH`
/// a fingerprint of them all.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

/// The built-in catalogue's folder: `$SOCKSPEC_CASES` when set; the checkout's `cases/` for a
/// binary built and run inside the checkout (so edits show without a rebuild); otherwise the
/// copy built into the binary, unpacked once into the user's cache
/// (`$XDG_CACHE_HOME/sockspec/catalogue-<hash>`, else `~/.cache/…`), so an installed binary
/// works after the checkout is gone.
pub fn builtin_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOCKSPEC_CASES") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = workspace.join("cases");
    let exe = std::env::current_exe().and_then(|e| e.canonicalize()).ok();
    let inside = match (exe, workspace.canonicalize()) {
        (Some(exe), Ok(ws)) => exe.starts_with(ws),
        _ => false,
    };
    if inside && repo.is_dir() {
        return repo.canonicalize().unwrap_or(repo);
    }
    match unpack_embedded() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}; set SOCKSPEC_CASES to a catalogue folder (or use --cases)");
            PathBuf::from("cases")
        }
    }
}

/// Where the built-in catalogue is unpacked: a cache, not a temp dir, kept between runs
/// (each process of `cargo nextest run` would otherwise unpack it again).
fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sockspec"))
}

/// Unpacks the embedded catalogue unless this exact one is already unpacked. The files are
/// written into a fresh sibling folder that is then renamed into place, so a reader never
/// sees half a catalogue and two runs starting at once cannot mix theirs.
fn unpack_embedded() -> Result<PathBuf, String> {
    let cache = cache_dir().ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    let target = cache.join(format!("catalogue-{}", embedded::HASH));
    if target.is_dir() {
        return Ok(target);
    }
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        format!(
            "cannot unpack the built-in catalogue: {what} `{}`: {e}",
            path.display()
        )
    };
    std::fs::create_dir_all(&cache).map_err(|e| failed("cannot create", &cache, e))?;
    let fresh = tempfile::Builder::new()
        .prefix(".catalogue-")
        .tempdir_in(&cache)
        .map_err(|e| failed("cannot create a folder in", &cache, e))?;
    for (rel, bytes) in embedded::FILES {
        let path = fresh.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed("cannot create", parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| failed("cannot write", &path, e))?;
    }
    match std::fs::rename(fresh.path(), &target) {
        Ok(()) => {
            // Renamed into place: nothing is left for the guard to remove.
            let _ = fresh.keep();
            Ok(target)
        }
        // Another run unpacked the same catalogue first; the fresh copy goes with its guard.
        Err(_) if target.is_dir() => Ok(target),
        Err(e) => Err(failed("cannot move into place", &target, e)),
    }
}

/// Every `.sock` file below `root` (or `root` itself when it is a file), sorted by path.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, CatalogueError> {
    let shown = root.display().to_string();
    if !root.exists() {
        return Err(CatalogueError::Missing(shown));
    }
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| CatalogueError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| CatalogueError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let path = entry.path();
            if path.is_dir() {
                // A folder with a manifest is a grading suite (client scenarios for
                // `sockspec grade`), not part of the kernel catalogue.
                if !path.join("manifest.toml").exists() {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "sock") {
                found.push(path);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(CatalogueError::Empty(shown));
    }
    Ok(found)
}

/// Parses every file; all diagnostics of all files are collected before giving up. Claim IDs
/// must exist in the register when it is not empty.
pub fn load(
    root: &Path,
    files: &[PathBuf],
    register: &Register,
) -> Result<Vec<Arc<CaseFile>>, CatalogueError> {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new("."))
    } else {
        root
    };
    let mut cases = Vec::new();
    let mut rendered = String::new();
    let mut bad = 0;
    for path in files {
        let source = std::fs::read_to_string(path).map_err(|source| CatalogueError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let shown = display_path(path);
        let scenario = match sockspec_lang::parse(&shown, &source) {
            Ok(s) => s,
            Err(diags) => {
                bad += 1;
                rendered.push_str(&diags.render(false));
                rendered.push('\n');
                continue;
            }
        };
        if !register.claims.is_empty() {
            let unknown: Vec<_> = scenario
                .meta
                .claims
                .iter()
                .filter(|c| register.get(&c.id).is_none())
                .collect();
            if !unknown.is_empty() {
                bad += 1;
                for c in unknown {
                    let (line, col) = sockspec_lang::line_col(&source, c.span.start);
                    rendered.push_str(&format!(
                        "error: unknown claim `{}`\n  --> {shown}:{line}:{col}\n  = help: claims are listed in cases/claims.toml; add it there or fix the id\n\n",
                        c.id
                    ));
                }
                continue;
            }
        }
        let rel = path
            .strip_prefix(base)
            .unwrap_or(path)
            .with_extension("")
            .display()
            .to_string();
        let theme = match rel.split_once('/') {
            Some((first, _)) => first.to_string(),
            None => "misc".to_string(),
        };
        cases.push(Arc::new(CaseFile {
            path: path.clone(),
            rel,
            theme,
            source,
            scenario,
        }));
    }
    if bad > 0 {
        return Err(CatalogueError::Malformed {
            count: bad,
            rendered,
        });
    }
    Ok(cases)
}

/// A path as the user would type it: relative to the current directory when below it.
pub fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match cwd.as_deref().and_then(|c| abs.strip_prefix(c).ok()) {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}

/// One trial per case, or per flavour of a flavoured case (`rel[flavour]`).
pub fn expand(cases: &[Arc<CaseFile>]) -> Vec<TrialSpec> {
    let mut trials = Vec::new();
    for case in cases {
        if case.scenario.meta.flavours.is_empty() {
            trials.push(TrialSpec {
                name: case.rel.clone(),
                case: case.clone(),
                flavour: None,
            });
        } else {
            for f in &case.scenario.meta.flavours {
                trials.push(TrialSpec {
                    name: format!("{}[{}]", case.rel, f.name()),
                    case: case.clone(),
                    flavour: Some(*f),
                });
            }
        }
    }
    trials.sort_by(|a, b| a.name.cmp(&b.name));
    trials
}

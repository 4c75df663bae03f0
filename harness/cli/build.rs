//! Embeds the built-in catalogue: generates the table of every file under the repository's
//! `cases/` (a path relative to `cases/` and an `include_bytes!` of the file), so an installed
//! `sockspec` works after the checkout is gone.
//!
//! A release build (`cargo install`, `cargo build --release`) is rebuilt whenever anything
//! under `cases/` changes, so its copy is always current. A debug build embeds the catalogue
//! once and is not rebuilt for case edits: debug binaries run from the checkout and read
//! the live `cases/` (see `catalogue::builtin_root`), and case authors should not wait for
//! the CLI to recompile after every edit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../../cases");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rerun-if-changed={}", root.display());
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    // FNV-1a over names and contents: a name for this exact catalogue, so an unpacked copy
    // is never confused with another build's.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut table = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .expect("collected below the root")
            .to_str()
            .expect("case paths are UTF-8");
        let bytes = std::fs::read(path).expect("a catalogue file is readable");
        for b in rel.bytes().chain([0]).chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let abs = path.canonicalize().expect("a catalogue file has a path");
        let _ = writeln!(table, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    table.push_str("];\n");
    let _ = writeln!(table, "pub const HASH: &str = \"{hash:016x}\";");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("catalogue.rs"), table).expect("OUT_DIR is writable");
}

/// Every file below `dir`, skipping hidden ones (editor and VCS files).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("the catalogue folder is readable");
    for entry in entries {
        let path = entry.expect("a catalogue entry is readable").path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

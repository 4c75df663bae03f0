//! The parser is total: no input, however broken, makes it (or the renderer) panic.

use proptest::prelude::*;

/// A file using most of the language, as a seed for mutations.
const VALID: &str = r#"case "a valid file to mutate"
claims STREAM-03 holds, UDP-01 partly
tags stream coalescing
flavours @stream tcp4
deadline 5s
needs isolation cap(NET_RAW)
refs "man 7 unix"

c, s = pair()
send(c, "0123\n\x41") = 6 | -1 EAGAIN
recv(s, 64) = "0123" took 150ms..+40ms
l = socket(AF_INET, SOCK_STREAM|SOCK_NONBLOCK)
bind(l, 127.0.0.1:0)
listen(l, 5)
getsockname(l) = 127.0.0.1:ephemeral
u = socket(INET6, DGRAM)
connect(u, [::1]:port(l)) = -1 ECONNREFUSED
  when freebsd = -1 EINVAL because "BSD"
  when not kernel >= 5.14 = ok because "old"
a = accept(l) blocks
await a = ok from *
poll([s: POLLIN|POLLOUT], 0) = [s: POLLIN|...]
select([s], [], [], inf) = ([s], [], [])
fcntl(s, F_GETFL) = O_NONBLOCK|...
setsockopt(s, SOL_SOCKET, SO_LINGER, linger(1, 0))
sendmsg(c, ["ab", hex"00 ff"], MSG_EOR, rights=[s], creds)
recvmsg(s, 10) = 2 data "ab" flags MSG_TRUNC rights [x] creds(pid=self, uid=0, gid=*)
send(c, pattern(1MiB)) = -1 EPIPE signal SIGPIPE
stat(path("x")) = sock(S_IFSOCK, 0o755)
"#;

fn check(source: &str) {
    if let Err(diags) = sockspec_lang::parse("fuzz.sock", source) {
        let plain = diags.render(false);
        assert!(!plain.is_empty());
        let _ = diags.render(true);
        for d in diags.iter() {
            let _ = diags.location(d);
        }
    }
}

#[test]
fn the_seed_is_valid() {
    if let Err(d) = sockspec_lang::parse("seed.sock", VALID) {
        panic!("{}", d.render(false));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    check(&format!("case \"x\"\nsend(c, {})\n", "[".repeat(100_000)));
    check(&format!(
        "case \"x\"\nclose(c)\n  when {}linux = ok because \"x\"\n",
        "not ".repeat(100_000)
    ));
}

/// Characters the language gives meaning to, so random text hits the interesting paths.
const ALPHABET: &[char] = &[
    'a', 'E', 'x', '0', '1', '9', '.', ':', ',', '=', '|', '(', ')', '[', ']', '"', '\\', '#', '@',
    '-', '+', '<', '>', '*', ' ', '\n', '\t', 'é', '\r', '!',
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = proptest::collection::vec(proptest::sample::select(ALPHABET), 1..6)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    prop_oneof![
        (any::<usize>(), 1usize..8).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), text).prop_map(|(at, t)| Edit::Insert(at, t)),
        (any::<usize>(), proptest::sample::select(ALPHABET))
            .prop_map(|(at, c)| Edit::Replace(at, c)),
    ]
}

/// Applies an edit at a character position, so the result stays valid UTF-8.
fn apply(source: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    let len = chars.len().max(1);
    match edit {
        Edit::Delete(at, n) => {
            let at = at % len;
            let end = (at + n).min(chars.len());
            chars.drain(at.min(chars.len())..end);
        }
        Edit::Insert(at, text) => {
            let at = at % (chars.len() + 1);
            chars.splice(at..at, text.chars());
        }
        Edit::Replace(at, c) => {
            if !chars.is_empty() {
                let at = at % chars.len();
                chars[at] = *c;
            }
        }
    }
    chars.into_iter().collect()
}

/// Every scenario of the built-in catalogue, as seeds: mutations of real files reach the
/// corners a hand-written seed does not.
fn catalogue() -> Vec<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "sock") {
                out.extend(std::fs::read_to_string(&path).ok());
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cases"),
        &mut out,
    );
    out.sort();
    assert!(!out.is_empty(), "no catalogue files found to mutate");
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES raises it for a longer fuzzing session (see CONTRIBUTING.md).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_catalogue_files_never_panic(pick in any::<usize>(), edits in proptest::collection::vec(edit(), 1..16)) {
        thread_local!(static FILES: Vec<String> = catalogue());
        let mut source = FILES.with(|f| f[pick % f.len()].clone());
        for e in &edits {
            source = apply(&source, e);
        }
        check(&source);
    }

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,400}") {
        check(&source);
    }

    #[test]
    fn arbitrary_language_soup_never_panics(chars in proptest::collection::vec(proptest::sample::select(ALPHABET), 0..300)) {
        check(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn mutated_valid_files_never_panic(edits in proptest::collection::vec(edit(), 1..12)) {
        let mut source = VALID.to_string();
        for e in &edits {
            source = apply(&source, e);
        }
        check(&source);
    }

    #[test]
    fn mutated_lines_recombined_never_panic(lines in proptest::collection::vec(proptest::sample::select(VALID.lines().collect::<Vec<_>>()), 0..40)) {
        check(&lines.join("\n"));
    }
}

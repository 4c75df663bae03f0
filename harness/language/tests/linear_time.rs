//! The parser's time grows linearly with its input, whatever the input: a stranger's
//! scenario file cannot stall `sockspec check` or the runner. Each adversarial shape is
//! parsed (and its diagnostics rendered) at one size and at eight times that size; the ratio
//! of the times must stay far from the 64× a quadratic path would give. Times are the
//! thread's own CPU time (a loaded machine preempts a long measurement more often than a
//! short one, which would skew wall-clock ratios), the minimum of seven repetitions.

use std::time::{Duration, Instant};

use cpu_time::ThreadTime;

fn cost(source: &str) -> Duration {
    (0..7)
        .map(|_| {
            let start = ThreadTime::now();
            if let Err(d) = sockspec_lang::parse("big.sock", source) {
                std::hint::black_box(d.render(false));
            }
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// The large input is this many times the small one.
const FACTOR: usize = 8;

/// Linear is 8×, quadratic 64×; 24× leaves room for caches, allocation and a loaded machine.
const MOST_RATIO: f64 = 24.0;

fn assert_linear(what: &str, make: impl Fn(usize) -> String, n: usize) {
    let small = make(n);
    let large = make(FACTOR * n);
    // Warm up allocators and page tables on the small input first.
    cost(&small);
    let (a, b) = (cost(&small), cost(&large));
    let ratio = b.as_secs_f64() / a.as_secs_f64().max(1e-6);
    assert!(
        ratio < MOST_RATIO,
        "{what}: {} bytes took {a:?}, {} bytes took {b:?} ({ratio:.1}×, linear is {FACTOR}×)",
        small.len(),
        large.len()
    );
}

const HEAD: &str = "case \"adversarial\"\nflavours tcp4\nc, s = pair()\n";

fn opening_brackets() {
    assert_linear(
        "`[` repeated",
        |n| format!("{HEAD}send(c, {})\n", "[".repeat(n)),
        120_000,
    );
}

fn unknown_words_after_needs() {
    assert_linear(
        "unknown needs",
        |n| {
            let words: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            let lines: Vec<String> = words
                .chunks(1000)
                .map(|c| format!("needs {}", c.join(" ")))
                .collect();
            format!("{HEAD}{}\n", lines.join("\n"))
        },
        20_000,
    );
}

fn many_handles() {
    assert_linear(
        "handles",
        |n| {
            let mut s = HEAD.to_string();
            for i in 0..n {
                s.push_str(&format!("h{i} = socket(INET, STREAM)\n"));
            }
            s.push_str("close(h1)\nclose(nosuch)\n");
            s
        },
        5_000,
    );
}

fn many_mistakes_with_suggestions() {
    assert_linear(
        "mistakes among many handles",
        |n| {
            let mut s = HEAD.to_string();
            for i in 0..n {
                s.push_str(&format!("h{i} = socket(INET, STREAM)\nclose(g{i})\n"));
            }
            s
        },
        2_000,
    );
}

fn a_huge_word() {
    assert_linear(
        "a huge call name",
        |n| format!("{HEAD}{}(1)\n", "x".repeat(n)),
        120_000,
    );
    assert_linear(
        "a huge errno",
        |n| format!("{HEAD}close(c) = -1 E{}\n", "X".repeat(n)),
        120_000,
    );
}

fn a_huge_string_and_hex() {
    assert_linear(
        "a huge string",
        |n| format!("{HEAD}send(c, \"{}\")\n", "a".repeat(n)),
        120_000,
    );
    assert_linear(
        "a huge hex string",
        |n| format!("{HEAD}send(c, hex\"{}\")\n", "ab ".repeat(n)),
        40_000,
    );
}

/// One test, so that the shapes are timed one after another and never compete with each
/// other for the two cores.
#[test]
fn every_adversarial_shape_parses_in_linear_time() {
    opening_brackets();
    unknown_words_after_needs();
    many_handles();
    many_mistakes_with_suggestions();
    a_huge_word();
    a_huge_string_and_hex();
    ten_megabytes_are_answered();
}

/// Ten megabytes of each shape are answered, not choked on.
fn ten_megabytes_are_answered() {
    const TEN_MB: usize = 10 << 20;
    for shape in ["[", "(", "\"", "a ", "= ", "0x", "\n", "é", "#"] {
        // One ten-megabyte line, and ten megabytes in lines of 100 KB.
        let line = shape.repeat((100 << 10) / shape.len());
        let many = format!("{line}\n").repeat(TEN_MB / (line.len() + 1));
        for source in [
            format!("{HEAD}{}", shape.repeat(TEN_MB / shape.len())),
            format!("{HEAD}{many}"),
        ] {
            let start = Instant::now();
            if let Err(d) = sockspec_lang::parse("ten.sock", &source) {
                let rendered = d.render(false);
                assert!(
                    rendered.len() < 1 << 20,
                    "{shape:?}: {} bytes of diagnostics",
                    rendered.len()
                );
            }
            // Generous: a debug build on a loaded machine; a quadratic path would take hours.
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{shape:?} took {:?}",
                start.elapsed()
            );
        }
    }
}

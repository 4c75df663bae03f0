//! Payloads: the deterministic `pattern(N)` stream, `fill(N, B)`, and how received bytes are
//! printed in transcripts and failures.

use sockspec_lang::Payload;

/// Byte `i` of every `pattern(N)`.
///
/// The stream is cut in 8-byte blocks; block `k` is the little-endian encoding of
/// SplitMix64(`k`), i.e. `z = k·0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15`, then
/// `z = (z ^ z>>30)·0xBF58476D1CE4E5B9`, `z = (z ^ z>>27)·0x94D049BB133111EB`, `z ^= z>>31`.
/// Every byte depends on its absolute offset, so a receive that returns a chunk shifted,
/// duplicated, dropped or reordered differs from the expectation, and the stream has no
/// short period. `pattern(N)` is the first N bytes; a receiver can check any slice by offset.
pub fn pattern_byte(i: u64) -> u8 {
    let block = splitmix64(i / 8);
    block.to_le_bytes()[(i % 8) as usize]
}

fn splitmix64(k: u64) -> u64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The first `n` bytes of the pattern stream.
pub fn pattern(n: u64) -> Vec<u8> {
    (0..n).map(pattern_byte).collect()
}

/// The bytes a payload stands for.
pub(crate) fn materialize(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Bytes(b) => b.clone(),
        Payload::Pattern(n) => pattern(*n),
        Payload::Fill(n, b) => vec![*b; *n as usize],
    }
}

/// How many bytes a quoted rendering keeps before it summarises.
const SHOWN: usize = 32;

/// `"abc\x00"`: bytes printable-escaped in the scenario language's own string syntax.
pub(crate) fn quote(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() + 2);
    s.push('"');
    for &b in data {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0 => s.push_str("\\0"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// `"abc" (3 bytes)`; long data as `pattern(1048576) (1048576 bytes)` when it is the pattern
/// stream, `fill(100, 0x41) (100 bytes)` when it is one byte repeated, and otherwise the
/// first bytes followed by `…`.
pub(crate) fn describe(data: &[u8]) -> String {
    let n = data.len();
    let unit = if n == 1 { "byte" } else { "bytes" };
    if n <= SHOWN + 16 {
        return format!("{} ({n} {unit})", quote(data));
    }
    if data
        .iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(i as u64))
    {
        return format!("pattern({n}) ({n} {unit})");
    }
    if data.iter().all(|&b| b == data[0]) {
        return format!("fill({n}, {:#04x}) ({n} {unit})", data[0]);
    }
    format!("{}… ({n} {unit})", quote(&data[..SHOWN]))
}

/// Where two byte strings first differ, for failure hints.
pub(crate) fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let common = expected.len().min(actual.len());
    match (0..common).find(|&i| expected[i] != actual[i]) {
        Some(i) => format!(
            "first difference at byte {i}: expected {:#04x}, received {:#04x}",
            expected[i], actual[i]
        ),
        None if expected.len() != actual.len() => format!(
            "the first {common} bytes agree; expected {} bytes, received {}",
            expected.len(),
            actual.len()
        ),
        None => "the bytes are equal".to_string(),
    }
}

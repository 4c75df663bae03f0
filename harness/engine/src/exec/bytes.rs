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
    pattern_at(0, n as usize)
}

/// `n` bytes of the pattern stream from absolute offset `start`.
pub fn pattern_at(start: u64, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    pattern_into(start, &mut out);
    out
}

/// Fills `out` with the pattern stream from absolute offset `start`.
///
/// One SplitMix64 per 8-byte block instead of one per byte (what `pattern_byte` costs): a
/// 1 MiB payload is 131 072 hashes, not 1 048 576 hashes plus a byte extraction each.
pub fn pattern_into(start: u64, out: &mut [u8]) {
    let len = out.len();
    let head = head_len(start, out.len());
    let (head_bytes, rest) = out.split_at_mut(head);
    for (i, b) in head_bytes.iter_mut().enumerate() {
        *b = pattern_byte(start + i as u64);
    }
    // After the head, `start + head` is a multiple of 8: whole blocks follow.
    let first_block = (start + head as u64) / 8;
    let mut words = rest.chunks_exact_mut(8);
    for (k, word) in (first_block..).zip(&mut words) {
        word.copy_from_slice(&splitmix64(k).to_le_bytes());
    }
    let tail = words.into_remainder();
    let tail_start = start + (len - tail.len()) as u64;
    for (i, b) in tail.iter_mut().enumerate() {
        *b = pattern_byte(tail_start + i as u64);
    }
}

/// The index in `data` of the first byte that is not the pattern stream's byte at
/// `start + index`, or `None` when all of `data` is that slice of the stream.
///
/// Compares a block (8 bytes, one `u64`) at a time; within the first differing block the
/// lowest differing byte of the little-endian XOR is the first differing offset, so the
/// answer is the same as a byte-by-byte scan's.
pub fn pattern_mismatch(start: u64, data: &[u8]) -> Option<usize> {
    let head = head_len(start, data.len());
    if let Some(i) = (0..head).find(|&i| data[i] != pattern_byte(start + i as u64)) {
        return Some(i);
    }
    let first_block = (start + head as u64) / 8;
    let words = data[head..].chunks_exact(8);
    let tail_at = data.len() - words.remainder().len();
    for (j, (k, word)) in (first_block..).zip(words).enumerate() {
        let got = u64::from_le_bytes(word.try_into().expect("chunks_exact gives 8 bytes"));
        let diff = got ^ splitmix64(k);
        if diff != 0 {
            return Some(head + j * 8 + (diff.trailing_zeros() / 8) as usize);
        }
    }
    (tail_at..data.len()).find(|&i| data[i] != pattern_byte(start + i as u64))
}

/// How many bytes from `start` (at most `len`) come before the next 8-byte block boundary.
fn head_len(start: u64, len: usize) -> usize {
    (((8 - start % 8) % 8) as usize).min(len)
}

/// The bytes a payload stands for.
pub(crate) fn materialize(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Bytes(b) => b.clone(),
        Payload::Pattern(n) => pattern(*n),
        Payload::Fill(n, b) => vec![*b; *n as usize],
    }
}

/// How many bytes a payload stands for, without making them.
pub(crate) fn payload_len(p: &Payload) -> usize {
    match p {
        Payload::Bytes(b) => b.len(),
        Payload::Pattern(n) | Payload::Fill(n, _) => *n as usize,
    }
}

/// `None` when `actual` is exactly the payload's bytes; otherwise the same hint
/// [`first_difference`] gives for the materialized payload. A `pattern(N)` is checked a block
/// at a time and a `fill(N, B)` against its byte, so neither is built in memory.
pub(crate) fn payload_difference(p: &Payload, actual: &[u8]) -> Option<String> {
    let expected_len = payload_len(p);
    let common = expected_len.min(actual.len());
    let first = match p {
        Payload::Bytes(b) => (0..common).find(|&i| b[i] != actual[i]),
        Payload::Pattern(_) => pattern_mismatch(0, &actual[..common]),
        Payload::Fill(_, b) => actual[..common].iter().position(|x| x != b),
    };
    let expected_at = |i: usize| match p {
        Payload::Bytes(b) => b[i],
        Payload::Pattern(_) => pattern_byte(i as u64),
        Payload::Fill(_, b) => *b,
    };
    match first {
        Some(i) => Some(difference_at(i, expected_at(i), actual[i])),
        None if expected_len != actual.len() => {
            Some(length_difference(common, expected_len, actual.len()))
        }
        None => None,
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
    if pattern_mismatch(0, data).is_none() {
        return format!("pattern({n}) ({n} {unit})");
    }
    if data.iter().all(|&b| b == data[0]) {
        return format!("fill({n}, {:#04x}) ({n} {unit})", data[0]);
    }
    format!("{}… ({n} {unit})", quote(&data[..SHOWN]))
}

/// Where two byte strings first differ, for failure hints: the byte-by-byte reference that
/// [`payload_difference`] must agree with.
#[cfg(test)]
pub(crate) fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let common = expected.len().min(actual.len());
    match (0..common).find(|&i| expected[i] != actual[i]) {
        Some(i) => difference_at(i, expected[i], actual[i]),
        None if expected.len() != actual.len() => {
            length_difference(common, expected.len(), actual.len())
        }
        None => "the bytes are equal".to_string(),
    }
}

fn difference_at(i: usize, expected: u8, actual: u8) -> String {
    format!("first difference at byte {i}: expected {expected:#04x}, received {actual:#04x}")
}

fn length_difference(common: usize, expected: usize, actual: usize) -> String {
    format!("the first {common} bytes agree; expected {expected} bytes, received {actual}")
}

//! Content checks for what a server sends when the exact bytes cannot be known in advance:
//! a daytime line (RFC 867, free format), a time value (RFC 868, exact), chargen lines
//! (RFC 864) and printable text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockspec_lang::ContentCheck;

use super::bytes::describe;

/// Seconds from 1900-01-01 to 1970-01-01 (RFC 868).
pub(crate) const EPOCH_1900_OFFSET: u64 = 2_208_988_800;
/// Characters of the chargen ring: printable ASCII 32..=126.
const RING: u8 = 95;
/// A chargen line: 72 characters, CR, LF.
const LINE: usize = 74;

/// `None` when `data` passes the check, else what is wrong with it.
pub(crate) fn check(c: &ContentCheck, data: &[u8], now: SystemTime) -> Option<String> {
    match c {
        ContentCheck::DaytimeLine => daytime(data, now),
        ContentCheck::SecondsSince1900 { tolerance } => time1900(data, *tolerance, now),
        ContentCheck::Chargen { rotating } => chargen(data, *rotating),
        ContentCheck::Printable { max } => {
            if data.len() as u64 > *max {
                return Some(format!("{} bytes, more than {max}", data.len()));
            }
            data.iter()
                .position(|b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n')))
                .map(|i| {
                    format!(
                        "byte {i} is {:#04x}, not printable ASCII, CR or LF",
                        data[i]
                    )
                })
        }
    }
}

/// The civil year (UTC) of a Unix time, from the days-to-civil algorithm.
fn year_of(secs: u64) -> i64 {
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn daytime(data: &[u8], now: SystemTime) -> Option<String> {
    if data.is_empty() || data.len() > 512 {
        return Some(format!(
            "a daytime line has 1 to 512 bytes; received {}",
            describe(data)
        ));
    }
    if let Some(i) = data
        .iter()
        .position(|b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t')))
    {
        return Some(format!(
            "byte {i} is {:#04x}: a daytime line is printable ASCII (received {})",
            data[i],
            describe(data)
        ));
    }
    let secs = unix_secs(now);
    // A day either side: the server's time zone may already (or still) be in another year.
    let years: Vec<String> = [secs.saturating_sub(86_400), secs, secs + 86_400]
        .iter()
        .map(|s| year_of(*s).to_string())
        .collect();
    let text = String::from_utf8_lossy(data);
    if years.iter().any(|y| text.contains(y.as_str())) {
        None
    } else {
        Some(format!(
            "the line does not contain the current year ({}): received {}",
            years[1],
            describe(data)
        ))
    }
}

fn time1900(data: &[u8], tolerance: Duration, now: SystemTime) -> Option<String> {
    if data.len() < 4 {
        return Some(format!(
            "an RFC 868 time is 4 bytes; received {}",
            describe(data)
        ));
    }
    let got = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let want = (unix_secs(now) + EPOCH_1900_OFFSET) as u32;
    let off = |a: u32, b: u32| i64::from(a.wrapping_sub(b) as i32);
    let diff = off(got, want);
    if diff.unsigned_abs() <= tolerance.as_secs() {
        return None;
    }
    let hint = if off(got.wrapping_add(EPOCH_1900_OFFSET as u32), want).unsigned_abs()
        <= tolerance.as_secs()
    {
        ": that is Unix time; RFC 868 counts from 1900 (add 2208988800)".to_string()
    } else if off(got.swap_bytes(), want).unsigned_abs() <= tolerance.as_secs() {
        ": the bytes are in the wrong order (missing htonl?)".to_string()
    } else {
        String::new()
    };
    Some(format!(
        "the time is {got}, {diff} s away from now ({want}){hint}"
    ))
}

fn chargen(data: &[u8], rotating: bool) -> Option<String> {
    if data.is_empty() {
        return Some("no characters were received".into());
    }
    let mut start_prev: Option<u8> = None;
    for (k, line) in data.chunks(LINE).enumerate() {
        let at = k * LINE;
        for (j, &b) in line.iter().enumerate() {
            let ok = match j {
                0..=71 => (32..=126).contains(&b),
                72 => b == b'\r',
                _ => b == b'\n',
            };
            if !ok {
                return Some(format!(
                    "line {} is not 72 printable characters and CR LF: byte {} is {:#04x}",
                    k + 1,
                    at + j,
                    b
                ));
            }
        }
        if !rotating {
            continue;
        }
        let first = line[0] - 32;
        for (j, &b) in line.iter().take(72).enumerate() {
            let want = 32 + (first as usize + j) as u8 % RING;
            if b != want {
                return Some(format!(
                    "line {} breaks the character ring at column {}: {:?} where {:?} was due",
                    k + 1,
                    j + 1,
                    b as char,
                    want as char
                ));
            }
        }
        if let Some(prev) = start_prev {
            let want = (prev + 1) % RING;
            if first != want {
                return Some(format!(
                    "line {} starts with {:?}; after a line starting with {:?} it should start with {:?} (the pattern must rotate)",
                    k + 1,
                    (first + 32) as char,
                    (prev + 32) as char,
                    (want + 32) as char
                ));
            }
        }
        start_prev = Some(first);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn chargen_stream(start: usize, lines: usize, rotate: bool) -> Vec<u8> {
        let mut v = Vec::new();
        for k in 0..lines {
            let s = if rotate { start + k } else { start };
            v.extend((0..72).map(|j| 32 + ((s + j) % 95) as u8));
            v.extend_from_slice(b"\r\n");
        }
        v
    }

    #[test]
    fn years() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(951_782_400), 2000); // 2000-02-29
        assert_eq!(year_of(1_767_225_599), 2025); // 2025-12-31T23:59:59
        assert_eq!(year_of(1_767_225_600), 2026);
    }

    #[test]
    fn daytime_lines() {
        let now = at(1_767_225_600 + 100 * 86_400); // in 2026
        let c = ContentCheck::DaytimeLine;
        assert_eq!(
            check(&c, b"Friday, April 10, 2026 10:00:00-UTC\r\n", now),
            None
        );
        assert!(
            check(&c, b"Tuesday, February 22, 1982 17:37:43-UTC\r\n", now)
                .unwrap()
                .contains("current year")
        );
        assert!(check(&c, b"2026\x00", now).unwrap().contains("printable"));
        assert!(check(&c, b"", now).is_some());
        assert!(check(&c, &[b'2'; 600], now).is_some());
    }

    #[test]
    fn rfc868_times() {
        let unix = 1_767_225_600u64;
        let now = at(unix);
        let c = ContentCheck::SecondsSince1900 {
            tolerance: Duration::from_secs(5),
        };
        let v = ((unix + EPOCH_1900_OFFSET) as u32).to_be_bytes();
        assert_eq!(check(&c, &v, now), None);
        assert_eq!(check(&c, &[&v[..], b"\r\n"].concat(), now), None);
        let late = ((unix + EPOCH_1900_OFFSET + 30) as u32).to_be_bytes();
        assert!(check(&c, &late, now).unwrap().contains("30 s away"));
        let unix_time = (unix as u32).to_be_bytes();
        assert!(check(&c, &unix_time, now).unwrap().contains("Unix time"));
        let swapped = ((unix + EPOCH_1900_OFFSET) as u32).to_le_bytes();
        assert!(check(&c, &swapped, now).unwrap().contains("htonl"));
        assert!(check(&c, &v[..3], now).unwrap().contains("4 bytes"));
    }

    #[test]
    fn chargen_lines_and_rotation() {
        let rot = ContentCheck::Chargen { rotating: true };
        let lines = ContentCheck::Chargen { rotating: false };
        let good = chargen_stream(17, 100, true);
        assert_eq!(check(&rot, &good, at(0)), None);
        assert_eq!(check(&rot, &chargen_stream(90, 10, true), at(0)), None);
        let flat = chargen_stream(1, 100, false);
        assert_eq!(check(&lines, &flat, at(0)), None);
        assert!(check(&rot, &flat, at(0)).unwrap().contains("rotate"));
        let mut bad = good.clone();
        bad[72] = b'\n';
        assert!(check(&lines, &bad, at(0)).unwrap().contains("CR LF"));
        assert_eq!(check(&rot, &good[..100], at(0)), None);
    }

    #[test]
    fn printable_text() {
        let c = ContentCheck::Printable { max: 512 };
        assert_eq!(check(&c, b"", at(0)), None);
        assert_eq!(check(&c, b"abc \r\n", at(0)), None);
        assert!(check(&c, b"a\tb", at(0)).is_some());
        assert!(check(&c, &[b'a'; 513], at(0))
            .unwrap()
            .contains("more than 512"));
    }
}

//! Properties checked against the kernel with generated inputs (proptest): whatever the sizes
//! of the sends and of the reads, a stream delivers the same bytes in order; whatever the
//! sizes of the datagrams (within the limit), a message socket delivers each one whole, one
//! per read. A failure is shrunk to a minimal input and replayed to give its transcript.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use socket2::{Domain, SockAddr, Socket, Type};
use sockspec_lang::Flavour;
use sockspec_reports::{Bytes, StepRecord, StepStatus};

use crate::exec::{pattern_at, pattern_mismatch};

/// Which property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Property {
    /// Stream kinds: the concatenation of the sends is what the reads return, in order.
    StreamBytesInOrder,
    /// Message kinds: each read returns exactly one datagram that was sent, whole.
    DatagramsWhole,
}

impl Property {
    pub fn name(self) -> &'static str {
        match self {
            Property::StreamBytesInOrder => "any-send-sizes-arrive-as-the-same-bytes-in-order",
            Property::DatagramsWhole => "any-datagram-sizes-arrive-whole-one-per-read",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Property::StreamBytesInOrder => {
                "any sequence of send sizes over a stream arrives as the same bytes in order, however the reads split it"
            }
            Property::DatagramsWhole => {
                "any sequence of datagrams within the size limit arrives one per read, each whole"
            }
        }
    }

    pub fn flavours(self) -> &'static [Flavour] {
        match self {
            Property::StreamBytesInOrder => {
                &[Flavour::Tcp4, Flavour::Tcp6, Flavour::UnixStreamPair]
            }
            Property::DatagramsWhole => &[
                Flavour::Udp4,
                Flavour::Udp6,
                Flavour::UnixDgramPair,
                Flavour::UnixSeqpacketPair,
            ],
        }
    }

    pub const ALL: [Property; 2] = [Property::StreamBytesInOrder, Property::DatagramsWhole];
}

/// How a property check went.
#[derive(Debug, Clone)]
pub struct PropertyOutcome {
    pub passed: bool,
    /// Generated inputs that ran.
    pub inputs: u32,
    pub message: Option<String>,
    /// The transcript of the minimal failing input, or of the last input when all passed.
    pub transcript: Vec<StepRecord>,
}

/// Every blocking socket call of a property gives up after this long: loopback transfers of
/// a few hundred KiB take milliseconds, so a timeout means the kernel lost or held data.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Datagram sizes stay under every kind's limit (Unix datagrams are bounded by the send
/// buffer, UDP by 65507) and the counts under the Unix queue length, with a reader draining.
const MAX_DATAGRAM: usize = 16 * 1024;

/// Runs `property` on `flavour` with `inputs` generated inputs.
pub fn check(property: Property, flavour: Flavour, inputs: u32) -> PropertyOutcome {
    let config = Config {
        cases: inputs,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let mut transcript = Vec::new();
    let failure = match property {
        Property::StreamBytesInOrder => {
            let strategy = (vec(1usize..=24_000, 1..10), vec(1usize..=32_000, 1..6));
            let result = runner.run(&strategy, |(sends, reads)| {
                stream_once(flavour, &sends, &reads, &mut Vec::new()).map_err(TestCaseError::fail)
            });
            match result {
                // A fixed example replayed for the report, so a reader sees what was exercised.
                Ok(()) => stream_once(flavour, &[3, 5000, 1], &[7, 2048], &mut transcript)
                    .err()
                    .map(|e| (e, String::new())),
                Err(TestError::Fail(why, (sends, reads))) => {
                    let _ = stream_once(flavour, &sends, &reads, &mut transcript);
                    Some((why.to_string(), format!("sends {sends:?}, reads {reads:?}")))
                }
                Err(TestError::Abort(why)) => {
                    Some((format!("the property could not run: {why}"), String::new()))
                }
            }
        }
        Property::DatagramsWhole => {
            let result = runner.run(&vec(0usize..=MAX_DATAGRAM, 1..10), |sizes| {
                datagrams_once(flavour, &sizes, &mut Vec::new()).map_err(TestCaseError::fail)
            });
            match result {
                Ok(()) => datagrams_once(flavour, &[0, 1, 1500, 9000], &mut transcript)
                    .err()
                    .map(|e| (e, String::new())),
                Err(TestError::Fail(why, sizes)) => {
                    let _ = datagrams_once(flavour, &sizes, &mut transcript);
                    Some((why.to_string(), format!("datagrams of {sizes:?} bytes")))
                }
                Err(TestError::Abort(why)) => {
                    Some((format!("the property could not run: {why}"), String::new()))
                }
            }
        }
    };
    let message = failure.map(|(why, input)| {
        if input.is_empty() {
            why
        } else {
            format!("{why}; minimal input after shrinking: {input}")
        }
    });
    PropertyOutcome {
        passed: message.is_none(),
        inputs,
        message,
        transcript,
    }
}

fn record(
    log: &mut Vec<StepRecord>,
    start: Instant,
    statement: String,
    result: String,
    ok: bool,
    data: Option<&[u8]>,
) {
    let index = log.len();
    log.push(StepRecord {
        index,
        line: 0,
        statement: statement.clone(),
        call: statement,
        result,
        errno: None,
        data: data.map(Bytes::capture),
        expected: None,
        expected_data: None,
        status: if ok {
            StepStatus::Ok
        } else {
            StepStatus::Mismatch
        },
        duration_us: 0,
        started_us: start.elapsed().as_micros() as u64,
        handles: vec!["a".into(), "b".into()],
        note: None,
    });
}

/// A connected pair of `flavour` (a = sender, b = receiver), with timeouts set.
fn pair(flavour: Flavour) -> io::Result<(Socket, Socket)> {
    let (a, b) = match flavour {
        Flavour::UnixStreamPair => Socket::pair(Domain::UNIX, Type::STREAM, None)?,
        Flavour::UnixDgramPair => Socket::pair(Domain::UNIX, Type::DGRAM, None)?,
        Flavour::UnixSeqpacketPair => Socket::pair(Domain::UNIX, Type::SEQPACKET, None)?,
        Flavour::Tcp4 | Flavour::Tcp6 => {
            let (domain, addr): (Domain, std::net::SocketAddr) = if flavour == Flavour::Tcp4 {
                (Domain::IPV4, "127.0.0.1:0".parse().expect("literal"))
            } else {
                (Domain::IPV6, "[::1]:0".parse().expect("literal"))
            };
            let listener = Socket::new(domain, Type::STREAM, None)?;
            listener.bind(&SockAddr::from(addr))?;
            listener.listen(1)?;
            let a = Socket::new(domain, Type::STREAM, None)?;
            a.connect(&listener.local_addr()?)?;
            let (b, _) = listener.accept()?;
            (a, b)
        }
        Flavour::Udp4 | Flavour::Udp6 => {
            let (domain, addr): (Domain, std::net::SocketAddr) = if flavour == Flavour::Udp4 {
                (Domain::IPV4, "127.0.0.1:0".parse().expect("literal"))
            } else {
                (Domain::IPV6, "[::1]:0".parse().expect("literal"))
            };
            let a = Socket::new(domain, Type::DGRAM, None)?;
            let b = Socket::new(domain, Type::DGRAM, None)?;
            a.bind(&SockAddr::from(addr))?;
            b.bind(&SockAddr::from(addr))?;
            a.connect(&b.local_addr()?)?;
            b.connect(&a.local_addr()?)?;
            // Room for every datagram of one input even before the reader runs.
            b.set_recv_buffer_size(4 << 20)?;
            (a, b)
        }
        other => {
            return Err(io::Error::other(format!(
                "no property pair for {}",
                other.name()
            )))
        }
    };
    for s in [&a, &b] {
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    Ok((a, b))
}

fn recv_into(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length for the duration of the call.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sends `sends` (consecutive slices of the pattern stream) from a thread while reading with
/// `reads` sizes (cycled); the bytes read must be the pattern, in order, up to the total.
fn stream_once(
    flavour: Flavour,
    sends: &[usize],
    reads: &[usize],
    log: &mut Vec<StepRecord>,
) -> Result<(), String> {
    let start = Instant::now();
    let (a, b) =
        pair(flavour).map_err(|e| format!("cannot make a {} pair: {e}", flavour.name()))?;
    record(
        log,
        start,
        format!("a, b = pair({})", flavour.name()),
        "= ok".into(),
        true,
        None,
    );
    let total: usize = sends.iter().sum();
    let plan = sends.to_vec();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut offset = 0u64;
        for size in plan {
            let chunk = pattern_at(offset, size);
            let mut sent = 0;
            while sent < chunk.len() {
                sent += a.send(&chunk[sent..])?;
            }
            offset += size as u64;
        }
        Ok(())
    });
    for (i, size) in sends.iter().enumerate() {
        record(
            log,
            start,
            format!(
                "send(a, pattern[{}..+{size}])",
                sends[..i].iter().sum::<usize>()
            ),
            format!("= {size}"),
            true,
            None,
        );
    }
    let mut received = 0usize;
    let mut buf = vec![0u8; reads.iter().copied().max().unwrap_or(1)];
    let mut step = 0;
    while received < total {
        let want = reads[step % reads.len()];
        step += 1;
        let n = recv_into(&b, &mut buf[..want])
            .map_err(|e| format!("recv failed after {received} of {total} bytes: {e}"))?;
        if n == 0 {
            record(
                log,
                start,
                format!("recv(b, {want})"),
                "= EOF".into(),
                false,
                None,
            );
            return Err(format!("EOF after {received} of {total} bytes"));
        }
        let mismatch = pattern_mismatch(received as u64, &buf[..n]);
        let ok = mismatch.is_none();
        record(
            log,
            start,
            format!("recv(b, {want})"),
            format!("= {n} bytes of pattern[{received}..]"),
            ok,
            Some(&buf[..n]),
        );
        if let Some(at) = mismatch {
            return Err(format!(
                "byte {} of the stream differs from what was sent",
                received + at
            ));
        }
        received += n;
    }
    writer
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?
        .map_err(|e| format!("send failed: {e}"))?;
    Ok(())
}

/// A datagram of `size` bytes, told apart from the others of its input by its content.
fn datagram(index: usize, size: usize) -> Vec<u8> {
    pattern_at((index as u64) * 1_000_003, size)
}

/// Sends datagrams of `sizes` from a thread; each read must return one of them, whole, and
/// together the reads return every one (order is not required: UDP does not promise it).
fn datagrams_once(
    flavour: Flavour,
    sizes: &[usize],
    log: &mut Vec<StepRecord>,
) -> Result<(), String> {
    let start = Instant::now();
    let (a, b) =
        pair(flavour).map_err(|e| format!("cannot make a {} pair: {e}", flavour.name()))?;
    record(
        log,
        start,
        format!("a, b = pair({})", flavour.name()),
        "= ok".into(),
        true,
        None,
    );
    let plan = sizes.to_vec();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        for (i, size) in plan.into_iter().enumerate() {
            let sent = a.send(&datagram(i, size))?;
            if sent != size {
                return Err(io::Error::other(format!(
                    "datagram {i}: send returned {sent} of {size}"
                )));
            }
        }
        Ok(())
    });
    // Every datagram is queued before the first read: the receiver then has every chance to
    // merge or split them, which a message socket must not do. The queues hold them all
    // (at most 9 datagrams of 16 KiB, below the Unix queue length and the buffers).
    writer
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?
        .map_err(|e| format!("send failed: {e}"))?;
    for (i, size) in sizes.iter().enumerate() {
        record(
            log,
            start,
            format!("send(a, datagram {i} of {size} bytes)"),
            format!("= {size}"),
            true,
            None,
        );
    }
    let mut pending: Vec<Option<Vec<u8>>> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| Some(datagram(i, *s)))
        .collect();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1024];
    for _ in 0..sizes.len() {
        let n = recv_into(&b, &mut buf)
            .map_err(|e| format!("recv failed: {e} (a datagram was lost?)"))?;
        let got = &buf[..n];
        let matched = pending.iter().position(|p| p.as_deref() == Some(got));
        record(
            log,
            start,
            format!("recv(b, {})", buf.len()),
            format!("= {n} bytes"),
            matched.is_some(),
            Some(got),
        );
        match matched {
            Some(i) => pending[i] = None,
            None => {
                return Err(format!(
                    "a read returned {n} bytes that are not one whole datagram sent"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_property_passes_on_a_socketpair() {
        let out = check(Property::StreamBytesInOrder, Flavour::UnixStreamPair, 8);
        assert!(out.passed, "{:?}", out.message);
        assert!(!out.transcript.is_empty());
    }

    #[test]
    fn datagram_property_passes_on_a_socketpair() {
        let out = check(Property::DatagramsWhole, Flavour::UnixDgramPair, 8);
        assert!(out.passed, "{:?}", out.message);
    }

    /// The checker can fail: on a stream, queued "datagrams" are merged by the first read, so
    /// the datagram property is violated and the transcript marks the read.
    #[test]
    fn the_datagram_check_fails_on_a_stream() {
        let mut log = Vec::new();
        let result = datagrams_once(Flavour::UnixStreamPair, &[10, 10, 10], &mut log);
        assert!(result.is_err());
        assert_eq!(log.last().map(|s| s.status), Some(StepStatus::Mismatch));
    }
}

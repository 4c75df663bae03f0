//! `sockspec bench`: measures Unix-domain against Internet sockets on loopback — ping-pong
//! latency and bulk throughput, stream and datagram — to decide the course's claim that Unix
//! sockets are about twice as fast; and the cost of an unconnected UDP `sendto` against a
//! `send` on a connected socket, to decide the claim that sendto pays for an internal
//! connect and disconnect. Timing lives here, never in tests.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::thread;
use std::time::{Duration, Instant};

/// How much work one round does.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// Rounds per measurement; the median is reported with min and max, and each ratio that
    /// decides a claim with a confidence interval on its median (see [`median_interval`]).
    pub rounds: u32,
    /// Round trips per latency round.
    pub round_trips: u32,
    /// Bytes per stream throughput round.
    pub bulk_bytes: usize,
    /// Datagrams per datagram throughput round.
    pub datagrams: u32,
    /// Small datagrams per send-cost round (unconnected `sendto` vs connected `send`).
    pub sends: u32,
}

impl Default for BenchConfig {
    fn default() -> Self {
        // 21 rounds: the interval on a median is then the 6th smallest to the 6th largest
        // ratio (97.3%), so up to five disturbed rounds on either side cannot widen it.
        BenchConfig {
            rounds: 21,
            round_trips: 5_000,
            bulk_bytes: 64 << 20,
            datagrams: 20_000,
            sends: 40_000,
        }
    }
}

/// Message sizes: one small request/reply, large chunks for bulk transfer.
const PING: usize = 64;
const CHUNK: usize = 64 * 1024;
const DATAGRAM: usize = 4096;
/// The send-cost datagrams are small, so the per-call work (not copying) is what is timed.
const SMALL: usize = 16;
/// Send-cost datagrams are sent in batches of this many, then drained untimed: 64 small
/// datagrams (about 64 KiB of receive-buffer charge on loopback) fit in the default 208 KiB
/// receive buffer, so none is dropped and every timed send takes the full delivery path.
const SEND_BATCH: u32 = 64;
/// Every socket read or write in the benchmark gives up after this long, so a stuck peer
/// ends the benchmark with an error instead of a hang; real rounds take milliseconds.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One measured figure: the value of each round.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub unit: &'static str,
    pub samples: Vec<f64>,
}

impl Series {
    pub fn median(&self) -> f64 {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }

    pub fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn max(&self) -> f64 {
        self.samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// All series of one benchmark run.
#[derive(Debug, Clone)]
pub struct BenchResult {
    pub series: Vec<Series>,
}

impl BenchResult {
    pub fn get(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }

    /// How many times as long an unconnected `sendto` takes as a `send` on a connected
    /// socket, one value per round (the two are measured back to back in each round; the
    /// round's median over its alternating batches, when recorded).
    pub fn sendto_ratios(&self) -> Option<Series> {
        if let Some(r) = self.get(SENDTO_RATIO) {
            return Some(Series {
                name: "ratio sendto/send".into(),
                unit: "x",
                samples: r.samples.clone(),
            });
        }
        let (to, connected) = (self.get("udp-sendto-ns")?, self.get("udp-send-ns")?);
        let samples = to
            .samples
            .iter()
            .zip(&connected.samples)
            .map(|(t, c)| t / c)
            .collect();
        Some(Series {
            name: "ratio sendto/send".into(),
            unit: "x",
            samples,
        })
    }

    /// How many times faster Unix is than Internet for each comparison, one ratio per round
    /// (Unix and Internet are measured back to back in every round, so a burst of load from
    /// elsewhere falls on both halves of a pair): for latency the Internet time over the Unix
    /// time (the round's median over its alternating blocks, when recorded), for throughput
    /// Unix over Internet.
    pub fn ratios(&self) -> Vec<Series> {
        let pairs = [
            ("stream latency", "unix-stream-rtt", "tcp-rtt", false),
            (
                "stream throughput",
                "unix-stream-throughput",
                "tcp-throughput",
                true,
            ),
            ("datagram latency", "unix-dgram-rtt", "udp-rtt", false),
            (
                "datagram throughput",
                "unix-dgram-throughput",
                "udp-throughput",
                true,
            ),
        ];
        pairs
            .iter()
            .filter_map(|(label, unix, inet, higher_is_better)| {
                let measured = match *label {
                    "stream latency" => self.get(STREAM_LATENCY_RATIO),
                    "datagram latency" => self.get(DGRAM_LATENCY_RATIO),
                    _ => None,
                };
                if let Some(r) = measured {
                    return Some(Series {
                        name: label.to_string(),
                        unit: "x",
                        samples: r.samples.clone(),
                    });
                }
                let (u, i) = (self.get(unix)?, self.get(inet)?);
                let samples = u
                    .samples
                    .iter()
                    .zip(&i.samples)
                    .map(|(u, i)| if *higher_is_better { u / i } else { i / u })
                    .collect();
                Some(Series {
                    name: label.to_string(),
                    unit: "x",
                    samples,
                })
            })
            .collect()
    }
}

/// Per-round latency ratios (Internet time over Unix time), each the median over the
/// round's alternating blocks.
pub const STREAM_LATENCY_RATIO: &str = "stream-latency-ratio";
pub const DGRAM_LATENCY_RATIO: &str = "dgram-latency-ratio";
/// Per-round sendto/send ratios, each the median over the round's alternating batches.
pub const SENDTO_RATIO: &str = "sendto-send-ratio";

/// The confidence a median's interval aims for.
pub const CONFIDENCE: f64 = 0.95;

/// A distribution-free confidence interval on the median of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub median: f64,
    pub high: f64,
    /// The probability that the true median lies in `low..=high`.
    pub confidence: f64,
}

/// The order-statistic interval on the median: the k-th smallest and k-th largest of n
/// samples hold the median with probability 1 - 2·P(Binomial(n, 1/2) < k), whatever the
/// distribution, as long as rounds are independent. It takes the narrowest such pair that
/// still reaches CONFIDENCE (with fewer than 6 samples even min..max falls short, and the
/// coverage it has is reported). No resampling, so the same samples always give the same
/// interval, and an outlier round moves it by at most one order statistic.
pub fn median_interval(samples: &[f64]) -> Option<Interval> {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    // P(X = j) for X ~ Binomial(n, 1/2), accumulated as P(X < k).
    let coverage = |k: usize| {
        let mut below = 0.0;
        let mut term = 0.5f64.powi(n as i32);
        for j in 0..k {
            below += term;
            term *= (n - j) as f64 / (j + 1) as f64;
        }
        1.0 - 2.0 * below
    };
    let mut k = 1;
    while k < n / 2 && coverage(k + 1) >= CONFIDENCE {
        k += 1;
    }
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Interval {
        low: s[k - 1],
        median,
        high: s[n - k],
        confidence: coverage(k),
    })
}

/// Where an interval lies against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The whole interval is at or above it.
    Above,
    /// The whole interval is below it.
    Below,
    /// The interval contains it: the rounds cannot say which side the figure is on.
    Straddles,
}

pub fn side(interval: &Interval, threshold: f64) -> Side {
    if interval.low >= threshold {
        Side::Above
    } else if interval.high < threshold {
        Side::Below
    } else {
        Side::Straddles
    }
}

/// A claim's verdict from measured intervals, with the words that justify it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `holds`, `does-not-hold`, `partly` or `undecided`.
    pub verdict: &'static str,
    /// Why: the interval that decided it, or the one that straddles a threshold.
    pub because: String,
}

/// Runs every measurement `config.rounds` times, interleaving the kinds so a burst of load
/// from elsewhere hits Unix and Internet alike.
pub fn run(config: &BenchConfig) -> io::Result<BenchResult> {
    let mut series: Vec<Series> = [
        ("unix-stream-rtt", "us"),
        ("tcp-rtt", "us"),
        ("unix-dgram-rtt", "us"),
        ("udp-rtt", "us"),
        ("unix-stream-throughput", "MiB/s"),
        ("tcp-throughput", "MiB/s"),
        ("unix-dgram-throughput", "MiB/s"),
        ("udp-throughput", "MiB/s"),
        ("udp-sendto-ns", "ns"),
        ("udp-send-ns", "ns"),
        (STREAM_LATENCY_RATIO, "x"),
        (DGRAM_LATENCY_RATIO, "x"),
        (SENDTO_RATIO, "x"),
    ]
    .into_iter()
    .map(|(name, unit)| Series {
        name: name.to_string(),
        unit,
        samples: Vec::new(),
    })
    .collect();
    for _ in 0..config.rounds {
        let (sendto, send, sendto_ratio) = udp_send_costs(config.sends)?;
        let stream = stream_rtts(config.round_trips)?;
        let dgram = dgram_rtts(config.round_trips)?;
        let values = [
            stream.a_us,
            stream.b_us,
            dgram.a_us,
            dgram.b_us,
            unix_stream_throughput(config.bulk_bytes)?,
            tcp_throughput(config.bulk_bytes)?,
            unix_dgram_throughput(config.datagrams)?,
            udp_throughput(config.datagrams)?,
            sendto,
            send,
            stream.ratio,
            dgram.ratio,
            sendto_ratio,
        ];
        for (s, v) in series.iter_mut().zip(values) {
            s.samples.push(v);
        }
    }
    Ok(BenchResult { series })
}

fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    for s in [&client, &server] {
        // Small messages must not wait for Nagle's algorithm, or TCP latency measures a timer.
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    Ok((client, server))
}

fn unix_stream_pair() -> io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    Ok((a, b))
}

/// Latency rounds are cut into this many blocks, alternating Unix and Internet block by
/// block (and which goes first), so a burst of load from elsewhere — the usual noise on a
/// shared machine — falls on both halves of a comparison instead of on one.
const RTT_BLOCKS: u32 = 100;

/// The round trips of one latency round of two kinds timed side by side.
struct PairedRtts {
    /// Mean round-trip time of `a`, in microseconds.
    a_us: f64,
    /// Mean round-trip time of `b`, in microseconds.
    b_us: f64,
    /// The median over blocks of b's block time over a's adjacent block time: how many
    /// times as fast `a` is. A burst of load that hits one block of a pair skews that
    /// pair's ratio only, and the median ignores it.
    ratio: f64,
}

/// Round trips of `a` and `b`, each called `n` times (rounded down to whole blocks), timed
/// in alternating blocks. Each call is one request and its reply.
fn paired_rtts(
    mut a: impl FnMut() -> io::Result<()>,
    mut b: impl FnMut() -> io::Result<()>,
    n: u32,
) -> io::Result<PairedRtts> {
    let blocks = RTT_BLOCKS.min(n.max(1));
    let per = n / blocks;
    let mut timed = [Duration::ZERO; 2];
    let mut pair_ratios = Vec::with_capacity(blocks as usize);
    for block in 0..blocks {
        let mut this = [Duration::ZERO; 2];
        for k in [block % 2, (block + 1) % 2] {
            let start = Instant::now();
            for _ in 0..per {
                if k == 0 {
                    a()?;
                } else {
                    b()?;
                }
            }
            this[k as usize] = start.elapsed();
        }
        timed[0] += this[0];
        timed[1] += this[1];
        pair_ratios.push(this[1].as_secs_f64() / this[0].as_secs_f64().max(1e-12));
    }
    let total = f64::from((per * blocks).max(1));
    let us = |d: Duration| d.as_secs_f64() * 1e6 / total;
    let ratio = Series {
        name: String::new(),
        unit: "x",
        samples: pair_ratios,
    }
    .median();
    Ok(PairedRtts {
        a_us: us(timed[0]),
        b_us: us(timed[1]),
        ratio,
    })
}

/// The number of exchanges [`paired_rtts`] makes for `n`.
fn exchanges(n: u32) -> u32 {
    let blocks = RTT_BLOCKS.min(n.max(1));
    n / blocks * blocks
}

/// An echoing thread for `n` PING-byte requests on a stream.
fn stream_echo<S: Read + Write + Send + 'static>(
    mut server: S,
    n: u32,
) -> thread::JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = [0u8; PING];
        for _ in 0..n {
            server.read_exact(&mut buf)?;
            server.write_all(&buf)?;
        }
        Ok(())
    })
}

fn joined(echo: thread::JoinHandle<io::Result<()>>) -> io::Result<()> {
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))?
}

/// Unix stream and TCP round trips, in alternating blocks.
fn stream_rtts(n: u32) -> io::Result<PairedRtts> {
    let (mut unix, unix_server) = unix_stream_pair()?;
    let (mut tcp, tcp_server) = tcp_pair()?;
    let count = exchanges(n);
    let (e1, e2) = (
        stream_echo(unix_server, count),
        stream_echo(tcp_server, count),
    );
    let (mut b1, mut b2) = ([7u8; PING], [7u8; PING]);
    let result = paired_rtts(
        || {
            unix.write_all(&b1)?;
            unix.read_exact(&mut b1)
        },
        || {
            tcp.write_all(&b2)?;
            tcp.read_exact(&mut b2)
        },
        n,
    );
    // On an error the echo threads end at their read timeout or when the client closes.
    drop((unix, tcp));
    joined(e1)?;
    joined(e2)?;
    result
}

/// MiB/s for `bytes` written in CHUNK pieces and read by another thread.
fn stream_throughput<S: Read + Write + Send + 'static>(
    mut writer: S,
    mut reader: S,
    bytes: usize,
) -> io::Result<f64> {
    let sink = thread::spawn(move || -> io::Result<usize> {
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0;
        while total < bytes {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        Ok(total)
    });
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        let n = CHUNK.min(bytes - sent);
        writer.write_all(&chunk[..n])?;
        sent += n;
    }
    let received = sink
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))??;
    let elapsed = start.elapsed().as_secs_f64();
    if received != bytes {
        return Err(io::Error::other(format!(
            "stream delivered {received} of {bytes} bytes"
        )));
    }
    Ok(bytes as f64 / (1 << 20) as f64 / elapsed)
}

fn unix_stream_throughput(bytes: usize) -> io::Result<f64> {
    let (a, b) = unix_stream_pair()?;
    stream_throughput(a, b, bytes)
}

fn tcp_throughput(bytes: usize) -> io::Result<f64> {
    let (a, b) = tcp_pair()?;
    stream_throughput(a, b, bytes)
}

/// The calls the datagram measurements need, for both kinds.
trait Dgram: Send + Sync + 'static {
    fn send_one(&self, buf: &[u8]) -> io::Result<usize>;
    fn recv_one(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Dgram for UnixDatagram {
    fn send_one(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }
    fn recv_one(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

impl Dgram for UdpSocket {
    fn send_one(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }
    fn recv_one(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

fn unix_dgram_pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
    let (a, b) = UnixDatagram::pair()?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    Ok((a, b))
}

fn udp_pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    Ok((a, b))
}

/// An echoing thread for `n` PING-byte datagrams: on loopback with one in flight none is
/// lost, and a loss would surface as the read timeout.
fn dgram_echo<D: Dgram>(server: D, n: u32) -> thread::JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = [0u8; PING];
        for _ in 0..n {
            let len = server.recv_one(&mut buf)?;
            server.send_one(&buf[..len])?;
        }
        Ok(())
    })
}

/// Unix datagram and UDP round trips, in alternating blocks.
fn dgram_rtts(n: u32) -> io::Result<PairedRtts> {
    let (unix, unix_server) = unix_dgram_pair()?;
    let (udp, udp_server) = udp_pair()?;
    let count = exchanges(n);
    let (e1, e2) = (
        dgram_echo(unix_server, count),
        dgram_echo(udp_server, count),
    );
    let (mut b1, mut b2) = ([7u8; PING], [7u8; PING]);
    let result = paired_rtts(
        || {
            unix.send_one(&b1)?;
            unix.recv_one(&mut b1).map(drop)
        },
        || {
            udp.send_one(&b2)?;
            udp.recv_one(&mut b2).map(drop)
        },
        n,
    );
    drop((unix, udp));
    joined(e1)?;
    joined(e2)?;
    result
}

/// MiB/s of DATAGRAM-byte datagrams delivered. The writer waits for an acknowledgement every
/// WINDOW datagrams so UDP, which drops on a full receive queue, is measured without loss
/// (a lossy UDP figure would flatter neither side).
fn dgram_throughput<D: Dgram>(writer: D, reader: D, count: u32) -> io::Result<f64> {
    const WINDOW: u32 = 8;
    let count = count - count % WINDOW;
    let reader = std::sync::Arc::new(reader);
    let writer = std::sync::Arc::new(writer);
    let (r, w) = (reader.clone(), writer.clone());
    let sink = thread::spawn(move || -> io::Result<u64> {
        let mut buf = vec![0u8; DATAGRAM];
        let mut total = 0u64;
        for i in 1..=count {
            total += r.recv_one(&mut buf)? as u64;
            if i % WINDOW == 0 {
                r.send_one(b"k")?;
            }
        }
        Ok(total)
    });
    let data = vec![0x5au8; DATAGRAM];
    let mut ack = [0u8; 8];
    let start = Instant::now();
    for i in 1..=count {
        w.send_one(&data)?;
        if i % WINDOW == 0 {
            w.recv_one(&mut ack)?;
        }
    }
    let total = sink
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))??;
    let elapsed = start.elapsed().as_secs_f64();
    drop(writer);
    Ok(total as f64 / (1 << 20) as f64 / elapsed)
}

fn unix_dgram_throughput(count: u32) -> io::Result<f64> {
    let (a, b) = unix_dgram_pair()?;
    dgram_throughput(a, b, count)
}

fn udp_throughput(count: u32) -> io::Result<f64> {
    let (a, b) = udp_pair()?;
    dgram_throughput(a, b, count)
}

/// Nanoseconds per call of sending `count` SMALL-byte datagrams to a loopback receiver,
/// first with `sendto` and its address on a bound, unconnected socket, second with `send` on
/// a socket connected to the receiver. The two alternate batch by batch (and which goes first
/// alternates too), so a burst of load from elsewhere falls on both alike; only the sends
/// are timed, and each batch is drained before the next.
fn udp_send_costs(count: u32) -> io::Result<(f64, f64, f64)> {
    let receiver = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    receiver.set_read_timeout(Some(IO_TIMEOUT))?;
    let to = receiver.local_addr()?;
    let unconnected = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let connected = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    connected.connect(to)?;
    for s in [&unconnected, &connected] {
        s.set_write_timeout(Some(IO_TIMEOUT))?;
    }
    let data = [0x5au8; SMALL];
    let mut buf = [0u8; SMALL];
    let mut timed = [Duration::ZERO; 2];
    let mut turn_ratios = Vec::new();
    let mut sent = 0;
    let mut turn = 0;
    while sent < count {
        let batch = SEND_BATCH.min(count - sent);
        let mut this = [Duration::ZERO; 2];
        for k in [turn % 2, (turn + 1) % 2] {
            let start = Instant::now();
            for _ in 0..batch {
                if k == 0 {
                    unconnected.send_to(&data, to)?;
                } else {
                    connected.send(&data)?;
                }
            }
            this[k] = start.elapsed();
            timed[k] += this[k];
            // A drop would show as the read timeout: the batch fits the receive buffer.
            for _ in 0..batch {
                receiver.recv(&mut buf)?;
            }
        }
        turn_ratios.push(this[0].as_secs_f64() / this[1].as_secs_f64().max(1e-12));
        sent += batch;
        turn += 1;
    }
    let per_call = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(count.max(1));
    // As for latency: the median over batch pairs ignores a burst that hit one batch.
    let ratio = Series {
        name: String::new(),
        unit: "x",
        samples: turn_ratios,
    }
    .median();
    Ok((per_call(timed[0]), per_call(timed[1]), ratio))
}

/// The share of an unconnected `sendto`'s time that a connected `send` saves, from the
/// ratio of their costs: 1.5x means a third.
pub fn sendto_extra_share(ratio: f64) -> f64 {
    1.0 - 1.0 / ratio
}

/// Below this share of the sendto time, the difference is within what rounds of the same
/// measurement differ by on a quiet machine (a few per cent), so it is not counted as a cost.
pub const SENDTO_NOISE_SHARE: f64 = 0.05;

/// The sendto/send ratio at which connecting saves SENDTO_NOISE_SHARE of the sendto time.
pub fn sendto_threshold() -> f64 {
    1.0 / (1.0 - SENDTO_NOISE_SHARE)
}

/// The rule [`sendto_verdict`] applies, as printed and recorded with the verdict.
pub fn sendto_rule() -> String {
    format!(
        "does not hold when the {:.0}% interval on the median sendto/send ratio lies below {:.3}x (connecting saves under {:.0}% of the sendto time), partly when it lies at or above it, undecided when it straddles it; never holds (Linux has no internal connect)",
        CONFIDENCE * 100.0,
        sendto_threshold(),
        SENDTO_NOISE_SHARE * 100.0
    )
}

/// The verdict on "some kernels connect and disconnect internally on every sendto, costing up
/// to a third of the send time", from the interval on the median sendto/send ratio.
///
/// Linux has no such internal connect: `udp_sendmsg` on an unconnected socket looks the route
/// up on every call, while a connected socket reuses the route it cached at `connect`. So on
/// Linux the claim can only hold in part: it does not hold when sendto is not measurably
/// slower (its extra work is under SENDTO_NOISE_SHARE of its time), and holds partly when it
/// is — whether the share is below or above the third the claim names, the mechanism is not
/// the one it describes. Never `holds`: no timing can show a mechanism the source lacks. An
/// interval that straddles the threshold is `undecided`, so noise cannot flip the verdict.
pub fn sendto_verdict(interval: Option<&Interval>) -> Decision {
    let t = sendto_threshold();
    let Some(i) = interval else {
        return Decision {
            verdict: "undecided",
            because: "not measured".into(),
        };
    };
    let shown = format!("ratio {}", interval_text(i));
    match side(i, t) {
        Side::Below => Decision {
            verdict: "does-not-hold",
            because: format!("{shown} is below {t:.3}x"),
        },
        Side::Above => Decision {
            verdict: "partly",
            because: format!("{shown} is at or above {t:.3}x"),
        },
        Side::Straddles => Decision {
            verdict: "undecided",
            because: format!("{shown} straddles {t:.3}x"),
        },
    }
}

/// `1.15x (1.05–1.30, 98% of 7 rounds)`.
pub fn interval_text(i: &Interval) -> String {
    format!(
        "{:.2}x ({:.2}–{:.2} at {:.0}%)",
        i.median,
        i.low,
        i.high,
        i.confidence * 100.0
    )
}

/// The ratios as one line: `stream latency 1.36x (1.20–1.50 at 98%), …`.
pub fn ratio_summary(ratios: &[Series]) -> String {
    ratios
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{} {}",
                r.name,
                interval_text(&median_interval(&r.samples)?)
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "About twice as fast" is taken to mean at least this ratio.
pub const TWICE: f64 = 1.5;
/// Below this ratio Unix is not counted as faster at all.
pub const FASTER: f64 = 1.1;

/// The rule [`verdict`] applies, as printed and recorded with the verdict.
pub fn rule() -> String {
    format!(
        "on the {:.0}% interval of each comparison's median ratio (paired rounds): holds when every interval lies at or above {TWICE}x, does not hold when every one lies below {FASTER}x, partly when some interval lies below {TWICE}x and some (the same or another) at or above {FASTER}x; otherwise undecided, naming the interval that straddles a threshold",
        CONFIDENCE * 100.0
    )
}

/// The verdict on "Unix sockets are about twice as fast" from the per-round ratios of each
/// comparison. A verdict is given only when the intervals settle it; an interval that
/// straddles a threshold the verdict depends on makes it `undecided`, so a ratio sitting at
/// a threshold cannot flip the verdict from run to run.
pub fn verdict(ratios: &[Series]) -> Decision {
    let intervals: Vec<(&str, Interval)> = ratios
        .iter()
        .filter_map(|r| Some((r.name.as_str(), median_interval(&r.samples)?)))
        .collect();
    if intervals.is_empty() {
        return Decision {
            verdict: "undecided",
            because: "not measured".into(),
        };
    }
    let named = |(name, i): &(&str, Interval)| format!("{name} {}", interval_text(i));
    let find =
        |threshold: f64, want: Side| intervals.iter().find(|(_, i)| side(i, threshold) == want);
    if intervals.iter().all(|(_, i)| side(i, TWICE) == Side::Above) {
        return Decision {
            verdict: "holds",
            because: format!("every interval lies at or above {TWICE}x"),
        };
    }
    if intervals
        .iter()
        .all(|(_, i)| side(i, FASTER) == Side::Below)
    {
        return Decision {
            verdict: "does-not-hold",
            because: format!("every interval lies below {FASTER}x"),
        };
    }
    if let (Some(short), Some(faster)) = (find(TWICE, Side::Below), find(FASTER, Side::Above)) {
        return Decision {
            verdict: "partly",
            because: format!(
                "{} lies below {TWICE}x, {} at or above {FASTER}x",
                named(short),
                named(faster)
            ),
        };
    }
    let straddling = find(TWICE, Side::Straddles)
        .map(|x| (x, TWICE))
        .or_else(|| find(FASTER, Side::Straddles).map(|x| (x, FASTER)));
    Decision {
        verdict: "undecided",
        because: match straddling {
            Some((x, t)) => format!("{} straddles {t}x", named(x)),
            None => "the intervals settle no threshold".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, samples: &[f64]) -> Series {
        Series {
            name: name.into(),
            unit: "x",
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn median_of_odd_and_even_series() {
        let s = series("x", &[5.0, 1.0, 3.0]);
        assert_eq!(s.median(), 3.0);
        let s = series("x", &[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median(), 2.5);
        assert_eq!((s.min(), s.max()), (1.0, 4.0));
    }

    #[test]
    fn median_interval_takes_the_order_statistics_that_reach_the_confidence() {
        // 7 samples: min..max covers 1 - 2/128 = 98.4%; the next pair in only 87.5%.
        let i = median_interval(&[7.0, 1.0, 6.0, 2.0, 5.0, 3.0, 4.0]).unwrap();
        assert_eq!((i.low, i.median, i.high), (1.0, 4.0, 7.0));
        assert!((i.confidence - (1.0 - 2.0 / 128.0)).abs() < 1e-12);
        // 10 samples: the 2nd smallest and 2nd largest, 1 - 2·11/1024 = 97.9%.
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let i = median_interval(&ten).unwrap();
        assert_eq!((i.low, i.high), (2.0, 9.0));
        assert!(i.confidence >= CONFIDENCE);
        // Too few samples for 95%: min..max, with the coverage it really has.
        let i = median_interval(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((i.low, i.high), (1.0, 3.0));
        assert!((i.confidence - 0.75).abs() < 1e-12);
        assert!(median_interval(&[]).is_none());
        assert!(median_interval(&[f64::NAN]).is_none());
    }

    #[test]
    fn verdict_needs_intervals_clear_of_the_thresholds() {
        let v = |rs: &[&[f64]]| {
            let rs: Vec<Series> = rs.iter().map(|s| series("k", s)).collect();
            verdict(&rs).verdict
        };
        assert_eq!(v(&[&[2.0, 2.1, 1.9], &[1.6, 1.7, 1.8]]), "holds");
        assert_eq!(v(&[&[2.0, 2.1, 1.9], &[1.2, 1.3, 1.25]]), "partly");
        // One comparison under 1.5 and above 1.1 is already "partly", whatever the others do.
        assert_eq!(v(&[&[1.2, 1.3, 1.25], &[1.4, 1.6, 1.5]]), "partly");
        assert_eq!(v(&[&[1.0, 0.9, 0.95], &[0.9, 1.05, 1.0]]), "does-not-hold");
        // Every other comparison at or above 1.5, one straddling it: not settled.
        let rs = [series("a", &[2.0, 2.1, 1.9]), series("b", &[1.4, 1.6, 1.5])];
        let d = verdict(&rs);
        assert_eq!(d.verdict, "undecided");
        assert_eq!(d.because, "b 1.50x (1.40–1.60 at 75%) straddles 1.5x");
        assert_eq!(verdict(&[]).verdict, "undecided");
    }

    #[test]
    fn sendto_verdict_follows_the_interval_on_the_share_of_extra_work() {
        // 1.5x: the connected send saves a third of the sendto time.
        assert!((sendto_extra_share(1.5) - 1.0 / 3.0).abs() < 1e-12);
        let d = |s: &[f64]| sendto_verdict(median_interval(s).as_ref()).verdict;
        assert_eq!(d(&[1.0, 0.97, 1.04]), "does-not-hold");
        assert_eq!(d(&[1.06, 1.5, 2.5]), "partly");
        assert_eq!(d(&[1.0, 1.04, 1.2]), "undecided");
        assert_eq!(sendto_verdict(None).verdict, "undecided");
    }

    #[test]
    fn ratios_pair_the_rounds() {
        let result = BenchResult {
            series: vec![
                series("udp-sendto-ns", &[1200.0, 1100.0]),
                series("udp-send-ns", &[1000.0, 1000.0]),
                series("unix-stream-rtt", &[10.0, 20.0]),
                series("tcp-rtt", &[15.0, 20.0]),
            ],
        };
        let r = result.sendto_ratios().unwrap();
        assert_eq!(r.samples, vec![1.2, 1.1]);
        let r = result.ratios();
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].name.as_str(), r[0].samples.clone()),
            ("stream latency", vec![1.5, 1.0])
        );
        assert!(BenchResult { series: vec![] }.sendto_ratios().is_none());
        // A recorded per-round block ratio is preferred to the ratio of the round's means.
        let mut with_blocks = result.clone();
        with_blocks
            .series
            .push(series(STREAM_LATENCY_RATIO, &[1.4, 1.3]));
        assert_eq!(with_blocks.ratios()[0].samples, vec![1.4, 1.3]);
    }

    /// One tiny round of everything: the plumbing works and every figure is positive (no
    /// timing is asserted).
    #[test]
    fn a_small_run_measures_every_series() {
        let config = BenchConfig {
            rounds: 1,
            round_trips: 20,
            bulk_bytes: 1 << 20,
            datagrams: 64,
            sends: 100,
        };
        let result = run(&config).unwrap();
        assert_eq!(result.series.len(), 13);
        assert!(result
            .series
            .iter()
            .all(|s| s.samples.len() == 1 && s.samples[0] > 0.0));
        assert_eq!(result.ratios().len(), 4);
        assert_eq!(result.sendto_ratios().map(|r| r.samples.len()), Some(1));
    }
}

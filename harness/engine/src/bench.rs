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
    /// Rounds per measurement; the median is reported with min and max.
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
        BenchConfig {
            rounds: 7,
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
    /// socket, one value per round (the two are measured back to back in each round).
    pub fn sendto_ratios(&self) -> Option<Series> {
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

    /// How many times faster Unix is than Internet for each comparison, from the medians:
    /// for latency the Internet time over the Unix time, for throughput Unix over Internet.
    pub fn ratios(&self) -> Vec<(String, f64)> {
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
                let (u, i) = (self.get(unix)?.median(), self.get(inet)?.median());
                let ratio = if *higher_is_better { u / i } else { i / u };
                Some((label.to_string(), ratio))
            })
            .collect()
    }
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
    ]
    .into_iter()
    .map(|(name, unit)| Series {
        name: name.to_string(),
        unit,
        samples: Vec::new(),
    })
    .collect();
    for _ in 0..config.rounds {
        let (sendto, send) = udp_send_costs(config.sends)?;
        let values = [
            unix_stream_rtt(config.round_trips)?,
            tcp_rtt(config.round_trips)?,
            unix_dgram_rtt(config.round_trips)?,
            udp_rtt(config.round_trips)?,
            unix_stream_throughput(config.bulk_bytes)?,
            tcp_throughput(config.bulk_bytes)?,
            unix_dgram_throughput(config.datagrams)?,
            udp_throughput(config.datagrams)?,
            sendto,
            send,
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

/// Mean round-trip time in microseconds of `n` PING-byte exchanges with an echoing thread.
fn stream_rtt<S: Read + Write + Send + 'static>(
    mut client: S,
    mut server: S,
    n: u32,
) -> io::Result<f64> {
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; PING];
        for _ in 0..n {
            server.read_exact(&mut buf)?;
            server.write_all(&buf)?;
        }
        Ok(())
    });
    let mut buf = [7u8; PING];
    let start = Instant::now();
    for _ in 0..n {
        client.write_all(&buf)?;
        client.read_exact(&mut buf)?;
    }
    let elapsed = start.elapsed();
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    Ok(elapsed.as_secs_f64() * 1e6 / f64::from(n))
}

fn unix_stream_rtt(n: u32) -> io::Result<f64> {
    let (a, b) = unix_stream_pair()?;
    stream_rtt(a, b, n)
}

fn tcp_rtt(n: u32) -> io::Result<f64> {
    let (a, b) = tcp_pair()?;
    stream_rtt(a, b, n)
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

/// Round trips of one PING-byte datagram: on loopback with one in flight none is lost, and a
/// loss would surface as the read timeout.
fn dgram_rtt<D: Dgram>(client: D, server: D, n: u32) -> io::Result<f64> {
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; PING];
        for _ in 0..n {
            let len = server.recv_one(&mut buf)?;
            server.send_one(&buf[..len])?;
        }
        Ok(())
    });
    let mut buf = [7u8; PING];
    let start = Instant::now();
    for _ in 0..n {
        client.send_one(&buf)?;
        client.recv_one(&mut buf)?;
    }
    let elapsed = start.elapsed();
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    Ok(elapsed.as_secs_f64() * 1e6 / f64::from(n))
}

fn unix_dgram_rtt(n: u32) -> io::Result<f64> {
    let (a, b) = unix_dgram_pair()?;
    dgram_rtt(a, b, n)
}

fn udp_rtt(n: u32) -> io::Result<f64> {
    let (a, b) = udp_pair()?;
    dgram_rtt(a, b, n)
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
fn udp_send_costs(count: u32) -> io::Result<(f64, f64)> {
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
    let mut sent = 0;
    let mut turn = 0;
    while sent < count {
        let batch = SEND_BATCH.min(count - sent);
        for k in [turn % 2, (turn + 1) % 2] {
            let start = Instant::now();
            for _ in 0..batch {
                if k == 0 {
                    unconnected.send_to(&data, to)?;
                } else {
                    connected.send(&data)?;
                }
            }
            timed[k] += start.elapsed();
            // A drop would show as the read timeout: the batch fits the receive buffer.
            for _ in 0..batch {
                receiver.recv(&mut buf)?;
            }
        }
        sent += batch;
        turn += 1;
    }
    let per_call = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(count.max(1));
    Ok((per_call(timed[0]), per_call(timed[1])))
}

/// The share of an unconnected `sendto`'s time that a connected `send` saves, from the
/// ratio of their costs: 1.5x means a third.
pub fn sendto_extra_share(ratio: f64) -> f64 {
    1.0 - 1.0 / ratio
}

/// Below this share of the sendto time, the difference is within what rounds of the same
/// measurement differ by on a quiet machine (a few per cent), so it is not counted as a cost.
pub const SENDTO_NOISE_SHARE: f64 = 0.05;

/// The verdict on "some kernels connect and disconnect internally on every sendto, costing up
/// to a third of the send time", from the median sendto/send ratio.
///
/// Linux has no such internal connect: `udp_sendmsg` on an unconnected socket looks the route
/// up on every call, while a connected socket reuses the route it cached at `connect`. So on
/// Linux the claim can only hold in part: it does not hold when sendto is not measurably
/// slower (its extra work is under SENDTO_NOISE_SHARE of its time), and holds partly when it
/// is — whether the share is below or above the third the claim names, the mechanism is not
/// the one it describes. Never `holds`: no timing can show a mechanism the source lacks.
pub fn sendto_verdict(ratio: Option<f64>) -> &'static str {
    match ratio {
        Some(r) if r.is_finite() && r > 0.0 => {
            if sendto_extra_share(r) < SENDTO_NOISE_SHARE {
                "does-not-hold"
            } else {
                "partly"
            }
        }
        _ => "undecided",
    }
}

/// The ratios as one line: `stream latency 1.36x, stream throughput 2.71x, …`.
pub fn ratio_summary(ratios: &[(String, f64)]) -> String {
    ratios
        .iter()
        .map(|(l, r)| format!("{l} {r:.2}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict on "Unix sockets are about twice as fast" from the measured ratios: it holds
/// when every comparison shows Unix at least 1.5 times faster, does not hold when none shows
/// it 1.1 times faster, and holds partly otherwise.
pub fn verdict(ratios: &[(String, f64)]) -> &'static str {
    if ratios.is_empty() {
        "undecided"
    } else if ratios.iter().all(|(_, r)| *r >= 1.5) {
        "holds"
    } else if ratios.iter().all(|(_, r)| *r < 1.1) {
        "does-not-hold"
    } else {
        "partly"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_series() {
        let s = Series {
            name: "x".into(),
            unit: "us",
            samples: vec![5.0, 1.0, 3.0],
        };
        assert_eq!(s.median(), 3.0);
        let s = Series {
            name: "x".into(),
            unit: "us",
            samples: vec![4.0, 1.0, 3.0, 2.0],
        };
        assert_eq!(s.median(), 2.5);
        assert_eq!((s.min(), s.max()), (1.0, 4.0));
    }

    #[test]
    fn verdict_follows_the_ratios() {
        let r = |v: &[f64]| v.iter().map(|x| ("k".to_string(), *x)).collect::<Vec<_>>();
        assert_eq!(verdict(&r(&[2.0, 1.6])), "holds");
        assert_eq!(verdict(&r(&[2.0, 1.2])), "partly");
        assert_eq!(verdict(&r(&[1.0, 0.9])), "does-not-hold");
        assert_eq!(verdict(&[]), "undecided");
    }

    #[test]
    fn sendto_verdict_follows_the_share_of_extra_work() {
        // 1.5x: the connected send saves a third of the sendto time.
        assert!((sendto_extra_share(1.5) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(sendto_verdict(Some(1.0)), "does-not-hold");
        assert_eq!(sendto_verdict(Some(1.04)), "does-not-hold");
        assert_eq!(sendto_verdict(Some(0.97)), "does-not-hold");
        assert_eq!(sendto_verdict(Some(1.06)), "partly");
        assert_eq!(sendto_verdict(Some(1.5)), "partly");
        assert_eq!(sendto_verdict(Some(2.5)), "partly");
        assert_eq!(sendto_verdict(None), "undecided");
        assert_eq!(sendto_verdict(Some(f64::NAN)), "undecided");
    }

    #[test]
    fn sendto_ratios_pair_the_rounds() {
        let series = |name: &str, samples: Vec<f64>| Series {
            name: name.into(),
            unit: "ns",
            samples,
        };
        let result = BenchResult {
            series: vec![
                series("udp-sendto-ns", vec![1200.0, 1100.0]),
                series("udp-send-ns", vec![1000.0, 1000.0]),
            ],
        };
        let r = result.sendto_ratios().unwrap();
        assert_eq!(r.samples, vec![1.2, 1.1]);
        assert!(BenchResult { series: vec![] }.sendto_ratios().is_none());
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
        assert_eq!(result.series.len(), 10);
        assert!(result
            .series
            .iter()
            .all(|s| s.samples.len() == 1 && s.samples[0] > 0.0));
        assert_eq!(result.ratios().len(), 4);
        assert_eq!(result.sendto_ratios().map(|r| r.samples.len()), Some(1));
    }
}

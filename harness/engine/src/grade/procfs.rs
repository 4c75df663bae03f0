//! What `/proc` says about a server under test: its process tree (the descendants of its
//! sandbox's init), each process's state, CPU time and descriptors, and the sockets of its
//! network namespace (`/proc/PID/net/tcp` read through a process inside that namespace).
//! Nothing here connects to the server: looking never changes what is looked at.

use std::collections::{BTreeSet, HashMap};
use std::fs;

/// One process, from `/proc/PID/stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `D`, `Z`, `T`…
    pub state: char,
    /// User and system time, and those of waited-for children, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    pub threads: u32,
}

impl Proc {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z' || self.state == 'X'
    }
}

/// Parses one `/proc/PID/stat` line. The command name is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    Some(Proc {
        pid,
        state: rest.first()?.chars().next()?,
        ppid: field(4)? as i32,
        utime: field(14)? as u64,
        stime: field(15)? as u64,
        cutime: field(16)?.max(0) as u64,
        cstime: field(17)?.max(0) as u64,
        threads: field(20)?.max(0) as u32,
    })
}

pub fn read_proc(pid: i32) -> Option<Proc> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process of the machine (of the grader's pid namespace).
pub fn all_procs() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// The processes of one sandbox: everything below its init, and which one is the server's
/// main process (pid 2 of the sandbox's pid namespace, the first one init started).
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub procs: Vec<Proc>,
    pub main: Option<i32>,
}

impl Tree {
    pub fn of_init(init: i32) -> Tree {
        Tree::from_procs(init, all_procs(), ns_pid)
    }

    /// Builds the tree from a process list; `inner_pid` tells a process's pid in its own
    /// namespace (injected so tests need no `/proc`).
    pub fn from_procs(init: i32, all: Vec<Proc>, inner_pid: impl Fn(i32) -> Option<i32>) -> Tree {
        let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
        for p in &all {
            children.entry(p.ppid).or_default().push(p);
        }
        let mut procs = Vec::new();
        let mut stack = vec![init];
        let mut seen = BTreeSet::new();
        while let Some(pid) = stack.pop() {
            for child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(child.pid) {
                    procs.push((*child).clone());
                    stack.push(child.pid);
                }
            }
        }
        let main = children
            .get(&init)
            .and_then(|c| c.iter().find(|p| inner_pid(p.pid) == Some(2)))
            .map(|p| p.pid);
        Tree { procs, main }
    }

    pub fn main_proc(&self) -> Option<&Proc> {
        let main = self.main?;
        self.procs.iter().find(|p| p.pid == main)
    }

    /// The main process exists and has not exited.
    pub fn alive(&self) -> bool {
        self.main_proc().is_some_and(|p| !p.is_zombie())
    }

    pub fn live(&self) -> impl Iterator<Item = &Proc> {
        self.procs.iter().filter(|p| !p.is_zombie())
    }

    pub fn zombies(&self) -> usize {
        self.procs.iter().filter(|p| p.is_zombie()).count()
    }

    /// CPU time of the tree in clock ticks: what live processes used, plus what the main
    /// process's waited-for children used.
    pub fn cpu_ticks(&self) -> u64 {
        let live: u64 = self.procs.iter().map(|p| p.utime + p.stime).sum();
        let reaped = self.main_proc().map_or(0, |p| p.cutime + p.cstime);
        live + reaped
    }
}

/// The innermost pid of a process (`NSpid:` in `/proc/PID/status`).
pub fn ns_pid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub fn peak_rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How long a process has been runnable, in ms: on a CPU plus waiting for one
/// (`/proc/PID/schedstat`). Unlike CPU time it does not shrink when the machine is busy,
/// so it tells a spinning server from an idle one under any load.
pub fn runnable_ms(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let mut f = text.split_whitespace().map(|v| v.parse::<u64>().ok());
    let (on_cpu, waiting) = (f.next()??, f.next()??);
    Some((on_cpu + waiting) / 1_000_000)
}

/// How many descriptors a process has open.
pub fn fd_count(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// The socket inodes a process holds (`/proc/PID/fd/N -> socket:[INODE]`).
pub fn socket_inodes(pid: i32) -> BTreeSet<u64> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| {
        let target = fs::read_link(e.ok()?.path()).ok()?;
        parse_socket_link(target.to_str()?)
    })
    .collect()
}

pub fn parse_socket_link(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The transport of a socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One row of `/proc/net/{tcp,tcp6,udp,udp6}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSock {
    pub proto: Proto,
    pub local_port: u16,
    pub remote_port: u16,
    /// The TCP state number (`0A` LISTEN, `08` CLOSE-WAIT); UDP sockets show `07` (CLOSE)
    /// when unconnected.
    pub state: u8,
    pub inode: u64,
}

/// TCP states as `/proc/net/tcp` numbers them (`include/net/tcp_states.h`).
pub const TCP_LISTEN: u8 = 0x0A;
pub const TCP_CLOSE_WAIT: u8 = 0x08;

/// Parses a `/proc/net/tcp`-style table (the header line is skipped; addresses are hex with
/// the port after the last `:`, already in host byte order).
pub fn parse_net_table(proto: Proto, text: &str) -> Vec<NetSock> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
            Some(NetSock {
                proto,
                local_port: port(f.get(1)?)?,
                remote_port: port(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Every TCP and UDP socket (v4 and v6) of the network namespace `netns_pid` lives in.
pub fn net_sockets(netns_pid: i32) -> Vec<NetSock> {
    let mut all = Vec::new();
    for (proto, file) in [
        (Proto::Tcp, "tcp"),
        (Proto::Tcp, "tcp6"),
        (Proto::Udp, "udp"),
        (Proto::Udp, "udp6"),
    ] {
        if let Ok(text) = fs::read_to_string(format!("/proc/{netns_pid}/net/{file}")) {
            all.extend(parse_net_table(proto, &text));
        }
    }
    all
}

/// The sockets the server's processes hold, and which of them listen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    /// Ports with a TCP LISTEN socket owned by the server.
    pub tcp_listen: BTreeSet<u16>,
    /// Ports with a bound UDP socket owned by the server.
    pub udp_bound: BTreeSet<u16>,
}

/// The listening TCP and bound UDP ports whose sockets a process of `tree` holds.
pub fn owned_ports(sockets: &[NetSock], tree: &Tree) -> Owned {
    let inodes: BTreeSet<u64> = tree.live().flat_map(|p| socket_inodes(p.pid)).collect();
    owned_by(sockets, &inodes)
}

pub fn owned_by(sockets: &[NetSock], inodes: &BTreeSet<u64>) -> Owned {
    let mut owned = Owned::default();
    for s in sockets.iter().filter(|s| inodes.contains(&s.inode)) {
        match s.proto {
            Proto::Tcp if s.state == TCP_LISTEN => {
                owned.tcp_listen.insert(s.local_port);
            }
            Proto::Udp if s.local_port != 0 => {
                owned.udp_bound.insert(s.local_port);
            }
            _ => {}
        }
    }
    owned
}

/// The facts `server_fact(...)` and the per-case record read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub alive: bool,
    pub processes: usize,
    pub threads: usize,
    pub children: usize,
    pub zombies: usize,
    pub fds: usize,
    pub close_wait: usize,
    pub listeners_in_children: usize,
    pub cpu_ticks: u64,
    pub peak_rss_kib: u64,
}

/// Measures the server of the sandbox whose init is `init` and whose network namespace
/// `netns_pid` is in.
pub fn snapshot(init: i32, netns_pid: i32) -> Snapshot {
    let tree = Tree::of_init(init);
    let sockets = net_sockets(netns_pid);
    let listening: BTreeSet<u64> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == TCP_LISTEN)
        .map(|s| s.inode)
        .collect();
    let close_wait_inodes: BTreeSet<u64> = sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == TCP_CLOSE_WAIT)
        .map(|s| s.inode)
        .collect();
    let mut held = BTreeSet::new();
    let mut listeners_in_children = 0;
    for p in tree.live() {
        let inodes = socket_inodes(p.pid);
        if Some(p.pid) != tree.main && inodes.iter().any(|i| listening.contains(i)) {
            listeners_in_children += 1;
        }
        held.extend(inodes);
    }
    let main = tree.main_proc().filter(|p| !p.is_zombie());
    Snapshot {
        alive: main.is_some(),
        processes: tree.live().count(),
        threads: main.map_or(0, |p| p.threads as usize),
        children: tree.live().filter(|p| Some(p.pid) != tree.main).count(),
        zombies: tree.zombies(),
        fds: main.and_then(|p| fd_count(p.pid)).unwrap_or(0),
        close_wait: held.intersection(&close_wait_inodes).count(),
        listeners_in_children,
        cpu_ticks: tree.cpu_ticks(),
        peak_rss_kib: main.and_then(|p| peak_rss_kib(p.pid)).unwrap_or(0),
    }
}

/// Clock ticks per second, for `utime`/`stime`.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_tricky_command_name() {
        let line = "4242 (my (odd) srv) S 4200 4242 4242 0 -1 4194560 107 0 0 0 7 3 2 1 20 0 1 0 \
                    123 2469888 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_stat(line).unwrap();
        assert_eq!(p.pid, 4242);
        assert_eq!(p.ppid, 4200);
        assert_eq!(p.state, 'S');
        assert_eq!((p.utime, p.stime, p.cutime, p.cstime), (7, 3, 2, 1));
        assert_eq!(p.threads, 1);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn net_table_rows() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000 100000        0 31337 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1389 0100007F:9C40 08 00000000:00000000 00:00000000 00000000 100000        0 31338 1 0000000000000000 20 4 30 10 -1\n";
        let rows = parse_net_table(Proto::Tcp, text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local_port, 5001);
        assert_eq!(rows[0].state, TCP_LISTEN);
        assert_eq!(rows[0].inode, 31337);
        assert_eq!(rows[1].remote_port, 0x9C40);
        assert_eq!(rows[1].state, TCP_CLOSE_WAIT);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000000000000:0007 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0\n";
        let rows = parse_net_table(Proto::Udp, v6);
        assert_eq!(rows[0].local_port, 7);
        assert_eq!(rows[0].inode, 777);
        let owned = owned_by(&rows, &[777].into_iter().collect());
        assert_eq!(owned.udp_bound.into_iter().collect::<Vec<_>>(), vec![7]);
        assert!(owned_by(&rows, &BTreeSet::new()).udp_bound.is_empty());
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link("socket:[31337]"), Some(31337));
        assert_eq!(parse_socket_link("pipe:[12]"), None);
        assert_eq!(parse_socket_link("/dev/null"), None);
    }

    fn proc(pid: i32, ppid: i32, state: char) -> Proc {
        Proc {
            pid,
            ppid,
            state,
            utime: 1,
            stime: 1,
            cutime: 0,
            cstime: 0,
            threads: 1,
        }
    }

    #[test]
    fn tree_below_init_and_its_main_process() {
        let all = vec![
            proc(1, 0, 'S'),
            proc(100, 1, 'S'),   // the holder
            proc(101, 100, 'S'), // the sandbox's init
            proc(102, 101, 'S'), // the server (pid 2 inside)
            proc(103, 102, 'S'),
            proc(104, 102, 'Z'),
            proc(105, 101, 'S'), // an orphan adopted by init
            proc(200, 1, 'S'),
        ];
        let inner = |pid: i32| Some(if pid == 102 { 2 } else { pid });
        let t = Tree::from_procs(101, all, inner);
        let mut pids: Vec<i32> = t.procs.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, vec![102, 103, 104, 105]);
        assert_eq!(t.main, Some(102));
        assert!(t.alive());
        assert_eq!(t.zombies(), 1);
        assert_eq!(t.live().count(), 3);
        assert_eq!(t.cpu_ticks(), 8);
    }
}

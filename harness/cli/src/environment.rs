//! What the run saw of the machine: kernel, capabilities, the sysctls expectations depend on,
//! and which implementation of the Linux ABI it is (a Linux kernel, gVisor, User-mode Linux).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sockspec_engine::sandbox::Isolation;
use sockspec_reports::{Environment, Runtime};

/// The sysctls that decide expectations somewhere in the catalogue.
pub const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.core.somaxconn",
    "net.core.rmem_default",
    "net.core.wmem_default",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.unix.max_dgram_qlen",
    "net.ipv6.conf.lo.disable_ipv6",
    "user.max_user_namespaces",
];

pub fn read_sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Linux's capabilities by bit number (`linux/capability.h`, 0 to 40).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The effective capabilities this process actually holds (`CapEff` in /proc/self/status),
/// by name. Root does not imply them: runsc, for one, drops CAP_NET_RAW by default.
pub fn capabilities() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    effective_capabilities(&status)
}

fn effective_capabilities(status: &str) -> Vec<String> {
    let bits = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bits & (1 << bit) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

pub fn collect(
    isolation: Isolation,
    isolation_reason: Option<String>,
    time_scale: f64,
) -> Environment {
    let uts = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uts.as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let kernel_release = field(|u| u.release());
    let sysctls: BTreeMap<String, String> = SYSCTLS
        .iter()
        .filter_map(|n| read_sysctl(n).map(|v| (n.to_string(), v)))
        .collect();
    let seen = Observed {
        release: kernel_release.clone(),
        version: field(|u| u.version()),
        machine: field(|u| u.machine()),
        cmdline: std::fs::read_to_string("/proc/cmdline").unwrap_or_default(),
        cpuinfo: std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default(),
        namespaces: std::fs::read_dir("/proc/self/ns")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default(),
        kernel_log: sockspec_engine::host::kernel_log_head(),
        told_version: std::env::var("SOCKSPEC_RUNTIME_VERSION").ok(),
        told_flags: std::env::var("SOCKSPEC_RUNTIME_FLAGS").ok(),
    };
    let runtime = identify(&seen);
    Environment {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        tool_commit: option_env!("SOCKSPEC_COMMIT").map(str::to_string),
        os: field(|u| u.sysname()),
        label: default_label(&kernel_release, runtime.as_ref()),
        kernel_release,
        kernel_version: seen.version.clone(),
        arch: seen.machine.clone(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        uid: nix::unistd::getuid().as_raw(),
        isolation: isolation.as_str().to_string(),
        isolation_reason,
        isolation_checks: String::new(),
        capabilities: capabilities(),
        sysctls,
        command_line: std::env::args().collect(),
        started_at: rfc3339_now(),
        duration_ms: 0,
        time_scale,
        runtime,
    }
}

/// gVisor's `uname -v`, the same in every release: its kernel only pretends to be Linux 4.4.
const GVISOR_UNAME_VERSION: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

/// What the identification looks at, gathered once so that the decision is a pure function.
#[derive(Debug, Clone, Default)]
struct Observed {
    release: String,
    version: String,
    machine: String,
    cmdline: String,
    cpuinfo: String,
    /// The entries of `/proc/self/ns`: Linux (4.6 and later) has `cgroup ipc mnt net pid
    /// user uts` and more, gVisor 20221219 only `net pid user`.
    namespaces: Vec<String>,
    /// The start of the kernel log (`dmesg`), when it can be read.
    kernel_log: String,
    /// What a launcher such as ci/run-in-gvisor.sh said about the runtime: gVisor shows
    /// neither its version nor its platform flags from inside.
    told_version: Option<String>,
    told_flags: Option<String>,
}

/// The runtime the observations point to, with each observation that does; `None` for a
/// Linux kernel running on hardware or in a full VM.
fn identify(seen: &Observed) -> Option<Runtime> {
    let mut gvisor = Vec::new();
    if seen.version == GVISOR_UNAME_VERSION {
        gvisor.push(format!(
            "uname -v is gVisor's fixed `{GVISOR_UNAME_VERSION}`"
        ));
    }
    if seen.cmdline.contains("gvisor") {
        gvisor.push(format!("/proc/cmdline is `{}`", seen.cmdline.trim()));
    }
    if seen.kernel_log.contains("Starting gVisor") {
        gvisor.push("the kernel log starts with `Starting gVisor...`".to_string());
    }
    if !gvisor.is_empty() {
        if !seen.namespaces.iter().any(|n| n == "mnt") {
            let mut shown = seen.namespaces.clone();
            shown.sort();
            gvisor.push(format!(
                "/proc/self/ns has no `mnt` entry (only: {})",
                if shown.is_empty() {
                    "none".to_string()
                } else {
                    shown.join(" ")
                }
            ));
        }
        return Some(Runtime {
            name: "gvisor".to_string(),
            version: seen.told_version.clone(),
            flags: seen.told_flags.clone(),
            evidence: gvisor,
        });
    }
    let cpu = |key: &str| {
        seen.cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let mut uml = Vec::new();
    if cpu("vendor_id").as_deref() == Some("User Mode Linux") {
        uml.push("/proc/cpuinfo says `vendor_id: User Mode Linux`".to_string());
    }
    if cpu("model name").as_deref() == Some("UML") {
        uml.push("/proc/cpuinfo says `model name: UML`".to_string());
    }
    if seen.machine == "um" {
        uml.push("uname -m is `um`".to_string());
    }
    if uml.is_empty() {
        return None;
    }
    let flags: Vec<String> = [("mode", cpu("mode")), ("host", cpu("host"))]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
        .collect();
    Some(Runtime {
        name: "user-mode-linux".to_string(),
        version: Some(seen.release.clone()),
        flags: (!flags.is_empty()).then(|| flags.join("; ")),
        evidence: uml,
    })
}

/// A run's label in merged reports: what it ran on, so that a host × gVisor × UML matrix
/// names its columns without `--label`.
fn default_label(release: &str, runtime: Option<&Runtime>) -> String {
    match runtime {
        Some(r) if r.name == "gvisor" => match &r.version {
            Some(v) => format!("gVisor ({v})"),
            None => "gVisor".to_string(),
        },
        Some(r) if r.name == "user-mode-linux" => format!("UML {release}"),
        Some(r) => format!("{} {release}", r.name),
        None => release.to_string(),
    }
}

/// The current UTC time as `2026-11-22T07:46:39Z`.
pub fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether IPv6 works on loopback (bind `[::1]:0`).
pub fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GVISOR_CPUINFO: &str =
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: unknown\n";
    const UML_CPUINFO: &str = "processor\t: 0\nvendor_id\t: User Mode Linux\nmodel name\t: UML\nmode\t\t: skas\nhost\t\t: Linux vm 6.18.44 #1 SMP x86_64\n";

    /// What a Linux 6.18 host shows.
    fn linux() -> Observed {
        Observed {
            release: "6.18.44".into(),
            version: "#1 SMP PREEMPT_DYNAMIC".into(),
            machine: "x86_64".into(),
            cmdline: "BOOT_IMAGE=/vmlinuz-6.18.44 root=/dev/vda ro".into(),
            cpuinfo: "processor\t: 0\nvendor_id\t: AuthenticAMD\n".into(),
            namespaces: ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
                .map(String::from)
                .to_vec(),
            kernel_log: "[    0.000000] Linux version 6.18.44".into(),
            ..Observed::default()
        }
    }

    #[test]
    fn a_linux_kernel_is_no_runtime_and_is_labelled_by_its_release() {
        // A launcher's variables leaking into a host run do not make it gVisor.
        let seen = Observed {
            told_version: Some("runsc 0.0~20221219.0".into()),
            ..linux()
        };
        assert_eq!(identify(&seen), None);
        assert_eq!(default_label("6.18.44", None), "6.18.44");
    }

    #[test]
    fn gvisor_is_recognised_by_what_it_shows_and_takes_the_launchers_version() {
        // As seen under `runsc --network=none do` with runsc 20221219.
        let seen = Observed {
            release: "4.4.0".into(),
            version: GVISOR_UNAME_VERSION.into(),
            machine: "x86_64".into(),
            cmdline: "BOOT_IMAGE=/vmlinuz-4.4.0-gvisor quiet\n".into(),
            cpuinfo: GVISOR_CPUINFO.into(),
            namespaces: vec!["net".into(), "user".into(), "pid".into()],
            kernel_log: "[    0.000000] Starting gVisor...\n".into(),
            told_version: Some("runsc 0.0~20221219.0".into()),
            told_flags: Some("--network=none --platform=ptrace".into()),
        };
        let runtime = identify(&seen).expect("gVisor");
        assert_eq!(runtime.name, "gvisor");
        assert_eq!(runtime.version.as_deref(), Some("runsc 0.0~20221219.0"));
        assert_eq!(
            runtime.flags.as_deref(),
            Some("--network=none --platform=ptrace")
        );
        assert_eq!(runtime.evidence.len(), 4, "{:?}", runtime.evidence);
        assert_eq!(
            default_label("4.4.0", Some(&runtime)),
            "gVisor (runsc 0.0~20221219.0)"
        );
        // Without a launcher, the fixed uname alone still identifies it.
        let alone = Observed {
            version: GVISOR_UNAME_VERSION.into(),
            ..Observed::default()
        };
        let runtime = identify(&alone).expect("gVisor from uname -v");
        assert_eq!(runtime.version, None);
        assert_eq!(default_label("4.4.0", Some(&runtime)), "gVisor");
    }

    #[test]
    fn user_mode_linux_is_recognised_by_its_cpuinfo_with_mode_and_host() {
        // As Debian's linux.uml 6.1.176 shows it: uname -m says x86_64, not `um`.
        let seen = Observed {
            release: "6.1.176".into(),
            version: "#1 Sat Jul  4 15:38:16 UTC 2026".into(),
            machine: "x86_64".into(),
            cpuinfo: UML_CPUINFO.into(),
            ..Observed::default()
        };
        let runtime = identify(&seen).expect("UML");
        assert_eq!(runtime.name, "user-mode-linux");
        assert_eq!(runtime.version.as_deref(), Some("6.1.176"));
        assert_eq!(
            runtime.flags.as_deref(),
            Some("mode skas; host Linux vm 6.18.44 #1 SMP x86_64")
        );
        assert_eq!(runtime.evidence.len(), 2, "{:?}", runtime.evidence);
        assert_eq!(default_label("6.1.176", Some(&runtime)), "UML 6.1.176");
        let um = Observed {
            machine: "um".into(),
            ..linux()
        };
        assert_eq!(
            identify(&um).map(|r| r.name),
            Some("user-mode-linux".into())
        );
    }

    #[test]
    fn capabilities_are_the_effective_set_by_name() {
        // runsc's default set: everything up to CAP_AUDIT_READ but CAP_NET_RAW (bit 13).
        let caps = effective_capabilities("CapInh:\t0000003fffffdfff\nCapEff:\t0000003fffffdfff\n");
        assert_eq!(caps.len(), 37);
        assert!(caps.iter().any(|c| c == "CAP_NET_ADMIN"));
        assert!(!caps.iter().any(|c| c == "CAP_NET_RAW"));
        assert!(effective_capabilities("CapEff:\t0000000000002000\n") == ["CAP_NET_RAW"]);
        assert!(effective_capabilities("").is_empty());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

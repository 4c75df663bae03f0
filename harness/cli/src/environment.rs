//! What the run saw of the machine: kernel, capabilities, the sysctls expectations depend on.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sockspec_engine::sandbox::Isolation;
use sockspec_reports::Environment;

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

/// The effective capabilities of this process, by name.
pub fn capabilities() -> Vec<String> {
    const NAMES: &[(u32, &str)] = &[
        (10, "CAP_NET_BIND_SERVICE"),
        (12, "CAP_NET_ADMIN"),
        (13, "CAP_NET_RAW"),
        (21, "CAP_SYS_ADMIN"),
        (6, "CAP_SETGID"),
        (7, "CAP_SETUID"),
        (5, "CAP_KILL"),
    ];
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bits = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    NAMES
        .iter()
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
    Environment {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        tool_commit: option_env!("SOCKSPEC_COMMIT").map(str::to_string),
        os: field(|u| u.sysname()),
        label: kernel_release.clone(),
        kernel_release,
        kernel_version: field(|u| u.version()),
        arch: field(|u| u.machine()),
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

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

//! Resource control of grading sandboxes: a cgroup v2 group for each sandbox where the host
//! has one to give (memory.max, pids.max, cpu.max, and cgroup.kill for the whole tree), the
//! holder's rlimits otherwise (RLIMIT_DATA, RLIMIT_NPROC). Which one a batch got is said
//! once, so a teacher knows what bounded the servers.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cgroup::{self, Controller, Delegation, Group};

use super::holder::Limits;
use super::server::Stopped;

/// CPU bandwidth of one sandbox: one CPU. A spinning server then leaves the grader's other
/// cores alone however many threads it starts; a correct echo server uses a few percent of
/// one.
const CPU_QUOTA_US: u64 = 100_000;
const CPU_PERIOD_US: u64 = 100_000;

/// What bounds the batch's sandboxes.
#[derive(Debug)]
pub struct Resources {
    delegation: Option<Delegation>,
    /// Why memory is bounded by rlimits only (no cgroup, or one without the controller).
    pub fallback: Option<String>,
    /// Set by [`Resources::clean_up`]: a worker still starting a sandbox then gets no group.
    closed: AtomicBool,
}

impl Resources {
    /// Takes a delegation for this batch: any cgroup v2 hierarchy the runner may write
    /// (even without controllers its groups give one `cgroup.kill` for a whole sandbox);
    /// memory and processes count through it when their controllers are there.
    pub fn acquire() -> Resources {
        match Delegation::acquire(&[]) {
            Ok(d) => {
                let missing: Vec<&str> = [Controller::Memory, Controller::Pids]
                    .into_iter()
                    .filter(|c| !d.has(*c))
                    .map(Controller::name)
                    .collect();
                let fallback = (!missing.is_empty()).then(|| {
                    format!(
                        "cgroup v2 at `{}` lacks the {} controller{}",
                        d.dir().display(),
                        missing.join(" and "),
                        if missing.len() > 1 { "s" } else { "" }
                    )
                });
                Resources {
                    delegation: Some(d),
                    fallback,
                    closed: AtomicBool::new(false),
                }
            }
            Err(e) => Resources {
                delegation: None,
                fallback: Some(e.to_string()),
                closed: AtomicBool::new(false),
            },
        }
    }

    /// No cgroup at all (for tests and for hosts where creating one must not be tried).
    pub fn rlimits_only(reason: &str) -> Resources {
        Resources {
            delegation: None,
            fallback: Some(reason.to_string()),
            closed: AtomicBool::new(false),
        }
    }

    /// memory.max bounds the sandbox, so the holder sets no RLIMIT_DATA.
    pub fn memory_in_cgroup(&self) -> bool {
        self.delegation
            .as_ref()
            .is_some_and(|d| d.has(Controller::Memory))
    }

    /// One sentence for the run's notes.
    pub fn describe(&self) -> String {
        match (&self.delegation, &self.fallback) {
            (Some(d), None) => format!(
                "sandboxes are bounded by cgroup v2 groups under `{}` (memory.max, pids.max{})",
                d.dir().display(),
                if d.has(Controller::Cpu) {
                    ", cpu.max"
                } else {
                    ""
                }
            ),
            (_, Some(why)) => format!(
                "memory is bounded per process by RLIMIT_DATA, processes per uid by \
                 RLIMIT_NPROC ({why}); socket buffers are then bounded only by the open-file \
                 limit times net.core.wmem_max"
            ),
            (None, None) => "no resource control".into(),
        }
    }

    /// Kills and removes every group of the batch (the interrupt handler's last step).
    pub fn clean_up(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(d) = &self.delegation {
            d.clean_up();
        }
    }

    /// A fresh group for one sandbox, or None (rlimits alone then bound it).
    pub fn group(&self, label: &str, limits: &Limits) -> Option<Group> {
        let d = self.delegation.as_ref()?;
        let g = d.create(label, &cgroup_limits(limits)).ok()?;
        // Created after clean_up looked (it sets the flag first, then removes what it
        // finds): remove it here instead.
        if self.closed.load(Ordering::SeqCst) {
            let _ = g.remove(cgroup::REMOVE_TIMEOUT);
            return None;
        }
        Some(g)
    }
}

/// The cgroup side of a sandbox's [`Limits`]: no swap to escape memory.max into.
pub fn cgroup_limits(l: &Limits) -> cgroup::Limits {
    cgroup::Limits {
        memory_max: Some(l.memory),
        swap_max: Some(0),
        pids_max: Some(l.processes),
        cpu_max: Some((CPU_QUOTA_US, CPU_PERIOD_US)),
    }
}

/// Why a sandbox's cgroup stopped it, in the words of the other diagnoses.
pub fn diagnose(stopped: &Stopped, limits: &Limits) -> Option<String> {
    if stopped.oom_kills > 0 {
        return Some(format!(
            "resource limit: memory ({} MiB for the sandbox reached; the kernel ended {} \
             process{})",
            limits.memory >> 20,
            stopped.oom_kills,
            if stopped.oom_kills == 1 { "" } else { "es" }
        ));
    }
    if stopped.pids_max_hits > 0 {
        return Some(format!(
            "resource limit: process count reached ({} forks refused at {} tasks)",
            stopped.pids_max_hits, limits.processes
        ));
    }
    None
}

/// A size in bytes from `512M`, `512MiB`, `2G`, `1GiB`, `65536` (bytes), for `--memory`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 512M, 1G, 768MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("`{text}` is not a size between 1 byte and 16 EiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("768 mib"), Ok(768 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn oom_is_named_before_anything_else() {
        let s = Stopped {
            oom_kills: 2,
            ..Stopped::default()
        };
        let d = diagnose(&s, &Limits::SERVER).unwrap();
        assert!(d.starts_with("resource limit: memory (512 MiB"), "{d}");
        assert!(d.ends_with("2 processes)"), "{d}");
        assert_eq!(diagnose(&Stopped::default(), &Limits::SERVER), None);
    }

    #[test]
    fn without_a_cgroup_the_holder_keeps_its_rlimits() {
        let r = Resources::rlimits_only("test");
        assert!(!r.memory_in_cgroup());
        assert!(r.group("x", &Limits::SERVER).is_none());
        assert!(r.describe().contains("RLIMIT_DATA"));
    }
}

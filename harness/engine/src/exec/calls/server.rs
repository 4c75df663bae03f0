//! Grading only: `server_signal` and `server_fact`, which act on and observe the server under
//! test. This is the one module of `exec` that reads the server's processes (`grade::procfs`),
//! each through one narrow function below, so kernel cases never depend on grading.

use sockspec_lang::Op;

use crate::exec::observed::Observed;
use crate::exec::resolve::no_server;
use crate::exec::resolve::{wrong_family, Resolver};
use crate::exec::HarnessError;

/// A call of this family with every argument resolved to what the syscall takes.
#[derive(Debug)]
pub(crate) enum Call {
    ServerSignal {
        signal: i32,
        init_pid: i32,
    },
    ServerFact {
        fact: sockspec_lang::ServerFact,
        init_pid: i32,
        netns_pid: i32,
    },
}

/// Resolves a call of this family; its transcript text comes with it.
pub(crate) fn prepare(r: &Resolver, op: &Op) -> Result<(Call, String), HarnessError> {
    Ok(match op {
        Op::ServerSignal { sig, .. } => {
            let target = r.ctx.server.clone().ok_or_else(no_server)?;
            let signal = if sig == "SIGSTOP" {
                libc::SIGSTOP
            } else {
                libc::SIGCONT
            };
            (
                Call::ServerSignal {
                    signal,
                    init_pid: target.init_pid,
                },
                format!("server_signal({sig})"),
            )
        }
        Op::ServerFact { fact, .. } => {
            let target = r.ctx.server.clone().ok_or_else(no_server)?;
            (
                Call::ServerFact {
                    fact: *fact,
                    init_pid: target.init_pid,
                    netns_pid: target.netns_pid,
                },
                format!("server_fact({})", fact.name()),
            )
        }
        _ => return Err(wrong_family(op, "server")),
    })
}

/// Runs the call; `deadline` bounds the engine's own loops, never the call itself.
pub(crate) fn perform(call: &Call, o: &mut Observed) {
    match call {
        Call::ServerFact {
            fact,
            init_pid,
            netns_pid,
        } => o.ret = Ok(server_fact(*fact, *init_pid, *netns_pid)),
        Call::ServerSignal { signal, init_pid } => {
            let mut n = 0;
            for pid in server_pids(*init_pid) {
                // SAFETY: kill takes plain integers; the pids belong to the server's sandbox.
                if unsafe { libc::kill(pid, *signal) } == 0 {
                    n += 1;
                }
            }
            o.ret = Ok(n);
        }
    }
}

/// The live processes of the server's sandbox, by pid.
fn server_pids(init: i32) -> Vec<i32> {
    crate::grade::procfs::Tree::of_init(init)
        .live()
        .map(|p| p.pid)
        .collect()
}

/// What `server_fact` reads about the server's sandbox.
fn server_snapshot(init: i32, netns: i32) -> crate::grade::procfs::Snapshot {
    crate::grade::procfs::snapshot(init, netns)
}

/// The descriptor count of the last `server_fact(fds)`, for `fd_growth`.
static LAST_FDS: std::sync::Mutex<Option<i64>> = std::sync::Mutex::new(None);

fn server_fact(fact: sockspec_lang::ServerFact, init: i32, netns: i32) -> i64 {
    use sockspec_lang::ServerFact as F;
    let s = server_snapshot(init, netns);
    let n = |v: usize| v as i64;
    match fact {
        F::Alive => i64::from(s.alive),
        F::Processes => n(s.processes),
        F::Threads => n(s.threads),
        F::Children => n(s.children),
        F::Zombies => n(s.zombies),
        F::Fds => {
            if let Ok(mut last) = LAST_FDS.lock() {
                *last = Some(n(s.fds));
            }
            n(s.fds)
        }
        F::FdGrowth => {
            let base = LAST_FDS.lock().ok().and_then(|l| *l).unwrap_or(0);
            n(s.fds) - base
        }
        F::CloseWait => n(s.close_wait),
        F::ListenersInChildren => n(s.listeners_in_children),
    }
}

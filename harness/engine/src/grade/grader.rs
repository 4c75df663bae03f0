//! Grading a batch of submissions against one suite: each submission is copied to a private
//! work directory, optionally built in the sandbox, then every case runs against a fresh
//! server (start, discover, run the client scenario, stop, record the facts). Cases whose
//! `needs` did not pass are not run. Work is spread over `jobs` workers at the level of
//! (submission, case), so one slow submission does not hold up the batch.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use sockspec_reports::grade::{
    points_for, GradeOutcome, GradedCase, ServerFacts, SubmissionResult,
};
use sockspec_reports::{Outcome, FORMAT_VERSION};

use super::holder::{HolderSpec, Limits};
use super::manifest::{CaseKind, Gate, Protocol, Suite, SuiteCase};
use super::procfs::Owned;
use super::resources::{self, Resources};
use super::server::{ServerRun, READY_TIMEOUT};
use super::target::ServerTarget;
use super::workspace::{Budget, Workspace};
use crate::child::error_chain;
use crate::sandbox::Isolation;
use crate::spawn::{self, ChildRun};
use crate::wire::{CaseSpec, Wire};

/// How long a stopped server may take to exit on SIGTERM before it is killed: the fixtures
/// do not handle SIGTERM (default action: immediate exit); a server that does gets time to
/// close its sockets.
const STOP_GRACE: Duration = Duration::from_millis(300);
/// How long a build may run: compiling one student server takes about a second.
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a TCP+UDP server may take to bind its UDP socket once it listens on TCP (the
/// gate only needs TCP; the UDP cases need the UDP socket).
const UDP_SETTLE: Duration = Duration::from_secs(1);
/// Nice value of every sandboxed command (see [`HolderSpec::nice`]).
const SERVER_NICE: i32 = 10;

/// One submission to grade.
#[derive(Debug, Clone)]
pub struct SubmissionInput {
    pub name: String,
    pub path: PathBuf,
    pub reference: bool,
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The sockspec binary, re-executed as `__server` and `__case`.
    pub exe: PathBuf,
    pub time_scale: f64,
    /// The server command template (`./server {port}`); the suite's `command` otherwise.
    pub template: Option<String>,
    /// A build command run in the submission's directory (in the sandbox) before grading.
    pub build: Option<String>,
    pub jobs: usize,
    /// Limits of every server's sandbox (defaults, the suite's, then the command line's).
    pub limits: Limits,
    /// What bounds the sandboxes: cgroups where the host has them, rlimits otherwise.
    pub resources: std::sync::Arc<Resources>,
    /// What one submission may bring in, and the size of its tmpfs.
    pub budget: Budget,
    /// Each submission on a tmpfs of its own: the process called
    /// [`super::workspace::private_mounts`].
    pub tmpfs: bool,
}

/// Called after each finished case: (submission index, case name, outcome, done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, &str, GradeOutcome, usize, usize) + Sync);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Build,
    Case(usize),
}

struct SubState {
    jobs: Vec<Job>,
    /// Needs of each job, as indices into `jobs`.
    needs: Vec<Vec<usize>>,
    started: Vec<bool>,
    /// Passed or not, once finished.
    finished: Vec<Option<bool>>,
    cases: Vec<Option<GradedCase>>,
    build: Option<ServerFacts>,
    root_cause: Option<String>,
    workdir: PathBuf,
    /// A command the holder cannot run (no template): every case is an error.
    command: Result<String, String>,
    /// Why the build could not be judged (its sandbox could not be built): every case that
    /// needs the build is then an error too, not a case gated by a student's mistake.
    build_error: Option<String>,
}

struct Shared {
    subs: Vec<SubState>,
    done: usize,
    total: usize,
}

/// The unprivileged uids a grader hands to sandboxed servers: far above any real account.
const UID_BASE: u32 = 200_000;
const UID_COUNT: u32 = 50_000;

/// A uid of its own for one worker, so RLIMIT_NPROC (counted per uid) of one sandbox never
/// counts another's processes — also those of another grader running at the same time. The
/// uid is reserved by binding an abstract Unix socket named after it: the kernel releases the
/// name when the holder dies, however it dies, so no lock file is left behind. (Abstract names
/// are per network namespace: graders started in different network namespaces do not see each
/// other's reservations.)
fn reserve_uid(slot: usize) -> (u32, Option<std::os::unix::net::UnixDatagram>) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let start = std::process::id()
        .wrapping_mul(100)
        .wrapping_add(slot as u32);
    for k in 0..UID_COUNT {
        let uid = UID_BASE + start.wrapping_add(k) % UID_COUNT;
        let Ok(addr) = SocketAddr::from_abstract_name(format!("sockspec-grade-uid-{uid}")) else {
            break;
        };
        match UnixDatagram::bind_addr(&addr) {
            Ok(holder) => return (uid, Some(holder)),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
            Err(_) => break,
        }
    }
    // No reservation possible (no Unix sockets?): fall back to a uid from the pid, which
    // only concurrent graders could share.
    (UID_BASE + start % UID_COUNT, None)
}

/// Grades every submission; results come back in the order given.
pub fn grade_batch(
    suite: &Suite,
    subs: &[SubmissionInput],
    opts: &BatchOptions,
    progress: Progress<'_>,
) -> io::Result<Vec<SubmissionResult>> {
    let started = Instant::now();
    let workspace = Workspace::create(opts.budget, opts.tmpfs)?;
    let mut states = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        // One submission that cannot be copied (too big, too deep, unreadable) is graded
        // as an error with its reason; the others are graded as usual.
        let (workdir, prepare_error) = match workspace.prepare(i, &sub.path) {
            Ok(w) => (w, None),
            Err(e) => (PathBuf::new(), Some(error_chain(&e))),
        };
        if let Some(reason) = prepare_error {
            states.push(SubState {
                jobs: Vec::new(),
                needs: Vec::new(),
                started: Vec::new(),
                finished: Vec::new(),
                cases: suite
                    .cases
                    .iter()
                    .map(|c| Some(error_case(c, reason.clone())))
                    .collect(),
                build: None,
                root_cause: Some(reason.clone()),
                workdir,
                command: Err(reason),
                build_error: None,
            });
            continue;
        }
        let mut jobs = Vec::new();
        if opts.build.is_some() {
            jobs.push(Job::Build);
        }
        let first_case = jobs.len();
        jobs.extend((0..suite.cases.len()).map(Job::Case));
        let needs = jobs
            .iter()
            .map(|j| match j {
                Job::Build => Vec::new(),
                Job::Case(c) => {
                    let mut n: Vec<usize> = suite.cases[*c]
                        .needs
                        .iter()
                        .map(|k| k + first_case)
                        .collect();
                    if first_case > 0 {
                        n.push(0);
                    }
                    n
                }
            })
            .collect();
        let n = jobs.len();
        states.push(SubState {
            jobs,
            needs,
            started: vec![false; n],
            finished: vec![None; n],
            cases: vec![None; suite.cases.len()],
            build: None,
            root_cause: None,
            workdir,
            command: command_for(suite, opts.template.as_deref()),
            build_error: None,
        });
    }
    let total = states.iter().map(|s| s.jobs.len()).sum();
    let shared = Mutex::new(Shared {
        subs: states,
        done: 0,
        total,
    });
    let wake = Condvar::new();
    let jobs = opts.jobs.max(1);
    std::thread::scope(|scope| {
        for slot in 0..jobs {
            let (shared, wake, ws) = (&shared, &wake, &workspace);
            scope.spawn(move || worker(slot, suite, ws, opts, shared, wake, progress));
        }
    });
    let shared = shared
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let elapsed = started.elapsed().as_millis() as u64;
    let results = shared
        .subs
        .into_iter()
        .zip(subs)
        .map(|(st, sub)| {
            let mut r = SubmissionResult {
                format_version: FORMAT_VERSION,
                submission: sub.name.clone(),
                path: sub.path.display().to_string(),
                suite: suite.name.clone(),
                reference: sub.reference,
                score: 0.0,
                max_score: 0.0,
                root_cause: st.root_cause,
                build: st.build,
                cases: st.cases.into_iter().flatten().collect(),
                duration_ms: 0,
            };
            r.duration_ms = r.cases.iter().map(|c| c.duration_ms).sum::<u64>()
                + r.build.as_ref().map_or(0, |b| b.wall_ms);
            r.total();
            r
        })
        .collect();
    let _ = elapsed;
    drop(workspace);
    Ok(results)
}

fn worker(
    slot: usize,
    suite: &Suite,
    workspace: &Workspace,
    opts: &BatchOptions,
    shared: &Mutex<Shared>,
    wake: &Condvar,
    progress: Progress<'_>,
) {
    let (uid, _reservation) = reserve_uid(slot);
    loop {
        let mut guard = shared.lock().expect("batch state");
        let picked = loop {
            if guard.done >= guard.total {
                return;
            }
            match pick(&mut guard, suite) {
                Some(p) => break p,
                None => guard = wake.wait(guard).expect("batch state"),
            }
        };
        let (si, ji, gated_by) = picked;
        let st = &guard.subs[si];
        let job = st.jobs[ji];
        let workdir = st.workdir.clone();
        let command = st.command.clone();
        drop(guard);
        let mut build_error = None;
        let (passed, case, build) = match (job, gated_by) {
            (Job::Case(c), Some(Blocked::Gated(reason))) => {
                (false, Some(gated(&suite.cases[c], reason)), None)
            }
            (Job::Case(c), Some(Blocked::Error(message))) => {
                (false, Some(error_case(&suite.cases[c], message)), None)
            }
            (Job::Build, _) => {
                let (ok, facts, error) = run_build(opts, &workdir, uid);
                build_error = error;
                (ok, None, Some(facts))
            }
            (Job::Case(c), None) => {
                let case = match &command {
                    Ok(cmd) => run_case(suite, &suite.cases[c], opts, &workdir, cmd, uid),
                    Err(e) => error_case(&suite.cases[c], e.clone()),
                };
                (case.outcome == GradeOutcome::Pass, Some(case), None)
            }
        };
        let mut guard = shared.lock().expect("batch state");
        let st = &mut guard.subs[si];
        st.finished[ji] = Some(passed);
        if let Some(b) = build {
            if let Some(e) = build_error {
                st.root_cause = Some(format!("the build could not run: {e}"));
                st.build_error = Some(e);
            } else if !passed {
                st.root_cause = Some(format!("the submission did not build: {}", b.exit));
            }
            st.build = Some(b);
        }
        let mut report = None;
        if let (Job::Case(c), Some(case)) = (job, case) {
            if st.root_cause.is_none()
                && !passed
                && case.outcome != GradeOutcome::Gated
                && matches!(suite.cases[c].kind, CaseKind::Gate(_))
            {
                st.root_cause = case.message.clone();
            }
            report = Some((suite.cases[c].name.clone(), case.outcome));
            st.cases[c] = Some(case);
        }
        // The submission's copy (and tmpfs) is freed as soon as its last job is done, so a
        // class holds only the copies of the submissions in flight.
        if guard.subs[si].finished.iter().all(Option::is_some) {
            workspace.release(si);
        }
        guard.done += 1;
        let (done, total) = (guard.done, guard.total);
        drop(guard);
        wake.notify_all();
        match report {
            Some((name, outcome)) => progress(si, &name, outcome, done, total),
            None => progress(si, "lifecycle/builds", GradeOutcome::Pass, done, total),
        }
    }
}

/// How the message of a case begins when a case it needs could not be judged; the rest is
/// that case's reason (the first one, not a chain).
pub const NOT_JUDGED: &str = "not judged (a case it needs could not be): ";

/// Why a job whose needs did not all pass is not run.
enum Blocked {
    /// A need failed: the student's server (or build) is at fault.
    Gated(String),
    /// A need could not be judged: the grader is at fault, so this job is an error too.
    Error(String),
}

/// The next job whose needs are finished: (submission, job, why it is not run if a need
/// failed). Submissions are visited in order, so gates of later submissions start while the
/// first submission's cases wait for its gate.
fn pick(shared: &mut Shared, suite: &Suite) -> Option<(usize, usize, Option<Blocked>)> {
    for (si, st) in shared.subs.iter_mut().enumerate() {
        for ji in 0..st.jobs.len() {
            if st.started[ji] {
                continue;
            }
            let needs = &st.needs[ji];
            if needs.iter().any(|n| st.finished[*n].is_none()) {
                continue;
            }
            st.started[ji] = true;
            let failed: Vec<String> = needs
                .iter()
                .filter(|n| st.finished[**n] == Some(false))
                .map(|n| match st.jobs[*n] {
                    Job::Build => "lifecycle/builds".to_string(),
                    Job::Case(c) => suite.cases[c].name.clone(),
                })
                .collect();
            let not_judged = needs.iter().find_map(|n| match st.jobs[*n] {
                Job::Build => st.build_error.clone(),
                Job::Case(c) => st.cases[c]
                    .as_ref()
                    .filter(|g| g.outcome == GradeOutcome::Error)
                    .and_then(|g| g.message.as_deref())
                    .map(|m| m.strip_prefix(NOT_JUDGED).unwrap_or(m).to_string()),
            });
            let root = st.root_cause.clone().unwrap_or_default();
            let gated_by = (!failed.is_empty()).then(|| match not_judged {
                Some(e) => Blocked::Error(format!("{NOT_JUDGED}{e}")),
                None => Blocked::Gated(format!("not run: needs {} ({root})", failed.join(", "))),
            });
            return Some((si, ji, gated_by));
        }
    }
    None
}

fn chown_tree(path: &Path, uid: u32) {
    let id = Some(nix::unistd::Uid::from_raw(uid));
    let gid = Some(nix::unistd::Gid::from_raw(uid));
    let _ = nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        id,
        gid,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
    if let Ok(dir) = std::fs::read_dir(path) {
        for e in dir.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                chown_tree(&e.path(), uid);
            } else {
                let _ = nix::unistd::fchownat(
                    nix::fcntl::AT_FDCWD,
                    &e.path(),
                    id,
                    gid,
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                );
            }
        }
    }
}

/// Builds the submission: (it built, the facts, why the build could not be judged).
fn run_build(opts: &BatchOptions, workdir: &Path, uid: u32) -> (bool, ServerFacts, Option<String>) {
    let command = opts.build.clone().unwrap_or_default();
    chown_tree(workdir, uid);
    let spec = HolderSpec {
        command: command.clone(),
        workdir: workdir.to_path_buf(),
        writable: true,
        uid,
        gid: uid,
        limits: Limits::BUILD,
        memory_in_cgroup: false,
        user_namespaces: false,
        nice: SERVER_NICE,
    };
    let group = opts.resources.group("build", &spec.limits);
    let spec = HolderSpec {
        memory_in_cgroup: group.is_some() && opts.resources.memory_in_cgroup(),
        ..spec
    };
    let failed = |exit: String| ServerFacts {
        command: command.clone(),
        exit,
        ..ServerFacts::default()
    };
    let run = match ServerRun::start(&opts.exe, &spec, group) {
        Ok(r) => r,
        Err(e) => {
            let e = format!("cannot start the sandbox: {e}");
            return (false, failed(e.clone()), Some(e));
        }
    };
    if let Err(e) = run.wait_ready(READY_TIMEOUT.mul_f64(opts.time_scale.max(1.0))) {
        let _ = run.stop(Duration::ZERO);
        return (false, failed(e.clone()), Some(e));
    }
    let exit = run.wait_exit(BUILD_TIMEOUT.mul_f64(opts.time_scale.max(1.0)));
    let mut facts = run.stop(Duration::ZERO);
    let ok = exit.as_ref().is_some_and(|e| e.code == Some(0));
    if exit.is_none() {
        facts.exit = format!("still running after {}s, killed", BUILD_TIMEOUT.as_secs());
    }
    (ok, facts, None)
}

/// The command for a submission: the template with `{port}` and `{port.NAME}` substituted.
fn command_for(suite: &Suite, template: Option<&str>) -> Result<String, String> {
    let t = template
        .map(str::to_string)
        .or_else(|| suite.command.clone())
        .ok_or_else(|| "no server command: give --server TEMPLATE".to_string())?;
    let mut cmd = t.replace("{port}", &suite.port.to_string());
    for s in &suite.services {
        cmd = cmd.replace(
            &format!("{{port.{}}}", s.name),
            &(suite.port + s.offset).to_string(),
        );
    }
    Ok(cmd)
}

fn blank(case: &SuiteCase, outcome: GradeOutcome, message: Option<String>) -> GradedCase {
    GradedCase {
        name: case.name.clone(),
        title: case.title.clone(),
        points: points_for(outcome, case.points),
        max_points: case.points,
        outcome,
        hidden: case.hidden,
        message,
        hint: case.hint.clone(),
        failure: None,
        transcript: Vec::new(),
        source: match &case.kind {
            CaseKind::Scenario { source, .. } => Some(source.clone()),
            CaseKind::Gate(_) => None,
        },
        server: None,
        duration_ms: 0,
    }
}

fn gated(case: &SuiteCase, reason: String) -> GradedCase {
    blank(case, GradeOutcome::Gated, Some(reason))
}

fn error_case(case: &SuiteCase, message: String) -> GradedCase {
    blank(case, GradeOutcome::Error, Some(message))
}

/// Where each service is expected: with `{port}` in the command, at the suite's port plus
/// the service's offset; otherwise wherever the server chose (matched by well-known port
/// for multi-service suites).
fn expected_ports(suite: &Suite, command_has_port: bool) -> Option<Vec<(String, u16)>> {
    command_has_port.then(|| {
        suite
            .services
            .iter()
            .map(|s| (s.name.clone(), suite.port + s.offset))
            .collect()
    })
}

/// The ports of the suite's main transport that `owned` shows.
fn main_ports(protocol: Protocol, owned: &Owned) -> &std::collections::BTreeSet<u16> {
    if protocol.has_tcp() {
        &owned.tcp_listen
    } else {
        &owned.udp_bound
    }
}

/// Maps discovered ports to services when the server chose them itself.
fn assign_ports(suite: &Suite, owned: &Owned) -> Option<Vec<(String, u16)>> {
    let ports = main_ports(suite.protocol, owned);
    if suite.services.len() == 1 {
        let s = &suite.services[0];
        let port = s
            .well_known
            .filter(|p| ports.contains(p))
            .or_else(|| ports.iter().next().copied())?;
        return Some(vec![(s.name.clone(), port)]);
    }
    suite
        .services
        .iter()
        .map(|s| {
            let p = s.well_known.filter(|p| ports.contains(p))?;
            Some((s.name.clone(), p))
        })
        .collect()
}

struct Started {
    run: ServerRun,
    init: i32,
    ports: Result<Vec<(String, u16)>, String>,
}

/// Starts a fresh server and waits until it listens where the suite expects.
fn start_server(
    suite: &Suite,
    opts: &BatchOptions,
    workdir: &Path,
    command: &str,
    uid: u32,
) -> Result<Started, String> {
    let spec = HolderSpec {
        command: command.to_string(),
        workdir: workdir.to_path_buf(),
        writable: false,
        uid,
        gid: uid,
        limits: opts.limits,
        memory_in_cgroup: false,
        user_namespaces: suite.limits.user_namespaces,
        nice: SERVER_NICE,
    };
    let group = opts.resources.group("server", &spec.limits);
    let spec = HolderSpec {
        memory_in_cgroup: group.is_some() && opts.resources.memory_in_cgroup(),
        ..spec
    };
    let scale = opts.time_scale.max(1.0);
    let mut run = ServerRun::start(&opts.exe, &spec, group)
        .map_err(|e| format!("cannot start the sandbox: {e}"))?;
    let init = match run.wait_ready(READY_TIMEOUT.mul_f64(scale)) {
        Ok(i) => i,
        Err(e) => {
            let _ = run.stop(Duration::ZERO);
            return Err(e);
        }
    };
    let has_port = opts
        .template
        .as_deref()
        .or(suite.command.as_deref())
        .is_some_and(|t| t.contains("{port"));
    let expected = expected_ports(suite, has_port);
    let timeout = suite.listen_timeout.mul_f64(scale);
    let protocol = suite.protocol;
    let want_main = |o: &Owned| match &expected {
        Some(e) => e.iter().all(|(_, p)| main_ports(protocol, o).contains(p)),
        None => main_ports(protocol, o).len() >= suite.services.len(),
    };
    // A byte-swapped port will not turn into the right one: stop waiting at once.
    let swapped: Vec<u16> = expected
        .iter()
        .flatten()
        .map(|(_, p)| p.swap_bytes())
        .filter(|p| !expected.iter().flatten().any(|(_, q)| q == p))
        .collect();
    let found = run.discover(timeout, |o| {
        want_main(o) || swapped.iter().any(|p| main_ports(protocol, o).contains(p))
    });
    let ports = if want_main(&found.owned) {
        let ports = match &expected {
            Some(e) => Some(e.clone()),
            None => assign_ports(suite, &found.owned),
        };
        match ports {
            Some(ports) => {
                if protocol == Protocol::TcpUdp {
                    let udp: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
                    run.discover(UDP_SETTLE.mul_f64(scale), |o| {
                        udp.iter().all(|p| o.udp_bound.contains(p))
                    });
                }
                Ok(ports)
            }
            None => Err(format!(
                "listening on {:?}, but not on the well-known ports of the services",
                found.owned.tcp_listen
            )),
        }
    } else {
        Err(not_listening(suite, &expected, &found, &run, timeout))
    };
    Ok(Started { run, init, ports })
}

/// Why the gate failed, in the words a student needs.
fn not_listening(
    suite: &Suite,
    expected: &Option<Vec<(String, u16)>>,
    found: &super::server::Discovery,
    run: &ServerRun,
    timeout: Duration,
) -> String {
    let ports = main_ports(suite.protocol, &found.owned);
    let kind = if suite.protocol.has_tcp() {
        "listen on tcp"
    } else {
        "bind udp"
    };
    let want: Vec<u16> = expected
        .as_ref()
        .map(|e| e.iter().map(|(_, p)| *p).collect())
        .unwrap_or_default();
    if let Some(p) = want.iter().find(|p| ports.contains(&p.swap_bytes())) {
        return format!(
            "listening on byte-swapped port {}: missing htons? (the server was given port {p})",
            p.swap_bytes()
        );
    }
    if !ports.is_empty() && !want.is_empty() {
        let seen: Vec<String> = ports.iter().map(u16::to_string).collect();
        let w: Vec<String> = want.iter().map(u16::to_string).collect();
        return format!(
            "did not {kind} port {} but on {}: does the server use the port it was given?",
            w.join(", "),
            seen.join(", ")
        );
    }
    let port_text = if want.is_empty() {
        "any port".to_string()
    } else {
        format!(
            "port {}",
            want.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let last_err = last_line(&run.stderr_text());
    match run.exited() {
        Some(exit) if found.gone => format!(
            "did not {kind} {port_text}: the server ended ({}) before it did{}",
            exit.status,
            last_err
                .map(|l| format!("; its last words: `{l}`"))
                .unwrap_or_default()
        ),
        _ => format!(
            "did not {kind} {port_text} within {:.0} s, still running",
            timeout.as_secs_f64()
        ),
    }
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect())
}

fn run_case(
    suite: &Suite,
    case: &SuiteCase,
    opts: &BatchOptions,
    workdir: &Path,
    command: &str,
    uid: u32,
) -> GradedCase {
    let t0 = Instant::now();
    let mut result = blank(case, GradeOutcome::Error, None);
    let mut peak = 0u32;
    let started = match start_server(suite, opts, workdir, command, uid) {
        Ok(s) => s,
        Err(e) => {
            result.message = Some(e);
            return result;
        }
    };
    match (&case.kind, &started.ports) {
        (CaseKind::Gate(Gate::Listens), Ok(ports)) => {
            result.outcome = GradeOutcome::Pass;
            let list: Vec<String> = ports
                .iter()
                .map(|(n, p)| {
                    if n.is_empty() {
                        p.to_string()
                    } else {
                        format!("{n}={p}")
                    }
                })
                .collect();
            result.message = Some(format!("listening on port {}", list.join(", ")));
        }
        (CaseKind::Gate(Gate::Listens), Err(e)) => {
            result.outcome = GradeOutcome::Fail;
            result.message = Some(e.clone());
        }
        (CaseKind::Scenario { .. }, Err(e)) => {
            result.outcome = GradeOutcome::Fail;
            result.message = Some(format!("the server did not get ready for this case: {e}"));
        }
        (CaseKind::Scenario { file, deadline, .. }, Ok(ports)) => {
            let addrs: BTreeMap<String, SocketAddr> = ports
                .iter()
                .map(|(n, p)| {
                    (
                        n.clone(),
                        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, *p)),
                    )
                })
                .collect();
            let deadline = deadline.mul_f64(opts.time_scale.max(1.0));
            let spec = CaseSpec {
                file: file.clone(),
                source: None,
                flavour: None,
                time_scale: opts.time_scale,
                deadline_ms: deadline.as_millis() as u64,
                isolation: Isolation::Netns,
                unique: String::new(),
                drop_privileges: false,
                shared_dir: None,
                server: Some(ServerTarget {
                    netns_pid: started.run.holder_pid(),
                    init_pid: started.init,
                    addrs,
                }),
            };
            // Dropping `done` wakes the watcher at once when the case ends.
            let (done, ended) = std::sync::mpsc::channel::<()>();
            let outcome = std::thread::scope(|scope| {
                let watcher = scope
                    .spawn(move || watch_process_limit(started.init, opts.limits.processes, ended));
                let r = spawn::run_case(&opts.exe, &spec);
                drop(done);
                peak = watcher.join().unwrap_or(0);
                r
            });
            match outcome {
                Ok(run) => settle(&mut result, run, deadline, case),
                Err(e) => result.message = Some(format!("cannot start the case process: {e}")),
            }
        }
    }
    let (mut facts, stopped) = started
        .run
        .stop_measured(STOP_GRACE.mul_f64(opts.time_scale.max(1.0)));
    facts.max_processes = facts.max_processes.max(peak);
    facts.diagnosis = resources::diagnose(&stopped, &opts.limits)
        .or_else(|| diagnose(&facts, stopped.runnable_ms, &opts.limits));
    if result.outcome != GradeOutcome::Pass {
        if let Some(d) = &facts.diagnosis {
            let m = result.message.take().unwrap_or_default();
            result.message = Some(if m.is_empty() {
                d.clone()
            } else {
                format!("{m} — {d}")
            });
        }
    }
    result.server = Some(facts);
    result.points = points_for(result.outcome, result.max_points);
    result.duration_ms = t0.elapsed().as_millis() as u64;
    result
}

/// How often the process count of a running case is checked: a fork bomb fills the limit
/// within milliseconds; checking ten times a second costs one `/proc` scan each.
const LIMIT_WATCH: Duration = Duration::from_millis(100);

/// Stops a server whose processes fill the process limit (a fork bomb): nothing useful can
/// happen in it any more, and its spinning processes would slow every other sandbox until
/// the case deadline. Killing init ends the case at once; the facts keep the peak count.
/// Returns the most processes seen. Ends as soon as `ended`'s sender is dropped: sleeping
/// out the last interval cost every case up to 100 ms.
fn watch_process_limit(init: i32, limit: u64, ended: std::sync::mpsc::Receiver<()>) -> u32 {
    let mut peak = 0;
    loop {
        let live = super::procfs::Tree::of_init(init).live().count() as u64;
        peak = peak.max(live as u32);
        if live + 2 >= limit {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init),
                nix::sys::signal::Signal::SIGKILL,
            );
            break;
        }
        if ended.recv_timeout(LIMIT_WATCH) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            break;
        }
    }
    peak
}

/// What the facts say about a server that misbehaved, in one phrase.
/// `runnable_ms`: how long the busiest live process had been runnable when stopped.
fn diagnose(f: &ServerFacts, runnable_ms: u64, limits: &Limits) -> Option<String> {
    if u64::from(f.max_processes) + 2 >= limits.processes {
        return Some(format!(
            "resource limit: process count reached ({} processes)",
            f.max_processes
        ));
    }
    if f.exited_early {
        let cpu_limit_ms = limits.cpu_seconds * 1000;
        let why = if f.exit.contains("SIGXCPU")
            || (f.exit.contains("SIGKILL") && f.cpu_ms + 500 >= cpu_limit_ms)
        {
            " (CPU limit)".to_string()
        } else {
            last_line(&f.stderr)
                .map(|l| format!(" (stderr: {l})"))
                .unwrap_or_default()
        };
        return Some(format!("server {}{why}", exit_phrase(&f.exit)));
    }
    // A server waiting for clients sleeps; one that was runnable (on a CPU or waiting for
    // one) for half the wall time was spinning. CPU time alone cannot tell: the server runs
    // niced in its own autogroup, so on a loaded machine a spinning one gets little of it.
    if f.wall_ms > 500 && runnable_ms * 2 >= f.wall_ms {
        return Some(format!(
            "no reply; server busy on CPU ({:.1} s CPU in {:.1} s)",
            f.cpu_ms as f64 / 1000.0,
            f.wall_ms as f64 / 1000.0
        ));
    }
    None
}

fn exit_phrase(exit: &str) -> String {
    if exit.starts_with("exit status") {
        format!(
            "exited with status {}",
            exit.trim_start_matches("exit status ")
        )
    } else {
        exit.to_string()
    }
}

/// Turns what the case process reported into the case's outcome. A case killed at its
/// deadline is the server's fault here (it never answered), so it fails rather than errs.
fn settle(result: &mut GradedCase, run: ChildRun, deadline: Duration, case: &SuiteCase) {
    result.transcript = run.transcript;
    match run.end {
        Some(Wire::End {
            outcome,
            message,
            failure,
        }) => {
            result.outcome = match outcome {
                Outcome::Pass => GradeOutcome::Pass,
                Outcome::Fail => GradeOutcome::Fail,
                Outcome::Error | Outcome::Skip => GradeOutcome::Error,
            };
            result.message = message;
            result.failure = failure;
        }
        _ if run.timed_out => {
            let at = match (run.running, &case.kind) {
                (Some((_, line)), CaseKind::Scenario { source, .. }) => format!(
                    " while line {line} was waiting: `{}`",
                    source
                        .lines()
                        .nth(line.saturating_sub(1))
                        .unwrap_or("")
                        .trim()
                ),
                _ => String::new(),
            };
            result.outcome = GradeOutcome::Fail;
            result.message = Some(format!(
                "no reply before the case deadline of {:.1}s{at}",
                deadline.as_secs_f64()
            ));
        }
        _ => {
            result.outcome = GradeOutcome::Error;
            result.message = Some(format!(
                "the case process ended without a verdict ({}): {}",
                run.exit,
                run.stderr.trim()
            ));
        }
    }
    result.points = points_for(result.outcome, result.max_points);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_never_share_a_uid_while_reserved() {
        // Same slot twice, as two graders with one pid would ask: the second must skip the
        // uid the first holds, and get it once the first lets go.
        let (a, held_a) = reserve_uid(7);
        let (b, held_b) = reserve_uid(7);
        assert!(held_a.is_some() && held_b.is_some());
        assert_ne!(a, b);
        drop(held_a);
        let (c, _held_c) = reserve_uid(7);
        assert_eq!(c, a);
    }

    #[test]
    fn diagnoses() {
        let mut f = ServerFacts {
            wall_ms: 2000,
            ..ServerFacts::default()
        };
        assert_eq!(diagnose(&f, 20, &Limits::SERVER), None);
        f.cpu_ms = 300;
        assert!(diagnose(&f, 1900, &Limits::SERVER)
            .unwrap()
            .contains("busy on CPU"));
        f.exited_early = true;
        f.exit = "exit status 1".into();
        f.stderr = "hog: allocation failed after 480 MiB\n".into();
        assert_eq!(
            diagnose(&f, 0, &Limits::SERVER).unwrap(),
            "server exited with status 1 (stderr: hog: allocation failed after 480 MiB)"
        );
        f.max_processes = Limits::SERVER.processes as u32;
        assert!(diagnose(&f, 0, &Limits::SERVER)
            .unwrap()
            .starts_with("resource limit: process count reached"));
    }

    #[test]
    fn the_port_is_substituted() {
        let suite = Suite::from_manifest(
            Path::new("/s"),
            Path::new("/s/manifest.toml"),
            "suite = \"m\"\nprotocol = \"tcp\"\n[services]\necho = { offset = 0 }\ntime = { offset = 3 }\n[[case]]\nname = \"lifecycle/listens\"\ngate = \"listens\"\npoints = 1\n",
            &|_| Err(io::Error::from(io::ErrorKind::NotFound)),
        )
        .unwrap();
        assert_eq!(
            command_for(&suite, Some("./srv {port} -t {port.time}")).unwrap(),
            "./srv 5001 -t 5004"
        );
        assert!(command_for(&suite, None).is_err());
    }
}

//! The HTML report opened in a real headless Chromium (driven over WebDriver on loopback):
//! it renders without script errors, makes no network request, its filters and search change
//! what is shown, and a failing case shows its transcript. A screenshot is kept as an artifact
//! in `target/browser-artifacts/`.
//!
//! Chromium and chromedriver come from Debian's packages (`ci/install-deps.sh`). Without them
//! the test fails under CI and is skipped with a message elsewhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills chromedriver (and, through it, Chromium) however the test ends.
struct Driver {
    child: Child,
    port: u16,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = http(self.port, "DELETE", &format!("/session/{id}"), None);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`; chromedriver answers JSON.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    // Page loads and scripts in the report are fast; 30 s only guards against a wedged driver.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Read the head, then exactly the body its Content-Length announces (chromedriver may keep
    // the connection open, so reading to EOF would wait for the timeout).
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the HTTP head".into());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no content-length in {head}"))?;
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let payload = &data[head_end..(head_end + length).min(data.len())];
    serde_json::from_slice(payload)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(payload)))
}

impl Driver {
    fn start() -> Result<Driver, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let profile = tempfile::Builder::new()
            .prefix("browser-profile")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mut driver = Driver {
            child,
            port,
            session: None,
            _profile: profile,
        };
        // chromedriver is ready in well under a second; 15 s covers a loaded CI machine.
        let ready_by = Instant::now() + Duration::from_secs(15);
        while http(port, "GET", "/status", None).is_err() {
            if Instant::now() > ready_by {
                return Err("chromedriver did not answer within 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Offline: every background service that would try the network is off.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-default-apps", "--window-size=1280,1600",
                         format!("--user-data-dir={}", driver._profile.path().display())]
            }
        }}});
        let answer = http(port, "POST", "/session", Some(&caps))?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .ok_or(format!("no session: {answer}"))?
            .to_string();
        driver.session = Some(id);
        Ok(driver)
    }

    fn call(&self, method: &str, tail: &str, body: Option<Value>) -> Value {
        let id = self.session.as_deref().expect("session");
        let answer = http(
            self.port,
            method,
            &format!("/session/{id}{tail}"),
            body.as_ref(),
        )
        .expect("webdriver answers");
        if answer["value"].get("error").is_some() {
            panic!("webdriver {method} {tail}: {answer}");
        }
        answer["value"].clone()
    }

    fn script(&self, source: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": source, "args": []})),
        )
    }
}

fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A report with passing, failing, erroring and skipped cases, from the CLI fixtures.
fn make_report(dir: &Path) -> PathBuf {
    let html = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_sockspec"))
        .args(["run", "--cases"])
        .arg(repo().join("fixtures/cli"))
        .args(["--skip", "slow", "--isolation", "shared", "--html"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    html
}

#[test]
fn the_html_report_works_in_a_real_browser() {
    if !available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium and chromedriver (ci/install-deps.sh)"
        );
        eprintln!("skipping: chromium/chromedriver not installed; run ci/install-deps.sh");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let html = make_report(dir.path());
    let driver = Driver::start().expect("chromedriver starts");
    driver.call(
        "POST",
        "/url",
        Some(json!({"url": format!("file://{}", html.display())})),
    );

    let errors = driver.script("return window.__sockspecErrors;");
    assert_eq!(
        errors,
        json!([]),
        "script errors, console errors or blocked requests"
    );
    let requests = driver.script(
        "return performance.getEntriesByType('resource').map(e => e.name)
           .concat(performance.getEntriesByType('navigation').map(e => e.name).filter(n => !n.startsWith('file:')));",
    );
    assert_eq!(requests, json!([]), "the page made network requests");

    let visible = "return [...document.querySelectorAll('details.case[data-case]')].filter(e => e.offsetParent !== null).length;";
    let total = driver
        .script("return document.querySelectorAll('details.case[data-case]').length;")
        .as_u64()
        .unwrap();
    assert!(total >= 5, "expected the fixture cases, found {total}");
    assert_eq!(driver.script(visible).as_u64(), Some(total));
    let count_text = driver.script("return document.getElementById('shown-count').textContent;");

    // Unticking "pass" hides every passing case, and only those.
    let passing = driver
        .script("return document.querySelectorAll('details.case[data-outcome=pass]').length;")
        .as_u64()
        .unwrap();
    assert!(passing > 0);
    driver.script("document.getElementById('filter-outcome-pass').click();");
    assert_eq!(driver.script(visible).as_u64(), Some(total - passing));
    assert_ne!(
        driver.script("return document.getElementById('shown-count').textContent;"),
        count_text
    );
    driver.script("document.getElementById('filter-outcome-pass').click();");
    assert_eq!(driver.script(visible).as_u64(), Some(total));

    // The search box narrows to the matching case.
    driver.script(
        "const s = document.getElementById('search'); s.value = 'wrong-expectation';
         s.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    assert_eq!(driver.script(visible).as_u64(), Some(1));
    let shown = driver.script(
        "return [...document.querySelectorAll('details.case[data-case]')].filter(e => e.offsetParent !== null)[0].dataset.case;",
    );
    assert_eq!(shown, json!("wrong-expectation"));

    // The failing case is open and shows its transcript, with the mismatching step.
    let transcript = driver.script(
        "const c = document.querySelector('[data-case=\"wrong-expectation\"]');
         return {open: c.open, rows: c.querySelectorAll('.transcript tr').length,
                 text: c.querySelector('.transcript').textContent};",
    );
    assert_eq!(
        transcript["open"],
        json!(true),
        "failures are expanded first"
    );
    assert!(transcript["rows"].as_u64().unwrap() >= 3, "{transcript}");
    assert!(
        transcript["text"].as_str().unwrap().contains("goodbye"),
        "{transcript}"
    );

    driver.script(
        "const s = document.getElementById('search'); s.value = '';
         s.dispatchEvent(new Event('input', {bubbles: true}));",
    );
    let png = driver.call("GET", "/screenshot", None);
    let png = decode_base64(png.as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"), "not a PNG screenshot");
    let artifacts = repo().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("report.png"), png).unwrap();
    assert_eq!(driver.script("return window.__sockspecErrors;"), json!([]));
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len().saturating_sub(1))
        })
        .collect()
}

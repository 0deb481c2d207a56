//! The dashboard in a real browser: headless Chromium, driven over WebDriver by ChromeDriver
//! (Debian's `chromium` and `chromium-driver`, installed by `scripts/install-chromium.sh`),
//! loads the pages of a running context and of a running query, and sees the charts and the
//! batch table grow as batches complete — without a reload — and a batch's progress record
//! open on a click. Screenshots go to the test's output directory.
//!
//! When the browser is missing the test runs that script itself; if it cannot install it, the test
//! is skipped with a message, except in CI (`CI` set), where it fails.

#![cfg(feature = "ui")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use serde_json::{Value, json};
use streamflow::structured::{MemoryStream, OutputMode, tumbling_window};
use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};

mod common;
use common::{Ev, ev, windowed_count};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page may take to show what the API already has (it polls every 0.5 s).
const PATIENCE: StdDuration = StdDuration::from_secs(30);

/// ChromeDriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_for("chromedriver to listen", || {
            let status = agent().get(&format!("{}/status", driver.base)).call().ok()?;
            (status.status().as_u16() == 200).then_some(())
        });
        driver
    }

    fn session(&self, profile: &Path) -> Browser<'_> {
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-dev-shm-usage", "--window-size=1400,1700",
                        format!("--user-data-dir={}", profile.display()),
                    ]
                }
            }}
        });
        let answer = post(&format!("{}/session", self.base), &capabilities);
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_string();
        Browser {
            url: format!("{}/session/{id}", self.base),
            _driver: self,
        }
    }
}

/// One WebDriver session.
struct Browser<'a> {
    url: String,
    _driver: &'a Driver,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = agent().delete(&self.url).call();
    }
}

impl Browser<'_> {
    fn open(&self, url: &str) {
        post(&format!("{}/url", self.url), &json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn eval(&self, script: &str) -> Value {
        post(
            &format!("{}/execute/sync", self.url),
            &json!({ "script": script, "args": [] }),
        )["value"]
            .clone()
    }

    /// Waits until `script` returns `expected`.
    fn wait_until(&self, what: &str, script: &str, expected: Value) {
        let mut last = Value::Null;
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            last = self.eval(script);
            if last == expected {
                return;
            }
            std::thread::sleep(StdDuration::from_millis(50));
        }
        panic!("{what}: still {last} after {PATIENCE:?}, expected {expected}");
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let answer = agent()
            .get(&format!("{}/screenshot", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let png = base64_decode(answer["value"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(StdDuration::from_secs(60)))
        .build()
        .into()
}

fn post(url: &str, body: &Value) -> Value {
    let mut response = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(StdDuration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Whether the browser is here. When it is missing, the project's own script installs it
/// (Debian's packages; needs root or sudo); if that fails the test is skipped — but never in CI.
fn browser_available() -> bool {
    let here = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !here() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-chromium.sh");
        match std::process::Command::new("bash").arg(&script).status() {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!("{} exited with {status}", script.display()),
            Err(e) => eprintln!("cannot run {}: {e}", script.display()),
        }
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(
        here() || !in_ci,
        "CI must run the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing and scripts/install-chromium.sh could not install them"
    );
    if !here() {
        eprintln!(
            "SKIPPED: no headless Chromium ({CHROMIUM}, {CHROMEDRIVER}) and scripts/install-chromium.sh could not install it"
        );
    }
    here()
}

/// Rows in the batch table, and points in the rates chart.
const TABLE_ROWS: &str =
    "const t = document.querySelector('#batch-table'); return t ? Number(t.dataset.rows) : -1;";

#[test]
fn the_dashboard_updates_its_charts_and_batch_table_as_batches_complete() {
    if !browser_available() {
        return;
    }
    let clock = ManualClock::new(0);
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .clock(clock.clone())
        .app_name("browser-words")
        .ui("127.0.0.1:0")
        .build()
        .unwrap();
    let queue = StreamQueue::new();
    for i in 0..8 {
        queue.push((0..=i).map(|n| format!("w{n} w{}", n % 3)).collect::<Vec<_>>());
    }
    ssc.queue_stream(queue, true, None)
        .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(|b, _| {
            b.count();
        });
    let session = ssc.session();
    let input = MemoryStream::<Ev>::new();
    let query = windowed_count(
        &session,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Update,
        "browser_counts",
    )
    .query_name("browser-counts")
    .start()
    .unwrap();
    ssc.start().unwrap();
    let base = ssc.ui_url().unwrap();
    let advance = |batches: i64| {
        let now = ssc.recent_batches().last().map_or(0, |b| b.batch_time.millis());
        for k in 1..=batches {
            clock.advance(Duration::seconds(1)).unwrap();
            ssc.await_batch(Time::from_millis(now + k * 1_000)).unwrap();
        }
    };
    advance(2);

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.session(profile.path());

    // The index lists both jobs.
    browser.open(&base);
    browser.wait_until(
        "the job list",
        "return document.querySelectorAll('#jobs tr[data-job-id]').length;",
        json!(2),
    );

    // The context's page: two batches, then five, with no reload in between.
    browser.open(&format!("{base}/jobs/context-1"));
    browser.wait_until("the first two batches", TABLE_ROWS, json!(2));
    browser.eval("window.__same_page = true; return null;");
    let rates =
        "const s = document.querySelector('#chart-rates svg'); return s ? Number(s.dataset.lastBatch) : -1;";
    browser.wait_until("the rates chart up to batch 1", rates, json!(1));
    for chart in ["rates", "duration", "scheduling", "delay"] {
        let exists = format!(
            "return !!document.querySelector('#chart-{chart} svg polyline, #chart-{chart} svg circle');"
        );
        browser.wait_until(&format!("the {chart} chart"), &exists, json!(true));
    }
    browser.wait_until(
        "the fused stages",
        "const g = document.querySelector('#stage-graph'); return g ? Number(g.dataset.stages) : -1;",
        json!(3),
    );
    advance(3);
    browser.wait_until("five batches in the table", TABLE_ROWS, json!(5));
    browser.wait_until("the rates chart up to batch 4", rates, json!(4));
    assert_eq!(
        browser.eval("return window.__same_page === true;"),
        json!(true),
        "the page reloaded"
    );
    let newest = "return document.querySelector('#batch-table tbody tr').dataset.batchId;";
    assert_eq!(browser.eval(newest), json!("4"));
    // Drill down into batch 3: its record, as the API has it.
    browser.eval("document.querySelector('tr.batch[data-batch-id=\"3\"]').click(); return null;");
    browser.wait_until(
        "batch 3's record",
        "return document.querySelector('#batch-detail').dataset.batchId || null;",
        json!("3"),
    );
    let detail: Value = serde_json::from_str(
        browser
            .eval("return document.querySelector('#batch-detail').textContent;")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(detail["batchId"], 3);
    assert_eq!(detail["numRecords"], 4); // batch 3 reads four lines
    browser.screenshot("dashboard-context.png");

    // The query's page: its state, watermark and late-row charts, growing as batches complete.
    input.add_data([ev("a", 30), ev("b", 31), ev("a", 32)]);
    query.process_all_available().unwrap();
    browser.open(&format!("{base}/jobs/{}", query.id()));
    let rows = query.recent_progress().len() as u64;
    browser.wait_until("the query's batches", TABLE_ROWS, json!(rows));
    browser.eval("window.__same_page = true; return null;");
    input.add_data([ev("a", 5), ev("c", 45), ev("d", 50)]);
    query.process_all_available().unwrap();
    let rows = query.recent_progress().len() as u64;
    browser.wait_until("the query's new batches", TABLE_ROWS, json!(rows));
    for chart in [
        "rates",
        "duration",
        "operations",
        "watermark",
        "state-rows",
        "state-memory",
        "late",
    ] {
        let exists = format!(
            "return !!document.querySelector('#chart-{chart} svg polyline, #chart-{chart} svg circle');"
        );
        browser.wait_until(&format!("the query's {chart} chart"), &exists, json!(true));
    }
    assert_eq!(
        browser.eval("return window.__same_page === true;"),
        json!(true),
        "the page reloaded"
    );
    let late = "return document.querySelector('#chart-late .legend').textContent;";
    let legend = browser.eval(late);
    assert!(
        legend.as_str().unwrap().contains("group_by_window(..).count()"),
        "{legend}"
    );
    browser.wait_until(
        "the query's source",
        "const td = document.querySelector('#sources td'); return td ? td.textContent : null;",
        json!(query.last_progress().unwrap().sources[0].description),
    );
    browser.screenshot("dashboard-query.png");
    drop(browser);
    query.stop().unwrap();
    ssc.stop(false).unwrap();
}

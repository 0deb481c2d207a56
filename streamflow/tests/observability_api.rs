//! The dashboard's JSON API and `/metrics`, against running jobs on a manual clock; and a
//! hostile client, which must not hurt the job or the server.

#![cfg(feature = "ui")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::{Read, Write};

use serde_json::Value;
use streamflow::structured::{MemoryStream, Session};
use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};

mod common;
use common::count_with_a_late_row;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status and body of `GET base + path`.
fn get(base: &str, path: &str) -> (u16, String) {
    let mut response = agent().get(&format!("{base}{path}")).call().unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap(),
    )
}

fn get_json(base: &str, path: &str) -> Value {
    let (status, body) = get(base, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// `value` without its floating-point rates, which a JSON round trip may change in the last digit.
fn without_rates(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.ends_with("RowsPerSecond"))
                .map(|(k, v)| (k.clone(), without_rates(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_rates).collect()),
        other => other.clone(),
    }
}

fn dstream_job(name: &str, clock: &ManualClock) -> StreamingContext {
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .clock(clock.clone())
        .app_name(name)
        .ui("127.0.0.1:0")
        .build()
        .unwrap();
    let queue = StreamQueue::new();
    queue.push(vec!["a b", "a"]);
    queue.push(vec!["c"]);
    ssc.queue_stream(queue, true, None)
        .flat_map(|l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(|b, _| {
            b.count();
        });
    ssc
}

#[test]
fn a_context_is_listed_with_its_plan_stages_and_batches() {
    let clock = ManualClock::new(0);
    let ssc = dstream_job("api-dstream", &clock);
    let base = ssc.ui_url().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    ssc.start().unwrap();
    let jobs = get_json(&base, "/api/jobs");
    assert_eq!(jobs[0]["id"], "context-1");
    assert_eq!(
        (jobs[0]["kind"].as_str(), jobs[0]["state"].as_str()),
        (Some("context"), Some("Active"))
    );
    assert_eq!(jobs[0]["batches"], 0);
    for t in [1_000, 2_000, 3_000] {
        clock.advance(Duration::seconds(1)).unwrap();
        ssc.await_batch(Time::from_millis(t)).unwrap();
    }
    let job = get_json(&base, "/api/jobs/context-1");
    assert_eq!(job["name"], "api-dstream");
    assert_eq!(job["batches"], 3);
    assert_eq!(job["batchIntervalMs"], 1_000);
    assert_eq!(job["plan"].as_str().unwrap(), ssc.explain());
    let stages = job["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{job:#}"); // queue_stream | flat_map -> map -> shuffle | reduce -> output
    assert_eq!(stages[0]["operators"][0], "queue_stream");
    assert_eq!(stages.last().unwrap()["outputs"][0], "foreach_batch");
    assert_eq!(stages[1]["reads"], serde_json::json!([1]));
    assert!(job["receivers"].is_array());

    let batches = get_json(&base, "/api/jobs/context-1/batches");
    let summary: Vec<(u64, i64, u64)> = batches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["batchId"].as_u64().unwrap(),
                b["batchTime"].as_i64().unwrap(),
                b["numRecords"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(0, 1_000, 2), (1, 2_000, 1), (2, 3_000, 0)]);
    assert_eq!(batches[0]["inputRowsPerSecond"], 2.0); // two records in a one-second interval
    assert_eq!(batches[0]["schedulingDelayMs"], 0.0);
    let infos = ssc.recent_batches();
    // Equal to the last bit but one: serde_json's default float parsing may be off by an ulp.
    let served = batches[1]["processingTimeMs"].as_f64().unwrap();
    let measured = infos[1].processing_time.as_secs_f64() * 1_000.0;
    assert!(
        (served - measured).abs() <= measured.abs() * 1e-12,
        "{served} vs {measured}"
    );
    // Only what came since a batch, for polling.
    let since = get_json(&base, "/api/jobs/context-1/batches?since=1");
    assert_eq!(since.as_array().unwrap().len(), 1);
    assert_eq!(since[0]["batchId"], 2);
    let one = get_json(&base, "/api/jobs/context-1/batches/1");
    assert_eq!(one, batches[1]);
    for missing in [
        "/api/jobs/context-2",
        "/api/jobs/context-1/batches/7",
        "/api/jobs/context-1/batches/x",
        "/nope",
    ] {
        assert_eq!(get(&base, missing).0, 404, "{missing}");
    }
    ssc.stop(false).unwrap();
    assert_eq!(get_json(&base, "/api/jobs/context-1")["state"], "Stopped");
}

#[test]
fn queries_of_a_context_session_show_on_its_dashboard_with_their_progress_records() {
    let clock = ManualClock::new(0);
    let ssc = dstream_job("api-both", &clock);
    let base = ssc.ui_url().unwrap();
    let session = ssc.session();
    assert_eq!(session.ui_url(), Some(base.clone()));
    let q = count_with_a_late_row(&session, "api-counts");
    let jobs = get_json(&base, "/api/jobs");
    let kinds: Vec<_> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["kind"].clone(), j["name"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("context".into(), "api-both".into()),
            ("query".into(), "api-counts".into())
        ]
    );
    let path = format!("/api/jobs/{}", q.id());
    let job = get_json(&base, &path);
    assert_eq!(job["plan"].as_str().unwrap(), q.explain());
    assert_eq!(job["status"]["message"], "Waiting for data to arrive");
    assert_eq!(
        job["sources"][0]["description"],
        q.last_progress().unwrap().sources[0].description
    );
    assert!(job["stages"].as_array().unwrap().len() >= 2, "{job:#}");
    // The batches are the query's progress records, in Spark's JSON.
    let batches = get_json(&base, &format!("{path}/batches"));
    let expected: Vec<Value> = q
        .recent_progress()
        .iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    assert_eq!(
        without_rates(&batches),
        without_rates(&Value::Array(expected.clone()))
    );
    assert_eq!(
        without_rates(&get_json(&base, &format!("{path}/batches/1"))),
        without_rates(&expected[1])
    );
    let dropped: u64 = batches
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["stateOperators"][0]["numRowsDroppedByWatermark"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(dropped, 1); // the row at minute 5
    q.stop().unwrap();
    assert_eq!(get_json(&base, &path)["state"], "Stopped");
    assert_eq!(get_json(&base, &path)["status"]["message"], "Stopped");
    ssc.stop(false).unwrap();
}

#[test]
fn a_session_of_its_own_serves_its_own_dashboard() {
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .ui("127.0.0.1:0")
        .build()
        .unwrap();
    let base = session.ui_url().unwrap();
    let input = MemoryStream::<i64>::new();
    let q = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .memory("own")
        .start()
        .unwrap();
    input.add_data([1, 2, 3]);
    q.process_all_available().unwrap();
    let jobs = get_json(&base, "/api/jobs");
    assert_eq!(jobs[0]["id"], q.id());
    assert_eq!(jobs[0]["name"], q.id()); // unnamed: shown by its id
    assert_eq!(jobs[0]["lastBatch"]["numInputRows"], 3);
    q.stop().unwrap();
}

#[test]
fn the_pages_and_their_assets_are_served_from_the_binary() {
    let clock = ManualClock::new(0);
    let ssc = dstream_job("api-pages", &clock);
    let base = ssc.ui_url().unwrap();
    let (status, page) = get(&base, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<script src=\"/static/app.js\"></script>"),
        "{page}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no asset from the network: {page}"
    );
    assert_eq!(get(&base, "/jobs/context-1").1, page);
    let (status, js) = get(&base, "/static/app.js");
    assert_eq!(status, 200);
    assert!(js.contains("/api/jobs"));
    assert!(
        !js.contains("innerHTML"),
        "job texts are set as text, never as HTML"
    );
    assert_eq!(get(&base, "/static/style.css").0, 200);
}

#[test]
fn hostile_clients_get_errors_and_the_job_runs_on() {
    let clock = ManualClock::new(0);
    let ssc = dstream_job("api-hostile", &clock);
    let base = ssc.ui_url().unwrap();
    let addr = base.trim_start_matches("http://").to_string();
    ssc.start().unwrap();
    // Other methods.
    let mut response = agent().post(&format!("{base}/api/jobs")).send("x").unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let _ = response.body_mut().read_to_string();
    // Garbage, a request cut short, a huge header, a bad path: each on its own connection.
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
    let huge_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(1_000_000));
    for raw in [
        "\x00\x01\x02 garbage\r\n\r\n",
        "GET /api/jobs HTTP/1.1\r\nHost:",
        long_path.as_str(),
        huge_header.as_str(),
        "GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /api/jobs/context-1/batches?since=-1&since=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(raw.as_bytes());
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(!answer.contains("root:"), "{answer}");
    }
    // A client that connects and says nothing does not block the others.
    let _silent = std::net::TcpStream::connect(&addr).unwrap();
    clock.advance(Duration::seconds(1)).unwrap();
    ssc.await_batch(Time::from_millis(1_000)).unwrap();
    assert_eq!(get_json(&base, "/api/jobs/context-1")["batches"], 1);
    ssc.stop(false).unwrap();
    ssc.await_termination().unwrap();
}

#[cfg(feature = "prometheus")]
#[test]
fn metrics_are_served_for_prometheus() {
    let clock = ManualClock::new(0);
    let ssc = dstream_job("api-prometheus", &clock);
    let base = ssc.ui_url().unwrap();
    ssc.start().unwrap();
    clock.advance(Duration::seconds(1)).unwrap();
    ssc.await_batch(Time::from_millis(1_000)).unwrap();
    let (status, text) = get(&base, "/metrics");
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"streamflow_batches_total{job="api-prometheus",vocabulary="dstream"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"streamflow_input_rows_total{job="api-prometheus",vocabulary="dstream"} 2"#),
        "{text}"
    );
    ssc.stop(false).unwrap();
}

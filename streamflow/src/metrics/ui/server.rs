//! The dashboard's HTTP server: `tiny_http` on its own threads, off the job's path.
//!
//! Requests are answered from the board's records; nothing a client sends can reach the job:
//! a malformed request is answered by `tiny_http` (400), an unknown path 404, a method other
//! than GET or HEAD 405, and a client that goes away mid-answer is only logged at debug level.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use tiny_http::{Header, Method, Request, Response, Server};

use super::board::Board;
use crate::error::{Error, Result};

/// How many ports after a busy one are tried (Spark's `spark.port.maxRetries`).
const PORT_RETRIES: u16 = 16;
/// Threads answering requests: enough that one slow client does not stall the page.
const THREADS: usize = 2;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// A running dashboard: its server and the jobs it shows. Dropped with the engine (its
/// listener bus), which stops the server.
pub(crate) struct Dashboard {
    board: Arc<Board>,
    server: Arc<Server>,
    url: String,
}

impl Dashboard {
    /// Binds `addr` (or, when its port is busy, one of the next ports) and starts serving.
    pub(crate) fn start(addr: &str) -> Result<Arc<Dashboard>> {
        let listener = bind(addr)?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::io(format!("cannot read the dashboard's address ({addr})"), e))?;
        if !local.ip().is_loopback() {
            log::warn!("the dashboard on {local} is reachable from other machines and has no authentication");
        }
        let server = Server::from_listener(listener, None)
            .map_err(|e| Error::InvalidConfig(format!("cannot serve the dashboard on {local}: {e}")))?;
        let server = Arc::new(server);
        let board = Arc::new(Board::default());
        for i in 0..THREADS {
            let (server, board) = (server.clone(), board.clone());
            std::thread::Builder::new()
                .name(format!("streamflow-ui-{i}"))
                .spawn(move || serve(&server, &board))
                .map_err(|e| Error::io("cannot start the dashboard's threads", e))?;
        }
        #[cfg(feature = "prometheus")]
        prometheus::handle();
        Ok(Arc::new(Dashboard {
            board,
            server,
            url: format!("http://{local}"),
        }))
    }

    pub(crate) fn board(&self) -> &Board {
        &self.board
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        // Each call wakes one thread waiting for a request; each then ends.
        for _ in 0..THREADS {
            self.server.unblock();
        }
    }
}

/// Binds `addr`; a busy port is followed by the next ones, as Spark's UI does.
fn bind(addr: &str) -> Result<TcpListener> {
    let bad = |reason: String| {
        Error::InvalidConfig(format!(
            "cannot serve the dashboard on \"{addr}\": {reason} (use host:port, e.g. 127.0.0.1:4040)"
        ))
    };
    let first: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the address resolves to nothing".into()))?;
    let mut tried = first;
    for step in 0..=PORT_RETRIES {
        match TcpListener::bind(tried) {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse && first.port() != 0 && step < PORT_RETRIES =>
            {
                log::warn!(
                    "port {} is in use: trying {} for the dashboard",
                    tried.port(),
                    tried.port().saturating_add(1)
                );
                tried.set_port(tried.port().saturating_add(1));
            }
            Err(e) => return Err(Error::io(format!("cannot serve the dashboard on {tried}"), e)),
        }
    }
    Err(bad("every port tried is in use".into()))
}

fn serve(server: &Server, board: &Board) {
    // `recv` fails only when the server is unblocked (the dashboard dropped) or shut.
    while let Ok(request) = server.recv() {
        let answer = crate::exec::call_hook("the dashboard's request handler", || {
            respond(request, board);
        });
        if !answer {
            log::warn!("the dashboard failed to answer a request");
        }
    }
}

/// What a request gets: status, content type, body.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn json(value: serde_json::Value) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body: value.to_string(),
        }
    }

    fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type,
            body: body.into(),
        }
    }

    fn not_found(what: &str) -> Answer {
        Answer::text(404, "text/plain; charset=utf-8", format!("not found: {what}\n"))
    }
}

fn respond(request: Request, board: &Board) {
    let head = *request.method() == Method::Head;
    let answer = if matches!(request.method(), Method::Get | Method::Head) {
        route(request.url(), board)
    } else {
        Answer::text(405, "text/plain; charset=utf-8", "only GET and HEAD\n")
    };
    let mut response =
        Response::from_string(if head { String::new() } else { answer.body }).with_status_code(answer.status);
    for (name, value) in [
        ("Content-Type", answer.content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ] {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    if let Err(e) = request.respond(response) {
        log::debug!("the dashboard could not answer a client: {e}");
    }
}

/// Maps a request's path (and query) to its answer.
fn route(url: &str, board: &Board) -> Answer {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let since = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse::<u64>().ok());
    let json_or_404 =
        |value: Option<serde_json::Value>| value.map_or_else(|| Answer::not_found(path), Answer::json);
    match parts.as_slice() {
        [] | ["jobs", _] => Answer::text(200, "text/html; charset=utf-8", INDEX_HTML),
        ["static", "app.js"] => Answer::text(200, "text/javascript; charset=utf-8", APP_JS),
        ["static", "style.css"] => Answer::text(200, "text/css; charset=utf-8", STYLE_CSS),
        ["api", "jobs"] => Answer::json(board.jobs()),
        ["api", "jobs", id] => json_or_404(board.job(id)),
        ["api", "jobs", id, "batches"] => json_or_404(board.batches(id, since)),
        ["api", "jobs", id, "batches", batch] => {
            json_or_404(batch.parse().ok().and_then(|b| board.batch(id, b)))
        }
        ["metrics"] => metrics(),
        _ => Answer::not_found(path),
    }
}

#[cfg(feature = "prometheus")]
fn metrics() -> Answer {
    match prometheus::handle() {
        Some(handle) => Answer::text(200, "text/plain; version=0.0.4; charset=utf-8", handle.render()),
        None => Answer::not_found(
            "/metrics: this program installed its own recorder for the `metrics` facade; export from it",
        ),
    }
}

#[cfg(not(feature = "prometheus"))]
fn metrics() -> Answer {
    Answer::not_found("/metrics: build streamflow with the `prometheus` feature to serve metrics here")
}

#[cfg(feature = "prometheus")]
mod prometheus {
    use std::sync::OnceLock;

    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

    /// The process's Prometheus recorder, installed by the first dashboard unless the program
    /// installed a recorder of its own (then `None`).
    pub(super) fn handle() -> Option<&'static PrometheusHandle> {
        static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
        HANDLE
            .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
                Ok(handle) => {
                    crate::metrics::export::describe();
                    Some(handle)
                }
                Err(e) => {
                    log::info!("the dashboard serves no /metrics: {e}");
                    None
                }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_pages_the_api_or_404() {
        let board = Board::default();
        let status = |url: &str| route(url, &board).status;
        assert_eq!(status("/"), 200);
        assert_eq!(status("/jobs/context-1"), 200);
        assert_eq!(status("/static/app.js"), 200);
        assert_eq!(status("/api/jobs"), 200);
        assert_eq!(route("/api/jobs?x=1", &board).body, "[]");
        for missing in [
            "/api/jobs/nope",
            "/api/jobs/nope/batches",
            "/api/jobs/nope/batches/1",
            "/api/jobs/nope/batches/x",
            "/api/jobs/nope/batches/99999999999999999999999",
            "/static/../../etc/passwd",
            "/%00",
            "/api/jobs/a/b/c/d/e",
        ] {
            assert_eq!(status(missing), 404, "{missing}");
        }
    }

    #[test]
    fn a_busy_port_is_followed_by_the_next() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = taken.local_addr().map(|a| a.port()).unwrap_or_default();
        match bind(&format!("127.0.0.1:{port}")) {
            Ok(next) => assert_ne!(next.local_addr().map(|a| a.port()).unwrap_or(port), port),
            // The next ports may be taken by other processes on a busy machine.
            Err(e) => assert!(e.to_string().contains("in use"), "{e}"),
        }
        assert!(bind("not an address").is_err());
    }
}

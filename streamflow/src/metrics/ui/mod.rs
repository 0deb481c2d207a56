//! The live web dashboard and its JSON API (cargo feature `ui`), served by the job itself.
//!
//! Enable it with [`ContextBuilder::ui`](crate::ContextBuilder::ui) or
//! [`SessionBuilder::ui`](crate::structured::SessionBuilder::ui), or with the environment
//! variable `STREAMFLOW_UI=127.0.0.1:4040` for every context and session a program builds. It
//! is off by default. Like Spark's UI, a port in use is followed by the next one (up to 16
//! tries); port 0 picks a free port. [`StreamingContext::ui_url`](crate::StreamingContext::ui_url)
//! and [`Session::ui_url`](crate::structured::Session::ui_url) say where it is.
//!
//! A page per context and per query shows live charts (input vs processing rate, batch
//! duration, scheduling and total delay for contexts; watermark gap, state rows and memory per
//! operator, late rows dropped for queries), the recent batches with each one's progress record,
//! the operator graph cut into its fused stages, and the receivers' and sources' status. The
//! page polls the JSON API below; every asset is in the binary and the charts are drawn as SVG
//! by a few lines of vanilla JavaScript (no CDN, no library).
//!
//! | endpoint | returns |
//! |---|---|
//! | `GET /api/jobs` | every context and query the dashboard watches: `id`, `kind` (`context` or `query`), `name`, `state`, `batches`, `lastBatch` |
//! | `GET /api/jobs/{id}` | one job: the same, with its `plan` (`explain()`), `stages` (`id`, `operators`, `reads`, `outputs`), and `sources` (receivers' status for a context; the last batch's sources and sink for a query, with `status` and `exception`) |
//! | `GET /api/jobs/{id}/batches[?since=N]` | its recent batches, oldest first (those with `batchId` > N): a query's are its [`QueryProgress`](crate::structured::QueryProgress) records in Spark's JSON; a context's are `batchId`, `batchTime`, `numRecords`, `schedulingDelayMs`, `processingTimeMs`, `totalDelayMs`, `inputRowsPerSecond`, `processedRowsPerSecond`, `processingStartTime`, `processingEndTime` |
//! | `GET /api/jobs/{id}/batches/{batchId}` | one of those records |
//! | `GET /metrics` | every metric of the process in Prometheus' text format (feature `prometheus`: the dashboard installs a Prometheus recorder for the `metrics` facade unless the program installed its own) |
//! | `GET /`, `GET /jobs/{id}` | the pages |
//!
//! Times are milliseconds since the Unix epoch (clock time), except in query progress records,
//! which keep Spark's ISO-8601 strings. Unknown paths answer 404, other methods 405; the server
//! has no authentication, so bind it to a loopback address unless the network is trusted.
//!
//! ```
//! use streamflow::{Duration, StreamingContext};
//!
//! let ssc = StreamingContext::builder().batch_duration(Duration::seconds(1)).build()?;
//! assert_eq!(ssc.ui_url(), None); // off unless asked for
//! # Ok::<(), streamflow::Error>(())
//! ```

#[cfg(feature = "ui")]
mod board;
#[cfg(feature = "ui")]
mod server;

#[cfg(feature = "ui")]
pub(crate) use server::Dashboard;

use std::sync::Arc;

use crate::StreamingContext;
use crate::context::ContextBuilder;
use crate::error::{Error, Result};
use crate::exec::JobControl;
use crate::metrics::ListenerBus;
use crate::metrics::query::QueryRecord;
use crate::structured::{Session, SessionBuilder};

/// The environment variable that turns the dashboard on for every context and session: the
/// address to serve it on, e.g. `127.0.0.1:4040`.
pub const UI_ENV: &str = "STREAMFLOW_UI";

impl ContextBuilder {
    /// Serves the live dashboard and its JSON API on `addr` (e.g. `"127.0.0.1:4040"`, or
    /// port 0 for a free one) while the context lives. Needs the cargo feature `ui`: without it
    /// [`build`](Self::build) fails and says so. See [`metrics::ui`](crate::metrics::ui).
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let built = StreamingContext::builder()
    ///     .batch_duration(Duration::seconds(1))
    ///     .ui("127.0.0.1:0")
    ///     .build();
    /// if cfg!(feature = "ui") {
    ///     let url = built?.ui_url().unwrap();
    ///     assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    /// } else {
    ///     assert!(built.unwrap_err().to_string().contains("`ui` feature"));
    /// }
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn ui(mut self, addr: impl Into<String>) -> Self {
        self.ui = Some(addr.into());
        self
    }
}

impl SessionBuilder {
    /// Serves the live dashboard of this session's queries on `addr` (see
    /// [`ContextBuilder::ui`]). A session made with
    /// [`StreamingContext::session`] shows its queries on the context's dashboard.
    ///
    /// ```
    /// use streamflow::structured::Session;
    ///
    /// let built = Session::builder().ui("127.0.0.1:0").build();
    /// if cfg!(feature = "ui") {
    ///     assert!(built?.ui_url().is_some());
    /// } else {
    ///     assert!(built.is_err());
    /// }
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn ui(mut self, addr: impl Into<String>) -> Self {
        self.ui = Some(addr.into());
        self
    }
}

impl StreamingContext {
    /// The dashboard's address (`http://127.0.0.1:4040`), when it is served.
    ///
    /// ```
    /// use streamflow::{Duration, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// # if std::env::var_os(streamflow::metrics::ui::UI_ENV).is_none() {
    /// assert_eq!(ssc.ui_url(), None);
    /// # }
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn ui_url(&self) -> Option<String> {
        url(&self.inner.metrics.bus)
    }
}

impl Session {
    /// The dashboard's address, when it is served (its own, or its context's).
    ///
    /// ```
    /// let session = streamflow::structured::Session::new(1)?;
    /// # if std::env::var_os(streamflow::metrics::ui::UI_ENV).is_none() {
    /// assert_eq!(session.ui_url(), None);
    /// # }
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn ui_url(&self) -> Option<String> {
        url(&self.inner.bus)
    }
}

#[cfg(feature = "ui")]
fn url(bus: &ListenerBus) -> Option<String> {
    bus.dashboard.get().map(|d| d.url().to_string())
}

#[cfg(not(feature = "ui"))]
fn url(_bus: &ListenerBus) -> Option<String> {
    None
}

/// The address asked for: the builder's, else the environment's. `Ok(None)`: no dashboard.
fn requested(explicit: Option<String>) -> Result<Option<String>> {
    let from_env = || std::env::var(UI_ENV).ok().filter(|a| !a.trim().is_empty());
    if cfg!(feature = "ui") {
        return Ok(explicit.or_else(from_env));
    }
    match (explicit, from_env()) {
        (Some(addr), _) => Err(Error::InvalidConfig(format!(
            "the dashboard (.ui(\"{addr}\")) needs streamflow's `ui` feature: add features = [\"ui\"] to the streamflow dependency in Cargo.toml"
        ))),
        (None, Some(addr)) => {
            log::warn!(
                "{UI_ENV}={addr} is set, but this program was built without streamflow's `ui` feature: no dashboard"
            );
            Ok(None)
        }
        (None, None) => Ok(None),
    }
}

/// Serves the dashboard of a context just built, if one was asked for.
pub(crate) fn attach_context(ssc: &StreamingContext, explicit: Option<String>) -> Result<()> {
    let Some(addr) = requested(explicit)? else {
        return Ok(());
    };
    #[cfg(feature = "ui")]
    {
        let dashboard = server::Dashboard::start(&addr)?;
        dashboard.board().add_context(&ssc.inner);
        log::info!("{}: dashboard at {}", ssc.app_name(), dashboard.url());
        let _ = ssc.inner.metrics.bus.dashboard.set(dashboard);
    }
    #[cfg(not(feature = "ui"))]
    let _ = (ssc, addr);
    Ok(())
}

/// Serves the dashboard of a session just built, if one was asked for.
pub(crate) fn attach_session(session: &Session, explicit: Option<String>) -> Result<()> {
    let Some(addr) = requested(explicit)? else {
        return Ok(());
    };
    #[cfg(feature = "ui")]
    {
        let dashboard = server::Dashboard::start(&addr)?;
        log::info!("{}: dashboard at {}", session.app_name(), dashboard.url());
        let _ = session.inner.bus.dashboard.set(dashboard);
    }
    #[cfg(not(feature = "ui"))]
    let _ = (session, addr);
    Ok(())
}

/// Shows a query that just started on its engine's dashboard, if it has one.
pub(crate) fn watch_query(
    bus: &ListenerBus,
    record: &Arc<QueryRecord>,
    plan: &str,
    control: &Arc<JobControl>,
) {
    #[cfg(feature = "ui")]
    if let Some(dashboard) = bus.dashboard.get() {
        dashboard
            .board()
            .add_query(record.clone(), plan.to_string(), control.clone());
    }
    #[cfg(not(feature = "ui"))]
    let _ = (bus, record, plan, control);
}

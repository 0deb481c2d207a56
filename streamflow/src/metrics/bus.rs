//! The listener bus: every listener of an engine, of both vocabularies, called under one guard.

use std::sync::{Arc, Mutex};

use super::StreamingListener;
use super::progress::StreamingQueryListener;
use crate::exec::call_hook;

/// The listeners of an engine. A `StreamingContext` and the `Session`s made from it share one.
///
/// A listener that panics is logged with its name and the event, and the job goes on (as
/// Spark's listener bus does): a bug in monitoring code must not stop the data.
#[derive(Default)]
pub(crate) struct ListenerBus {
    streaming: Mutex<Vec<Arc<dyn StreamingListener>>>,
    queries: Mutex<Vec<Arc<dyn StreamingQueryListener>>>,
    /// The engine's dashboard, when it serves one (`metrics/ui/`).
    #[cfg(feature = "ui")]
    pub(crate) dashboard: std::sync::OnceLock<Arc<super::ui::Dashboard>>,
}

impl ListenerBus {
    pub(crate) fn add_streaming(&self, listener: Arc<dyn StreamingListener>) {
        self.streaming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    pub(crate) fn add_query(&self, listener: Arc<dyn StreamingQueryListener>) {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(listener);
    }

    /// Calls `f` on every DStream listener; `event` names the callback in a panic's log line.
    pub(crate) fn post_streaming(&self, event: &str, f: impl Fn(&dyn StreamingListener)) {
        let listeners = self.streaming.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for l in listeners {
            call_hook(&format!("listener {} in {event}", l.name()), || f(l.as_ref()));
        }
    }

    /// Calls `f` on every query listener; `event` names the callback in a panic's log line.
    pub(crate) fn post_query(&self, event: &str, f: impl Fn(&dyn StreamingQueryListener)) {
        let listeners = self.queries.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for l in listeners {
            call_hook(&format!("listener {} in {event}", l.name()), || f(l.as_ref()));
        }
    }
}

//! Graceful stop on SIGINT / SIGTERM (Spark's `spark.streaming.stopGracefullyOnShutdown`).
//!
//! A job that asks for it is registered here when it starts. The first SIGINT or SIGTERM asks
//! every registered job that is still running to stop gracefully — receive nothing more,
//! process everything received, commit the last batch — and the program's
//! `await_termination` returns once they did, so `main` ends normally. A second signal ends
//! the process at once, with the signal's usual exit status.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::control::JobControl;

/// The jobs to stop on a signal.
static JOBS: Mutex<Vec<Weak<JobControl>>> = Mutex::new(Vec::new());

/// Whether the signal thread is installed (and whether installing it worked).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers `control` to be stopped gracefully on SIGINT / SIGTERM, installing the handler on
/// first use. Logs (and otherwise ignores) a platform where signals cannot be handled.
pub(crate) fn stop_gracefully_on_shutdown(control: &Arc<JobControl>) {
    let installed = INSTALLED.get_or_init(install);
    if let Err(e) = installed {
        log::warn!("{}: cannot stop gracefully on shutdown: {e}", control.name);
        return;
    }
    let mut jobs = JOBS.lock().unwrap_or_else(|e| e.into_inner());
    jobs.retain(|j| j.strong_count() > 0);
    jobs.push(Arc::downgrade(control));
}

/// Asks every registered job to stop gracefully; returns how many were running.
pub(crate) fn stop_all_gracefully(signal: &str) -> usize {
    let jobs: Vec<Arc<JobControl>> = JOBS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let mut running = 0;
    for job in jobs {
        if job.phase() == crate::ContextState::Active {
            log::info!("{}: {signal} received, stopping gracefully", job.name);
            job.request_stop(true);
            running += 1;
        }
    }
    running
}

#[cfg(unix)]
fn install() -> Result<(), String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("streamflow-shutdown".into())
        .spawn(move || {
            let mut seen = false;
            for signal in signals.forever() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                if seen || stop_all_gracefully(name) == 0 {
                    // A second signal, or nothing to stop: what the signal would have done.
                    if seen {
                        log::warn!("{name} received again: exiting without waiting");
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
                seen = true;
            }
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn install() -> Result<(), String> {
    Err("signals are handled on Unix only".into())
}

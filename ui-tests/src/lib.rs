//! trybuild tests for `#[stream_job]`: see `tests/ui.rs` and `README.md`.

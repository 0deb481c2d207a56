//! Every compile-time diagnostic of `#[stream_job]`, each with its expected `.stderr`, and jobs
//! that must compile cleanly under `#![deny(warnings)]`.
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p streamflow-ui-tests`,
//! then review the diff: see `README.md`.

/// The `.stderr` files hold rustc's exact output, which changes between releases: they are
/// pinned to the toolchain they were written with, and other toolchains skip this test.
#[rustversion::attr(not(stable(1.95)), ignore = "the .stderr files are pinned to rustc 1.95")]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

/// The mistakes only types can show (`reduce_by_key` on a stream that is not of pairs, `join`
/// with or of unkeyed streams, an `f64` key, a state without serde) must read as the runtime's
/// `#[diagnostic::on_unimplemented]` messages. rustc uses those only for a failed bound on a
/// method's own generics (E0277), not for a method found in an `impl<T: Pair>` block whose bound
/// fails (E0599, "the method exists but its trait bounds were not satisfied"), so the keyed
/// operators carry their `T: Pair<K = K, V = V>` bound on each method.
#[test]
fn type_errors_carry_the_runtime_messages() {
    let pairs = "this operator needs a stream of `(key, value)` pairs";
    for (case, message) in [
        ("reduce_by_key_not_pairs", pairs),
        ("join_unkeyed", pairs),
        // The other side's type is spelled out by the signature: rustc names both types.
        (
            "join_pair_with_non_pair",
            "expected `&DStream<(String, _)>`, found `&DStream<String>`",
        ),
        ("key_not_hashable", "`f64` cannot be used as a key"),
        ("state_not_serde", "`Total` cannot be kept in a state store"),
        ("print_without_debug", "`Reading` cannot be printed"),
        // The typed output modes: the shape of the query in its types (`structured/shape.rs`).
        (
            "query_typed_modes",
            "Append output mode not supported here: the dataset written has the shape `Aggregated`",
        ),
        (
            "query_typed_modes",
            "Complete output mode not supported when there are no streaming aggregations",
        ),
        // The watermark and the join in the shape.
        (
            "query_typed_append_without_watermark",
            "Append output mode not supported here: the dataset written has the shape `WindowAggregatedWithoutWatermark`",
        ),
        (
            "query_typed_join_modes",
            "Update output mode not supported here: the writer has the shape `Joined`",
        ),
    ] {
        let path = format!("{}/tests/ui/fail/{case}.stderr", env!("CARGO_MANIFEST_DIR"));
        let stderr = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            stderr.contains(message),
            "{case}.stderr lacks {message:?}:\n{stderr}"
        );
    }
}

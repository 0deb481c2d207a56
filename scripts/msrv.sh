#!/usr/bin/env bash
# Checks, with the one toolchain this machine has, that the workspace honours the
# `rust-version` its manifest claims (the MSRV). No older toolchain can be fetched here, so this
# is what it proves, and what it does not:
#
#  1. Every dependency of the default build on this platform declares a `rust-version` no
#     newer than ours, or none: a dependency that needs a newer compiler is the usual way an
#     MSRV silently breaks. What each optional feature needs, and what the tests need (they run
#     on current stable), is printed as a note: the claim covers the default features.
#  2. clippy's `incompatible_msrv` lint, told our MSRV (clippy.toml `msrv`, or the manifest's
#     `rust-version`), finds no use of a standard-library API stabilized after it — across
#     every crate, target and feature.
#  3. No language feature newer than the MSRV that (1)-(2) cannot see: let chains
#     (`if let … && …`, stable in 1.88) are searched for in the sources.
#
# What it does not prove: that rustc $MSRV accepts every other piece of syntax or every type
# inference this compiler accepts. Only a build with that toolchain (`cargo +$MSRV check`)
# proves that; run it where the toolchain can be installed (`rustup toolchain install $MSRV`).
# When `cargo +$MSRV` works here, this script runs it too.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)
if [ -z "$msrv" ]; then
    echo "msrv: no rust-version in the workspace manifest" >&2
    exit 1
fi
echo "msrv: the manifest claims rust-version $msrv (toolchain here: $(rustc --version))"

version_key() { # 1.85 / 1.85.0 -> comparable number
    local IFS=.
    set -- $1 0 0
    printf '%d%03d%03d' "$1" "$2" "$3"
}

# 1. Dependencies' declared rust-version, for this platform: those the crates build with by
# default (an error), then what each optional feature of `streamflow` adds and the
# dev-dependencies of the tests, examples and benches (notes: the README says which features
# need a newer compiler).
host=$(rustc -vV | sed -n 's/^host: //p')
newer_deps() { # [cargo metadata options…]: "name version rust-version" of deps newer than $msrv
    cargo metadata --format-version 1 --locked --filter-platform "$host" "$@" | python3 -c '
import json, sys
def key(v): return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
msrv, dev = key(sys.argv[1]), sys.argv[2] == "dev"
meta = json.load(sys.stdin)
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
members = set(meta["workspace_members"])
def reach(with_dev):
    seen, todo = set(), list(members)
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        for d in nodes[i]["deps"]:
            kinds = {k["kind"] for k in d["dep_kinds"]}
            if kinds & {None, "build"} or (with_dev and i in members and "dev" in kinds):
                todo.append(d["pkg"])
    return seen - members
ids = reach(True) - reach(False) if dev else reach(False)
for i in sorted(ids, key=lambda i: pkgs[i]["name"]):
    rv = pkgs[i].get("rust_version")
    if rv and key(rv) > msrv:
        print(pkgs[i]["name"], pkgs[i]["version"], rv)
' "$msrv" "${MODE:-build}"
}
too_new=$(newer_deps)
if [ -n "$too_new" ]; then
    echo "msrv: dependencies of the default build that need a newer compiler than $msrv:" >&2
    echo "$too_new" | sed 's/^/  /' >&2
    exit 1
fi
echo "msrv: every dependency of the default build (for $host) declares rust-version <= $msrv or none"
features=$(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "streamflow":
        print(" ".join(f for f in p["features"] if f != "default"))')
for feature in $features; do
    needs=$(newer_deps --features "streamflow/$feature" | sort -t' ' -k3 -V | tail -n 1)
    if [ -n "$needs" ]; then
        echo "msrv: note: feature \`$feature\` needs rust ${needs##* } (${needs% *} and maybe others)"
    fi
done
dev_needs=$(MODE=dev newer_deps --all-features | sort -t' ' -k3 -V | tail -n 1)
if [ -n "$dev_needs" ]; then
    echo "msrv: note: the tests, examples and benches need rust ${dev_needs##* } (${dev_needs% *})"
fi

# 2. Standard-library APIs newer than the MSRV. clippy reads the MSRV from the manifest's
# rust-version; CLIPPY_CONF_DIR is not changed, so clippy.toml's `msrv`, if any, must agree.
if grep -q '^msrv' clippy.toml 2>/dev/null && ! grep -q "^msrv *= *\"$msrv\"" clippy.toml; then
    echo "msrv: clippy.toml's msrv differs from rust-version $msrv" >&2
    exit 1
fi
cargo clippy --workspace --all-targets --all-features --quiet -- \
    -A clippy::all -D clippy::incompatible_msrv
echo "msrv: no standard-library API newer than $msrv is used (clippy::incompatible_msrv)"

# 3. Let chains (stable in 1.88) in our own sources.
if [ "$(version_key "$msrv")" -lt "$(version_key 1.88)" ]; then
    if grep -rnE --include='*.rs' '\b(if|while) let [^{;]*&&|^\s*&& let ' \
        streamflow streamflow-macros examples benches ui-tests; then
        echo "msrv: let chains need rust 1.88; the manifest claims $msrv" >&2
        exit 1
    fi
    echo "msrv: no let chains (rust 1.88) in the sources"
fi

# The real proof, where the toolchain exists.
if rustup run "$msrv" rustc --version >/dev/null 2>&1; then
    cargo "+$msrv" check --workspace --all-targets --all-features
    echo "msrv: cargo +$msrv check passed"
else
    echo "msrv: toolchain $msrv is not installed here; the build with it was not run (see the header)"
fi

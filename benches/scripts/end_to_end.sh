#!/usr/bin/env bash
# The end-to-end benchmarks: whole processes over generated files, each beside its hand-written
# baseline in the same run. Runs the programs interleaved ROUNDS times (so all see the same
# machine load), then prints per program the median wall time, its range, the median CPU time
# and peak RSS (from /usr/bin/time), and the ratio baseline / program of the medians (above 1:
# faster than the baseline). Checks that every program's result is byte-identical to the
# baseline's.
#
#   benches/scripts/end_to_end.sh [ROUNDS] [WORKLOAD...]
#
# WORKLOAD: words, events (default both). Environment:
#   DATA_DIR    where the inputs are generated once and kept (default /tmp/streamflow-e2e)
#   WORDS_MIB   size of the text (default 50)          EVENTS  number of events (default 10000000)
#   KEYS        distinct event keys (default 100000)   THREADS streamflow workers (default 2)
#   BIN_DIR     the release binaries (default: built now with cargo build --release)
#   EVENT_ARGS  extra arguments of streamflow_event_count (e.g. "--max-files-per-trigger 1")
set -euo pipefail
rounds=${1:-5}
shift || true
workloads=("${@:-words events}")
read -r -a workloads <<<"${workloads[*]}"
data=${DATA_DIR:-/tmp/streamflow-e2e}
threads=${THREADS:-2}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -z ${BIN_DIR:-} ]]; then
    (cd "$root" && cargo build --release -q -p streamflow-benches --bins)
    BIN_DIR=${CARGO_TARGET_DIR:-$root/target}/release
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

words_dir=$data/words-${WORDS_MIB:-50}mib
events_dir=$data/events-${EVENTS:-10000000}-${KEYS:-100000}
if [[ " ${workloads[*]} " == *" words "* && ! -d $words_dir ]]; then
    "$BIN_DIR/gen_input" words --mib "${WORDS_MIB:-50}" --out "$words_dir.tmp" && mv "$words_dir.tmp" "$words_dir"
fi
if [[ " ${workloads[*]} " == *" events "* && ! -d $events_dir ]]; then
    "$BIN_DIR/gen_input" events --events "${EVENTS:-10000000}" --keys "${KEYS:-100000}" --out "$events_dir.tmp" &&
        mv "$events_dir.tmp" "$events_dir"
fi

# name|command (the output file is appended as --output FILE)
programs=()
for w in "${workloads[@]}"; do
    case $w in
    words)
        programs+=("words/baseline|$BIN_DIR/baseline_word_count --input $words_dir")
        programs+=("words/streamflow text::words|$BIN_DIR/streamflow_word_count --input $words_dir --threads $threads --spelling words")
        programs+=("words/streamflow spark spelling|$BIN_DIR/streamflow_word_count --input $words_dir --threads $threads --spelling spark")
        ;;
    events)
        programs+=("events/baseline|$BIN_DIR/baseline_event_count --input $events_dir")
        programs+=("events/streamflow|$BIN_DIR/streamflow_event_count --input $events_dir --threads $threads ${EVENT_ARGS:-}")
        ;;
    *) echo "unknown workload $w (words, events)" >&2; exit 2 ;;
    esac
done

# One run: appends "name wall cpu rss_kib" to $out/times.
run() {
    local name=$1 cmd=$2 file
    file="$out/$(echo "$name" | tr ' /:' '___').tsv"
    /usr/bin/time -f '%e %U %S %M' -o "$out/time" $cmd --output "$file" >/dev/null
    read -r wall user sys rss <"$out/time"
    echo "$name|$wall|$(echo "$user + $sys" | bc)|$rss" >>"$out/times"
}

for r in $(seq "$rounds"); do
    echo "round $r/$rounds" >&2
    for p in "${programs[@]}"; do
        run "${p%%|*}" "${p#*|}"
    done
done

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), threads=$threads, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "${programs[@]}" <<'PY'
import filecmp, os, statistics, sys
out, programs = sys.argv[1], [p.split("|", 1)[0] for p in sys.argv[2:]]
runs = {}
for line in open(os.path.join(out, "times")):
    name, wall, cpu, rss = line.rstrip("\n").split("|")
    runs.setdefault(name, []).append((float(wall), float(cpu), int(rss)))
def file(name):
    return os.path.join(out, name.replace(" ", "_").replace("/", "_").replace(":", "_") + ".tsv")
print(f"{'program':36} {'wall(med)':>9} {'wall range':>13} {'cpu(med)':>8} {'RSS MiB':>7} {'speed':>6} {'RSS':>6}  result")
differ = False
for name in programs:
    workload = name.split("/")[0]
    base = runs[workload + "/baseline"]
    wall = [r[0] for r in runs[name]]
    med = statistics.median(wall)
    rss = statistics.median(r[2] for r in runs[name]) / 1024
    base_rss = statistics.median(r[2] for r in base) / 1024
    speed = statistics.median(r[0] for r in base) / med
    same = filecmp.cmp(file(workload + "/baseline"), file(name), shallow=False)
    differ |= not same
    rows = sum(1 for _ in open(file(name)))
    print(f"{name:36} {med:8.2f}s {min(wall):5.2f}–{max(wall):5.2f}s {statistics.median(r[1] for r in runs[name]):7.2f}s"
          f" {rss:7.0f} {speed:5.2f}x {rss / base_rss:5.2f}x  {'same as baseline' if same else 'DIFFERS from baseline'} ({rows} rows)")
print("speed: baseline median wall / program median wall (above 1: faster); RSS: peak RSS / baseline's")
sys.exit(1 if differ else 0)
PY

#!/usr/bin/env bash
# Makes (once) a Python virtual environment with PySpark for the side-by-side runs, and prints
# its path. Cached under ~/.cache/streamflow/spark-venv (override with STREAMFLOW_SPARK_VENV);
# idempotent: a second run only checks that pyspark imports. Needs python3 (with venv) and a
# Java 17 runtime on PATH (Spark 4 needs Java 17 or newer).
#
#   benches/peers/spark/setup.sh            # prints the venv directory
#   PYSPARK_VERSION=4.0.1 benches/peers/spark/setup.sh
set -euo pipefail

VENV="${STREAMFLOW_SPARK_VENV:-$HOME/.cache/streamflow/spark-venv}"
VERSION="${PYSPARK_VERSION:-}"

if ! command -v java >/dev/null; then
    echo "setup.sh: no java on PATH; Spark needs Java 17 (apt-get install openjdk-17-jre-headless)" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c 'import pyspark' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --upgrade pip >&2
    "$VENV/bin/pip" install --quiet "pyspark${VERSION:+==$VERSION}" >&2
fi
"$VENV/bin/python" -c 'import pyspark, sys; print("pyspark", pyspark.__version__, file=sys.stderr)'
echo "$VENV"

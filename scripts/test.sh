#!/usr/bin/env bash
# Every test of tartan, one command: the Rust workspace (cargo test), then the Python
# package's tests (pytest) in a virtualenv, against the extension built by maturin in
# the dev profile (it reuses the dependencies `cargo test` compiled) and the `tartan`
# binary (TARTAN_BIN), which the Python tests compare against.
#
#   bash scripts/test.sh            from anywhere in the checkout
#
# The virtualenv is .venv-test at the repository root (TARTAN_TEST_VENV overrides),
# made with `python3` (PYTHON overrides); maturin, pytest, numpy and Ray (for the tests
# of tartan.ray on a local cluster) come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== cargo test --workspace"
cargo test --workspace

echo "== Python: virtualenv, maturin develop, tartan binary"
venv=${TARTAN_TEST_VENV:-$root/.venv-test}
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9.4,<2.0" "pytest>=7" numpy \
    "ray[data,serve]>=2.40"
(cd python && VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" maturin develop)
# The `tartan` binary `cargo test` built (and tested) for its integration tests; a
# separate `cargo build` would resolve features without the dev-dependencies and
# recompile much of the workspace.
cargo test --workspace --no-run --quiet
target=$(cargo metadata --format-version 1 --no-deps |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export TARTAN_BIN=$target/debug/tartan
[ -x "$TARTAN_BIN" ] || { echo "no tartan binary at $TARTAN_BIN" >&2; exit 1; }

echo "== pytest python/tests"
status=0
"$venv/bin/python" -m pytest python/tests -ra || status=$?
case $status in
    0) ;;
    5) echo "pytest collected no tests: that is a failure" >&2; exit 1 ;;
    *) echo "pytest failed (exit status $status)" >&2; exit "$status" ;;
esac

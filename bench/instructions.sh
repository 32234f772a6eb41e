#!/usr/bin/env bash
# Instructions per item of a hubbub workload, counted by valgrind's callgrind: the same
# figure on a busy machine as on an idle one (wall-clock rates here drift by ±25 %).
#
#   bench/instructions.sh N1 N2 WORKLOAD [ARGS...]
#   bench/instructions.sh 2000 12000 raw_post --variant detached
#   bench/instructions.sh 200 1200 multiparty --variant discussion
#
# Runs the workload at N1 and at N2 items and prints (Ir(N2) - Ir(N1)) / (N2 - N1):
# start-up and set-up cancel out. Needs valgrind (apt-get install valgrind) and the
# hubbub venv (.venv). A run is ~50x slower than natively. Caveat: what the hub caches
# per millisecond (an envelope id's time part, the ISO timestamp) is rebuilt far more
# often under valgrind, so absolute counts on the post path run high; differences
# between two trees are what it is for (HUBBUB_SRC=/other/checkout/src).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n1=$1; n2=$2; shift 2
src=${HUBBUB_SRC:-$PWD/src}
count() {
    local out
    out=$(mktemp)
    PYTHONPATH="$src" PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file="$out" \
        .venv/bin/python bench/workloads_hubbub.py "$@" --timeout 900 >/dev/null 2>&1
    awk '/^summary:/ {print $2; exit}' "$out"
    rm -f "$out"
}
a=$(count "$@" --n "$n1")
b=$(count "$@" --n "$n2")
echo "$*: $(( (b - a) / (n2 - n1) )) instructions per item (Ir $a at $n1, $b at $n2)"

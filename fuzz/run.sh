#!/bin/sh
# Bounded fuzzing of every target: `fuzz/run.sh [SECONDS_PER_TARGET]` (default 60).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Runs without a
# sanitizer (`-s none`): the crate forbids unsafe code, so what the fuzzer hunts is panics,
# stack overflows, hangs (-timeout) and memory blow-ups (-rss_limit_mb).
# The seeds in fuzz/corpus/<target>/ (replayed on stable by tests/fuzz_corpus.rs) stay as they
# are; new inputs that cover more go to fuzz/corpus-new/<target>/ (not committed, reused by the
# next run). A crash is written to fuzz/artifacts/<target>/ and fails this script: copy it into
# fuzz/corpus/<target>/ so it stays a regression test once fixed.
# Figures (2026-11-22, 60 s each on a loaded 2-core machine, no crash): render_documents 16,963
# runs, client_diff 663,090, sandbox_merge 712,292. The first build takes long (~55 min here):
# every dependency is rebuilt with coverage instrumentation.
set -eu
seconds="${1:-60}"
cd "$(dirname "$0")"
status=0
for target in render_documents client_diff sandbox_merge; do
    echo "== $target: ${seconds}s"
    mkdir -p "corpus-new/$target"
    cargo +nightly fuzz run -s none "$target" "corpus-new/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 || status=1
done
exit "$status"

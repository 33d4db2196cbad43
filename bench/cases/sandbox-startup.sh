# about: sandbox start: spawn to its `ready` line, median of 20 runs (target < 100 ms)
res=$("$LOADGEN" startup --bin "$BIN" --runs "${BENCH_STARTUP_RUNS:-20}" --work-dir "$CASE_DIR")
record sandbox.startup "$(jget "$res" .medianMs)" ms --target "<" 100 --detail "$res"

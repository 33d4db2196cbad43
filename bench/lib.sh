# shellcheck shell=bash
# Functions the benchmark cases use; sourced by bench/run before each case (see README.md).
#
# Set by bench/run: ROOT (repo), BENCH_OUT (bench/out), BIN (release kubectl-gitops),
# WORKLOAD and LOADGEN (release examples), CASE (running case), CASE_DIR (its scratch dir).

BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-8}

# Everything a case starts in the background, stopped when the case's subshell exits.
_BENCH_PIDS=()

note() { printf '  %s\n' "$*" >&2; }

# sandbox_start [FLAG...]: starts `kubectl-gitops sandbox --port 0` and waits (10 s at most) for
# its `ready` line. Sets SANDBOX_PID and SANDBOX_KUBECONFIG.
sandbox_start() {
    local n=${#_BENCH_PIDS[@]}
    SANDBOX_KUBECONFIG=$CASE_DIR/sandbox-$n.kubeconfig
    local log=$CASE_DIR/sandbox-$n.out
    "$BIN" sandbox --port 0 --kubeconfig-out "$SANDBOX_KUBECONFIG" "$@" >"$log" 2>"$log.err" &
    SANDBOX_PID=$!
    _BENCH_PIDS+=("$SANDBOX_PID")
    local i
    for ((i = 0; i < 200; i++)); do
        if grep -q '^ready ' "$log" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then
            note "sandbox exited before it was ready: $(tail -n 3 "$log.err")"
            return 1
        fi
        sleep 0.05
    done
    note "sandbox printed no ready line within 10 s"
    return 1
}

# sandbox_stop: stops the sandbox started last (SIGTERM, then SIGKILL after 5 s).
sandbox_stop() {
    [[ -n ${SANDBOX_PID:-} ]] || return 0
    _stop_pid "$SANDBOX_PID"
    SANDBOX_PID=
}

_stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

_bench_cleanup() {
    local pid
    for pid in "${_BENCH_PIDS[@]}"; do
        _stop_pid "$pid"
    done
}
trap _bench_cleanup EXIT

# record FIGURE VALUE UNIT [--target OP LIMIT] [--better higher|lower] [--compare TOOL VALUE]
#        [--detail JSON]
# Records one figure of the running case. OP is >=, >, <= or <; it also says which way is better.
# With --compare, the ratio is how many times better ours is than TOOL's (>1: ours is better).
record() {
    local figure=$1 value=$2 unit=$3
    shift 3
    local op=null limit=null better=null tool=null other=null detail=null
    while (($#)); do
        case $1 in
        --target) op=$2 limit=$3; shift 3 ;;
        --better) better=$2; shift 2 ;;
        --compare) tool=$2 other=$3; shift 3 ;;
        --detail) detail=$2; shift 2 ;;
        *) note "record: unknown argument $1"; return 1 ;;
        esac
    done
    if [[ $better == null && $op != null ]]; then
        [[ $op == ">"* ]] && better=higher || better=lower
    fi
    jq -cn --arg case "$CASE" --arg figure "$figure" --argjson value "$value" --arg unit "$unit" \
        --arg op "$op" --argjson limit "$limit" --arg better "$better" \
        --arg tool "$tool" --argjson other "$other" --argjson detail "$detail" '
        {case: $case, figure: $figure, value: $value, unit: $unit,
         target: (if $op == "null" then null else {op: $op, value: $limit} end),
         pass: (if $op == "null" then null
                elif $op == ">=" then $value >= $limit elif $op == ">" then $value > $limit
                elif $op == "<=" then $value <= $limit else $value < $limit end),
         better: (if $better == "null" then null else $better end),
         compare: (if $tool == "null" then null else
                   {tool: $tool, value: $other,
                    ratio: (if $other == 0 or $value == 0 then null
                            elif $better == "lower" then $other / $value
                            else $value / $other end)} end),
         detail: $detail}' >>"$BENCH_OUT/records.jsonl"
}

# time_ms RUNS CMD...: median wall-clock milliseconds of RUNS runs of CMD (output discarded).
# Fails if CMD fails; a comparison tool that exits non-zero on purpose needs a wrapper.
time_ms() {
    local runs=$1 i start end
    shift
    local times=()
    for ((i = 0; i < runs; i++)); do
        # EPOCHREALTIME (bash 5) reads the clock without forking, unlike $(date).
        start=${EPOCHREALTIME/[.,]/}
        "$@" >/dev/null 2>&1 || return 1
        end=${EPOCHREALTIME/[.,]/}
        times+=($((end - start)))
    done
    median_ms "${times[@]}"
}

# median_ms MICROSECONDS...: their median, in milliseconds.
median_ms() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f\n", m / 1000 }'
}

# time_pair_ms RUNS A B [PREP]: median wall times in ms of commands A and B (single words:
# functions or programs without arguments), run in turns A, B, A, B, ...: a load that comes and
# goes during the runs weighs on both alike. PREP (untimed) runs before each A. Prints "A B".
time_pair_ms() {
    local runs=$1 a=$2 b=$3 prep=${4:-true} i start end
    local ta=() tb=()
    for ((i = 0; i < runs; i++)); do
        "$prep"
        start=${EPOCHREALTIME/[.,]/}
        "$a" >/dev/null 2>&1 || return 1
        end=${EPOCHREALTIME/[.,]/}
        ta+=($((end - start)))
        start=${EPOCHREALTIME/[.,]/}
        "$b" >/dev/null 2>&1 || return 1
        end=${EPOCHREALTIME/[.,]/}
        tb+=($((end - start)))
    done
    printf '%s %s\n' "$(median_ms "${ta[@]}")" "$(median_ms "${tb[@]}")"
}

# workload_repo RESOURCES COMMITS [SEED] [PACK]: path of a generated environment repo, made once
# per bench/run for the same arguments. PACK is how its objects are packed: `git` (the default:
# repacked by `git repack -a -d -f`, as git packs objects it wrote itself, or a clone gets them)
# or `fast-import` (the import's own pack, each file version a delta on the previous file
# written, whatever its path). Its summary JSON is in PATH.json.
workload_repo() {
    local resources=$1 commits=$2 seed=${3:-1} pack=${4:-git}
    local dir=$BENCH_OUT/work/repos/r${resources}-c${commits}-s${seed}-${pack}
    if [[ ! -x $WORKLOAD ]]; then
        echo "bench: $WORKLOAD is not built; run bench/run without --no-build (it builds the" \
            "release binary and the workload and loadgen examples)" >&2
        return 2
    fi
    if [[ ! -f $dir.json ]]; then
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        "$WORKLOAD" repo --resources "$resources" --commits "$commits" --seed "$seed" \
            --pack "$pack" --out "$dir" >"$dir.json.tmp"
        mv "$dir.json.tmp" "$dir.json"
    fi
    printf '%s\n' "$dir"
}

# workload_load KUBECONFIG REPO DRIFT [REV]: applies REPO at REV (HEAD) and drifts that share;
# prints the loader's summary JSON (what was drifted is under .drift).
workload_load() {
    "$WORKLOAD" load --kubeconfig "$1" --repo "$2" --drift "$3" --rev "${4:-HEAD}" \
        --concurrency "$BENCH_CONCURRENCY"
}

# jget JSON FILTER: one value from a JSON text.
jget() { jq -r "$2" <<<"$1"; }

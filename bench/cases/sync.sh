# about: sync of 1,000 resources from empty and a re-sync of a commit changing 100 of them, against kubectl apply --server-side of the same manifests on the same sandbox
#
# Issue #5's done-when: ours at least 5x faster than `kubectl apply --server-side -f` of the same
# manifests, same run. Each measurement gets a fresh sandbox with `--latency 14` (status.sh
# explains the figure: a real kube-apiserver's time per request with 16 in flight), one for us
# and one for kubectl, so neither tool's field ownership or labels change the other's work.
#
# Ours: `sync --yes` (render, one LIST per kind and namespace, a dry-run of every object as
# preflight, then the writes, 16 in flight). kubectl: `kubectl apply --server-side
# --force-conflicts -R -f <manifests>` after the namespaces file (kubectl applies files in path
# order and would refuse objects of namespaces it has not created yet). Both are measured from
# the start of the command to its exit.
resources=${BENCH_SYNC_RESOURCES:-1000}
changed=${BENCH_SYNC_CHANGED:-100}
latency=${BENCH_SYNC_LATENCY:-14}
runs=${BENCH_SYNC_RUNS:-3}
kubectl_runs=${BENCH_SYNC_KUBECTL_RUNS:-3}

# --- the environment: commit A (generated), commit B (A with $changed Deployments changed) ---
base=$(workload_repo "$resources" 1)
repo=$CASE_DIR/repo
rm -rf "$repo"
git clone -q "$base" "$repo"
git -C "$repo" config user.name bench
git -C "$repo" config user.email bench@example.com
rev_a=$(git -C "$repo" rev-parse HEAD)
# The first $changed app files (one Deployment each, path order): LOG_LEVEL info -> debug.
mapfile -t app_files < <(git -C "$repo" ls-files 'apps/*' | head -n "$changed")
((${#app_files[@]} == changed)) || { note "only ${#app_files[@]} app files"; exit 1; }
for f in "${app_files[@]}"; do
    sed -i '0,/value: info/s//value: debug/' "$repo/$f"
done
git -C "$repo" commit -qam "bench: $changed Deployments log at debug"
rev_b=$(git -C "$repo" rev-parse HEAD)

# materialize REV DIR: the manifests of REV as plain files for kubectl (hidden files, such as
# our config file, are not manifests).
materialize() {
    rm -rf "$2"
    mkdir -p "$2"
    git -C "$repo" archive "$1" | tar -x -C "$2"
    find "$2" -name '.*' -type f -delete
}
manifests_a=$CASE_DIR/manifests-a
manifests_b=$CASE_DIR/manifests-b
materialize "$rev_a" "$manifests_a"
materialize "$rev_b" "$manifests_b"

ours_sync() {
    "$BIN" sync --kubeconfig "$SANDBOX_KUBECONFIG" -C "$repo" --yes --rev "$1" "${@:2}"
}
kubectl_apply() {
    kubectl --kubeconfig "$SANDBOX_KUBECONFIG" apply --server-side --force-conflicts \
        --field-manager kubectl-gitops -f "$1/namespaces.yaml" &&
        kubectl --kubeconfig "$SANDBOX_KUBECONFIG" apply --server-side --force-conflicts \
            --field-manager kubectl-gitops -R -f "$1"
}

# ms CMD...: wall-clock milliseconds of one run of CMD (output kept in the case dir).
ms() {
    local start end
    start=${EPOCHREALTIME/[.,]/}
    "$@" >>"$CASE_DIR/last.out" 2>>"$CASE_DIR/last.err" || {
        note "failed: $* ($(tail -n 2 "$CASE_DIR/last.err"))"
        return 1
    }
    end=${EPOCHREALTIME/[.,]/}
    echo $(((end - start) / 1000))
}
median() { sort -n | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# --- correctness: from empty, every resource created and status Synced; the re-sync
# configures exactly the changed Deployments ---------------------------------------------------
sandbox_start --latency "$latency"
ours_sync "$rev_a" -o json >"$CASE_DIR/sync-a.json" 2>"$CASE_DIR/sync-a.err"
set +e
"$BIN" status --kubeconfig "$SANDBOX_KUBECONFIG" -C "$repo" --rev "$rev_a" -o json \
    >"$CASE_DIR/status-a.json" 2>"$CASE_DIR/status-a.err"
status_code=$?
set -e
ours_sync "$rev_b" -o json >"$CASE_DIR/sync-b.json" 2>"$CASE_DIR/sync-b.err"
ours_sync "$rev_b" -o json >"$CASE_DIR/sync-again.json" 2>>"$CASE_DIR/sync-b.err"
sandbox_stop
check=$(jq -n --slurpfile a "$CASE_DIR/sync-a.json" --slurpfile b "$CASE_DIR/sync-b.json" \
    --slurpfile again "$CASE_DIR/sync-again.json" --argjson statusCode "$status_code" --argjson changed "$changed" '
    def count(r): map(select(.result == r)) | length;
    {total: ($a[0].resources | length), created: ($a[0].resources | count("created")),
     statusExit: $statusCode,
     configured: ($b[0].resources | count("configured")),
     unchangedAfter: ($again[0].resources | count("unchanged"))}
    | . + {mismatches: ((.total - .created) + (if .statusExit == 0 then 0 else 1 end)
                        + ((.configured - $changed) | fabs) + (.total - .unchangedAfter))}')
record sync.correct "$(jget "$check" .mismatches)" mismatches --target "<=" 0 --detail "$check"

# --- from empty ------------------------------------------------------------------------------
ours_empty=()
for ((i = 0; i < runs; i++)); do
    sandbox_start --latency "$latency"
    ours_empty+=("$(ms ours_sync "$rev_a")")
    sandbox_stop
done
theirs_empty=()
for ((i = 0; i < kubectl_runs; i++)); do
    sandbox_start --latency "$latency"
    theirs_empty+=("$(ms kubectl_apply "$manifests_a")")
    sandbox_stop
done
ours=$(printf '%s\n' "${ours_empty[@]}" | median)
theirs=$(printf '%s\n' "${theirs_empty[@]}" | median)
record "sync.$resources.empty" "$ours" ms --target "<" "$(jq -n "$theirs / 5")" \
    --compare "kubectl apply --server-side" "$theirs" \
    --detail "$(jq -cn --argjson runs "$runs" --argjson kubectlRuns "$kubectl_runs" \
        --argjson latencyMs "$latency" --arg ours "${ours_empty[*]}" --arg theirs "${theirs_empty[*]}" \
        '{runs: $runs, kubectlRuns: $kubectlRuns, latencyMs: $latencyMs, oursMs: $ours, kubectlMs: $theirs}')"

# --- re-sync: A is live, sync B ($changed changed); reset to A between runs (not timed) --------
sandbox_start --latency "$latency"
ours_sync "$rev_a" >/dev/null 2>&1
ours_resync=()
for ((i = 0; i < runs; i++)); do
    ours_resync+=("$(ms ours_sync "$rev_b")")
    ours_sync "$rev_a" >/dev/null 2>&1
done
sandbox_stop
sandbox_start --latency "$latency"
kubectl_apply "$manifests_a" >/dev/null 2>&1
theirs_resync=()
for ((i = 0; i < kubectl_runs; i++)); do
    theirs_resync+=("$(ms kubectl_apply "$manifests_b")")
    kubectl_apply "$manifests_a" >/dev/null 2>&1
done
sandbox_stop
ours=$(printf '%s\n' "${ours_resync[@]}" | median)
theirs=$(printf '%s\n' "${theirs_resync[@]}" | median)
record "sync.$resources.resync$changed" "$ours" ms --target "<" "$(jq -n "$theirs / 5")" \
    --compare "kubectl apply --server-side" "$theirs" \
    --detail "$(jq -cn --argjson runs "$runs" --argjson kubectlRuns "$kubectl_runs" \
        --argjson latencyMs "$latency" --arg ours "${ours_resync[*]}" --arg theirs "${theirs_resync[*]}" \
        '{runs: $runs, kubectlRuns: $kubectlRuns, latencyMs: $latencyMs, oursMs: $ours, kubectlMs: $theirs}')"

# about: workload generator and loader: a 1,000-resource repo with 100 commits, applied live with 10% drift, against `kubectl apply --server-side` of the same files
resources=${BENCH_WORKLOAD_RESOURCES:-1000}
repo=$(workload_repo "$resources" "${BENCH_WORKLOAD_COMMITS:-100}")
record workload.generate "$(jq .seconds "$repo.json")" s --better lower --detail "$(cat "$repo.json")"

# kubectl first, on its own sandbox: one process applying every file, namespaces first.
sandbox_start
kubectl_rate=null
start=$(date +%s%N)
if kubectl --kubeconfig "$SANDBOX_KUBECONFIG" apply --server-side --field-manager kubectl-gitops \
    -f "$repo/namespaces.yaml" -R -f "$repo/apps" -f "$repo/config" -f "$repo/secrets" \
    >"$CASE_DIR/kubectl-apply.out" 2>"$CASE_DIR/kubectl-apply.err"; then
    end=$(date +%s%N)
    kubectl_rate=$(awk -v n="$resources" -v ns=$((end - start)) 'BEGIN { printf "%.3f", n / (ns / 1e9) }')
else
    note "kubectl apply --server-side failed (no comparison): $(tail -n 2 "$CASE_DIR/kubectl-apply.err")"
fi
sandbox_stop

sandbox_start
res=$(workload_load "$SANDBOX_KUBECONFIG" "$repo" 0.1)
printf '%s\n' "$res" >"$CASE_DIR/load.json"
if [[ $kubectl_rate == null ]]; then
    record workload.load "$(jget "$res" .appliesPerSec)" applies/s --better higher
else
    record workload.load "$(jget "$res" .appliesPerSec)" applies/s --better higher \
        --compare "kubectl apply --server-side" "$kubectl_rate"
fi
record workload.drifted "$(jget "$res" .drifted)" objects --detail "$(jget "$res" '.drift | group_by(.change.how) | map({(.[0].change.how): length}) | add')"

# about: workload generator and loader: a 1,000-resource repo with 100 commits, applied live with 10% drift, against `kubectl apply --server-side` of the same files
resources=${BENCH_WORKLOAD_RESOURCES:-1000}
repo=$(workload_repo "$resources" "${BENCH_WORKLOAD_COMMITS:-100}")
record workload.generate "$(jq .seconds "$repo.json")" s --better lower --detail "$(cat "$repo.json")"

# kubectl first, on its own sandbox: one process applying every file, namespaces first.
# kubectl's default validation needs the server's OpenAPI document; when that is not served, the
# comparison falls back to --validate=false (our loader validates nothing client-side either).
kubectl_rate=null
for validate in "" --validate=false; do
    kubectl_validate=${validate:-default}
    sandbox_start
    start=${EPOCHREALTIME/[.,]/}
    if kubectl --kubeconfig "$SANDBOX_KUBECONFIG" apply --server-side --field-manager kubectl-gitops \
        ${validate:+"$validate"} -f "$repo/namespaces.yaml" -R -f "$repo/apps" -f "$repo/config" \
        -f "$repo/secrets" >"$CASE_DIR/kubectl-apply.out" 2>"$CASE_DIR/kubectl-apply.err"; then
        end=${EPOCHREALTIME/[.,]/}
        kubectl_rate=$(awk -v n="$resources" -v us=$((end - start)) 'BEGIN { printf "%.3f", n / (us / 1e6) }')
        sandbox_stop
        break
    fi
    note "kubectl apply --server-side ${validate:-(default validation)} failed: $(tail -n 1 "$CASE_DIR/kubectl-apply.err")"
    sandbox_stop
done
[[ $kubectl_rate != null ]] || kubectl_validate=failed

sandbox_start
res=$(workload_load "$SANDBOX_KUBECONFIG" "$repo" 0.1)
printf '%s\n' "$res" >"$CASE_DIR/load.json"
if [[ $kubectl_rate == null ]]; then
    record workload.load "$(jget "$res" .appliesPerSec)" applies/s --better higher
else
    record workload.load "$(jget "$res" .appliesPerSec)" applies/s --better higher \
        --compare "kubectl apply --server-side" "$kubectl_rate" \
        --detail "{\"kubectlValidate\": \"$kubectl_validate\"}"
fi
record workload.drifted "$(jget "$res" .drifted)" objects --detail "$(jget "$res" '.drift | group_by(.change.how) | map({(.[0].change.how): length}) | add')"

# about: Flux environments (issue #16): status of flux2-kustomize-helm-example clusters/production, synced, warm chart cache, against the same work by hand (kubectl kustomize of each Flux path, helm template of podinfo, kubectl diff --server-side of the output), in the same run, on the sandbox (and on $KUBECTL_GITOPS_E2E_KUBECONFIG when set)
#
# Issue #16's target: ours at least 5x faster than the by-hand pipeline.
#
# Chart cache: the podinfo chart comes from the corpus (charts/podinfo-6.14.1.tgz), seeded into
# KUBECTL_GITOPS_CACHE_DIR as flux.sh seeds it (its HelmRepository is not reachable here). The
# two infrastructure charts (cert-manager, envoy-gateway: OCI registries) cannot be fetched
# offline: each is one render error in ours (exit 2 is expected) and neither the by-hand
# pipeline nor the cluster has their objects.
#
# Scope, the same for both sides: everything clusters/production renders to whose kind the
# cluster serves. The cluster gets the Flux CRDs from the corpus (crds/flux/) and nothing else,
# so the objects of cert-manager's and Gateway API kinds (ClusterIssuer letsencrypt, GatewayClass
# and Gateway envoy, podinfo's HTTPRoute) are out of scope: ours reports them Unknown (the cluster
# does not serve the kind), the by-hand pipeline drops them before kubectl diff (kubectl would
# fail on them). In scope: 18 objects (3 Flux Kustomizations, the ArtifactGenerator, 3
# Namespaces, 3 HelmReleases, 2 OCIRepositories, the HelmRepository, and podinfo's ConfigMap,
# 2 Services and 2 Deployments rendered from its HelmRelease).
#
# The by-hand pipeline (timed), what a user without kubectl-gitops would run:
# - kubectl kustomize --load-restrictor LoadRestrictionsNone of clusters/production (through a
#   kustomization.yaml written once, untimed, listing its files and flux-system/, as
#   kustomize-controller generates one for a directory that has none), then of the three paths
#   its Flux Kustomizations build: infrastructure/controllers, infrastructure/configs and
#   apps/production (the ArtifactGenerator copies them to the artifacts' ./controllers,
#   ./configs and ./production);
# - helm template of podinfo (the corpus archive, which is what ">=1.0.0" resolves to here)
#   --namespace podinfo --skip-tests (helm-controller installs no test hooks) with the
#   HelmRelease's values after apps/production's patch (extracted once, untimed, with yq);
# - awk: drops the out-of-scope kinds and puts the helm objects in namespace podinfo (as
#   helm-controller installs them there; kubectl diff would use the context's namespace);
# - one kubectl diff --server-side --force-conflicts of all of it.
# What it does not do that Flux (and ours) do: Flux Kustomization patches (only infra-configs
# has one, on the out-of-scope ClusterIssuer), postBuild substitution (none here), dependsOn,
# and helm-controller's origin labels (helm.toolkit.fluxcd.io/name and /namespace) on the
# release's objects, so kubectl diff shows those 5 objects as different (detail.kubectlDiffObjects)
# where ours, which adds the labels as helm-controller does, finds them Synced.
#
# "Synced": the product's `sync --yes` refuses this environment (its preflight counts the two
# unrenderable HelmReleases and the 4 unserved kinds, even with a resource selection: "nothing
# written"), so the setup applies the by-hand output server-side (field manager kubectl-gitops,
# Namespaces first), the helm objects with helm-controller's origin labels added, and checks
# that ours then finds every in-scope object Synced (flux.production.status.correct).
#
# Latency: the target figure runs on the sandbox without --latency. The sandbox answers faster
# than a real kube-apiserver, which favours the by-hand side: kubectl diff sends its requests one
# at a time (discovery, then a dry-run per object) while ours keeps them in flight, so a
# latency penalizes kubectl far more (status.sh). flux.production.status.latency repeats the
# figure at BENCH_FLUX_STATUS_LATENCY ms per request (status.sh's 14 ms), without a target.
corpus=${KUBECTL_GITOPS_CORPUS:-$ROOT/../shared/corpus}
runs=${BENCH_FLUX_STATUS_RUNS:-5}
latency=${BENCH_FLUX_STATUS_LATENCY:-14}
[[ -f $corpus/flux2-kustomize-helm-example.bundle ]] || { note "no corpus at $corpus"; exit 2; }
command -v helm >/dev/null || PATH=$PATH:$ROOT/../shared/bin
command -v helm >/dev/null || { note "no helm on PATH"; exit 2; }
command -v kubectl >/dev/null || { note "no kubectl on PATH"; exit 2; }
command -v yq >/dev/null || { note "no yq on PATH"; exit 2; }

fx=$CASE_DIR/flux2-kustomize-helm-example
[[ -d $fx ]] || git clone -q "$corpus/flux2-kustomize-helm-example.bundle" "$fx" 2>/dev/null
export KUBECTL_GITOPS_CACHE_DIR=$CASE_DIR/cache
# The cache layout of gitops-render's charts.rs: <sha256(url), 16 hex>/<chart>/<version>/<sha256>.tgz
url=https://stefanprodan.github.io/podinfo
archive=$corpus/charts/podinfo-6.14.1.tgz
dir=$KUBECTL_GITOPS_CACHE_DIR/charts/$(printf %s "$url" | sha256sum | cut -c1-16)
mkdir -p "$dir/podinfo/6.14.1"
cp "$archive" "$dir/podinfo/6.14.1/$(sha256sum "$archive" | cut -d' ' -f1).tgz"

# Kinds no CRD here serves (cert-manager's, Gateway API's).
unserved="ClusterIssuer Gateway GatewayClass HTTPRoute"
in_scope=18

# What kustomize-controller generates for clusters/production (it has no kustomization.yaml).
root=$CASE_DIR/production-root
mkdir -p "$root"
{
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n'
    for f in "$fx"/clusters/production/*.yaml "$fx"/clusters/production/flux-system; do
        printf '  - %s\n' "$(realpath --relative-to="$root" "$f")"
    done
} >"$root/kustomization.yaml"
# podinfo's values: spec.values of its HelmRelease after apps/production's patch.
values=$CASE_DIR/podinfo-values.yaml
kubectl kustomize --load-restrictor LoadRestrictionsNone "$fx/apps/production" |
    yq -y 'select(.kind == "HelmRelease" and .metadata.name == "podinfo") | .spec.values' >"$values"

# filter [NAMESPACE]: YAML documents on stdin without the unserved kinds; with NAMESPACE, each
# document's metadata.namespace set to it.
filter() {
    awk -v drop="$unserved" -v ns="${1:-}" '
        function flush() { if (doc != "" && !skip) printf "---\n%s", doc; doc = ""; skip = 0; meta = 0 }
        /^---/ { flush(); next }
        /^kind: / { if (index(" " drop " ", " " $2 " ")) skip = 1 }
        /^[^ #]/ { meta = 0 }
        meta && /^  namespace:/ { next }
        { doc = doc $0 "\n" }
        ns != "" && /^metadata:/ { doc = doc "  namespace: " ns "\n"; meta = 1 }
        END { flush() }'
}
# render_by_hand: the in-scope objects, as the by-hand pipeline renders them.
render_by_hand() {
    local p
    {
        kubectl kustomize --load-restrictor LoadRestrictionsNone "$root"
        for p in infrastructure/controllers infrastructure/configs apps/production; do
            echo ---
            kubectl kustomize --load-restrictor LoadRestrictionsNone "$fx/$p"
        done
    } | filter
    helm template podinfo "$archive" --namespace podinfo --skip-tests -f "$values" | filter podinfo
}

# Ours: exit 2 is the two charts that cannot be fetched (1 would be drift: a failure here).
ours() { "$BIN" -C "$fx" --kubeconfig "$kc" --path clusters/production status; [[ $? == 2 ]]; }
by_hand() {
    render_by_hand >"$CASE_DIR/by-hand.yaml"
    kubectl --kubeconfig "$kc" diff --server-side --force-conflicts --field-manager kubectl-gitops \
        -f "$CASE_DIR/by-hand.yaml" || [[ $? == 1 ]]
}

# measure LABEL FIGURE KUBECONFIG [TARGET]: sets up the cluster, checks it is synced, times both.
measure() {
    local label=$1 figure=$2 target=${4:-}
    kc=$3
    local out=$CASE_DIR/$label
    mkdir -p "$out"
    kubectl --kubeconfig "$kc" apply --server-side -f "$corpus/crds/flux/" >"$out/crds.log"
    kubectl --kubeconfig "$kc" wait --for condition=Established --timeout 60s \
        -f "$corpus/crds/flux/" >>"$out/crds.log"
    # flux-system is made by `flux bootstrap` (gotk-components.yaml is a placeholder here).
    local ns
    for ns in flux-system cert-manager envoy-gateway-system podinfo; do
        kubectl --kubeconfig "$kc" create namespace "$ns" >/dev/null 2>&1 || true
    done
    set +e
    "$BIN" -C "$fx" --kubeconfig "$kc" --path clusters/production sync --yes \
        >"$out/sync.out" 2>"$out/sync.err"
    local sync_code=$?
    set -e
    render_by_hand >"$out/apply.yaml"
    # helm-controller's origin labels on the release's objects, as ours renders them.
    helm template podinfo "$archive" --namespace podinfo --skip-tests -f "$values" | filter podinfo |
        yq -y '.metadata.labels += {"helm.toolkit.fluxcd.io/name": "podinfo",
                                   "helm.toolkit.fluxcd.io/namespace": "podinfo"}' >"$out/helm-labelled.yaml"
    kubectl --kubeconfig "$kc" apply --server-side --force-conflicts --field-manager kubectl-gitops \
        -f "$out/apply.yaml" >"$out/apply.log"
    kubectl --kubeconfig "$kc" apply --server-side --force-conflicts --field-manager kubectl-gitops \
        -f "$out/helm-labelled.yaml" >>"$out/apply.log"

    set +e
    "$BIN" -C "$fx" --kubeconfig "$kc" --path clusters/production status -o json \
        >"$out/status.json" 2>"$out/status.err"
    local code=$?
    set -e
    ((code == 2)) || note "$label: status exited $code (2 expected: the two OCI charts)"
    local states
    states=$(jq -c --arg unserved "$unserved" '
        ($unserved | split(" ")) as $u
        | .resources as $r
        | {summary, renderErrors: (.errors | length),
           outOfScope: ($r | map(select(.kind as $k | $u | index($k))) | map("\(.kind)/\(.name)=\(.status)")),
           inScope: ($r | map(select(.kind as $k | $u | index($k) | not)) | length),
           notSynced: ($r | map(select((.kind as $k | $u | index($k) | not) and .status != "Synced"))
                          | map("\(.kind)/\(.namespace // "")/\(.name)=\(.status)"))}' "$out/status.json")
    local wrong
    wrong=$(jq -n --argjson s "$states" --argjson n "$in_scope" \
        '($s.notSynced | length) + (if $s.inScope == $n then 0 else 1 end) + (if $s.renderErrors == 2 then 0 else 1 end)')
    ((wrong == 0)) || note "$label: not synced as expected: $states"
    record "$figure.correct" "$wrong" objects --target "<=" 0 \
        --detail "$(jq -c --argjson code "$code" --argjson sync "$sync_code" \
            --arg syncSays "$(tail -n 1 "$out/sync.err")" --argjson expectedInScope "$in_scope" \
            '. + {statusExit: $code, syncExit: $sync, syncSays: $syncSays, expectedInScope: $expectedInScope}' <<<"$states")"

    ours >/dev/null 2>&1 || true # warm: the render and history caches
    by_hand >/dev/null 2>&1
    local diffs
    diffs=$(by_hand 2>/dev/null | grep -c '^diff ' || true)
    # Where ours spends its time: the -vv phase lines of one more run. "rendered", "listed and
    # compared" and "last commits found" are ms since status started; "walk started" is ms since
    # the last-commit walk (the lastCommit column) began, right after the render, in parallel
    # with the listing: the time it takes to set up its walk, which status waits for.
    local phases
    phases=$({ "$BIN" -C "$fx" --kubeconfig "$kc" --path clusters/production -vv status 2>&1 >/dev/null || true; } |
        awk '/ DEBUG .* elapsed_ms=[0-9]+/ {
                m = $0; sub(/.* DEBUG /, "", m); sub(/ elapsed_ms=.*/, "", m)
                v = $0; sub(/.* elapsed_ms=/, "", v); sub(/ .*/, "", v)
                if (m ~ /^(rendered|listed and compared|walk started|last commits found)$/)
                    printf "%s\t%s\n", m, v }' |
        jq -Rcn '[inputs | split("\t") | {key: .[0], value: (.[1] | tonumber)}] | from_entries')
    local ours_ms reference
    read -r ours_ms reference <<<"$(time_pair_ms "$runs" ours by_hand)"
    local detail
    detail=$(jq -c --argjson runs "$runs" --argjson kubectlDiffObjects "$diffs" \
        --arg cluster "$label" --arg unserved "$unserved" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
        --argjson phases "${phases:-null}" '
        {cluster: $cluster, runs: $runs, states: .summary, renderErrors: .renderErrors,
         oursPhasesMs: $phases,
         outOfScope: .outOfScope, unservedKinds: $unserved, kubectlDiffObjects: $kubectlDiffObjects,
         loadAvgAfter: $load,
         byHand: "kubectl kustomize x4 (clusters/production via a generated kustomization.yaml, infrastructure/controllers, infrastructure/configs, apps/production) + helm template --skip-tests + awk (drop unserved kinds, namespace podinfo) + kubectl diff --server-side; values extracted once untimed; no Flux patches/substitution/origin labels"}' \
        <<<"$states")
    if [[ -n $target ]]; then
        record "$figure" "$ours_ms" ms --target "<=" "$(jq -n "$reference / 5")" \
            --compare "kubectl kustomize x4 + helm template + kubectl diff --server-side" "$reference" \
            --detail "$detail"
    else
        record "$figure" "$ours_ms" ms --better lower \
            --compare "kubectl kustomize x4 + helm template + kubectl diff --server-side" "$reference" \
            --detail "$detail"
    fi
}

sandbox_start
measure sandbox flux.production.status "$SANDBOX_KUBECONFIG" target
sandbox_stop
if ((latency > 0)); then
    sandbox_start --latency "$latency"
    measure "sandbox-latency$latency" flux.production.status.latency "$SANDBOX_KUBECONFIG"
    sandbox_stop
fi
# A real kube-apiserver when the environment names one (the e2e tests' variable).
if [[ -n ${KUBECTL_GITOPS_E2E_KUBECONFIG:-} ]]; then
    measure real flux.production.status.real "$KUBECTL_GITOPS_E2E_KUBECONFIG" target
fi

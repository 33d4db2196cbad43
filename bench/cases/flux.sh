# about: Flux environments (issue #16): history (helm runs counted) and diff --from HEAD~10 --rev HEAD of flux2-kustomize-helm-example clusters/staging (three Flux Kustomizations through an ArtifactGenerator, podinfo as a HelmRelease), cold and warm, against rendering both commits by hand (git archive, kubectl kustomize of each Flux path, helm template of podinfo) and diff -u, in the same run
#
# The podinfo chart comes from the corpus (charts/podinfo-6.14.1.tgz), seeded into a chart
# cache (KUBECTL_GITOPS_CACHE_DIR) as if pulled from the HelmRepository, which is not reachable
# here; the other charts of these repos cannot be fetched offline and are one render error each
# (exit 2 is expected). Needs ../shared/corpus ($KUBECTL_GITOPS_CORPUS) and helm on PATH.
corpus=${KUBECTL_GITOPS_CORPUS:-$ROOT/../shared/corpus}
runs=${BENCH_FLUX_RUNS:-3}
[[ -f $corpus/flux2-kustomize-helm-example.bundle ]] || { note "no corpus at $corpus"; exit 2; }
command -v helm >/dev/null || PATH=$PATH:$ROOT/../shared/bin
command -v helm >/dev/null || { note "no helm on PATH"; exit 2; }

fx=$CASE_DIR/flux2-kustomize-helm-example
[[ -d $fx ]] || git clone -q "$corpus/flux2-kustomize-helm-example.bundle" "$fx" 2>/dev/null
from=$(git -C "$fx" rev-parse HEAD~10)
export KUBECTL_GITOPS_CACHE_DIR=$CASE_DIR/cache
# The cache layout of gitops-render's charts.rs: <sha256(url), 16 hex>/<chart>/<version>/<sha256>.tgz
url=https://stefanprodan.github.io/podinfo
archive=$corpus/charts/podinfo-6.14.1.tgz
dir=$KUBECTL_GITOPS_CACHE_DIR/charts/$(printf %s "$url" | sha256sum | cut -c1-16)
mkdir -p "$dir/podinfo/6.14.1"
cp "$archive" "$dir/podinfo/6.14.1/$(sha256sum "$archive" | cut -d' ' -f1).tgz"
cache_off() { rm -rf "$fx/.git/kubectl-gitops" "$KUBECTL_GITOPS_CACHE_DIR/charts/renders"; }

# Ours: 1 means differences, 2 the charts that cannot be fetched here.
fx_diff_from() {
    "$BIN" -C "$fx" --offline --path clusters/staging diff --from "$from" --rev HEAD "$@" 2>/dev/null || [[ $? == 1 || $? == 2 ]]
}
# By hand, as Flux would: each commit's tree, kubectl kustomize of the cluster directory (with
# the kustomization.yaml kustomize-controller generates when it has none) and of the three
# paths its Kustomizations build, helm template --skip-tests (helm-controller installs no test
# hooks) of podinfo with its HelmRelease's values after apps/staging's patch. The values are
# extracted once per commit, untimed (yq): a kindness to the reference.
command -v yq >/dev/null || { note "no yq on PATH"; exit 2; }
fx_values=$CASE_DIR/values
for side in from rev; do
    commit=$from
    [[ $side == rev ]] && commit=HEAD
    rm -rf "$fx_values/$side" && mkdir -p "$fx_values/$side/tree"
    git -C "$fx" archive "$commit" | tar -x -C "$fx_values/$side/tree"
    kubectl kustomize --load-restrictor LoadRestrictionsNone "$fx_values/$side/tree/apps/staging" |
        yq -y 'select(.kind == "HelmRelease" and .metadata.name == "podinfo") | .spec.values' \
            >"$fx_values/$side.yaml"
done
fx_reference() {
    local work=$CASE_DIR/reference side commit p root f
    rm -rf "$work"
    for side in from rev; do
        commit=$from
        [[ $side == rev ]] && commit=HEAD
        mkdir -p "$work/$side/tree"
        git -C "$fx" archive "$commit" | tar -x -C "$work/$side/tree"
        root=$work/$side/tree/clusters/staging
        if [[ ! -f $root/kustomization.yaml ]]; then
            {
                printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n'
                for f in "$root"/*; do printf '  - %s\n' "${f##*/}"; done
            } >"$root/kustomization.yaml"
        fi
        for p in clusters/staging infrastructure/controllers infrastructure/configs apps/staging; do
            kubectl kustomize --load-restrictor LoadRestrictionsNone "$work/$side/tree/$p"
        done >"$work/$side.yaml"
        helm template podinfo "$archive" --namespace podinfo --skip-tests \
            -f "$fx_values/$side.yaml" >>"$work/$side.yaml"
    done
    diff -u "$work/from.yaml" "$work/rev.yaml" || [[ $? == 1 ]]
}

read -r ours reference <<<"$(time_pair_ms "$runs" fx_diff_from fx_reference cache_off)"
record flux.staging.diff-from.cold "$ours" ms --target "<=" "$reference" \
    --compare "git archive + kubectl kustomize x4 + helm template + diff -u" "$reference"
fx_diff_from >/dev/null
read -r ours reference <<<"$(time_pair_ms "$runs" fx_diff_from fx_reference)"
record flux.staging.diff-from.warm "$ours" ms --target "<=" "$(jq -n "$reference / 10")" \
    --compare "git archive + kubectl kustomize x4 + helm template + diff -u" "$reference"

# History of the same cluster directory (issue #16: helm runs at most once per distinct chart
# and values, however many commits hold them): the walk's own count (its -v line), against the
# versions of the podinfo HelmRelease the history lists (added or modified), from cold caches.
fx_history() {
    "$BIN" -C "$fx" -v --offline --path clusters/staging history --no-cache "$@" || [[ $? == 2 ]]
}
cache_off
start=${EPOCHREALTIME/[.,]/}
fx_history -o json >"$CASE_DIR/history.json" 2>"$CASE_DIR/history.err"
end=${EPOCHREALTIME/[.,]/}
walked=$(grep 'history walked' "$CASE_DIR/history.err" | tail -n 1)
helm_runs=$(sed -n 's/.* helm_runs=\([0-9]*\).*/\1/p' <<<"$walked")
renders=$(sed -n 's/.* full_renders=\([0-9]*\).*/\1/p' <<<"$walked")
versions=$(jq '[.commits[] | select(any(.changes[]; .kind == "HelmRelease" and .name == "podinfo" and .change != "removed"))] | length' "$CASE_DIR/history.json")
commits=$(jq '.commits | length' "$CASE_DIR/history.json")
record flux.staging.history.helm-runs "$helm_runs" runs --target "<=" "$versions" \
    --detail "{\"commits\": $commits, \"renderedCommits\": $renders, \"podinfoReleaseVersions\": $versions, \"coldMs\": $(((end - start) / 1000))}"
fx_history >/dev/null 2>"$CASE_DIR/history.err"
walked=$(grep 'history walked' "$CASE_DIR/history.err" | tail -n 1)
record flux.staging.history.helm-runs.again "$(sed -n 's/.* helm_runs=\([0-9]*\).*/\1/p' <<<"$walked")" runs --target "<=" 0

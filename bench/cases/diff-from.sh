# about: diff --from HEAD~20 --rev HEAD of kube-prometheus manifests/ and of xunholy-k8s-gitops kubernetes/apps/base/home-system (the rendered environment at two commits), cold and warm, against rendering both commits with the reference tools (git archive + cat) and diff -u, in the same run
#
# Issue #17's target: warm at least 10x faster than the reference, cold no slower. Needs
# ../shared/corpus ($KUBECTL_GITOPS_CORPUS).
corpus=${KUBECTL_GITOPS_CORPUS:-$ROOT/../shared/corpus}
runs=${BENCH_DIFF_FROM_RUNS:-5}
[[ -f $corpus/kube-prometheus.bundle ]] || { note "no corpus at $corpus"; exit 2; }

kp=$CASE_DIR/kube-prometheus
[[ -d $kp ]] || git clone -q "$corpus/kube-prometheus.bundle" "$kp" 2>/dev/null
git -C "$kp" switch -q -c main 2>/dev/null || true
from=$(git -C "$kp" rev-parse HEAD~20)
cache_off() { rm -rf "$kp/.git/kubectl-gitops"; }

# Ours: exit 1 means differences found.
kp_diff_from() {
    "$BIN" -C "$kp" --offline --path manifests diff --from "$from" --rev HEAD "$@" || [[ $? == 1 ]]
}
# The reference: both commits' files materialized, each commit's manifests concatenated in path
# order (plain files: what kubectl would read), then diff -u of the two.
kp_reference() {
    local work=$CASE_DIR/reference side commit
    rm -rf "$work"
    for side in from rev; do
        commit=$from
        [[ $side == rev ]] && commit=HEAD
        mkdir -p "$work/$side"
        git -C "$kp" archive "$commit" manifests | tar -x -C "$work/$side"
        find "$work/$side/manifests" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) \
            | LC_ALL=C sort | xargs cat >"$work/$side.yaml"
    done
    diff -u "$work/from.yaml" "$work/rev.yaml" || [[ $? == 1 ]]
}

resources=$(kp_diff_from -o json 2>/dev/null | jq '.resources | length')
read -r ours reference <<<"$(time_pair_ms "$runs" kp_diff_from kp_reference cache_off)"
record diff-from.kp.cold "$ours" ms --target "<=" "$reference" \
    --compare "git archive + cat + diff -u" "$reference" \
    --detail "{\"from\": \"HEAD~20\", \"resourcesDiffering\": $resources}"
kp_diff_from >/dev/null
read -r ours reference <<<"$(time_pair_ms "$runs" kp_diff_from kp_reference)"
record diff-from.kp.warm "$ours" ms --target "<=" "$(jq -n "$reference / 10")" \
    --compare "git archive + cat + diff -u" "$reference"

# xunholy-k8s-gitops kubernetes/apps/base/home-system, as issue #17 names it: its
# kustomization.yaml lists the namespace and a component (the apps' Flux Kustomizations are
# listed by apps/overlays/cluster-00, not here). The reference: both commits' kubernetes/
# trees (the component is outside the folder), kubectl kustomize of the folder, diff -u.
[[ -f $corpus/xunholy-k8s-gitops.bundle ]] || { note "no xunholy bundle in $corpus"; exit 0; }
xh=$CASE_DIR/xunholy-k8s-gitops
[[ -d $xh ]] || git clone -q "$corpus/xunholy-k8s-gitops.bundle" "$xh" 2>/dev/null
xh_from=$(git -C "$xh" rev-parse HEAD~20)
xh_path=kubernetes/apps/base/home-system
xh_cache_off() { rm -rf "$xh/.git/kubectl-gitops"; }
xh_diff_from() {
    "$BIN" -C "$xh" --offline --path "$xh_path" diff --from "$xh_from" --rev HEAD "$@" 2>/dev/null || [[ $? == 1 ]]
}
xh_reference() {
    local work=$CASE_DIR/xh-reference side commit
    rm -rf "$work"
    for side in from rev; do
        commit=$xh_from
        [[ $side == rev ]] && commit=HEAD
        mkdir -p "$work/$side"
        git -C "$xh" archive "$commit" kubernetes | tar -x -C "$work/$side"
        kubectl kustomize "$work/$side/$xh_path" >"$work/$side.yaml"
    done
    diff -u "$work/from.yaml" "$work/rev.yaml" || [[ $? == 1 ]]
}
resources=$(xh_diff_from -o json | jq '.resources | length')
read -r ours reference <<<"$(time_pair_ms "$runs" xh_diff_from xh_reference xh_cache_off)"
record diff-from.xh-home-system.cold "$ours" ms --target "<=" "$reference" \
    --compare "git archive + kubectl kustomize + diff -u" "$reference" \
    --detail "{\"from\": \"HEAD~20\", \"resourcesDiffering\": $resources}"
xh_diff_from >/dev/null
read -r ours reference <<<"$(time_pair_ms "$runs" xh_diff_from xh_reference)"
record diff-from.xh-home-system.warm "$ours" ms --target "<=" "$(jq -n "$reference / 10")" \
    --compare "git archive + kubectl kustomize + diff -u" "$reference"

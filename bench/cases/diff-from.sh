# about: diff --from HEAD~20 --rev HEAD of kube-prometheus manifests/ (the rendered environment at two commits), cold and warm, against rendering both commits with the reference tools (git archive + cat) and diff -u, in the same run
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

resources=$(kp_diff_from -o json | jq '.resources | length')
read -r ours reference <<<"$(time_pair_ms "$runs" kp_diff_from kp_reference cache_off)"
record diff-from.kp.cold "$ours" ms --target "<=" "$reference" \
    --compare "git archive + cat + diff -u" "$reference" \
    --detail "{\"from\": \"HEAD~20\", \"resourcesDiffering\": $resources}"
kp_diff_from >/dev/null
read -r ours reference <<<"$(time_pair_ms "$runs" kp_diff_from kp_reference)"
record diff-from.kp.warm "$ours" ms --target "<=" "$(jq -n "$reference / 10")" \
    --compare "git archive + cat + diff -u" "$reference"

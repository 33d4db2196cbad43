# about: real repositories (../shared/corpus) and the real API server (../shared/realkube): history, blame, status and sync of kube-prometheus, history of a kustomize-heavy Flux folder, each against git/kubectl in the same run
#
# Issue #14's targets. Needs ../shared/corpus ($KUBECTL_GITOPS_CORPUS) and, for the status and
# sync figures, ../shared/realkube (started here in its own state dir, stopped at the end).
corpus=${KUBECTL_GITOPS_CORPUS:-$ROOT/../shared/corpus}
realkube=${KUBECTL_GITOPS_REALKUBE:-$ROOT/../shared/realkube}
runs=${BENCH_CORPUS_RUNS:-5}
[[ -f $corpus/kube-prometheus.bundle ]] || { note "no corpus at $corpus"; exit 2; }

clone() {
    local dir=$CASE_DIR/$1
    [[ -d $dir ]] || git clone -q "$corpus/$1.bundle" "$dir" 2>/dev/null
    git -C "$dir" switch -q -c main 2>/dev/null || true
    printf '%s\n' "$dir"
}

kp=$(clone kube-prometheus)
cache_off() { rm -rf "$kp/.git/kubectl-gitops"; }

# History of manifests/: ours cold (cache removed, untimed) and warm, against git's log.
kp_history() { "$BIN" -C "$kp" --offline --path manifests history; }
kp_git_log() { git -C "$kp" log --first-parent --format=%H -- manifests; }
read -r ours git <<<"$(time_pair_ms "$runs" kp_history kp_git_log cache_off)"
listed=$(kp_history | grep -c '^[0-9a-f]\{7\} ')
record corpus.kp.history.cold "$ours" ms --target "<=" 1500 --compare "git log --first-parent" "$git" \
    --detail "{\"commits\": $listed, \"gitCommits\": $(kp_git_log | wc -l)}"
kp_history >/dev/null
read -r ours git <<<"$(time_pair_ms "$runs" kp_history kp_git_log)"
record corpus.kp.history.warm "$ours" ms --target "<=" 100 --compare "git log --first-parent" "$git"

# Blame of the operator's Deployment against git blame of its file.
kp_blame() { "$BIN" -C "$kp" --offline --path manifests -n monitoring blame deployment/prometheus-operator -o porcelain; }
kp_git_blame() { git -C "$kp" blame --porcelain HEAD -- manifests/prometheusOperator-deployment.yaml; }
# Three states of what blame keeps in .git/kubectl-gitops: all of it (a second blame at the
# same commit: the figure with the target), the kept blames removed (the history walked as git
# walks it; the render index read), everything removed (every file of manifests/ parsed).
kp_blame >/dev/null
read -r ours git <<<"$(time_pair_ms "$runs" kp_blame kp_git_blame)"
record corpus.kp.blame "$ours" ms --target "<=" "$git" --compare "git blame --porcelain" "$git"
blame_off() { rm -rf "$kp/.git/kubectl-gitops/blame-v1"; }
read -r ours git <<<"$(time_pair_ms "$runs" kp_blame kp_git_blame blame_off)"
record corpus.kp.blame.walked "$ours" ms --better lower --compare "git blame --porcelain" "$git"
read -r ours git <<<"$(time_pair_ms "$runs" kp_blame kp_git_blame cache_off)"
record corpus.kp.blame.cold "$ours" ms --better lower --compare "git blame --porcelain" "$git"

# Kustomize-heavy Flux folders: whole history cold and warm, and the first line printed.
xu=$(clone xunholy-k8s-gitops)
xu_off() { rm -rf "$xu/.git/kubectl-gitops"; }
xu_history() { "$BIN" -C "$xu" --offline --path "$xu_path" history; }
xu_git_log() { git -C "$xu" log --first-parent --format=%H -- "$xu_path"; }
for folder in home-system observability; do
    xu_path=kubernetes/apps/base/$folder
    figure=corpus.xu.history
    [[ $folder == home-system ]] || figure=corpus.xu.$folder.history
    xu_off
    start=${EPOCHREALTIME/[.,]/}
    first=$(xu_history | { IFS= read -r line; end=${EPOCHREALTIME/[.,]/}; echo "$end"; cat >/dev/null; })
    record "$figure.first-line" "$(((first - start) / 1000))" ms --target "<=" 1000
    read -r ours git <<<"$(time_pair_ms 3 xu_history xu_git_log xu_off)"
    record "$figure.cold" "$ours" ms --target "<=" 30000 --compare "git log --first-parent" "$git"
    xu_history >/dev/null
    read -r ours git <<<"$(time_pair_ms "$runs" xu_history xu_git_log)"
    record "$figure.warm" "$ours" ms --target "<=" 500 --compare "git log --first-parent" "$git"
done

# status and sync of kube-prometheus on the real API server, its APIService's backend absent.
[[ -x $realkube/start ]] || { note "no realkube at $realkube: status and sync not measured"; exit 0; }
state=$CASE_DIR/realkube
"$realkube/start" "$state" >/dev/null
trap '"$realkube/stop" --clean "$state" >/dev/null 2>&1 || true; _bench_cleanup' EXIT
export KUBECONFIG=$state/kubeconfig
kubectl create namespace kp-bench >/dev/null 2>&1 || true
if [[ ! -f $kp/.kubectl-gitops.yaml ]]; then
    printf 'env: kpbench\napplySet: {namespace: kp-bench}\n' >"$kp/.kubectl-gitops.yaml"
    git -C "$kp" add .kubectl-gitops.yaml
    git -C "$kp" -c user.name=bench -c user.email=bench@localhost commit -qm "bench config"
fi
"$BIN" -C "$kp" --path manifests sync --yes >/dev/null
kp_status() { "$BIN" -C "$kp" --path manifests status; }
kp_diff() { kubectl diff --server-side --force-conflicts -R -f "$kp/manifests" || [[ $? == 1 ]]; }
read -r ours kubectl_ms <<<"$(time_pair_ms "$runs" kp_status kp_diff cache_off)"
record corpus.kp.status.cold "$ours" ms --target "<=" "$(jq -n "$kubectl_ms / 3")" \
    --compare "kubectl diff --server-side" "$kubectl_ms"
kp_status >/dev/null
read -r ours kubectl_ms <<<"$(time_pair_ms "$runs" kp_status kp_diff)"
record corpus.kp.status.warm "$ours" ms --target "<=" "$(jq -n "$kubectl_ms / 10")" \
    --compare "kubectl diff --server-side" "$kubectl_ms"
kp_sync() { "$BIN" -C "$kp" --path manifests sync --yes; }
kp_apply() { kubectl apply --server-side --force-conflicts -R -f "$kp/manifests"; }
read -r ours kubectl_ms <<<"$(time_pair_ms "$runs" kp_sync kp_apply)"
record corpus.kp.sync.rerun "$ours" ms --target "<=" "$(jq -n "$kubectl_ms / 3")" \
    --compare "kubectl apply --server-side" "$kubectl_ms"

# about: sandbox requests/s: GET of one object, GET of a 100-object list, server-side applies of new and of unchanged objects (targets: 2,000 GETs/s, 500 applies/s)
sandbox_start
for mode in get list apply reapply; do
    res=$("$LOADGEN" "$mode" --kubeconfig "$SANDBOX_KUBECONFIG" \
        --concurrency "$BENCH_CONCURRENCY" --seconds "$BENCH_SECONDS")
    errors=$(jget "$res" .errors)
    if ((errors > 0)); then
        note "$mode: $errors of $(jget "$res" .ops) requests failed; first: $(jget "$res" .firstError)"
    fi
    rate=$(jget "$res" .perSec)
    case $mode in
    get) record sandbox.get "$rate" GETs/s --target ">=" 2000 --detail "$res" ;;
    list) record sandbox.list100 "$rate" lists/s --better higher --detail "$res" ;;
    apply) record sandbox.apply.new "$rate" applies/s --target ">=" 500 --detail "$res" ;;
    reapply) record sandbox.apply.unchanged "$rate" applies/s --target ">=" 500 --detail "$res" ;;
    esac
done

# about: sandbox memory holding 10,000 objects (half ConfigMaps, half Deployments): VmRSS and VmHWM (target < 200 MB)
sandbox_start
objects=${BENCH_MEMORY_OBJECTS:-10000}
res=$("$LOADGEN" memory --kubeconfig "$SANDBOX_KUBECONFIG" --pid "$SANDBOX_PID" \
    --objects "$objects" --concurrency "$BENCH_CONCURRENCY")
stored=$(jget "$res" .stored)
if ((stored != objects)); then
    note "the sandbox holds $stored of the $objects objects applied ($(jget "$res" .errors) errors; first: $(jget "$res" .firstError))"
    exit 1
fi
record sandbox.memory.rss "$(jget "$res" .rssMb)" MB --target "<" 200 --detail "$res"
record sandbox.memory.peak "$(jget "$res" .hwmMb)" MB --target "<" 200
record sandbox.memory.load "$(jget "$res" .appliesPerSec)" applies/s --better higher

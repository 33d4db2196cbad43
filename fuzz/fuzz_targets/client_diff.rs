#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kubectl_gitops_fuzz::client_diff(data);
});

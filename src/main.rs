/// mimalloc: evaluation and rendering build and drop many small JSON maps (a CRD's schema is
/// tens of thousands); glibc's allocator spent a third of `status`'s time on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = kubectl_gitops::cli::run(std::env::args_os().collect());
    std::process::exit(code);
}

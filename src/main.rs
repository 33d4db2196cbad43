fn main() {
    let code = kubectl_gitops::cli::run(std::env::args_os().collect());
    std::process::exit(code);
}

fn main() -> std::process::ExitCode {
    reachd::cli::main()
}

//! Command-line conventions shared by the binaries `create-diff-object`
//! and `livepatch-build` (the library knows nothing of the command line).

/// Parses the command line. Usage errors exit 1, as the original tools'
/// do (clap's default is 2); `--help` and `--version` exit 0.
pub fn parse_args<T: clap::Parser>() -> Result<T, u8> {
    T::try_parse().map_err(|e| {
        let code = if e.use_stderr() { 1 } else { 0 };
        let _ = e.print();
        code
    })
}

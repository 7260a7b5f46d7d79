//! The local tools `make deploy` runs: the SAM CLI, cargo-lambda and the zig it cross-compiles
//! with, all from PyPI into `.venv-deploy` (`make deploy-tools`). Nothing needs Docker.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::checklist::Check;
use crate::facts::pinned_version;

pub struct Tool {
    pub id: &'static str,
    /// The package `requirements-deploy.txt` pins.
    pub package: &'static str,
    /// Program and arguments that print its version.
    pub program: &'static str,
    pub args: &'static [&'static str],
}

pub const TOOLS: [Tool; 3] = [
    Tool { id: "tool-sam", package: "aws-sam-cli", program: "sam", args: &["--version"] },
    Tool { id: "tool-cargo-lambda", package: "cargo-lambda", program: "cargo-lambda", args: &["lambda", "--version"] },
    // cargo-lambda runs zig as `python3 -m ziglang` when no `zig` is on PATH (the PyPI package).
    Tool { id: "tool-zig", package: "ziglang", program: "python3", args: &["-m", "ziglang", "version"] },
];

/// Checks each tool, found in `dirs` first (`.venv-deploy/bin`), then on PATH.
pub fn checks(dirs: &[PathBuf]) -> Vec<Check> {
    let mut checks: Vec<Check> = TOOLS.iter().map(|tool| check(tool, dirs)).collect();
    checks.push(Check::pass(
        "docker",
        "not needed: sam build compiles with cargo-lambda and zig (BuildMethod rust-cargolambda), no container",
    ));
    checks
}

fn check(tool: &Tool, dirs: &[PathBuf]) -> Check {
    let install = "make deploy-tools (installs the pinned SAM CLI, cargo-lambda and zig into .venv-deploy)";
    let Some(program) = find(tool.program, dirs) else {
        return Check::fail(tool.id, format!("{} not found", tool.program), install);
    };
    let output = Command::new(&program).args(tool.args).output();
    let text = match output {
        Ok(out) if out.status.success() => {
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        }
        Ok(out) => {
            return Check::fail(
                tool.id,
                format!(
                    "{} {} failed: {}",
                    program.display(),
                    tool.args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                install,
            )
        }
        Err(e) => return Check::fail(tool.id, format!("running {}: {e}", program.display()), install),
    };
    verdict(tool, &program, &text)
}

pub fn verdict(tool: &Tool, program: &Path, output: &str) -> Check {
    let found = version_in(output);
    let pinned = pinned_version(tool.package);
    match (found, pinned) {
        (Some(found), Some(pinned)) if found == pinned => {
            Check::pass(tool.id, format!("{} {found} ({})", tool.package, program.display()))
        }
        (Some(found), Some(pinned)) => Check::warn(
            tool.id,
            format!("{} {found} ({}), not the {pinned} this checkout is tested with", tool.package, program.display()),
            "make deploy-tools",
        ),
        (Some(found), None) => Check::pass(tool.id, format!("{} {found} ({})", tool.package, program.display())),
        (None, _) => Check::warn(
            tool.id,
            format!("{} answered no version: {}", program.display(), output.trim()),
            "make deploy-tools",
        ),
    }
}

/// The first `digits.digits.digits` in a tool's version line.
pub fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .map(|word| word.trim_start_matches('v'))
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() >= 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

fn find(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    dirs.iter().chain(path_dirs.iter()).map(|d| d.join(program)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_each_tools_own_words() {
        assert_eq!(version_in("SAM CLI, version 1.170.0\n").as_deref(), Some("1.170.0"));
        assert_eq!(version_in("cargo-lambda 1.9.2 (67129fc 2026-08-21Z)").as_deref(), Some("1.9.2"));
        assert_eq!(version_in("0.17.0\n").as_deref(), Some("0.17.0"));
        assert_eq!(version_in("no version here 1.2").as_deref(), None);
    }

    #[test]
    fn a_tool_not_at_the_pinned_version_is_a_warning_and_a_missing_one_a_failure() {
        let sam = &TOOLS[0];
        let pinned = pinned_version("aws-sam-cli").unwrap();
        let at_pin = verdict(sam, Path::new("/x/sam"), &format!("SAM CLI, version {pinned}"));
        assert_eq!(at_pin.verdict, crate::checklist::Verdict::Pass);
        let older = verdict(sam, Path::new("/x/sam"), "SAM CLI, version 1.100.0");
        assert_eq!(older.verdict, crate::checklist::Verdict::Warn);
        assert!(older.summary.contains(pinned), "{}", older.summary);
        let missing = check(&Tool { program: "sam-that-does-not-exist", ..TOOLS[0] }, &[]);
        assert_eq!(missing.verdict, crate::checklist::Verdict::Fail);
        assert!(missing.fix.unwrap().contains("make deploy-tools"));
    }
}

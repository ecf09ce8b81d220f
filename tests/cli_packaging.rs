//! What a packager or a shell user sees: `cassflow --version` and shell completion scripts
//! that a real bash loads and completes with.

use std::process::Command;

fn cassflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cassflow"))
}

#[test]
fn version_prints_name_and_crate_version() {
    let out = cassflow().arg("--version").output().expect("run cassflow");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("cassflow {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Completion candidates bash offers after typing `line` (words split on spaces; the last
/// word is the one being completed).
fn bash_complete(line: &str) -> Vec<String> {
    let script = cassflow()
        .args(["completions", "bash"])
        .output()
        .expect("run cassflow completions");
    assert!(script.status.success(), "{script:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cassflow.bash");
    std::fs::write(&path, &script.stdout).expect("write completion script");
    let words: Vec<&str> = line.split(' ').collect();
    let driver = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _cassflow cassflow '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path.display(),
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &driver])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_arguments() {
    let top = bash_complete("cassflow lo");
    assert!(top.contains(&"local".to_string()), "{top:?}");
    let local = bash_complete("cassflow local st");
    for expected in ["start", "stop", "status"] {
        assert!(local.contains(&expected.to_string()), "{local:?}");
    }
    let shells = bash_complete("cassflow completions ");
    for expected in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&expected.to_string()), "{shells:?}");
    }
}

#[test]
fn completions_work_with_a_broken_configuration() {
    let out = cassflow()
        .args(["completions", "zsh"])
        .env("CASSFLOW_KAFKA__BOOTSTRAP", "not a host list")
        .env("CASSFLOW_NO_SUCH_KEY", "1")
        .output()
        .expect("run cassflow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("#compdef cassflow"));
    let fish = cassflow()
        .args(["completions", "fish"])
        .output()
        .expect("run cassflow");
    assert!(String::from_utf8_lossy(&fish.stdout).contains("complete -c cassflow"));
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = cassflow()
        .args(["completions", "tcsh"])
        .output()
        .expect("run cassflow");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

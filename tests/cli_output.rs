//! What the CLI prints besides errors of configuration: help texts (examples on their own
//! lines, every option and positional described), refused flag combinations named in one
//! line, `dags list`'s NEXT RUN, and `local status`'s DATA.

mod common;

use std::process::Output;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn examples_in_help_are_one_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, examples) in [
        (
            &["produce", "--help"][..],
            &[
                "  cassflow produce --count 10000 --source generator",
                "  cassflow produce --duration 60s --rate 500",
                "  printf 'not json\\n' | cassflow produce --raw",
            ][..],
        ),
        (
            &["completions", "--help"][..],
            &[
                "  cassflow completions bash > ~/.local/share/bash-completion/completions/cassflow",
                "  cassflow completions fish > ~/.config/fish/completions/cassflow.fish",
            ][..],
        ),
        (
            &["import-connector", "--help"][..],
            &["  cassflow import-connector cassandra-sink.properties > cassflow.toml"][..],
        ),
    ] {
        let out = common::run_cassflow(dir.path(), args, &[]);
        assert!(out.status.success(), "{args:?}");
        let text = stdout(&out);
        for example in examples {
            assert!(
                text.lines().any(|l| l == *example),
                "{args:?}: `{example}` on its own line:\n{text}"
            );
        }
    }
}

/// Every subcommand (recursively, as `cassflow -h` lists them) describes each option and
/// positional it takes: no line of an Options/Arguments section is a bare name.
#[test]
fn every_option_and_argument_is_described() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut commands: Vec<Vec<String>> = vec![vec![]];
    let mut checked = 0;
    while let Some(path) = commands.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        // `-h`: one line per entry (long help puts descriptions on the next line).
        args.push("-h");
        let out = common::run_cassflow(dir.path(), &args, &[]);
        assert!(out.status.success(), "{args:?}");
        let text = stdout(&out);
        let mut section = "";
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with(' ') && line.ends_with(':') {
                section = line;
                continue;
            }
            // An entry starts two spaces in; deeper lines continue its description.
            let entry =
                line.starts_with("  ") && !line.starts_with("   ") || line.starts_with("      --");
            if line.trim().is_empty() || !entry {
                continue;
            }
            match section {
                "Commands:" => {
                    let name = line.split_whitespace().next().unwrap_or_default();
                    if name != "help" {
                        let mut sub = path.clone();
                        sub.push(name.to_string());
                        commands.push(sub);
                    }
                }
                "Arguments:" | "Options:" => {
                    checked += 1;
                    // `  -o, --output <OUTPUT>  Output format`, or the text on the next,
                    // deeper line when clap wraps.
                    let same_line = line
                        .trim_start()
                        .split_once("  ")
                        .is_some_and(|(_, d)| !d.trim().is_empty());
                    let next_line = lines
                        .get(i + 1)
                        .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
                    assert!(
                        same_line || next_line,
                        "{args:?}: no description: `{line}`\n{text}"
                    );
                }
                _ => {}
            }
        }
    }
    assert!(checked > 50, "walked the options: {checked}");
}

#[test]
fn produce_refuses_flags_that_conflict_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (args, names) in [
        (
            &["produce", "--duration", "2s", "--count", "5"][..],
            ["--duration", "--count"],
        ),
        (
            &["produce", "--count", "5", "--duration", "2s"][..],
            ["--duration", "--count"],
        ),
        (
            &["produce", "--raw", "--source", "generator"][..],
            ["--raw", "--source"],
        ),
        (
            &["produce", "--raw", "--seed", "7"][..],
            ["--raw", "--seed"],
        ),
    ] {
        let out = common::run_cassflow(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let line = common::error_line(&out);
        assert!(line.contains("cannot be used with"), "{args:?}: {line}");
        for name in names {
            assert!(line.contains(name), "{args:?}: {line}");
        }
    }
}

#[test]
fn a_negative_rate_is_explained_with_an_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    for rate in ["-1", "0", "fast"] {
        let out = common::run_cassflow(dir.path(), &["produce", "--rate", rate], &[]);
        assert_eq!(out.status.code(), Some(2), "{rate}");
        let line = common::error_line(&out);
        assert!(line.contains(&format!("`{rate}` is not a rate")), "{line}");
        assert!(line.contains("e.g. --rate 100"), "{line}");
    }
}

#[test]
fn dags_list_shows_no_next_run_in_the_past() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = chrono::Utc::now();
    let next_run = |dir: &std::path::Path| {
        let out = common::run_cassflow(dir, &["dags", "list"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        let header = text.lines().next().unwrap_or_default().to_string();
        let (start, end) = (
            header.find("NEXT RUN").expect("NEXT RUN column"),
            header.find("LAST RUN").expect("LAST RUN column"),
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("user_automation"))
            .unwrap_or_else(|| panic!("user_automation listed:\n{text}"));
        row.get(start..end.min(row.len()))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let cell = next_run(dir.path());
    match chrono::DateTime::parse_from_rfc3339(&cell) {
        Ok(at) => assert!(at >= now, "NEXT RUN {cell} is in the past"),
        Err(_) => assert_eq!(cell, "due now"),
    }
    let out = common::run_cassflow(dir.path(), &["dags", "pause", "user_automation"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(next_run(dir.path()), "paused");
}

/// Kafka preallocates its index files (10 MiB each, mostly holes): DATA counts the blocks
/// on disk, not the files' length.
#[test]
fn local_status_counts_data_on_disk_not_preallocated_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("stack");
    let segment = data.join("kafka").join("data").join("users_created-0");
    std::fs::create_dir_all(&segment).expect("dirs");
    let index = std::fs::File::create(segment.join("00000000000000000000.index")).expect("index");
    index.set_len(2 << 30).expect("preallocate");
    let [kafka, cassandra, storage, controller] = common::free_ports();
    let env = [
        ("CASSFLOW_LOCAL__DATA_DIR", data.display().to_string()),
        ("CASSFLOW_KAFKA__BOOTSTRAP", format!("127.0.0.1:{kafka}")),
        (
            "CASSFLOW_CASSANDRA__CONTACT_POINTS",
            format!("127.0.0.1:{cassandra}"),
        ),
        (
            "CASSFLOW_LOCAL__CASSANDRA_STORAGE_PORT",
            storage.to_string(),
        ),
        (
            "CASSFLOW_LOCAL__KAFKA_CONTROLLER_PORT",
            controller.to_string(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = common::run_cassflow(dir.path(), &["local", "status"], &env);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stopped: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("kafka"))
        .unwrap_or_else(|| panic!("kafka row:\n{text}"));
    assert!(!row.contains("GiB"), "{row}");
    assert!(
        row.trim_end().ends_with(" B") || row.contains("KiB"),
        "{row}"
    );
}

//! The `media-edge-doctor` command against the emulator: what a user runs (`make preflight`,
//! `make smoke`), its exit codes and its JSON.

use std::process::Command;

fn doctor(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_media-edge-doctor")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn samconfig(text: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("media-edge-doctor-samconfig-{}-{}.toml", std::process::id(), text.len()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn preflight_reads_samconfig_and_answers_json_with_every_check_and_exits_1_on_a_failure() {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let config = samconfig(
        "version = 0.1\n[default.deploy.parameters]\nstack_name = \"media-edge\"\nregion = \"eu-west-1\"\n\
         parameter_overrides = \"ProcessorMaxConcurrency=\\\"7\\\" SlackWorkspaceId=\\\"T0123ABCD\\\"\"\n",
    );
    let empty_tools = std::env::temp_dir().join("media-edge-doctor-no-tools");
    let (code, stdout, stderr) = doctor(&[
        "preflight",
        "--json",
        "--samconfig",
        config.to_str().unwrap(),
        "--tools-dir",
        empty_tools.to_str().unwrap(),
    ]);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    let ids: Vec<&str> = json["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "credentials",
            "region",
            "lambda-concurrency",
            "log-fields",
            "athena-workgroup",
            "slack",
            "tool-sam",
            "tool-cargo-lambda",
            "tool-zig",
            "docker"
        ]
    );
    let check = |id: &str| json["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    // samconfig.toml's Region and parameters were used.
    assert!(check("region")["summary"].as_str().unwrap().starts_with("eu-west-1: legacy access logs"));
    // Only one of the two Slack parameters: a failure, so the command exits 1.
    assert_eq!(check("slack")["verdict"], "fail");
    assert_eq!(json["ok"], false);
    assert_eq!(code, 1, "{stderr}");
    // The emulator's STS answers; it has no Lambda GetAccountSettings, which the check reports.
    assert_eq!(check("credentials")["verdict"], "pass");
    assert!(check("lambda-concurrency")["fix"].as_str().unwrap().contains("lambda:GetAccountSettings"));
    std::fs::remove_file(config).ok();
}

#[test]
fn usage_errors_exit_2_with_the_reason() {
    let (code, _, stderr) =
        doctor(&["preflight", "--region", "us-east-1", "--parameter-overrides", "ProcesorMaxConcurrency=9"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the template has no parameter ProcesorMaxConcurrency"), "{stderr}");
}

#[test]
fn smoke_of_a_stack_that_does_not_exist_is_a_usage_error() {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let (code, _, stderr) = doctor(&["smoke", "--stack", "no-such-stack-here"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("there is no stack no-such-stack-here"), "{stderr}");
}

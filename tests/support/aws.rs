//! The AWS double (tests/contract/aws_double.py) with a flightdeck configuration pointed at it:
//! flightdeck run as one of the double's users, the double scripted through `/_control/*`, what it
//! was asked, and the real AWS CLI against it.

use std::process::Command;

use serde_json::{Value, json};

use super::cli_env::Env;
use super::python_tools::{Server, aws_venv};

pub struct Aws {
    pub double: Server,
    pub env: Env,
}

impl Aws {
    /// The double, and flightdeck configured with `config`, where `{endpoint}` is the double's URL.
    pub fn start(config: &str) -> Aws {
        let double = Server::start_with(aws_venv().join("python"), "aws_double.py", &[]);
        let env = Env::new(&config.replace("{endpoint}", &format!("http://127.0.0.1:{}", double.port)));
        Aws { double, env }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.double.port)
    }
    /// flightdeck as `key` (AKIDRELEASE: alice, a release manager; AKIDVIEWER: may not approve).
    pub fn run_as(&self, key: &str, args: &[&str]) -> (i32, String, String) {
        let secret = if key == "AKIDRELEASE" { "release-secret" } else { "viewer-secret" };
        let out = self
            .env
            .cmd(args)
            .env("USER", "tester")
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        super::python_tools::outcome(out)
    }

    /// flightdeck with no keys in the environment, only `envs` (and a home of its own).
    pub fn run_federated(&self, home: &std::path::Path, envs: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.env.cmd(args);
        cmd.env("USER", "tester").env("HOME", home).env("AWS_EC2_METADATA_DISABLED", "true");
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        super::python_tools::outcome(cmd.output().unwrap())
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_as("AKIDRELEASE", args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    pub fn control(&self, what: &str, body: Value) -> Value {
        super::python_tools::control(self.double.port, what, &body)
    }

    /// What the double was asked, and any request or answer that broke AWS's models.
    pub fn calls(&self) -> Value {
        let text = super::python_tools::get(self.double.port, "/_control/calls");
        serde_json::from_str(&text).unwrap()
    }

    pub fn assert_contract_kept(&self) {
        let calls = self.calls();
        assert_eq!(calls["problems"], json!([]), "requests or answers broke the service models");
        assert!(!calls["calls"].as_array().unwrap().is_empty(), "the double was asked something");
    }

    /// The real AWS CLI against the double, as alice; its JSON answer.
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(aws_venv().join("aws"))
            .args(args)
            .args(["--endpoint-url", &self.endpoint(), "--region", "eu-west-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDRELEASE")
            .env("AWS_SECRET_ACCESS_KEY", "release-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

/// `[ecs]` for the cluster `payments`' `services`, at `endpoint`, polled every second.
pub fn ecs_settings(endpoint: String, services: &[&str]) -> flightdeck::config::EcsSettings {
    flightdeck::config::EcsSettings {
        region: Some("eu-west-1".into()),
        profile: None,
        endpoint_url: Some(endpoint),
        services: services.iter().map(|s| ("payments".to_string(), s.to_string())).collect(),
        environments: Default::default(),
        judged_by: Default::default(),
        active_poll: std::time::Duration::from_secs(1),
        idle_poll: std::time::Duration::from_secs(1),
    }
}

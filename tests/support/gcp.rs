//! The Google Cloud double (tests/contract/gcp_double.py) with a flightdeck configuration pointed
//! at it: flightdeck run as one of its service accounts (ADC from a key file), the double scripted
//! through `/_control/*`, and Google's own Cloud Build and Cloud Deploy clients against it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::cli_env::Env;
use super::python_tools::{Server, gcp_venv, script};

pub const DEPLOY_PROD: &str = "7d5c2f0e-1b1a-4c7e-9a0e-3f3d8f2b6a11";

pub struct Gcp {
    pub double: Server,
    pub env: Env,
    pub keys: tempfile::TempDir,
}

impl Gcp {
    /// The double, and flightdeck configured with `config`, where `{endpoint}` is the double's URL.
    pub fn start(config: &str) -> Gcp {
        let keys = tempfile::tempdir().unwrap();
        let double = Server::start_with(gcp_venv().join("python"), "gcp_double.py", &[keys.path().to_str().unwrap()]);
        let env = Env::new(&config.replace("{endpoint}", &format!("http://127.0.0.1:{}", double.port)));
        Gcp { double, env, keys }
    }

    pub fn key(&self, account: &str) -> PathBuf {
        self.keys.path().join(format!("{account}.json"))
    }

    /// flightdeck with `account`'s key as Application Default Credentials.
    pub fn run_as(&self, account: &str, args: &[&str]) -> (i32, String, String) {
        let out = self
            .env
            .cmd(args)
            .env("USER", "tester")
            .env("GOOGLE_APPLICATION_CREDENTIALS", self.key(account))
            .env("CLOUDSDK_CONFIG", self.keys.path().join("no-gcloud"))
            .output()
            .unwrap();
        super::python_tools::outcome(out)
    }

    /// flightdeck with only `envs` for credentials (no key file, no gcloud).
    pub fn run_with(&self, envs: &[(&str, String)], args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.env.cmd(args);
        cmd.env("USER", "tester").env("CLOUDSDK_CONFIG", self.keys.path().join("no-gcloud")).env_remove("GOOGLE_APPLICATION_CREDENTIALS");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        super::python_tools::outcome(cmd.output().unwrap())
    }

    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_as("release", args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    pub fn control(&self, what: &str, body: Value) -> Value {
        super::python_tools::control(self.double.port, what, &body)
    }

    /// What the double was asked, and any request or answer that broke the discovery documents.
    pub fn calls(&self) -> Value {
        serde_json::from_str(&super::python_tools::get(self.double.port, "/_control/calls")).unwrap()
    }

    pub fn assert_contract_kept(&self) {
        let calls = self.calls();
        assert_eq!(calls["problems"], json!([]), "requests or answers broke Google's discovery documents (Cloud Build, Cloud Deploy)");
        assert!(!calls["calls"].as_array().unwrap().is_empty(), "the double was asked something");
    }

    /// Google's Cloud Build client (REST) as `account`; its JSON answer.
    pub fn client(&self, account: &str, args: &[&str]) -> Value {
        self.google("gcp_client.py", account, args)
    }

    /// Google's Cloud Deploy client (REST) as `account`; its JSON answer.
    pub fn deploy_client(&self, account: &str, args: &[&str]) -> Value {
        self.google("deploy_client.py", account, args)
    }

    fn google(&self, client: &str, account: &str, args: &[&str]) -> Value {
        let out = Command::new(gcp_venv().join("python"))
            .arg(script(client))
            .arg(self.double.port.to_string())
            .arg(self.key(account))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{client} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

//! The real kubectl, pointed at the Kubernetes API double.

use std::process::{Command, Output, Stdio};

use super::apiserver::ApiDouble;

pub fn kubectl_available() -> String {
    let ok = Command::new("kubectl").arg("version").arg("--client").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "kubectl is needed to check the Kubernetes API double: install it (Debian: apt-get install kubectl from the Kubernetes apt repository)"
    );
    "kubectl".into()
}

pub struct Kubectl {
    pub config: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(api: &ApiDouble) -> Kubectl {
        kubectl_available();
        let config = tempfile::tempdir().unwrap();
        std::fs::write(config.path().join("config"), api.kubeconfig(&[("double", "shop")])).unwrap();
        Kubectl { config }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(self.config.path().join("config"));
        c.arg("--cache-dir").arg(self.config.path().join("cache"));
        c.args(args);
        c.env("HOME", self.config.path());
        c
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap()
    }
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

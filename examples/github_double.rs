//! The test suite's GitHub double as a server to point a cockpit at: an Enterprise Server on
//! 127.0.0.1 with a repository whose runs move on by themselves every two seconds, one of them
//! waiting for a review of `production`. It prints the configuration to use and the token.
//!
//!     cargo run --example github_double

#[path = "../tests/support/http1.rs"]
pub mod http1;
/// The double reads requests with the tests' HTTP/1.1 helper, where it looks for it.
mod support {
    pub use super::http1;
}
#[allow(dead_code)]
#[path = "../tests/support/github.rs"]
mod github;

const WORKFLOW: &str = "name: deploy\non:\n  workflow_dispatch:\n    inputs:\n      env:\n        type: choice\n        options: [staging, production]\n        required: true\n  push:\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - name: Check out\n        run: git checkout\n      - name: Test\n        run: make test\n  deploy:\n    needs: build\n    environment: production\n    runs-on: ubuntu-latest\n    steps:\n      - name: Ship\n        run: ./ship\n";

#[tokio::main]
async fn main() {
    let gh = github::GithubDouble::start(true).await;
    gh.add_workflow("acme/shop", "deploy.yml", WORKFLOW);
    let first = gh.start_run("acme/shop", "deploy.yml", "main", "bob", "push");
    gh.advance_until_settled(first);
    println!("[ci.github.gh]\nrepo = \"acme/shop\"\napi_url = \"{}\"\n", gh.api_url());
    println!("export GH_ENTERPRISE_TOKEN={}", github::TOKEN);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let runs: Vec<u64> = gh.with(|s| s.runs.keys().copied().collect());
        for r in runs {
            gh.advance(r);
        }
    }
}

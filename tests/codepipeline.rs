//! AWS CodePipeline as a CI provider, against a double that holds every request and answer to
//! botocore's service models and checks SigV4 with botocore's signer, and that the real AWS CLI
//! is pointed at too: an execution through its manual approval (approve, reject, a token that no
//! longer holds, a second decision refused), a CodeBuild log read live, a failed stage retried,
//! AccessDenied, throttling with retries, and expired credentials.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::aws::Aws;

/// The double, with production's `[environments.prod.release]` table as `release`.
fn start_with(release: &str) -> Aws {
    Aws::start(&format!(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n[environments.prod.release]\n{release}\n\
         [ci.codepipeline.aws]\nregion = \"eu-west-1\"\npipelines = [\"payments\"]\nendpoint_url = \"{{endpoint}}\"\n\
         gate_environments = {{ Approval = \"prod\" }}\nactive_poll = \"1s\"\n"
    ))
}

/// An execution started by a webhook, finished up to its manual approval.
fn at_approval(aws: &Aws) -> String {
    let id = aws.control("start", json!({}))["id"].as_str().unwrap().to_string();
    for action in ["Source", "Build", "UnitTests", "Scan"] {
        aws.control("finish", json!({"execution": id, "action": action}));
    }
    id
}

fn job<'a>(run: &'a Value, key: &str) -> &'a Value {
    run["jobs"].as_array().unwrap().iter().find(|j| j["key"] == key).unwrap_or_else(|| panic!("no job {key} in {run:#}"))
}

#[test]
fn an_execution_through_its_manual_approval() {
    let aws = start_with("");
    let id = at_approval(&aws);
    let run = format!("aws:payments/{id}");

    // The run: each stage a stage, each action a job, the approval a gate with its deadline.
    let runs = aws.json(&["runs", "--json"]);
    let listed = runs.as_array().unwrap().iter().find(|r| r["id"] == run).unwrap_or_else(|| panic!("{runs:#}"));
    assert_eq!(listed["trigger"]["git_ref"], "9f1c2ab");
    let (code, out, err) = aws.run(&["runs", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Fix rounding of refunds"), "the commit message is shown: {out}");

    let inbox = aws.json(&["approvals", "--json"]);
    let gate = inbox.as_array().unwrap().iter().find(|g| g["run"] == run).unwrap_or_else(|| panic!("{inbox:#}"));
    assert_eq!(gate["gate"], "ApproveProd", "{gate:#}");
    assert_eq!(gate["environment"], "prod", "{gate:#}");
    // 24 hours from when the approval started (the action's timeoutInMinutes).
    let deadline: jiff::Timestamp = gate["deadline"].as_str().unwrap().parse().unwrap();
    let left = deadline.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((23 * 3600..=24 * 3600).contains(&left), "{left} s left: {gate:#}");

    // The approval's message, link and who may decide, as its log.
    let (code, log, err) = aws.run(&["logs", &run, "ApproveProd"]);
    assert_eq!(code, 0, "{err}");
    assert!(log.contains("PCI change: production deploy of payments") && log.contains("https://tickets.example/CHG-1042"), "{log}");

    // Approved through flightdeck's policy: CodePipeline moves on to the deployment.
    let (code, out, err) =
        aws.run(&["approve", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "CHG-1042 reviewed", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let after = aws.json(&["runs", "--json"]);
    let after = after.as_array().unwrap().iter().find(|r| r["id"] == run).unwrap().clone();
    let approval = job(&after, "ApproveProd");
    assert_eq!(approval["status"], "success", "{after:#}");
    assert_eq!(approval["gate"]["decision"]["by"], "alice", "AWS's record of who approved: {after:#}");
    assert_eq!(job(&after, "DeployProd")["status"], "running", "{after:#}");
    let (code, out, err) = aws.run(&["logs", &run, "ApproveProd"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved by alice"), "the decision and who made it (AWS's record): {out}");

    // The journal keeps who AWS took the approver to be (sts:GetCallerIdentity) beside the account.
    let journal = aws.env.written();
    assert!(journal.contains("\"aws_user\":\"arn:aws:sts::123456789012:assumed-role/ReleaseManagers/alice\""), "{journal}");

    // A second decision is refused, saying who decided first.
    let (code, out, err) = aws.run(&["reject", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "too late", "--yes"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("already approved by alice"), "{err}");
    aws.assert_contract_kept();
}

#[test]
fn a_rejected_approval_fails_the_execution_and_a_viewer_is_refused_by_aws() {
    let aws = start_with("");
    let id = at_approval(&aws);
    let run = format!("aws:payments/{id}");

    // IAM does not let the viewer decide: AWS's own words, and nothing changes.
    let (code, _, err) =
        aws.run_as("AKIDVIEWER", &["approve", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "r", "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not authorized to perform: codepipeline:PutApprovalResult"), "{err}");

    let (code, out, err) =
        aws.run(&["reject", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "failed CAB", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let rec = aws.json(&["runs", "--json"]);
    let rec = rec.as_array().unwrap().iter().find(|r| r["id"] == run).unwrap().clone();
    assert_eq!(rec["status"], "failed", "{rec:#}");
    aws.assert_contract_kept();
}

#[test]
fn a_codebuild_log_is_read_while_the_build_runs_and_a_failed_stage_is_retried() {
    let aws = start_with("");
    let id = aws.control("start", json!({}))["id"].as_str().unwrap().to_string();
    let run = format!("aws:payments/{id}");
    aws.control("finish", json!({"execution": id, "action": "Source"}));
    aws.control("log", json!({"execution": id, "action": "Build", "lines": ["[Container] Running command npm ci", "added 412 packages"]}));
    let (code, out, err) = aws.run(&["logs", &run, "Build"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Running command npm ci") && out.contains("added 412 packages"), "{out}");

    // Followed: lines written after the follow began arrive, and it ends with the run.
    let mut follow = aws
        .env
        .cmd(&["logs", "--follow", &run, "Build"])
        .env("AWS_ACCESS_KEY_ID", "AKIDRELEASE")
        .env("AWS_SECRET_ACCESS_KEY", "release-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    aws.control("log", json!({"execution": id, "action": "Build", "lines": ["Successfully built 3f2a1c"]}));
    aws.control("finish", json!({"execution": id, "action": "Build"}));
    aws.control("log", json!({"execution": id, "action": "UnitTests", "lines": ["FAIL test/refunds.test.js"]}));
    aws.control("finish", json!({"execution": id, "action": "UnitTests", "ok": false, "summary": "2 tests failed"}));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = follow.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "logs --follow did not end with the run");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut followed = String::new();
    std::io::Read::read_to_string(&mut follow.stdout.take().unwrap(), &mut followed).unwrap();
    assert!(followed.contains("Successfully built 3f2a1c"), "{followed}");
    assert!(!status.success(), "the run failed, so following it does not exit 0");

    // Retrying runs the failed stage's failed action again, as a new attempt.
    let (code, out, err) = aws.run(&["retry", &run, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let rec = aws.json(&["runs", "--json"]);
    let rec = rec.as_array().unwrap().iter().find(|r| r["id"] == run).unwrap().clone();
    assert_eq!(rec["status"], "running", "{rec:#}");
    aws.control("log", json!({"execution": id, "action": "UnitTests", "lines": ["PASS test/refunds.test.js"]}));
    aws.control("finish", json!({"execution": id, "action": "UnitTests"}));
    let (code, out, err) = aws.run(&["logs", &run, "UnitTests"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("PASS test/refunds.test.js") && !out.contains("FAIL"), "the new attempt's log: {out}");
    let rec = aws.json(&["runs", "--json"]);
    let rec = rec.as_array().unwrap().iter().find(|r| r["id"] == run).unwrap().clone();
    let tests = job(&rec, "UnitTests");
    assert_eq!((tests["status"].as_str(), tests["attempts"].as_u64()), (Some("success"), Some(2)), "{rec:#}");
    aws.assert_contract_kept();
}

#[test]
fn throttling_is_retried_and_expired_credentials_are_said_plainly() {
    let aws = start_with("");
    at_approval(&aws);
    // Three throttled answers: retried with backoff, the listing still arrives.
    aws.control("throttle", json!({"count": 3}));
    let runs = aws.json(&["runs", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs:#}");
    // Throttled past the retries: said as such.
    aws.control("throttle", json!({"count": 50}));
    let (code, _, err) = aws.run(&["approvals", "--json"]);
    assert_eq!(code, 3, "an inbox that could not ask AWS says so: {err}");
    assert!(err.contains("kept throttling") && err.contains("ThrottlingException"), "{err}");
    aws.control("throttle", json!({"count": 0}));
    // Expired credentials: renewed once from the chain, then said plainly.
    aws.control("expire", json!({"key": "AKIDRELEASE"}));
    let (_, out, err) = aws.run(&["approvals", "--json"]);
    assert!(format!("{out}{err}").contains("credentials have expired"), "{out}{err}");
    aws.control("renew", json!({"key": "AKIDRELEASE"}));
    aws.assert_contract_kept();
}

#[test]
fn the_real_aws_cli_reads_and_decides_through_the_double() {
    let aws = start_with("");
    let id = at_approval(&aws);
    let cli = |args: &[&str]| aws.cli(args);
    let pipeline = cli(&["codepipeline", "get-pipeline", "--name", "payments"]);
    assert_eq!(pipeline["pipeline"]["stages"].as_array().unwrap().len(), 6);
    let listed = cli(&["codepipeline", "list-pipeline-executions", "--pipeline-name", "payments"]);
    assert_eq!(listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"], id.as_str());
    let state = cli(&["codepipeline", "get-pipeline-state", "--name", "payments"]);
    let approval = state["stageStates"].as_array().unwrap().iter().find(|s| s["stageName"] == "Approval").unwrap();
    let token = approval["actionStates"][0]["latestExecution"]["token"].as_str().unwrap().to_string();
    let actions =
        cli(&["codepipeline", "list-action-executions", "--pipeline-name", "payments", "--filter", &format!("pipelineExecutionId={id}")]);
    assert!(actions["actionExecutionDetails"].as_array().unwrap().len() >= 5);
    let build = actions["actionExecutionDetails"].as_array().unwrap().iter().find(|a| a["actionName"] == "Build").unwrap()["output"]
        ["executionResult"]["externalExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    let builds = cli(&["codebuild", "batch-get-builds", "--ids", &build]);
    assert_eq!(builds["builds"][0]["buildStatus"], "SUCCEEDED");
    let who = cli(&["sts", "get-caller-identity"]);
    assert!(who["Arn"].as_str().unwrap().ends_with("/alice"));
    cli(&[
        "codepipeline",
        "put-approval-result",
        "--pipeline-name",
        "payments",
        "--stage-name",
        "Approval",
        "--action-name",
        "ApproveProd",
        "--result",
        "summary=approved with the CLI,status=Approved",
        "--token",
        &token,
    ]);
    let rec = aws.json(&["runs", "--json"]);
    let rec = rec.as_array().unwrap().iter().find(|r| r["id"] == format!("aws:payments/{id}")).unwrap().clone();
    assert_eq!(rec["status"], "running", "the deployment runs after the CLI's approval: {rec:#}");
    aws.assert_contract_kept();
}

#[test]
fn a_v2_pipeline_is_started_with_its_variables_and_a_chosen_commit() {
    let aws = start_with("");
    let (code, out, err) = aws.run(&["run", "payments", "--input", "RELEASE_NOTE=hotfix for refunds", "--ref", "1a2b3c4", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let runs = aws.json(&["runs", "--json"]);
    let started = &runs.as_array().unwrap()[0];
    assert_eq!(started["trigger"]["git_ref"], "1a2b3c4", "{started:#}");
    assert_eq!(started["trigger"]["inputs"]["RELEASE_NOTE"], "hotfix for refunds", "{started:#}");
    // Started by this caller, as AWS records it.
    assert_eq!(started["trigger"]["actor"], "alice", "{started:#}");
    // A variable the pipeline does not declare: AWS's refusal, and nothing started.
    let (code, _, err) = aws.run(&["run", "payments", "--input", "NOPE=1", "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("ValidationException") && err.contains("NOPE"), "{err}");
    assert_eq!(aws.json(&["runs", "--json"]).as_array().unwrap().len(), 1);
    aws.assert_contract_kept();
}

#[test]
fn a_web_identity_and_an_sso_login_are_traded_for_a_role_s_credentials() {
    let aws = start_with("");
    let id = at_approval(&aws);
    let run = format!("aws:payments/{id}");
    let home = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", aws.double.port);
    let approve = ["approve", run.as_str(), "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "CHG-1", "--yes"];

    // A CI's OIDC token for the Deployer role (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN).
    let token = home.path().join("oidc-token");
    std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.ci-oidc-token.signature\n").unwrap();
    let web = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/Deployer".to_string()),
        ("AWS_ROLE_SESSION_NAME", "release-pipeline".to_string()),
        ("AWS_ENDPOINT_URL_STS", endpoint.clone()),
    ];
    let (code, out, err) = aws.run_federated(home.path(), &web, &["runs", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&run), "{out}");
    // A token the identity provider did not issue: STS's refusal, said.
    std::fs::write(&token, "forged").unwrap();
    // (The local runner still answers, so the list is shown with CodePipeline's problem beside it.)
    let (_, out, err) = aws.run_federated(home.path(), &web, &["runs", "--json"]);
    assert!(!out.contains(&run), "{out}");
    assert!(err.contains("STS refused to let the web identity assume arn:aws:iam::123456789012:role/Deployer"), "{err}");

    // An IAM Identity Center login (`aws sso login` left its token in the cache), by profile.
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        "[profile release]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReleaseManager\nregion = eu-west-1\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
    )
    .unwrap();
    let cache = home.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    // The CLI names the cache file by the SHA-1 of the session's name.
    let name = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b"corp");
    let file = cache.join(format!("{}.json", name.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()));
    let cached = |expires: &str| {
        json!({"accessToken": "sso-access-token-from-aws-sso-login", "expiresAt": expires, "region": "eu-west-1",
                                         "startUrl": "https://corp.awsapps.com/start"})
    };
    std::fs::write(&file, cached("2099-01-01T00:00:00Z").to_string()).unwrap();
    let sso = [
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "release".to_string()),
        ("AWS_ENDPOINT_URL_SSO", endpoint.clone()),
    ];
    let (code, out, err) = aws.run_federated(home.path(), &sso, &approve);
    assert_eq!(code, 0, "{out}{err}");
    assert!(aws.env.written().contains("assumed-role/AWSReservedSSO_ReleaseManager_1a2b/alice"), "the SSO role session is journaled");
    // An expired login says how to renew it.
    std::fs::write(&file, cached("2020-01-01T00:00:00Z").to_string()).unwrap();
    let (code, _, err) = aws.run_federated(home.path(), &sso, &["approvals", "--json"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("aws sso login --profile release"), "{err}");
    aws.assert_contract_kept();
}

#[test]
fn codebuild_report_groups_are_the_evidence_the_release_gate_judges() {
    let aws = start_with("tests = \"pass\"\nmin_coverage = 80\n");
    let id = aws.control("start", json!({}))["id"].as_str().unwrap().to_string();
    let run = format!("aws:payments/{id}");
    for action in ["Source", "Build"] {
        aws.control("finish", json!({"execution": id, "action": action}));
    }
    // The unit tests' report group: 3 cases, one failed; and coverage of two files, 70 %.
    let cases = json!([
        {"prefix": "refunds", "name": "rounds half up", "status": "SUCCEEDED"},
        {"prefix": "refunds", "name": "refunds in the card's currency", "status": "FAILED",
         "message": "AssertionError: expected 10.00 EUR, got 10.01 EUR\n    at refunds.test.js:42"},
        {"prefix": "ledger", "name": "balances", "status": "SKIPPED"},
    ]);
    aws.control("report", json!({"execution": id, "action": "UnitTests", "group": "payments-unit", "type": "TEST", "cases": cases}));
    let files = json!([{"path": "src/refunds.js", "covered": 60, "missed": 40}, {"path": "src/ledger.js", "covered": 80, "missed": 20}]);
    aws.control(
        "report",
        json!({"execution": id, "action": "UnitTests", "group": "payments-coverage", "type": "CODE_COVERAGE", "files": files}),
    );
    for action in ["UnitTests", "Scan"] {
        aws.control("finish", json!({"execution": id, "action": action}));
    }

    let inbox = aws.json(&["approvals", "--json"]);
    let gate = inbox.as_array().unwrap().iter().find(|g| g["run"] == run).unwrap_or_else(|| panic!("{inbox:#}"));
    let release = &gate["release_gate"];
    assert_eq!(release["pass"], false, "{release:#}");
    assert_eq!(release["tests"]["pass"], false, "{release:#}");
    assert!(
        release["tests"]["summary"].as_str().unwrap().contains("refunds in the card's currency"),
        "the failed test is named: {release:#}"
    );
    assert_eq!(release["coverage"]["pass"], false, "{release:#}");
    assert!(release["coverage"]["summary"].as_str().unwrap().contains("70.0 %"), "{release:#}");
    assert_eq!(gate["you_may_approve"], false, "{gate:#}");

    // The policy refuses the approval, and CodePipeline is not asked to approve.
    let (code, _, err) = aws.run(&["approve", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "r", "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("tests") || err.contains("release gate"), "{err}");
    let asked: Vec<String> = aws.calls()["calls"].as_array().unwrap().iter().map(|c| c["op"].as_str().unwrap().to_string()).collect();
    assert!(!asked.contains(&"PutApprovalResult".to_string()), "{asked:?}");
    assert!(asked.contains(&"DescribeTestCases".to_string()) && asked.contains(&"DescribeCodeCoverages".to_string()), "{asked:?}");
    aws.assert_contract_kept();
}

/// An execution whose Build exported `IMAGE_TAG`, with ECR's scan of that image.
fn built_and_scanned(aws: &Aws, scan: Value) -> String {
    let id = aws.control("start", json!({}))["id"].as_str().unwrap().to_string();
    aws.control("finish", json!({"execution": id, "action": "Source"}));
    let tag = format!("build-{}", &id[..8]);
    aws.control("finish", json!({"execution": id, "action": "Build", "exported": {"IMAGE_TAG": tag}}));
    if !scan.is_null() {
        let mut scan = scan;
        scan["repository"] = json!("payments-api");
        scan["tag"] = json!(tag);
        aws.control("ecs/scan", scan);
    }
    for action in ["UnitTests", "Scan"] {
        aws.control("finish", json!({"execution": id, "action": action}));
    }
    format!("aws:payments/{id}")
}

#[test]
fn ecr_s_scan_of_the_built_image_is_evidence_and_an_unfinished_scan_holds_the_gate() {
    let aws = Aws::start(
        "[environments.prod]\nproduction = true\nfour_eyes = false\n\
         [ci.codepipeline.aws]\nregion = \"eu-west-1\"\npipelines = [\"payments\"]\nendpoint_url = \"{endpoint}\"\n\
         gate_environments = { Approval = \"prod\" }\necr_repositories = [\"payments-api\"]\n",
    );
    let gate_of = |run: &str| {
        let inbox = aws.json(&["approvals", "--json"]);
        inbox.as_array().unwrap().iter().find(|g| g["run"] == run).cloned().unwrap_or_else(|| panic!("{inbox:#}"))
    };

    // The AWS CLI's own published answer for a basic scan: one MEDIUM CVE in e2fsprogs, which
    // production's default gate (nothing above MEDIUM) lets through.
    let clean = built_and_scanned(&aws, json!({}));
    let findings = aws.json(&["findings", &clean, "--json"]);
    let text = findings.to_string();
    assert!(text.contains("CVE-2019-5188") && text.contains("e2fsprogs@1.44.1-1ubuntu1.1"), "{findings:#}");
    assert!(text.contains("ecr:payments-api:build-"), "the image is named: {findings:#}");
    assert_eq!(gate_of(&clean)["release_gate"]["pass"], true, "{:#}", gate_of(&clean));

    // Inspector's enhanced finding: HIGH by ECR, CVSS 9.8 by NVD — the higher counts, as for Trivy.
    let bad = built_and_scanned(&aws, json!({"enhanced": true}));
    let text = aws.json(&["findings", &bad, "--json"]).to_string();
    assert!(text.contains("CVE-2023-38545") && text.contains("CVSS 9.8 (NVD), above ECR severity HIGH"), "{text}");
    assert_eq!(gate_of(&bad)["release_gate"]["pass"], false);
    let (code, _, err) = aws.run(&["approve", &bad, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "r", "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("CVE-2023-38545") || err.contains("release gate"), "{err}");

    // A scan still running, and an image ECR never scanned: the gate cannot pass on them.
    let running = built_and_scanned(&aws, json!({"status": "IN_PROGRESS"}));
    let gate = gate_of(&running);
    assert_eq!(gate["release_gate"]["pass"], false, "{gate:#}");
    assert!(gate.to_string().contains("ECR's scan is in_progress"), "{gate:#}");
    let unscanned = built_and_scanned(&aws, Value::Null);
    let gate = gate_of(&unscanned);
    assert_eq!(gate["release_gate"]["pass"], false, "{gate:#}");
    assert!(gate.to_string().contains("ScanNotFoundException"), "{gate:#}");

    let asked: Vec<String> = aws.calls()["calls"].as_array().unwrap().iter().map(|c| c["op"].as_str().unwrap().to_string()).collect();
    assert!(!asked.contains(&"PutApprovalResult".to_string()), "{asked:?}");
    aws.assert_contract_kept();
}

#[test]
fn a_credential_process_and_a_role_chained_from_a_source_profile_give_credentials() {
    let aws = start_with("");
    let id = at_approval(&aws);
    let run = format!("aws:payments/{id}");
    let home = tempfile::tempdir().unwrap();
    // A vault client stand-in: its arguments are split as the AWS CLI splits them (no shell), and
    // it prints alice's keys.
    let script = home.path().join("vault-creds");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$2\" = \"payments prod\" ] || { echo \"wrong account: $2\" >&2; exit 2; }\n\
         printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDRELEASE\", \"SecretAccessKey\": \"release-secret\"}'\n",
    )
    .unwrap();
    let failing = home.path().join("vault-down");
    std::fs::write(&failing, "#!/bin/sh\necho 'vault: permission denied (token expired)' >&2\nexit 1\n").unwrap();
    for f in [&script, &failing] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let role = "arn:aws:iam::123456789012:role/Deployer";
    let config = home.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile base]\ncredential_process = {} --account \"payments prod\"\nregion = eu-west-1\n\
             [profile deployer]\nrole_arn = {role}\nsource_profile = base\nrole_session_name = release-alice\nregion = eu-west-1\n\
             [profile down]\ncredential_process = {}\nregion = eu-west-1\n\
             [profile loop-a]\nrole_arn = {role}\nsource_profile = loop-b\nregion = eu-west-1\n\
             [profile loop-b]\nrole_arn = {role}\nsource_profile = loop-a\n\
             [profile mfa]\nrole_arn = {role}\nsource_profile = base\nmfa_serial = arn:aws:iam::123456789012:mfa/alice\nregion = eu-west-1\n",
            script.display(),
            failing.display()
        ),
    )
    .unwrap();
    let as_profile = |profile: &str| {
        [
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none").display().to_string()),
            ("AWS_PROFILE", profile.to_string()),
            ("AWS_ENDPOINT_URL_STS", aws.endpoint()),
        ]
    };
    let who_listed = || {
        let calls = aws.calls();
        calls["calls"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|c| c["op"] == "ListPipelineExecutions")
            .map(|c| c["who"].as_str().unwrap().to_string())
    };

    // The process's keys.
    let (code, out, err) = aws.run_federated(home.path(), &as_profile("base"), &["runs", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&run), "{out}");
    assert_eq!(who_listed().as_deref(), Some("arn:aws:sts::123456789012:assumed-role/ReleaseManagers/alice"));

    // The Deployer role, assumed with them; approving journals the role session.
    let (code, out, err) = aws.run_federated(
        home.path(),
        &as_profile("deployer"),
        &["approve", &run, "--gate", "ApproveProd", "--confirm", "ApproveProd", "--reason", "CHG-7", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let assumed: Vec<Value> = aws.calls()["calls"].as_array().unwrap().iter().filter(|c| c["op"] == "AssumeRole").cloned().collect();
    assert_eq!(assumed[0]["input"], json!({"RoleArn": role, "RoleSessionName": "release-alice"}));
    assert_eq!(assumed[0]["who"], "arn:aws:sts::123456789012:assumed-role/ReleaseManagers/alice", "signed with the source's keys");
    assert!(aws.env.written().contains("assumed-role/Deployer/release-alice"), "the role session is journaled");

    // A failing process, a loop of profiles, an MFA role: each said, never a secret.
    let (_, _, err) = aws.run_federated(home.path(), &as_profile("down"), &["runs", "--json"]);
    assert!(err.contains("profile `down`: credential_process failed") && err.contains("vault: permission denied (token expired)"), "{err}");
    let (_, _, err) = aws.run_federated(home.path(), &as_profile("loop-a"), &["runs", "--json"]);
    assert!(err.contains("roles chained more than 5 deep"), "{err}");
    let (_, _, err) = aws.run_federated(home.path(), &as_profile("mfa"), &["runs", "--json"]);
    assert!(err.contains("with an MFA code") && err.contains("flightdeck cannot ask for"), "{err}");
    assert!(!aws.env.written().contains("release-secret"), "no file flightdeck wrote holds the secret");
    aws.assert_contract_kept();
}

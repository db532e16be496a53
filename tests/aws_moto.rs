//! What flightdeck reads from AWS, against moto's server where moto implements the API: a build's
//! CloudWatch Logs stream followed forward (events written with the real AWS CLI, read to the
//! end, then only what came after; the end is the token that stops moving), and CodeBuild's
//! `BatchGetBuilds` as flightdeck's model reads it. moto does not implement CodePipeline's
//! pipeline state, action executions or approvals, so those are proven against the AWS double.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use flightdeck::aws::Credentials;
use flightdeck::aws::json_rpc::{CODEBUILD, Session};
use support::python_tools::aws_venv;

struct Moto {
    port: u16,
    child: std::process::Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(aws_venv().join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let moto = Moto { port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The real AWS CLI against moto.
    fn cli(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(aws_venv().join("aws"))
            .args(args)
            .args(["--endpoint-url", &self.endpoint(), "--region", "eu-west-1", "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDMOTO")
            .env("AWS_SECRET_ACCESS_KEY", "moto-secret")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn session(&self) -> Session {
        Session::new(Some("eu-west-1".into()), None, Some(self.endpoint())).unwrap().with_credentials(Credentials {
            access_key_id: "AKIDMOTO".into(),
            secret_access_key: "moto-secret".into(),
            session_token: None,
        })
    }

    fn put(&self, group: &str, stream: &str, first: usize, count: usize) {
        let base = jiff::Timestamp::now().as_millisecond();
        let events: Vec<serde_json::Value> =
            (first..first + count).map(|i| serde_json::json!({"timestamp": base + i as i64, "message": format!("line {i}")})).collect();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&events).unwrap()).unwrap();
        self.cli(&[
            "logs",
            "put-log-events",
            "--log-group-name",
            group,
            "--log-stream-name",
            stream,
            "--log-events",
            &format!("file://{}", file.path().display()),
        ]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_log_is_followed_forward_on_moto() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let (group, stream) = ("/aws/codebuild/payments-build", "8f0c7d2e");
    let m = &moto;
    tokio::task::block_in_place(|| {
        m.cli(&["logs", "create-log-group", "--log-group-name", group]);
        m.cli(&["logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", stream]);
        m.put(group, stream, 0, 25);
    });
    let session = moto.session();

    // Everything written so far, in order.
    let all = flightdeck::aws::logs::all(&session, group, stream, 100).await.unwrap();
    let messages: Vec<&str> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, (0..25).map(|i| format!("line {i}")).collect::<Vec<_>>());

    // Caught up: no events, and the token does not move.
    let (first, token) = flightdeck::aws::logs::forward(&session, group, stream, None).await.unwrap();
    assert_eq!(first.len(), 25);
    let (none, same) = flightdeck::aws::logs::forward(&session, group, stream, token.clone()).await.unwrap();
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(same, token, "at the end the forward token stays");

    // Written later: only that arrives.
    tokio::task::block_in_place(|| m.put(group, stream, 25, 3));
    let (later, _) = flightdeck::aws::logs::forward(&session, group, stream, token).await.unwrap();
    let later: Vec<&str> = later.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(later, ["line 25", "line 26", "line 27"]);

    // A stream that does not exist yet (a build that has not written) has no events.
    let (nothing, t) = flightdeck::aws::logs::forward(&session, group, "not-yet", None).await.unwrap();
    assert!(nothing.is_empty() && t.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codebuild_s_builds_read_as_flightdeck_s_model_on_moto() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let m = &moto;
    let build = tokio::task::block_in_place(|| {
        m.cli(&[
            "codebuild",
            "create-project",
            "--name",
            "payments-build",
            "--source",
            "type=S3,location=artifacts-bucket/payments.zip",
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
            "--service-role",
            "arn:aws:iam::123456789012:role/codebuild",
        ]);
        m.cli(&["codebuild", "start-build", "--project-name", "payments-build"])["build"]["id"].as_str().unwrap().to_string()
    });
    let got = moto.session().call(&CODEBUILD, "BatchGetBuilds", &serde_json::json!({"ids": [build]})).await.unwrap();
    let out: flightdeck::ci::codepipeline::model::BatchGetBuildsOutput = serde_json::from_value(got).unwrap();
    assert_eq!(out.builds.len(), 1);
    assert_eq!(out.builds[0].id, build);
    assert!(out.builds[0].build_status.is_some(), "{:?}", out.builds[0]);
    assert!(out.builds[0].logs.is_some(), "where its log is: {:?}", out.builds[0]);
}

/// ECS and CodeDeploy as moto keeps them: a CODE_DEPLOY service whose task set names the
/// deployment that made it, that deployment and its group, read by flightdeck's ECS provider, and
/// a CloudWatch alarm's state. moto has no deployment targets (lifecycle events, traffic) and
/// keeps no alarms on a group, so the row says the targets were not read; the double proves those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecs_blue_green_service_reads_as_a_release_on_moto() {
    use flightdeck::delivery::{Health, RolloutProvider};
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let m = &moto;
    let deployment = tokio::task::block_in_place(|| {
        m.cli(&["ecs", "create-cluster", "--cluster-name", "payments"]);
        m.cli(&[
            "ecs",
            "register-task-definition",
            "--family",
            "payments-api",
            "--container-definitions",
            r#"[{"name":"api","image":"registry.example/payments-api:8","memory":512}]"#,
        ]);
        m.cli(&[
            "ecs",
            "create-service",
            "--cluster",
            "payments",
            "--service-name",
            "payments-api",
            "--task-definition",
            "payments-api",
            "--desired-count",
            "2",
            "--deployment-controller",
            "type=CODE_DEPLOY",
        ]);
        m.cli(&["deploy", "create-application", "--application-name", "payments", "--compute-platform", "ECS"]);
        m.cli(&[
            "deploy",
            "create-deployment-group",
            "--application-name",
            "payments",
            "--deployment-group-name",
            "payments-api-bg",
            "--service-role-arn",
            "arn:aws:iam::123456789012:role/codedeploy",
            "--deployment-style",
            "deploymentType=BLUE_GREEN,deploymentOption=WITH_TRAFFIC_CONTROL",
            "--ecs-services",
            "serviceName=payments-api,clusterName=payments",
            "--alarm-configuration",
            "enabled=true,alarms=[{name=payments-api-5xx}]",
        ]);
        let id = m.cli(&[
            "deploy",
            "create-deployment",
            "--application-name",
            "payments",
            "--deployment-group-name",
            "payments-api-bg",
            "--revision",
            r#"revisionType=AppSpecContent,appSpecContent={content="{}"}"#,
        ])["deploymentId"]
            .as_str()
            .unwrap()
            .to_string();
        m.cli(&[
            "ecs",
            "create-task-set",
            "--cluster",
            "payments",
            "--service",
            "payments-api",
            "--task-definition",
            "payments-api:1",
            "--external-id",
            &id,
        ]);
        m.cli(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            "payments-api-5xx",
            "--metric-name",
            "HTTPCode_Target_5XX_Count",
            "--namespace",
            "AWS/ApplicationELB",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "5",
            "--comparison-operator",
            "GreaterThanThreshold",
        ]);
        m.cli(&[
            "cloudwatch",
            "set-alarm-state",
            "--alarm-name",
            "payments-api-5xx",
            "--state-value",
            "ALARM",
            "--state-reason",
            "Threshold Crossed: 9 errors",
        ]);
        id
    });
    let settings = support::aws::ecs_settings(moto.endpoint(), &["payments-api"]);
    let provider = flightdeck::deploy::ecs::EcsProvider::with_session(settings, moto.session());
    let rows = provider.list().await.unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.reference.to_string().as_str(), r.kind.as_str()), ("ecs:payments/payments-api", "ECS blue/green (CodeDeploy)"));
    assert_eq!(r.health, Health::Progressing, "{r:?}");
    assert!(r.offers_verb("abort"), "a deployment under way can be stopped: {r:?}");
    // moto keeps no alarms on a deployment group (its answer leaves them empty), so the alarm is
    // read as the provider reads the group's: by name, from CloudWatch.
    let reader = flightdeck::deploy::ecs::reader::Reader::new(moto.session());
    let (alarms, unread) = reader.alarms(&["payments-api-5xx".to_string(), "not-an-alarm".to_string()]).await;
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!((alarms[0].state_value.as_str(), alarms[0].state_reason.as_deref()), ("ALARM", Some("Threshold Crossed: 9 errors")));
    assert_eq!(unread.as_deref(), Some("CloudWatch does not know not-an-alarm"));
    let detail = provider.detail(r.reference.clone()).await.unwrap();
    let about = detail.about.join("\n");
    assert!(about.contains("CodeDeploy payments/payments-api-bg") && about.contains(&deployment), "{about}");
    assert!(about.contains("Lifecycle and traffic not read"), "moto has no deployment targets: {about}");
}

/// The production listener rule's weights as moto's ELBv2 keeps them (query protocol, XML), read
/// as the ECS provider reads them for ECS's own blue/green: a rule's weighted forward, and a
/// listener's default action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_weights_read_from_moto_s_elbv2() {
    use flightdeck::deploy::ecs::listener::{Weighted, weights};
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let m = &moto;
    let (rule, listener) = tokio::task::block_in_place(|| {
        let vpc = m.cli(&["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"])["Vpc"]["VpcId"].as_str().unwrap().to_string();
        let subnets: Vec<String> = [("10.0.1.0/24", "eu-west-1a"), ("10.0.2.0/24", "eu-west-1b")]
            .iter()
            .map(|(cidr, zone)| {
                m.cli(&["ec2", "create-subnet", "--vpc-id", &vpc, "--cidr-block", cidr, "--availability-zone", zone])["Subnet"]["SubnetId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let lb = m.cli(&["elbv2", "create-load-balancer", "--name", "shop", "--subnets", &subnets[0], &subnets[1]])["LoadBalancers"][0]
            ["LoadBalancerArn"]
            .as_str()
            .unwrap()
            .to_string();
        let group = |name: &str| {
            m.cli(&[
                "elbv2",
                "create-target-group",
                "--name",
                name,
                "--protocol",
                "HTTP",
                "--port",
                "8080",
                "--vpc-id",
                &vpc,
                "--target-type",
                "ip",
            ])["TargetGroups"][0]["TargetGroupArn"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (blue, green) = (group("checkout-blue"), group("checkout-green"));
        let forward = |b: u32, g: u32| {
            serde_json::json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": blue, "Weight": b}, {"TargetGroupArn": green, "Weight": g}]}}])
            .to_string()
        };
        let listener = m.cli(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &forward(100, 0),
        ])["Listeners"][0]["ListenerArn"]
            .as_str()
            .unwrap()
            .to_string();
        let rule = m.cli(&[
            "elbv2",
            "create-rule",
            "--listener-arn",
            &listener,
            "--priority",
            "10",
            "--conditions",
            r#"[{"Field": "path-pattern", "Values": ["/checkout/*"]}]"#,
            "--actions",
            &forward(80, 20),
        ])["Rules"][0]["RuleArn"]
            .as_str()
            .unwrap()
            .to_string();
        (rule, listener)
    });
    let session = moto.session();
    let w = |name: &str, weight: i64| Weighted { target_group: name.into(), weight };
    assert_eq!(weights(&session, &rule).await.unwrap(), [w("checkout-blue", 80), w("checkout-green", 20)]);
    assert_eq!(weights(&session, &listener).await.unwrap(), [w("checkout-blue", 100), w("checkout-green", 0)]);
}

/// Scan reports among a CodeBuild build's artifacts in S3: CodePipeline and CodeBuild answered by
/// the AWS double, the artifacts kept by moto's S3 (written with the real AWS CLI): a zip of a
/// real Trivy report (Trivy's own Debian buster golden) as the primary artifact, and a folder
/// artifact with a Bandit report; the critical CVE holds the release gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_reports_among_build_artifacts_in_s3_hold_the_gate() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let aws = tokio::task::spawn_blocking(|| {
        support::aws::Aws::start(
            "[environments.prod]\nproduction = true\nfour_eyes = false\n\
             [ci.codepipeline.aws]\nregion = \"eu-west-1\"\npipelines = [\"payments\"]\n\
             gate_environments = { Approval = \"prod\" }\nreport_artifacts = [\"primary\", \"scans\"]\n",
        )
    })
    .await
    .unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("reports.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        zip.start_file("reports/trivy.json", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(fixtures.join("corpus/trivy-debian-buster.json")).unwrap()).unwrap();
        zip.finish().unwrap();
    }
    let m = &moto;
    let run = tokio::task::block_in_place(|| {
        m.cli(&[
            "s3api",
            "create-bucket",
            "--bucket",
            "pipeline-artifacts",
            "--create-bucket-configuration",
            "LocationConstraint=eu-west-1",
        ]);
        m.cli(&[
            "s3api",
            "put-object",
            "--bucket",
            "pipeline-artifacts",
            "--key",
            "payments/build 1/reports.zip",
            "--body",
            &zip_path.display().to_string(),
        ]);
        let bandit = fixtures.join("reports/bandit.json").display().to_string();
        m.cli(&["s3api", "put-object", "--bucket", "pipeline-artifacts", "--key", "payments/scans-1/bandit.json", "--body", &bandit]);
        let id = aws.control("start", serde_json::json!({}))["id"].as_str().unwrap().to_string();
        aws.control("finish", serde_json::json!({"execution": id, "action": "Source"}));
        aws.control("finish", serde_json::json!({"execution": id, "action": "Build"}));
        aws.control("finish", serde_json::json!({"execution": id, "action": "UnitTests"}));
        for (location, identifier) in [
            ("arn:aws:s3:::pipeline-artifacts/payments/build 1/reports.zip", None),
            ("arn:aws:s3:::pipeline-artifacts/payments/scans-1", Some("scans")),
        ] {
            aws.control("artifact", serde_json::json!({"execution": id, "action": "Scan", "location": location, "identifier": identifier}));
        }
        aws.control("finish", serde_json::json!({"execution": id, "action": "Scan"}));
        format!("aws:payments/{id}")
    });
    let flightdeck = |args: &[&str]| {
        let out = aws
            .env
            .cmd(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDRELEASE")
            .env("AWS_SECRET_ACCESS_KEY", "release-secret")
            .env("AWS_ENDPOINT_URL", aws.endpoint())
            .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let findings = tokio::task::block_in_place(|| flightdeck(&["findings", &run, "--json"]));
    assert!(
        findings.contains("CVE-2019-18224") && findings.contains("s3://pipeline-artifacts/payments/build 1/reports.zip/reports/trivy.json"),
        "{findings}"
    );
    assert!(findings.contains("s3://pipeline-artifacts/payments/scans-1/bandit.json"), "the folder artifact's file: {findings}");
    let inbox: serde_json::Value = serde_json::from_str(&tokio::task::block_in_place(|| flightdeck(&["approvals", "--json"]))).unwrap();
    let gate = inbox.as_array().unwrap().iter().find(|g| g["run"] == run.as_str()).unwrap_or_else(|| panic!("{inbox:#}"));
    assert_eq!(gate["release_gate"]["pass"], false, "a critical CVE holds production's gate: {gate:#}");
    tokio::task::block_in_place(|| aws.assert_contract_kept());
}

/// CodePipeline's executions as moto keeps them (a pipeline made with the real AWS CLI, an
/// execution started), read into flightdeck's model. moto has no pipeline state, action
/// executions or approvals; the double proves those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codepipeline_s_executions_read_as_flightdeck_s_model_on_moto() {
    use flightdeck::aws::json_rpc::CODEPIPELINE;
    use flightdeck::ci::codepipeline::model::{GetPipelineExecutionOutput, ListPipelineExecutionsOutput};
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let m = &moto;
    let started = tokio::task::block_in_place(|| {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let role = m.cli(&["iam", "create-role", "--role-name", "pipeline", "--assume-role-policy-document", trust])["Role"]["Arn"]
            .as_str()
            .unwrap()
            .to_string();
        let pipeline = serde_json::json!({
            "name": "payments", "roleArn": role, "artifactStore": {"type": "S3", "location": "pipeline-artifacts"},
            "stages": [
                {"name": "Source", "actions": [{"name": "Source", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                    "configuration": {"S3Bucket": "sources", "S3ObjectKey": "payments.zip"}, "outputArtifacts": [{"name": "src"}]}]},
                {"name": "Build", "actions": [{"name": "Build", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                    "configuration": {"ProjectName": "payments-build"}, "inputArtifacts": [{"name": "src"}]}]}
            ]
        });
        m.cli(&["codepipeline", "create-pipeline", "--pipeline", &pipeline.to_string()]);
        m.cli(&["codepipeline", "start-pipeline-execution", "--name", "payments"])["pipelineExecutionId"].as_str().unwrap().to_string()
    });
    let session = moto.session();
    let listed = session.call(&CODEPIPELINE, "ListPipelineExecutions", &serde_json::json!({"pipelineName": "payments"})).await.unwrap();
    let listed: ListPipelineExecutionsOutput = serde_json::from_value(listed).unwrap();
    assert_eq!(listed.pipeline_execution_summaries.len(), 1);
    assert_eq!(listed.pipeline_execution_summaries[0].pipeline_execution_id, started);
    assert!(!listed.pipeline_execution_summaries[0].status.is_empty());
    let one = session
        .call(&CODEPIPELINE, "GetPipelineExecution", &serde_json::json!({"pipelineName": "payments", "pipelineExecutionId": started}))
        .await
        .unwrap();
    let one: GetPipelineExecutionOutput = serde_json::from_value(one).unwrap();
    assert_eq!(one.pipeline_execution.pipeline_execution_id, started);
}

/// A canary judged from CloudWatch as moto keeps metrics: datapoints put with the real AWS CLI
/// for two target groups, read back with `GetMetricData` into a verdict. moto computes Sum,
/// Average, Minimum, Maximum and SampleCount (no percentiles), so the latency is the mean here;
/// percentiles are proven on the double.
#[test]
fn a_canary_is_judged_from_cloudwatch_metrics_on_moto() {
    const LB: &str = "app/shop/50dc6c495c0c9188";
    let moto = Moto::start();
    let now = jiff::Timestamp::now().as_second() / 60 * 60;
    let put = |group: &str, latency: f64, errors: u32| {
        let dims = serde_json::json!([{"Name": "LoadBalancer", "Value": LB}, {"Name": "TargetGroup", "Value": group}]);
        let mut data = Vec::new();
        for m in -13..=1 {
            let at = jiff::Timestamp::from_second(now + m * 60 + 30).unwrap().to_string();
            let values: Vec<f64> = (0..60).map(|i| latency * (0.8 + 0.4 * ((i * 37) % 60) as f64 / 59.0)).collect();
            data.push(serde_json::json!({"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": at, "Values": values, "Unit": "Seconds"}));
            data.push(serde_json::json!({"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": at, "Value": 60, "Unit": "Count"}));
            if errors > 0 {
                data.push(serde_json::json!({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": at, "Value": errors, "Unit": "Count"}));
            }
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&data).unwrap()).unwrap();
        let from = format!("file://{}", file.path().display());
        moto.cli(&["cloudwatch", "put-metric-data", "--namespace", "AWS/ApplicationELB", "--metric-data", &from]);
    };
    put("targetgroup/checkout-blue/73e2d6bc24d8a067", 0.100, 0);
    put("targetgroup/checkout-green/09a1b2c3d4e5f607", 0.160, 6);
    put("targetgroup/checkout-next/5a6b7c8d9e0f1a2b", 0.098, 0);

    let config = |canary: &str| {
        format!(
            "[cloudwatch.moto]\nregion = \"eu-west-1\"\nendpoint_url = \"{}\"\n\
             [services.checkout]\ncloudwatch = \"moto\"\n\
             canary = \"LoadBalancer={LB},TargetGroup=targetgroup/{canary}\"\n\
             stable = \"LoadBalancer={LB},TargetGroup=targetgroup/checkout-blue/73e2d6bc24d8a067\"\n\
             [[services.checkout.analysis.metrics]]\nname = \"mean latency\"\nquery = \"AWS/ApplicationELB TargetResponseTime Average\"\nmax_ratio = 1.1\nunit = \"s\"\n\
             [[services.checkout.analysis.metrics]]\nname = \"error ratio\"\nquery = \"error_ratio\"\nmax = 0.02\n",
            moto.endpoint()
        )
    };
    let verdict = |canary: &str| {
        let env = support::cli_env::Env::new(&config(canary));
        let out = env
            .cmd(&["canary", "checkout", "--json"])
            .env("AWS_ACCESS_KEY_ID", "AKIDMOTO")
            .env("AWS_SECRET_ACCESS_KEY", "moto-secret")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };

    let (code, slow) = verdict("checkout-green/09a1b2c3d4e5f607");
    assert_eq!((code, slow["phase"].as_str()), (Some(1), Some("Failed")), "{slow:#}");
    let by_name = |v: &serde_json::Value, n: &str| v["metrics"].as_array().unwrap().iter().find(|m| m["name"] == n).cloned().unwrap();
    let latency = by_name(&slow, "mean latency");
    let last = latency["measurements"].as_array().unwrap().last().unwrap().clone();
    let (c, s) = (last["canary"]["value"].as_f64().unwrap(), last["stable"]["value"].as_f64().unwrap());
    assert!((c / s - 1.6).abs() < 1e-9, "the mean of each side's minute: {last:#}");
    let errors = by_name(&slow, "error ratio");
    assert_eq!(errors["phase"], "Failed", "6 of 60 requests failed: {errors:#}");

    let (code, healthy) = verdict("checkout-next/5a6b7c8d9e0f1a2b");
    assert_eq!((code, healthy["phase"].as_str()), (Some(0), Some("Successful")), "{healthy:#}");
    let errors = by_name(&healthy, "error ratio");
    let last = errors["measurements"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["canary"]["value"].as_f64(), Some(0.0), "no 5XX count published is no errors: {last:#}");
    assert_eq!(healthy["metrics"][0]["measurements"].as_array().unwrap().len(), 10);
}

//! The shipped configuration files load, and config errors are precise.

use std::path::Path;

use flightdeck::config::Config;

#[test]
fn the_example_configuration_loads_completely() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = Config::parse(&text, Some(&path), None).unwrap_or_else(|e| panic!("{e}"));
    let release = c.pipeline("release").expect("release pipeline");
    assert_eq!(release.stages.len(), 7);
    let test = release.stages.iter().find(|s| s.name == "unit-test").unwrap();
    assert_eq!(test.matrix["node"].len(), 3);
    assert_eq!(test.retries, 1);
    assert!(release.stages.iter().any(|s| s.gate.as_ref().is_some_and(|g| g.timeout == Some(std::time::Duration::from_secs(86_400)))));
    assert_eq!(c.logs.max_bytes, 64 * 1024 * 1024);
    assert!(c.environments["prod"].production);
    assert_eq!(c.default_pipeline.as_deref(), Some("release"));
    assert_eq!(c.ui.theme, "dark");
    let (source, svc) = &c.services["payments-api"];
    assert_eq!(source, "main");
    assert_eq!(svc.analysis.metrics.len(), 3);
    assert!(svc.analysis.alerts_gate);
    assert!(matches!(c.prometheus["main"].auth, flightdeck::metrics::Auth::None));
    assert_eq!(c.prometheus["main"].headers, [("X-Scope-OrgID".to_string(), "payments".to_string())]);
}

#[test]
fn the_demo_project_loads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = flightdeck::demo::install(dir.path()).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let c = Config::parse(&text, Some(&cfg), None).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.pipeline("release").is_some() && c.pipeline("nightly").is_some());
    assert!(dir.path().join("project/scripts/test.sh").exists());
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[ui]
theme = "neon"

[keys]
quit = "r"

[[pipelines.p.stages]]
name = "gate-and-run"
run = "true"
gate = true
"#;
    let err = Config::parse(text, Some(Path::new("x.toml")), None).unwrap_err();
    let all = err.to_string();
    assert!(all.contains("x.toml:3:9: ui.theme: unknown theme `neon`"), "{all}");
    assert!(all.contains("keys.") && all.contains("bound to both"), "{all}");
    assert!(all.contains("has both `run` and `gate`"), "{all}");
    assert_eq!(err.diagnostics.len(), 3, "{all}");
}

#[test]
fn an_absurd_matrix_is_refused_with_its_size_and_the_limit() {
    let axis = |n: usize| format!("[{}]", (1..=n).map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", "));
    let text = format!(
        "[[pipelines.p.stages]]\nname = \"m\"\nrun = \"true\"\nmatrix = {{ a = {}, b = {}, c = {} }}\n",
        axis(10),
        axis(10),
        axis(40)
    );
    let err = Config::parse(&text, Some(Path::new("x.toml")), None).unwrap_err().to_string();
    assert!(err.contains("pipelines.p.stages[0].matrix: the matrix expands to 4000 jobs; at most 256 per stage"), "{err}");
    // 256 is fine.
    let text = format!("[[pipelines.p.stages]]\nname = \"m\"\nrun = \"true\"\nmatrix = {{ a = {}, b = {} }}\n", axis(16), axis(16));
    assert!(Config::parse(&text, Some(Path::new("x.toml")), None).is_ok());
}

#[test]
fn a_user_theme_overrides_a_builtin_and_bad_ones_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("themes")).unwrap();
    std::fs::write(dir.path().join("themes/dark.toml"), "name = \"dark\"\n[colors]\nsuccess = \"#00ff00\"\n").unwrap();
    std::fs::write(dir.path().join("themes/broken.toml"), "name = \"broken\"\n[colors]\nsucess = \"red\"\n").unwrap();
    let spec = flightdeck::theme::ThemeSpec::load("dark", Some(dir.path())).unwrap();
    assert_eq!(spec.colors.success.as_deref(), Some("#00ff00"));
    let err = flightdeck::theme::ThemeSpec::load("broken", Some(dir.path())).unwrap_err();
    assert!(err.contains("broken.toml:3:1") && err.contains("unknown field `sucess`"), "{err}");
}

#[test]
fn an_analysis_that_could_not_judge_is_a_located_error() {
    let text = r#"
[prometheus.main]
url = "http://127.0.0.1:9090"

[services.payments]
canary = 'track="canary"'
stable = 'track="stable"'
window = "banana"

[services.payments.analysis]
count = 1
failure_limit = 1
mann_whitney_alpha = 1.5
initial_delay = "soon"
pass_score = 60
marginal_score = 80

[[services.payments.analysis.metrics]]
name = "success"
query = "vector(1)"
min = 0.99
max = 0.9
weight = 0
"#;
    let err = Config::parse(text, Some(Path::new("x.toml")), None).unwrap_err();
    let all = err.to_string();
    for part in [
        "services.payments.window: `banana` is not a duration",
        "services.payments.analysis.mann_whitney_alpha: 1.5 is not between 0 (off) and 1",
        "count 1 is not above failure_limit 1: the analysis could never fail",
        "services.payments.analysis.metrics.success: min 0.99 is above max 0.9",
        "services.payments.analysis.initial_delay:",
        "0 ≤ marginal_score (80) ≤ pass_score (60) ≤ 100",
        "services.payments.analysis.metrics.success.weight: weight must be a positive number",
    ] {
        assert!(all.contains(part), "{part:?} in:\n{all}");
    }
    assert!(all.contains("x.toml:5:"), "each with where it is: {all}");
}

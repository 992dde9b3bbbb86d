//! The reference's command line, parsed: every option spelling of `../spec` §2 and the
//! container commands of its Argo workflow (`fixtures/jetstream/run.yaml`).

use clap::Parser as _;

use crate::{Cli, Command};

fn parse(args: &[&str]) -> Cli {
    let mut argv = vec!["jetstream"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => panic!("{argv:?} does not parse: {e}"),
    }
}

fn rejects(args: &[&str]) -> String {
    let mut argv = vec!["jetstream"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(&argv) {
        Ok(_) => panic!("{argv:?} parses"),
        Err(e) => e.to_string(),
    }
}

fn run_args(cli: Cli) -> crate::run_cmds::RunArgs {
    match cli.command {
        Command::Run(args) => args,
        other => panic!("not run: {other:?}"),
    }
}

#[path = "../tests/cli/workflow.rs"]
mod workflow;

/// The container commands of the reference's `run.yaml`, placeholders filled.
fn workflow_commands(fill: &[(&str, &str)]) -> Vec<Vec<String>> {
    workflow::workflow_commands(include_str!("../../../fixtures/jetstream/run.yaml"), fill)
}

const FILL: &[(&str, &str)] = &[
    ("inputs.parameters.slug", "my-exp"),
    ("inputs.parameters.date", "2026-01-28"),
    (
        "inputs.parameters.discrete_metrics",
        "--no-discrete-metrics",
    ),
    ("workflow.parameters.dataset_id", "eggs"),
    ("workflow.parameters.project_id", "spam"),
    ("workflow.parameters.bucket", "None"),
    ("workflow.parameters.analysis_periods_day", "day"),
    ("workflow.parameters.analysis_periods_week", "week"),
    ("workflow.parameters.analysis_periods_days28", "days28"),
    ("workflow.parameters.analysis_periods_overall", "overall"),
    (
        "workflow.parameters.analysis_periods_preenrollment_week",
        "day",
    ),
    (
        "workflow.parameters.analysis_periods_preenrollment_days28",
        "day",
    ),
    ("workflow.parameters.statistics_only", "False"),
];

#[test]
fn every_run_yaml_container_command_parses_with_its_meaning() {
    let commands = workflow_commands(FILL);
    assert_eq!(
        commands.len(),
        3,
        "ensure-enrollments, analyse-experiment, export-statistics"
    );
    for words in &commands {
        assert_eq!(words[0], "jetstream");
        assert!(
            !words.iter().any(|w| w.contains("{{")),
            "unfilled placeholder in {words:?}"
        );
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let cli = parse(&args);
        match cli.command {
            Command::EnsureEnrollments(a) => {
                assert!(cli.log.log_to_bigquery);
                assert_eq!(a.analysis.slugs, ["my-exp"]);
                assert_eq!(a.analysis.dataset_id, "eggs");
                assert_eq!(a.analysis.warehouse.project_id, "spam");
            }
            Command::Run(a) => {
                assert!(cli.log.log_to_bigquery);
                assert_eq!(a.date.map(|d| d.to_string()).as_deref(), Some("2026-01-28"));
                let an = &a.analysis;
                assert_eq!(an.slugs, ["my-exp"]);
                assert_eq!(an.dataset_id, "eggs");
                assert_eq!(an.warehouse.project_id, "spam");
                assert_eq!(an.bucket.bucket.as_deref(), Some("None"));
                assert_eq!(an.bucket.name(), None, "None means no bucket");
                let periods = crate::args::periods(&an.analysis_periods).expect("periods");
                let names: Vec<&str> = periods.iter().flatten().map(|p| p.as_str()).collect();
                assert_eq!(names, ["day", "week", "days28", "overall"]);
                assert!(!an.statistics_only);
                assert!(an.no_discrete_metrics);
            }
            Command::ExportStatisticsToJson(_) => {}
            other => panic!("unexpected command {other:?}"),
        }
    }
    // The other values Argo fills in.
    let mut fill = FILL.to_vec();
    fill.retain(|(k, _)| !k.ends_with("statistics_only") && !k.ends_with("discrete_metrics"));
    for (only, discrete, want_only, want_discrete) in [
        ("true", "--discrete-metrics", true, true),
        ("True", "--no-discrete-metrics", true, false),
        ("false", "--discrete-metrics", false, true),
    ] {
        let mut f = fill.clone();
        f.push(("workflow.parameters.statistics_only", only));
        f.push(("inputs.parameters.discrete_metrics", discrete));
        let run = workflow_commands(&f).remove(1);
        let args: Vec<&str> = run[1..].iter().map(String::as_str).collect();
        let a = run_args(parse(&args));
        assert_eq!(a.analysis.statistics_only, want_only, "{only}");
        assert_eq!(!a.analysis.no_discrete_metrics, want_discrete, "{discrete}");
    }
}

#[test]
fn group_options_in_both_spellings_before_or_after_the_command() {
    for args in [
        &[
            "--log_project_id=p",
            "--log_dataset_id=d",
            "--log_table_id=t",
            "--log_source=sizing",
            "run",
        ][..],
        &[
            "--log-project-id",
            "p",
            "--log-dataset-id",
            "d",
            "--log-table-id",
            "t",
            "--log-source",
            "sizing",
            "run",
        ],
        &[
            "run",
            "--log-project-id=p",
            "--log_dataset_id=d",
            "--log-table-id=t",
            "--log_source=sizing",
        ],
    ] {
        let cli = parse(args);
        assert_eq!(cli.log.log_project_id.as_deref(), Some("p"));
        assert_eq!(cli.log.log_dataset_id, "d");
        assert_eq!(cli.log.log_table_id, "t");
        assert_eq!(cli.log.log_source, "sizing");
        let table = cli.log.table().expect("table").expect("logging on");
        assert_eq!(table.to_string(), "d.t");
    }
    for flag in ["--log_to_bigquery", "--log-to-bigquery"] {
        assert!(parse(&[flag, "run"]).log.log_to_bigquery);
    }
    assert!(
        parse(&["run", "--no-log-to-bigquery"])
            .log
            .table()
            .expect("t")
            .is_none()
    );
    assert!(rejects(&["--log-source=SIZING", "run"]).contains("SIZING"));
    assert!(rejects(&["--log_to_bigquery=true", "run"]).contains("value"));
    let defaults = parse(&["run"]);
    assert_eq!(defaults.log.log_project_id, None, "the results project");
    assert_eq!(defaults.log.log_dataset_id, "monitoring");
    assert_eq!(defaults.log.log_table_id, "logs");
    assert_eq!(defaults.log.log_source, "jetstream");
    parse(&[
        "--task_profiling_log_table_id=x",
        "--task-monitoring-log-table-id=y",
        "run",
    ]);
}

#[test]
fn shared_options_in_both_spellings() {
    let snake = run_args(parse(&[
        "run",
        "--project_id=p",
        "--dataset_id=d",
        "--experiment_slug=a",
        "--config_file=c.toml",
        "--recreate_enrollments",
        "--config_repos=r1",
        "--config_repos=r2",
        "--private_config_repos=pr",
        "--analysis_periods=week",
        "--analysis_periods=overall",
        "--sql_output_dir=sql",
        "--statistics_only=1",
        "--use_glean_ids",
        "--no_discrete_metrics",
        "--metric_slug=m1",
        "--metric_slug=m2",
        "--bucket=none",
    ]));
    let kebab = run_args(parse(&[
        "run",
        "--project-id",
        "p",
        "--dataset-id",
        "d",
        "--experiment-slug",
        "a",
        "--config-file",
        "c.toml",
        "--recreate-enrollments",
        "--config-repos",
        "r1",
        "--config-repos",
        "r2",
        "--private-config-repos",
        "pr",
        "--analysis-periods",
        "week,overall",
        "--sql-output-dir",
        "sql",
        "--statistics-only",
        "true",
        "--use-glean-ids",
        "--no-discrete-metrics",
        "--metric-slug",
        "m1",
        "--metric-slug",
        "m2",
        "--bucket",
        "NULL",
    ]));
    for a in [&snake.analysis, &kebab.analysis] {
        assert_eq!(a.warehouse.project_id, "p");
        assert_eq!(a.dataset_id, "d");
        assert_eq!(a.slugs, ["a"]);
        assert_eq!(
            a.config_file.as_deref(),
            Some(std::path::Path::new("c.toml"))
        );
        assert!(a.recreate_enrollments);
        assert_eq!(a.configs.config_repos, ["r1", "r2"]);
        assert_eq!(a.configs.private_config_repos, ["pr"]);
        assert_eq!(a.analysis_periods, ["week", "overall"]);
        assert_eq!(
            a.sql_output_dir.as_deref(),
            Some(std::path::Path::new("sql"))
        );
        assert!(a.statistics_only);
        assert!(a.use_glean_ids);
        assert!(a.no_discrete_metrics);
        assert_eq!(a.metric_slug, ["m1", "m2"]);
        assert_eq!(a.bucket.name(), None);
        let options = a
            .run_options(&crate::args::LogArgs::default_for_tests())
            .expect("options");
        assert!(!options.discrete);
        assert_eq!(
            options.metric_slugs,
            Some(vec!["m1".to_string(), "m2".into()])
        );
    }
    // The config file's third spelling, and the config-repo alias of this CLI.
    let sworn = run_args(parse(&[
        "run",
        "--i-solemnly-swear-i-am-up-to-no-good",
        "x.toml",
        "--config-repo",
        "hub",
    ]));
    assert_eq!(
        sworn.analysis.config_file.as_deref(),
        Some(std::path::Path::new("x.toml"))
    );
    assert_eq!(sworn.analysis.configs.config_repos, ["hub"]);
    // No repository given: metric-hub's public one; the reference's GitHub tree URLs read
    // their branch and folder.
    let none = run_args(parse(&["run"])).analysis.configs.repos();
    assert_eq!(
        none.specs(),
        [jetstream_job::RepoSpec::parse(
            jetstream_job::METRIC_HUB_REPO,
            false
        )]
    );
    let tree = run_args(parse(&[
        "run",
        "--config-repos",
        "https://github.com/mozilla/metric-hub/tree/main/jetstream",
        "--config-cache",
        "/tmp/c",
        "--config-max-age",
        "60",
    ]))
    .analysis
    .configs
    .repos();
    assert_eq!(tree.specs()[0].subpath, "jetstream");
    assert_eq!(tree.options.cache_dir, std::path::Path::new("/tmp/c"));
    assert_eq!(tree.options.max_age, std::time::Duration::from_secs(60));
    // --discrete-metrics is the default; the last of the pair wins.
    assert!(!run_args(parse(&["run"])).analysis.no_discrete_metrics);
    assert!(
        !run_args(parse(&[
            "run",
            "--no-discrete-metrics",
            "--discrete_metrics"
        ]))
        .analysis
        .no_discrete_metrics
    );
    // --statistics-only takes a value, as the reference's `type=bool`.
    for (spelling, value, want) in [
        ("--statistics-only", "False", false),
        ("--stats-only", "yes", true),
        ("--skip-metrics", "0", false),
        ("--skip_metrics", "on", true),
    ] {
        let a = run_args(parse(&["run", &format!("{spelling}={value}")]));
        assert_eq!(a.analysis.statistics_only, want, "{spelling}={value}");
    }
    assert!(rejects(&["run", "--statistics-only"]).contains("value"));
    assert!(rejects(&["run", "--statistics-only=maybe"]).contains("maybe"));
    let glean = run_args(parse(&["run", "--glean-only"]));
    assert!(glean.analysis.use_glean_ids);
}

#[test]
fn buckets_aliases_and_the_bytes_cap_are_parsed() {
    let a = run_args(parse(&[
        "run",
        "--bucket=mozanalysis",
        "--warehouse=bigquery:my-proj",
        "--project-alias=mozfun=my-udfs",
        "--project_alias",
        "moz-fx-data-shared-prod=my-data",
        "--maximum-bytes-billed=1000000000",
    ]));
    assert_eq!(a.analysis.bucket.name(), Some("mozanalysis"));
    let spec = a.analysis.warehouse.spec().expect("spec");
    assert_eq!(spec.results_project(), "my-proj");
    assert_eq!(spec.maximum_bytes_billed, Some(1_000_000_000));
    assert_eq!(
        spec.aliases
            .apply("SELECT mozfun.map.get_key(x, 'k') FROM moz-fx-data-shared-prod.a.b"),
        "SELECT `my-udfs.map.get_key`(x, 'k') FROM `my-data.a.b`"
    );
    for spelling in ["null", "NONE"] {
        let a = run_args(parse(&["run", &format!("--bucket={spelling}")]));
        assert_eq!(a.analysis.bucket.name(), None, "{spelling}");
    }
    assert!(rejects(&["run", "--project-alias=mozfun"]).contains("mozfun"));
    let twice = run_args(parse(&[
        "run",
        "--project-alias=a=b",
        "--project-alias=a=c",
    ]));
    let err = twice
        .analysis
        .warehouse
        .spec()
        .expect_err("same FROM twice");
    assert!(format!("{err:#}").contains("\"a\""), "{err:#}");
    // The monitoring table lives in BigQuery's results project.
    let elsewhere = crate::args::LogArgs {
        log_project_id: Some("other".into()),
        ..crate::args::LogArgs::default_for_tests()
    };
    let err = a_bq()
        .check_log_project(&elsewhere)
        .expect_err("other log project");
    assert!(err.to_string().contains("--log-project-id other"), "{err}");
}

fn a_bq() -> crate::args::WarehouseArgs {
    crate::args::WarehouseArgs::with_url("bigquery:p")
}

#[test]
fn the_export_and_rerun_commands_take_the_reference_options() {
    parse(&[
        "export-metadata-to-json",
        "--experiment_slug=a",
        "--dataset_id=d",
        "--project_id=p",
        "--config_repos=r",
        "--bucket=None",
    ]);
    parse(&["export_metadata_to_json", "--experiment-slug", "a"]);
    parse(&[
        "export-statistics-to-json",
        "--dataset_id=d",
        "--project_id=p",
        "--experiment_slug=a",
        "--bucket=None",
    ]);
    parse(&[
        "--log_project_id=p",
        "--log_dataset_id=d",
        "--log_table_id=t",
        "export-experiment-logs-to-json",
        "--experiment_slug=a",
        "--project_id=p",
        "--date=2026-01-01",
        "--bucket=None",
    ]);
    parse(&[
        "rerun",
        "--experiment_slug=a",
        "--project_id=p",
        "--dataset_id=d",
        "--recreate_enrollments",
        "--config_repos=r",
        "--analysis_periods=week",
        "--statistics-only=true",
        "--discrete_metrics",
        "--metric_slug=m",
        "--return_status",
    ]);
    parse(&[
        "ensure-enrollments",
        "--experiment_slug=a",
        "--dataset_id=d",
        "--project_id=p",
        "--config_file=c.toml",
        "--recreate_enrollments",
        "--config_repos=r",
        "--use_glean_ids",
        "--bucket=None",
    ]);
}

#[test]
fn environment_values_are_checked_like_the_options_and_name_the_variable() {
    // (the variables are read by clap; the parsers are what both paths share)
    for bad in ["abc", "-1", "1.5"] {
        let err = crate::args::thread_count(bad).expect_err(bad);
        assert!(err.contains("JETSTREAM_PROCESSES"), "{err}");
    }
    assert_eq!(crate::args::thread_count("4"), Ok(4));
    for bad in ["zz", "GB", "-2GB", "2XB"] {
        let err = crate::args::memory_size(bad).expect_err(bad);
        assert!(err.contains("JETSTREAM_MEMORY_LIMIT"), "{err}");
    }
    for good in ["2GB", "512MB", "1.5GiB", "100000"] {
        assert!(crate::args::memory_size(good).is_ok(), "{good}");
    }
    assert!(rejects(&["run", "--processes", "x"]).contains("JETSTREAM_PROCESSES"));
}

/// Our own workflow (`workflows/run.yaml`): every container command parses, with its meaning.
#[test]
fn every_container_command_of_our_workflow_parses() {
    let fill: &[(&str, &str)] = &[
        ("inputs.parameters.slug", "my-exp"),
        ("inputs.parameters.date", "2026-01-28"),
        (
            "inputs.parameters.discrete_metrics",
            "--no-discrete-metrics",
        ),
        ("workflow.parameters.dataset_id", "eggs"),
        ("workflow.parameters.project_id", "spam"),
        ("workflow.parameters.bucket", "mozanalysis"),
        (
            "workflow.parameters.analysis_periods",
            "day,week,days28,overall,preenrollment_week,preenrollment_days28",
        ),
        ("workflow.parameters.statistics_only", "false"),
        (
            "workflow.parameters.config_repos",
            "https://github.com/mozilla/metric-hub",
        ),
        // No private repositories: an empty value.
        ("workflow.parameters.private_config_repos", ""),
        ("inputs.parameters.only_missing", "true"),
        ("workflow.creationTimestamp", "2026-01-29T04:00:00Z"),
        // A daily run: no lower bound on the exported errors.
        ("workflow.parameters.errors_since", ""),
        ("workflow.name", "jetstream-abcde"),
        ("workflow.namespace", "argo"),
    ];
    let commands = workflow::workflow_commands(include_str!("../../../workflows/run.yaml"), fill);
    let names: Vec<&str> = commands.iter().map(|w| w[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "ensure-enrollments",
            "run",
            "export-to-json",
            "log-workflow-failures"
        ]
    );
    for words in &commands {
        assert!(
            !words.iter().any(|w| w.contains("{{")),
            "unfilled: {words:?}"
        );
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let cli = parse(&args);
        match cli.command {
            Command::Run(a) => {
                let an = &a.analysis;
                assert_eq!(an.slugs, ["my-exp"]);
                assert_eq!(an.dataset_id, "eggs");
                assert!(an.no_discrete_metrics);
                assert!(!an.statistics_only);
                assert_eq!(an.warehouse.spec().unwrap().results_project(), "spam");
                let periods = crate::args::periods(&an.analysis_periods).unwrap();
                assert_eq!(periods.map(|p| p.len()), Some(6));
                let repos = an.configs.repos();
                assert_eq!(repos.public, ["https://github.com/mozilla/metric-hub"]);
                assert!(repos.private.is_empty(), "{:?}", repos.private);
                assert!(
                    a.only_missing,
                    "the catch-up steps analyse missing windows only"
                );
                assert_eq!(a.daily.catch_up, 0);
                assert!(
                    !a.daily.complete_reruns,
                    "the planner completes reruns, not the pods"
                );
            }
            // Once an experiment's dates are done: its statistics, metadata and errors, to
            // the workflow's bucket, the errors since the week of the workflow's start.
            Command::ExportToJson(a) => {
                let json = format!("{a:?}");
                assert!(json.contains("\"my-exp\""), "{json}");
                assert!(json.contains("bucket: Some(\"mozanalysis\")"), "{json}");
                assert!(
                    json.contains("analysis_start_time: Some(2026-01-29T04:00:00)"),
                    "{json}"
                );
                assert!(json.contains("errors_since: Some(\"\")"), "{json}");
                assert!(json.contains("warehouse: \"bigquery:spam\""), "{json}");
            }
            // The exit handler: the workflow's own failures, into the monitoring table, and
            // those experiments' errors again to the bucket.
            Command::LogWorkflowFailures(a) => {
                let json = format!("{a:?}");
                assert!(json.contains("workflow: \"jetstream-abcde\""), "{json}");
                assert!(json.contains("namespace: \"argo\""), "{json}");
                assert!(json.contains("bucket: Some(\"mozanalysis\")"), "{json}");
            }
            Command::EnsureEnrollments(a) => {
                assert_eq!(a.analysis.slugs, ["my-exp"]);
                assert_eq!(a.analysis.warehouse.warehouse, "bigquery:spam");
                let specs = a.analysis.configs.repos().specs();
                assert_eq!(
                    specs,
                    [jetstream_job::RepoSpec::parse(
                        jetstream_job::METRIC_HUB_REPO,
                        false
                    )]
                );
            }
            other => panic!("unexpected command {other:?}"),
        }
    }
}

/// The daily CronWorkflow (`workflows/daily.yaml`): the submitter catches up and waits for the
/// day's data; its exit handler alerts through the webhook of its secret.
#[test]
fn every_container_command_of_the_daily_cron_workflow_parses() {
    let fill: &[(&str, &str)] = &[
        ("workflow.parameters.project_id", "moz-fx-data-experiments"),
        ("workflow.parameters.dataset_id", "mozanalysis"),
        ("workflow.parameters.bucket", "mozanalysis"),
        ("workflow.parameters.image", "gcr.io/p/jetstream"),
        ("workflow.creationTimestamp", "2026-12-07T04:00:00Z"),
    ];
    let commands = workflow::workflow_commands(include_str!("../../../workflows/daily.yaml"), fill);
    let names: Vec<&str> = commands.iter().map(|w| w[1].as_str()).collect();
    assert_eq!(names, ["run-argo", "errors"]);
    for words in &commands {
        assert!(
            !words.iter().any(|w| w.contains("{{")),
            "unfilled: {words:?}"
        );
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        match parse(&args).command {
            Command::RunArgo(a) => {
                assert_eq!(a.daily.catch_up, 3);
                assert_eq!(a.daily.wait_for_data, Some(14_400));
                assert_eq!(a.analysis.bucket.name(), Some("mozanalysis"));
                assert!(a.argo.monitor_status && a.argo.return_status);
                assert_eq!(a.argo.cluster.namespace, "argo");
            }
            Command::Errors(a) => {
                let text = format!("{a:?}");
                // --notify without a value: the URL comes from the secret's variable.
                assert!(text.contains("notify: Some(\"\")"), "{text}");
                assert!(text.contains("since: Some(2026-12-07T04:00:00)"), "{text}");
            }
            other => panic!("unexpected command {other:?}"),
        }
    }
}

/// The fuzzing pass over the command line: arbitrary arguments — every option of every
/// command, with numbers out of range, control characters, empty and huge values — never
/// panic the parser nor the conversions a command makes before it runs. 2,000 cases in the
/// slow tier, 256 in a plain run, or `JETSTREAM_FUZZ_CASES`.
mod fuzz {
    use clap::{CommandFactory as _, Parser as _};
    use proptest::prelude::*;

    use super::{Cli, Command};

    /// `(command, [--option, …])` for every subcommand, from clap's own description.
    fn vocabulary() -> Vec<(String, Vec<String>)> {
        Cli::command()
            .get_subcommands()
            .map(|c| {
                let options = c
                    .get_arguments()
                    .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
                    .collect();
                (c.get_name().to_string(), options)
            })
            .collect()
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just(String::new()),
            Just("duckdb::memory:".to_string()),
            Just("bigquery:p".to_string()),
            Just("2026-01-28".to_string()),
            Just("true".to_string()),
            "[ -~]{0,20}",
            "[\\x00-\\x1f\\u{1b}a-z\\n]{0,12}",
            any::<f64>().prop_map(|f| f.to_string()),
        ]
    }

    /// 2,000 cases in the slow tier (`cargo xtask test`), 256 in a plain run.
    fn cases() -> u32 {
        jetstream_test_support::cases(256, 2_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_command_lines_never_panic(
            which in any::<prop::sample::Index>(),
            picks in prop::collection::vec((any::<prop::sample::Index>(), value(), any::<bool>()), 0..8),
        ) {
            let started = std::time::Instant::now();
            let vocabulary = vocabulary();
            let (command, options) = &vocabulary[which.index(vocabulary.len())];
            let mut argv = vec!["jetstream".to_string(), command.clone()];
            for (i, v, joined) in picks {
                if options.is_empty() {
                    argv.push(v);
                    continue;
                }
                let option = &options[i.index(options.len())];
                if joined {
                    argv.push(format!("{option}={v}"));
                } else {
                    argv.push(option.clone());
                    argv.push(v);
                }
            }
            if let Ok(cli) = Cli::try_parse_from(&argv) {
                // What a command derives from its arguments before it runs: never a panic.
                let log = &cli.log;
                let _ = log.table();
                match &cli.command {
                    Command::Run(a) => {
                        let _ = a.analysis.warehouse.spec();
                        let _ = a.analysis.run_options(log);
                        let _ = a.daily.options();
                    }
                    Command::Rerun(a) | Command::RerunConfigChanged(a) => {
                        let _ = a.analysis.warehouse.spec();
                        let _ = a.analysis.run_options(log);
                    }
                    Command::RunArgo(a) => {
                        let _ = a.analysis.warehouse.spec();
                        let _ = a.analysis.run_options(log);
                        let _ = a.argo.cluster.options("p");
                        let _ = a.daily.options();
                    }
                    _ => {}
                }
            }
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(5));
        }
    }
}

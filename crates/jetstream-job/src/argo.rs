//! The job on Argo: the same selection as a local run, turned into one workflow whose pods run
//! this very library (`jetstream run`, `ensure-enrollments`, `export-statistics-to-json`).
//!
//! [`Job::daily_plan`] and [`Job::rerun_plan`] choose experiments × dates exactly as
//! [`Job::run_daily`] and [`Job::rerun`] do (skipped experiments never become pods);
//! [`Job::workflow_items`] gives each experiment its image (pinned to the image that first
//! analysed it, unless one is given) and its discrete-metrics mode; [`Job::workflow_params`]
//! fills the workflow's parameters. Submitting and watching is [`ArgoCluster`]'s.

use chrono::{DateTime, NaiveDate, TimeZone, Timelike as _, Utc};
use jetstream_argo::{ExperimentItem, ImageChoice, ImageRegistry, WorkflowParams};
use jetstream_experimenter::Parsed;
use jetstream_repos::RepoSpec;
use jetstream_warehouse::{ExceptionType, LogLevel, LogRecord};

pub use jetstream_argo::parse_template as parse_workflow;
pub use jetstream_argo::{
    ArgoCluster, CloudError, CloudErrorKind, ClusterError, ClusterOptions, FailedStep, GkeCluster,
    Image, Phase, WorkflowStatus, cluster::DEFAULT_NAMESPACE,
};
pub use jetstream_gke::{ArtifactRegistry, GoogleApis};

use crate::job::{Job, JobReport, Observer, failed};
use crate::{Event, JobError};

/// Experiments first analysed before this instant keep one metrics query per (period, basis)
/// unless `--discrete-metrics` is given (the reference's cutover, 2026-03-31T00:00Z).
pub fn discrete_cutover() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

pub use crate::daily::{Plan, PlanItem};

impl Job<'_> {
    /// A rerun of `slugs` up to `until` as a plan (nothing is deleted here: see
    /// [`Job::before_submit`]).
    pub fn rerun_plan(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        until: NaiveDate,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Plan {
        let mut plan = Vec::new();
        for config in self.select_slugs_current(parsed, slugs, observer, report) {
            let slug = config.experiment.normandy_slug().to_string();
            let dates = Self::rerun_dates(&config, until);
            if dates.is_empty() {
                let reason = format!("no analysis date up to {until}");
                observer.event(&Event::Skipped {
                    slug: &slug,
                    date: None,
                    reason: &reason,
                });
                report.skipped += 1;
                continue;
            }
            plan.push(PlanItem::new(config, dates));
        }
        plan
    }

    /// What must go before a workflow's pods run, once the cluster is reached and just
    /// before the workflow is created (so that a workflow that cannot be submitted deletes
    /// nothing): for a rerun, the result tables of each experiment of `items` (and its
    /// enrollments with `--recreate-enrollments`), as [`Job::rerun`]; for a daily run with
    /// `--recreate-enrollments`, the enrollments tables (the pods create them again).
    /// Experiments whose tables cannot be deleted are failures.
    pub fn before_submit(
        &self,
        plan: &Plan,
        items: &[ExperimentItem],
        rerun: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        for item in plan {
            let config = &item.config;
            let slug = config.experiment.normandy_slug();
            if !items.iter().any(|i| i.slug == slug) {
                continue;
            }
            if rerun {
                let until = item
                    .dates
                    .last()
                    .copied()
                    .unwrap_or_else(|| Utc::now().date_naive());
                self.delete_for_rerun(config, true, until, observer, report);
            } else if self.options().run.recreate_enrollments {
                match self.delete_enrollments(config) {
                    Ok(count) => observer.event(&Event::Deleted { slug, count }),
                    Err(e) => failed(report, observer, slug, None, &e.to_string()),
                }
            }
        }
    }

    /// The workflow's items: each experiment of `plan` with dates to analyse, with its dates
    /// and catch-up dates, its image (`choice`; the registry is asked once when the choice
    /// needs it) and its discrete-metrics flag (`explicit_discrete` when given on the command
    /// line, else the reference's cutover rule); and the newest image (the exit handler's).
    /// With `fresh` (a rerun), every experiment counts as first analysed now, as after the
    /// reference's `touch_tables`: the newest image, the current discrete default.
    /// An experiment whose anchor cannot be read is a failure and left out; a registry that
    /// cannot be read fails the whole workflow.
    #[allow(clippy::too_many_arguments)]
    pub fn workflow_items(
        &self,
        plan: &Plan,
        choice: &ImageChoice,
        registry: Option<&dyn ImageRegistry>,
        explicit_discrete: Option<bool>,
        fresh: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Result<(Vec<ExperimentItem>, String), JobError> {
        let images: Vec<Image> = match (choice, registry) {
            (ImageChoice::Fixed(_), _) => Vec::new(),
            (ImageChoice::Latest(name) | ImageChoice::PerExperiment(name), Some(r)) => {
                r.images(name)?
            }
            (ImageChoice::Latest(name) | ImageChoice::PerExperiment(name), None) => {
                return Err(JobError::Image {
                    what: format!("the images of {name}"),
                    message: "no registry to choose an image from: pass --image-version".into(),
                });
            }
        };
        let newest = choice
            .resolve(&images, None)
            .map_err(|message| JobError::Image {
                what: "the image of the workflow's exit handler".into(),
                message,
            })?;
        let mut items = Vec::new();
        for item in plan.iter().filter(|i| !i.is_empty()) {
            let config = &item.config;
            let slug = config.experiment.normandy_slug().to_string();
            let first = match self.first_analysed(config) {
                Ok(_) if fresh => Some(Utc::now()),
                Ok(t) => t,
                Err(e) => {
                    failed(report, observer, &slug, None, &e.to_string());
                    continue;
                }
            };
            let image = choice
                .resolve(&images, first)
                .map_err(|message| JobError::Image {
                    what: format!("the image of {slug}"),
                    message,
                })?;
            let discrete = explicit_discrete.unwrap_or_else(|| {
                first.unwrap_or_else(Utc::now) > discrete_cutover() && self.options().run.discrete
            });
            items.push(ExperimentItem {
                slug,
                dates: item.dates.clone(),
                catch_up: item.catch_up.clone(),
                image,
                discrete_metrics: discrete,
            });
        }
        Ok((items, newest))
    }

    /// The workflow's parameters for `items`: this job's results project, dataset, periods
    /// and statistics-only mode (the bucket and the memory request are the caller's).
    pub fn workflow_params(&self, items: Vec<ExperimentItem>) -> WorkflowParams {
        let run = &self.options().run;
        let mut params = WorkflowParams::new(self.warehouse().project(), items);
        params.dataset_id.clone_from(&run.dataset);
        params.analysis_periods = run
            .periods
            .as_ref()
            .map(|ps| ps.iter().map(|p| p.to_string()).collect());
        params.statistics_only = run.statistics_only;
        params
    }
}

/// Whether choosing images and discrete-metrics modes reads the warehouse's history (when
/// each experiment was first analysed): not with a fixed image and an explicit flag.
pub fn needs_history(choice: &ImageChoice, explicit_discrete: Option<bool>) -> bool {
    choice.needs_registry() || explicit_discrete.is_none()
}

/// `--image NAME`: a bare name (`jetstream`, the reference's form) is the reference's
/// registry path, `gcr.io/moz-fx-data-experiments/NAME`. A tag or digest belongs in
/// `--image-version`.
pub fn image_name(image: &str) -> Result<String, JobError> {
    let last = image.rsplit('/').next().unwrap_or_default();
    if image.is_empty() || last.contains([':', '@']) {
        return Err(JobError::Option {
            option: format!("--image {image:?}"),
            message: "expected a name without tag or digest (give those with --image-version)"
                .into(),
        });
    }
    Ok(if image.contains('/') {
        image.to_string()
    } else {
        format!("gcr.io/moz-fx-data-experiments/{image}")
    })
}

/// The label naming what a workflow runs: `daily-YYYY-MM-DD` for the daily run of a date,
/// `targeted-YYYY-MM-DD-<hash>` for a run of that date restricted to some experiments.
pub const RUN_LABEL: &str = "jetstream.mozilla.org/run";

/// The [`RUN_LABEL`] value of a run on `date` of `slugs` (none: every experiment of the day).
/// A run restricted to some experiments (`--experiment-slug`, a debugging command) is labelled
/// by its date *and* its selection — a hash of the sorted, distinct slugs — so that it never
/// follows the full daily run of the same date, nor the daily run it; two submissions of the
/// same selection do follow each other. At most 36 characters (a label value allows 63).
pub fn run_label(date: NaiveDate, slugs: &[String]) -> String {
    let day = date.format("%Y-%m-%d");
    if slugs.is_empty() {
        return format!("daily-{day}");
    }
    let mut sorted: Vec<&str> = slugs.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // FNV-1a, 64 bits: stable across builds and platforms (std's hasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sorted.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("targeted-{day}-{hash:016x}")
}

/// Label `manifest` as the run of `date` for `slugs` ([`run_label`]): a second submission of
/// the same run (a retried CronWorkflow pod, an Airflow retry) follows the first instead of
/// starting another.
pub fn label_run(manifest: &mut serde_json::Value, date: NaiveDate, slugs: &[String]) {
    manifest["metadata"]["labels"][RUN_LABEL] = serde_json::Value::from(run_label(date, slugs));
}

/// What happens to a workflow once rendered.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Where the cluster is.
    pub cluster: ClusterOptions,
    /// Watch it to the end, polling at this interval (`--monitor-status`); `None`: return
    /// once created.
    pub monitor: Option<std::time::Duration>,
    /// How long an unreachable API server is waited for while watching.
    pub patience: std::time::Duration,
}

/// How a submission went.
#[derive(Debug)]
pub struct Submitted {
    /// The workflow's name.
    pub name: String,
    /// Whether an unfinished workflow of the same run was there already (and is followed
    /// instead of creating another).
    pub existing: bool,
    /// The final status, when monitored.
    pub status: Option<WorkflowStatus>,
}

/// Submit `manifest` to the cluster and, when monitoring, follow it until it finishes.
/// `before_create` runs once the cluster is reached, just before the workflow is created
/// (deletions of a rerun: a workflow that cannot be submitted deletes nothing); it is not run
/// when an unfinished workflow with the manifest's [`RUN_LABEL`] exists, which is followed
/// instead. `on_submitted` gets the cluster and the workflow's name; `on_status` each new
/// phase or progress.
pub fn submit_workflow(
    manifest: &serde_json::Value,
    submission: &Submission,
    google: std::sync::Arc<dyn jetstream_argo::GoogleCloud>,
    before_create: &mut dyn FnMut(),
    on_submitted: &mut dyn FnMut(&ArgoCluster, &str, bool),
    on_status: &mut dyn FnMut(&WorkflowStatus),
) -> Result<Submitted, JobError> {
    let cluster = ArgoCluster::connect(&submission.cluster, google)?;
    let existing = match manifest["metadata"]["labels"][RUN_LABEL].as_str() {
        Some(run) => cluster.find_active(RUN_LABEL, run)?,
        None => None,
    };
    let (name, existing) = match existing {
        Some(name) => (name, true),
        None => {
            before_create();
            (cluster.submit(manifest)?, false)
        }
    };
    on_submitted(&cluster, &name, existing);
    let status = match submission.monitor {
        Some(interval) => Some(cluster.wait(&name, interval, submission.patience, on_status)?),
        None => None,
    };
    Ok(Submitted {
        name,
        existing,
        status,
    })
}

/// The template of `workflows/run.yaml`'s exit handler.
pub const EXIT_HANDLER_TEMPLATE: &str = "log-failures";

/// `filename` of the monitoring rows written for a workflow's failed steps (with the step's
/// node name as `func_name`, the key that keeps a second writing from doubling them).
pub const FAILURE_ROW_FILENAME: &str = "jetstream_job::argo";

/// The `exception_type` of a failed step's row.
fn failure_type(kind: jetstream_argo::FailureKind) -> ExceptionType {
    use jetstream_argo::FailureKind as K;
    match kind {
        K::PodOOMKilled => ExceptionType::PodOOMKilled,
        K::PodEvicted => ExceptionType::PodEvicted,
        K::ImagePullFailed => ExceptionType::ImagePullFailed,
        K::DeadlineExceeded => ExceptionType::DeadlineExceeded,
        K::StepFailed => ExceptionType::StepFailed,
    }
}

/// The monitoring rows of a finished workflow: one ERROR row per step that failed for good
/// (no later attempt succeeded), its `exception_type` what Argo's message of the last attempt
/// tells ([`jetstream_argo::FailureKind`]: `PodOOMKilled`, `PodEvicted`, `ImagePullFailed`,
/// `DeadlineExceeded`, `StepFailed`), naming the experiment, the date and that message; one
/// ERROR row for a workflow that failed without a failed step (its own deadline, an invalid
/// spec); a WARNING row when its steps cannot be read.
pub fn failure_records(status: &WorkflowStatus, source: &str) -> Vec<LogRecord> {
    let now = Utc::now()
        .naive_utc()
        .with_nanosecond(0)
        .unwrap_or_default();
    let record = |experiment: Option<String>,
                  kind: ExceptionType,
                  level: LogLevel,
                  key: &str,
                  message: String| {
        LogRecord {
            timestamp: now,
            source: source.to_string(),
            experiment,
            metric: None,
            statistic: None,
            analysis_basis: None,
            segment: None,
            analysis_period: None,
            exception: format!("{kind}: {message}"),
            message,
            log_level: level.as_str().into(),
            filename: FAILURE_ROW_FILENAME.into(),
            func_name: key.to_string(),
            exception_type: Some(kind.as_str().into()),
        }
    };
    let mut rows = Vec::new();
    // The exit handler does not report itself: while it is retried, its earlier attempt
    // looks failed for good.
    for step in status
        .failed_steps
        .iter()
        .filter(|s| s.template != EXIT_HANDLER_TEMPLATE)
    {
        let slug = step.parameters.get("slug").cloned();
        let mut what = step.what().to_string();
        if let Some(s) = &slug {
            what.push_str(&format!(" of {s}"));
        }
        if let Some(d) = step.parameters.get("date") {
            what.push_str(&format!(" on {d}"));
        }
        let message = format!(
            "{what} failed for good after {} in workflow {}: {}",
            match step.attempts {
                1 => "1 attempt".to_string(),
                n => format!("{n} attempts"),
            },
            status.name,
            if step.message.is_empty() {
                "no message from Argo"
            } else {
                &step.message
            }
        );
        rows.push(record(
            slug,
            failure_type(step.kind()),
            LogLevel::Error,
            &step.name,
            message,
        ));
    }
    if let Some(why) = &status.steps_unknown {
        rows.push(record(
            None,
            ExceptionType::WorkflowStatusUnknown,
            LogLevel::Warning,
            &status.name,
            format!(
                "workflow {} {}: its steps could not be read ({why})",
                status.name, status.phase
            ),
        ));
    } else if rows.is_empty() && matches!(status.phase, Phase::Failed | Phase::Error) {
        let kind = jetstream_argo::FailureKind::of_message(&status.message);
        rows.push(record(
            None,
            failure_type(kind),
            LogLevel::Error,
            &status.name,
            format!(
                "workflow {} {}: {}",
                status.name, status.phase, status.message
            ),
        ));
    }
    rows
}

/// What kind of workflow a plan becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowKind {
    /// The daily run of `date` for `slugs` (none: every experiment of the day), labelled
    /// ([`label_run`]) so that a second submission of the same run follows the first.
    Daily {
        /// The analysis date.
        date: NaiveDate,
        /// `--experiment-slug`s.
        slugs: Vec<String>,
    },
    /// A rerun: its tables are deleted just before the workflow is created, and its errors
    /// exports leave out the rows of the results it replaces.
    Rerun,
}

/// How a plan becomes a workflow and where it goes (the options of `run-argo` and
/// `rerun --argo`).
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Daily run or rerun.
    pub kind: WorkflowKind,
    /// The image of each experiment.
    pub image: ImageChoice,
    /// `--discrete-metrics` / `--no-discrete-metrics` when given (else the cutover rule).
    pub explicit_discrete: Option<bool>,
    /// The bucket the pods export to (`--bucket`).
    pub bucket: Option<String>,
    /// Memory requested per container, in GB.
    pub memory_request_gb: u32,
    /// The config repositories the pods clone (the submitter's; local folders are refused:
    /// see [`pod_repos`]).
    pub config_repos: Vec<RepoSpec>,
    /// Render only: [`SubmitOutcome::DryRun`] holds the YAML; nothing is deleted or created.
    pub dry_run: bool,
    /// The cluster, and how the workflow is followed.
    pub submission: Submission,
}

/// The Google services a submission uses: the cluster's credentials and GKE lookup, and the
/// image registry when the image choice needs one.
#[derive(Clone)]
pub struct ArgoServices {
    /// Tokens and the GKE lookup.
    pub google: std::sync::Arc<dyn jetstream_argo::GoogleCloud>,
    /// Lists the images of a name (Artifact Registry).
    pub registry: Option<std::sync::Arc<dyn ImageRegistry>>,
}

impl ArgoServices {
    /// Google's APIs with Application Default Credentials (found on first use), and Artifact
    /// Registry when `image` needs a registry.
    pub fn google(image: &ImageChoice) -> Result<Self, JobError> {
        let google = GoogleApis::application_default()?;
        let registry = image.needs_registry().then(|| {
            std::sync::Arc::new(ArtifactRegistry::new(google.clone())) as std::sync::Arc<_>
        });
        Ok(Self {
            google: std::sync::Arc::new(google),
            registry,
        })
    }
}

/// What the submission of a plan tells as it goes (a CLI prints it).
pub trait WorkflowObserver {
    /// The workflow `name` was created (or, `existing`, an unfinished one of the same run is
    /// followed instead) on `cluster`, for `experiments` experiments and `experiment_dates`
    /// analyses.
    fn submitted(
        &self,
        _cluster: &ArgoCluster,
        _name: &str,
        _existing: bool,
        _experiments: usize,
        _experiment_dates: usize,
    ) {
    }
    /// A status read while following it.
    fn status(&self, _status: &WorkflowStatus) {}
}

impl WorkflowObserver for crate::Quiet {}

/// What became of a plan.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value per command, moved once
pub enum SubmitOutcome {
    /// No experiment to analyse: no workflow.
    Empty,
    /// The rendered workflow (`dry_run`).
    DryRun {
        /// As YAML.
        yaml: String,
        /// Its experiments.
        experiments: usize,
        /// Its experiment × date analyses.
        experiment_dates: usize,
    },
    /// Submitted (or followed).
    Submitted {
        /// How the submission went; its final status when followed.
        submitted: Submitted,
        /// The failed steps written to the monitoring table once the workflow finished
        /// (`None`: not followed, or no monitoring table).
        logged: Option<Result<LoggedFailures, JobError>>,
    },
}

/// The config repositories of the pods, as the git URLs they clone (public, private): a
/// local folder is refused, since a pod cannot read it.
pub fn pod_repos(specs: &[RepoSpec]) -> Result<(Vec<String>, Vec<String>), JobError> {
    let of = |private: bool| -> Result<Vec<String>, JobError> {
        specs
            .iter()
            .filter(|s| s.private == private)
            .map(|s| match (&s.location, s.to_url()) {
                (_, Some(url)) => Ok(url),
                (jetstream_repos::Location::Folder(dir), None) => Err(JobError::Option {
                    option: format!("--config-repos {}", dir.display()),
                    message: "Argo pods cannot read a local folder; pass git URLs (the pods \
                              clone them)"
                        .into(),
                }),
                (location, None) => Err(JobError::Option {
                    option: format!("--config-repos {location:?}"),
                    message: "no URL a pod can clone".into(),
                }),
            })
            .collect()
    };
    Ok((of(false)?, of(true)?))
}

/// The reference's restrictions on Argo runs: the pods read the config repositories (no
/// `--config-file`), every metric is computed (no `--metric-slug`), and they clone what they
/// read (git URLs only).
pub fn check_argo_options(
    config_file: bool,
    metric_slugs: &[String],
    config_repos: &[RepoSpec],
) -> Result<(), JobError> {
    if config_file {
        return Err(JobError::Option {
            option: "--config-file".into(),
            message: "cannot be used with Argo: the containers read the config repositories".into(),
        });
    }
    if !metric_slugs.is_empty() {
        return Err(JobError::Option {
            option: "--metric-slug".into(),
            message: "cannot be used with Argo".into(),
        });
    }
    pod_repos(config_repos).map(drop)
}

impl Job<'_> {
    /// Turn `plan` into a workflow ([`Job::workflow_items`], [`Job::workflow_params`]) and
    /// render it; with `dry_run` return its YAML, else submit it ([`submit_workflow`]; a
    /// rerun deletes its tables just before the workflow is created), follow it when asked,
    /// and log its failed steps to the monitoring table ([`Job::log_workflow_failures`]).
    /// `planner` sees the planning's events (skips, failures), `watcher` the submission's.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_plan(
        &self,
        parsed: &Parsed,
        plan: &Plan,
        options: &SubmitOptions,
        services: &ArgoServices,
        planner: &dyn Observer,
        observer: &dyn Observer,
        watcher: &dyn WorkflowObserver,
        report: &mut JobReport,
    ) -> Result<SubmitOutcome, JobError> {
        let rerun = options.kind == WorkflowKind::Rerun;
        let (items, newest_image) = self.workflow_items(
            plan,
            &options.image,
            services.registry.as_deref(),
            options.explicit_discrete,
            rerun,
            planner,
            report,
        )?;
        if items.is_empty() {
            return Ok(SubmitOutcome::Empty);
        }
        let mut params = self.workflow_params(items.clone());
        params.finish_image = Some(newest_image);
        let started = Utc::now();
        if rerun {
            params.errors_since = Some(started);
        }
        params.bucket.clone_from(&options.bucket);
        params.memory_request_gb = options.memory_request_gb;
        (params.config_repos, params.private_config_repos) = pod_repos(&options.config_repos)?;
        let mut manifest = crate::render_workflow(crate::RUN_TEMPLATE, &params)?;
        if let WorkflowKind::Daily { date, slugs } = &options.kind {
            label_run(&mut manifest, *date, slugs);
        }
        let (experiments, experiment_dates) = (params.experiments.len(), params.experiment_dates());
        if options.dry_run {
            return Ok(SubmitOutcome::DryRun {
                yaml: crate::workflow_yaml(&manifest)?,
                experiments,
                experiment_dates,
            });
        }
        let submitted = submit_workflow(
            &manifest,
            &options.submission,
            services.google.clone(),
            &mut || self.before_submit(plan, &items, rerun, observer, report),
            &mut |cluster, name, existing| {
                watcher.submitted(cluster, name, existing, experiments, experiment_dates);
            },
            &mut |status| watcher.status(status),
        )?;
        // The workflow's exit handler logs its failed steps; so does its follower, in case the
        // exit handler itself could not run (an image that cannot be pulled). Rows are
        // written once either way.
        let logged = match &submitted.status {
            Some(status) if self.options().log_table.is_some() => Some(self.log_workflow_failures(
                status,
                parsed,
                started,
                params.errors_since,
                observer,
                report,
            )),
            _ => None,
        };
        Ok(SubmitOutcome::Submitted { submitted, logged })
    }
}

/// What [`Job::log_workflow_failures`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggedFailures {
    /// Rows written now.
    pub written: usize,
    /// Rows already in the monitoring table (an earlier attempt wrote them).
    pub already: usize,
    /// The experiments with failed steps, whose errors were exported again.
    pub experiments: Vec<String>,
}

impl Job<'_> {
    /// Write the [`failure_records`] of a finished workflow into the monitoring table — once:
    /// rows an earlier attempt wrote (same step, same kind) are not written again — then
    /// export the errors of the experiments concerned again (when a sink is set), so that the
    /// errors objects, `jetstream errors` and the report show failures no analysis could log
    /// (a pod killed for memory, evicted, never started). `started` and `errors_since` are
    /// the exports' window (the workflow's creation; a rerun's start).
    pub fn log_workflow_failures(
        &self,
        status: &WorkflowStatus,
        parsed: &Parsed,
        started: DateTime<Utc>,
        errors_since: Option<DateTime<Utc>>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Result<LoggedFailures, JobError> {
        let Some(logs) = &self.options().log_table else {
            return Err(JobError::Option {
                option: "the monitoring table".into(),
                message: "none is configured (--log-to-bigquery / --log-table-id): the \
                          failed steps cannot be logged"
                    .into(),
            });
        };
        let rows = failure_records(status, &self.options().run.source);
        let mut done = LoggedFailures::default();
        if rows.is_empty() {
            return Ok(done);
        }
        self.deliver_spool(report);
        let existing = self.logged_keys(logs, &rows)?;
        let (already, new): (Vec<LogRecord>, Vec<LogRecord>) = rows
            .into_iter()
            .partition(|r| existing.contains(&(r.func_name.clone(), r.exception_type.clone())));
        done.already = already.len();
        if !new.is_empty() {
            match self.warehouse().append_logs(logs, &new) {
                Ok(()) => done.written = new.len(),
                Err(e) => {
                    tracing::error!(rows = new.len(), error = %e, "could not write the logs table");
                    report.failures += new.len();
                    self.spill(&new);
                }
            }
        }
        let mut slugs: Vec<String> = new
            .iter()
            .chain(&already)
            .filter_map(|r| r.experiment.clone())
            .collect();
        slugs.sort();
        slugs.dedup();
        if let Some(sink) = self.sink() {
            // Private experiments' results stay in their own datasets: nothing to the bucket.
            for slug in slugs
                .iter()
                .filter(|s| !self.spec_for(s).is_some_and(|c| c.experiment.is_private))
            {
                let enrollment_end =
                    jetstream_experimenter::select::with_slug(&parsed.experiments, slug)
                        .and_then(|e| e.enrollment_end_date);
                self.export_errors_of(
                    sink,
                    slug,
                    started,
                    enrollment_end,
                    errors_since,
                    observer,
                    report,
                );
            }
        }
        done.experiments = slugs;
        Ok(done)
    }

    /// The (`func_name`, `exception_type`) pairs of `rows` already in the monitoring table.
    fn logged_keys(
        &self,
        logs: &jetstream_warehouse::TableName,
        rows: &[LogRecord],
    ) -> Result<std::collections::BTreeSet<(String, Option<String>)>, JobError> {
        let mut keys = std::collections::BTreeSet::new();
        if !self.warehouse().table_exists(logs)? {
            return Ok(keys);
        }
        let names: Vec<String> = rows
            .iter()
            .map(|r| jetstream_sql::query::string_literal(&r.func_name))
            .collect();
        let sql = format!(
            "SELECT func_name, exception_type FROM `{}.{}` WHERE filename = {} AND func_name IN ({})",
            logs.dataset,
            logs.table,
            jetstream_sql::query::string_literal(FAILURE_ROW_FILENAME),
            names.join(", ")
        );
        let found = self.warehouse().query_columns(&sql)?;
        let text = |name: &str| {
            found
                .get(name)
                .and_then(|c| c.as_text())
                .map(<[Option<String>]>::to_vec)
                .unwrap_or_default()
        };
        for (name, kind) in text("func_name").into_iter().zip(text("exception_type")) {
            if let Some(name) = name {
                keys.insert((name, kind));
            }
        }
        Ok(keys)
    }
}

/// The status of workflow `name`, read through the Kubernetes API (the exit handler's view of
/// its own workflow).
pub fn workflow_status(
    cluster: &ClusterOptions,
    google: std::sync::Arc<dyn jetstream_argo::GoogleCloud>,
    name: &str,
) -> Result<WorkflowStatus, JobError> {
    Ok(ArgoCluster::connect(cluster, google)?.status(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn runs_are_labelled_by_date_and_selection() {
        let day = d("2026-12-06");
        assert_eq!(run_label(day, &[]), "daily-2026-12-06");
        let a = run_label(day, &["b".into(), "a".into()]);
        assert!(a.starts_with("targeted-2026-12-06-"), "{a}");
        assert!(a.len() <= 63, "a label value: {a}");
        // The selection as a set: order and repeats do not matter; another selection does.
        assert_eq!(a, run_label(day, &["a".into(), "b".into(), "a".into()]));
        assert_ne!(a, run_label(day, &["a".into()]));
        assert_ne!(a, run_label(d("2026-12-07"), &["a".into(), "b".into()]));
    }

    #[test]
    fn each_step_that_failed_for_good_is_one_row_of_its_kind() {
        let wf = serde_json::json!({"metadata": {"name": "jetstream-x"}, "status": {
            "phase": "Failed", "finishedAt": "2026-12-07T05:00:00Z", "nodes": {
                "a": {"name": "jetstream-x[0].experiment[1].analyse(0)", "type": "Pod",
                      "phase": "Failed", "templateName": "analyse",
                      "message": "OOMKilled (exit code 137)",
                      "inputs": {"parameters": [{"name": "slug", "value": "exp-a"},
                                                {"name": "date", "value": "2026-12-06"}]}},
                "b": {"name": "jetstream-x[1].experiment[0].ensure-enrollments(0)",
                      "type": "Pod", "phase": "Error", "templateName": "ensure-enrollments",
                      "message": "ImagePullBackOff: Back-off pulling image",
                      "inputs": {"parameters": [{"name": "slug", "value": "exp-b"}]}}}}});
        let status = WorkflowStatus::from_object(&wf);
        let rows = failure_records(&status, "jetstream");
        assert_eq!(rows.len(), 2);
        let kinds: Vec<_> = rows
            .iter()
            .map(|r| r.exception_type.clone().unwrap())
            .collect();
        assert_eq!(kinds, ["PodOOMKilled", "ImagePullFailed"]);
        assert_eq!(rows[0].experiment.as_deref(), Some("exp-a"));
        assert_eq!(
            rows[0].message,
            "analyse of exp-a on 2026-12-06 failed for good after 1 attempt in workflow \
             jetstream-x: OOMKilled (exit code 137)"
        );
        assert_eq!(rows[0].func_name, "jetstream-x[0].experiment[1].analyse");
        assert!(rows.iter().all(|r| r.log_level == "ERROR"));
        // A workflow that failed without a failed step (its own deadline): one row for it.
        let wf = serde_json::json!({"metadata": {"name": "jetstream-y"}, "status": {
            "phase": "Failed", "finishedAt": "2026-12-07T05:00:00Z",
            "message": "Step exceeded its deadline"}});
        let rows = failure_records(&WorkflowStatus::from_object(&wf), "jetstream");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].exception_type.as_deref(), Some("DeadlineExceeded"));
        assert_eq!(rows[0].experiment, None);
        // The exit handler, retried after a failed attempt, does not report itself.
        let wf = serde_json::json!({"metadata": {"name": "jetstream-z"}, "status": {
            "phase": "Running", "nodes": {
                "e": {"name": "jetstream-z.onExit(0)", "type": "Pod", "phase": "Failed",
                      "templateName": "log-failures", "message": "Error (exit code 1)"}}}});
        assert!(failure_records(&WorkflowStatus::from_object(&wf), "jetstream").is_empty());
        // A successful one: nothing.
        let wf = serde_json::json!({"metadata": {"name": "z"}, "status": {
            "phase": "Succeeded", "finishedAt": "2026-12-07T05:00:00Z", "nodes": {}}});
        assert!(failure_records(&WorkflowStatus::from_object(&wf), "jetstream").is_empty());
    }
}

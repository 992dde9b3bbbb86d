//! The job on Argo: the same selection as a local run, turned into one workflow whose pods run
//! this very library (`jetstream run`, `ensure-enrollments`, `export-statistics-to-json`).
//!
//! [`Job::daily_plan`] and [`Job::rerun_plan`] choose experiments × dates exactly as
//! [`Job::run_daily`] and [`Job::rerun`] do (skipped experiments never become pods);
//! [`Job::workflow_items`] gives each experiment its image (pinned to the image that first
//! analysed it, unless one is given) and its discrete-metrics mode; [`Job::workflow_params`]
//! fills the workflow's parameters. Submitting and watching is [`ArgoCluster`]'s.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use jetstream_argo::{ExperimentItem, ImageChoice, ImageRegistry, WorkflowParams};
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_experimenter::Parsed;

pub use jetstream_argo::{
    ArgoCluster, ClusterError, ClusterOptions, FailedStep, GkeCluster, Image, Phase,
    WorkflowStatus, cluster::DEFAULT_NAMESPACE,
};
pub use jetstream_gcp::{ArtifactRegistry, GoogleApis};

use crate::job::{Job, JobReport, Observer, failed};
use crate::{Event, JobError};

/// Experiments first analysed before this instant keep one metrics query per (period, basis)
/// unless `--discrete-metrics` is given (the reference's cutover, 2026-03-31T00:00Z).
pub fn discrete_cutover() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Experiments × dates of a workflow.
pub type Plan = Vec<(AnalysisConfiguration, Vec<NaiveDate>)>;

impl Job<'_> {
    /// When an experiment's enrollments table was written (`None`: not analysed yet): the
    /// anchor of image pinning and of the discrete-metrics default.
    pub fn first_analysed(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<Option<DateTime<Utc>>, JobError> {
        let table = self.enrollments_table_of(config)?;
        Ok(self
            .warehouse()
            .table_metadata(&table)?
            .map(|m| m.last_updated))
    }

    /// The daily run on `date` as a plan: the experiments [`Job::run_daily`] would analyse.
    pub fn daily_plan(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Plan {
        self.select(parsed, date, slugs, observer, report)
            .into_iter()
            .map(|c| (c, vec![date]))
            .collect()
    }

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
            plan.push((config, dates));
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
        for (config, _) in plan {
            let slug = config.experiment.normandy_slug();
            if !items.iter().any(|i| i.slug == slug) {
                continue;
            }
            if rerun {
                self.delete_for_rerun(config, true, observer, report);
            } else if self.options().run.recreate_enrollments {
                match self.delete_enrollments(config) {
                    Ok(count) => observer.event(&Event::Deleted { slug, count }),
                    Err(e) => failed(report, observer, slug, None, &e.to_string()),
                }
            }
        }
    }

    /// The workflow's items: each experiment of `plan` with its dates, its image (`choice`;
    /// the registry is asked once when the choice needs it) and its discrete-metrics flag
    /// (`explicit_discrete` when given on the command line, else the reference's cutover rule).
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
    ) -> Result<Vec<ExperimentItem>, JobError> {
        let images: Vec<Image> = match (choice, registry) {
            (ImageChoice::Fixed(_), _) => Vec::new(),
            (ImageChoice::Latest(name) | ImageChoice::PerExperiment(name), Some(r)) => {
                r.images(name).map_err(|message| JobError::Input {
                    what: format!("the images of {name}"),
                    message,
                })?
            }
            (ImageChoice::Latest(name) | ImageChoice::PerExperiment(name), None) => {
                return Err(JobError::Input {
                    what: format!("the images of {name}"),
                    message: "no registry to choose an image from: pass --image-version".into(),
                });
            }
        };
        let mut items = Vec::new();
        for (config, dates) in plan {
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
                .map_err(|message| JobError::Input {
                    what: format!("the image of {slug}"),
                    message,
                })?;
            let discrete = explicit_discrete.unwrap_or_else(|| {
                first.unwrap_or_else(Utc::now) > discrete_cutover() && self.options().run.discrete
            });
            items.push(ExperimentItem {
                slug,
                dates: dates.clone(),
                image,
                discrete_metrics: discrete,
            });
        }
        Ok(items)
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
        return Err(JobError::Input {
            what: format!("--image {image:?}"),
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

/// The label naming what a workflow runs (`daily-YYYY-MM-DD` for the daily run of a date).
pub const RUN_LABEL: &str = "jetstream.mozilla.org/run";

/// Label `manifest` as the daily run of `date`: a second submission of the same day (a
/// retried CronWorkflow pod, an Airflow retry) follows the first instead of starting another.
pub fn label_daily(manifest: &mut serde_json::Value, date: NaiveDate) {
    manifest["metadata"]["labels"][RUN_LABEL] =
        serde_json::Value::from(format!("daily-{}", date.format("%Y-%m-%d")));
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

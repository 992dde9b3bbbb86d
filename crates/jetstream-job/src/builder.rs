//! One way to assemble a job: [`JobBuilder`] names the warehouse, the configs, the sink and
//! the options; [`JobBuilder::open`] opens them (configs first, then the warehouse, then the
//! sink) into an [`OpenedJob`], which lends [`Job`]s. Every command of the CLI, the Argo pods
//! and other tools assemble their jobs here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jetstream_config::ConfigCollection;
use jetstream_config::spec::AnalysisSpec;
use jetstream_repos::ConfigRepos;

use crate::{
    ConfigRepoSources, Job, JobError, JobOptions, OutputSink, Warehouse, WarehouseSpec,
    custom_config, open_sink,
};

/// Where a job's configs come from.
enum Configs {
    /// None (commands that read results only).
    None,
    /// Config repositories, opened by [`JobBuilder::open`]; experiments are pinned to the
    /// configs of their first analysis.
    Sources(ConfigRepoSources),
    /// Repositories already opened (pinned likewise).
    Opened(Arc<ConfigRepos>),
    /// A collection already loaded (no pinning).
    Collection(Box<ConfigCollection>),
}

/// Where a job's JSON exports go.
enum Sink {
    /// Nowhere.
    None,
    /// A GCS bucket or a local folder, opened by [`JobBuilder::open`] ([`open_sink`]).
    Named {
        bucket: Option<String>,
        output_dir: Option<PathBuf>,
    },
    /// A sink already open.
    Given(Box<dyn OutputSink>),
}

/// A job, named but not opened yet.
pub struct JobBuilder {
    warehouse: WarehouseSpec,
    configs: Configs,
    sink: Sink,
    options: JobOptions,
    parallel: usize,
    custom: Option<(String, PathBuf)>,
}

impl std::fmt::Debug for JobBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobBuilder")
            .field("warehouse", &self.warehouse.url)
            .field("options", &self.options)
            .field("parallel", &self.parallel)
            .field("custom", &self.custom)
            .finish_non_exhaustive()
    }
}

impl JobBuilder {
    /// A job on the warehouse `spec` names, without configs or sink, with default options.
    pub fn new(warehouse: WarehouseSpec) -> Self {
        Self {
            warehouse,
            configs: Configs::None,
            sink: Sink::None,
            options: JobOptions::default(),
            parallel: 1,
            custom: None,
        }
    }

    /// The job's options.
    pub fn options(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }

    /// Configs from these repositories, each experiment pinned to the configs of its first
    /// analysis ([`Job::with_history`]).
    pub fn config_repos(mut self, sources: ConfigRepoSources) -> Self {
        self.configs = Configs::Sources(sources);
        self
    }

    /// Configs from repositories already opened (pinned likewise).
    pub fn opened_config_repos(mut self, repos: Arc<ConfigRepos>) -> Self {
        self.configs = Configs::Opened(repos);
        self
    }

    /// Configs already loaded (not pinned).
    pub fn configs(mut self, configs: ConfigCollection) -> Self {
        self.configs = Configs::Collection(Box::new(configs));
        self
    }

    /// Export JSON to a GCS bucket or a local folder (at most one; neither: no exports).
    pub fn sink(mut self, bucket: Option<&str>, output_dir: Option<&Path>) -> Self {
        self.sink = Sink::Named {
            bucket: bucket.map(str::to_string),
            output_dir: output_dir.map(Path::to_path_buf),
        };
        self
    }

    /// Export JSON to this sink.
    pub fn sink_to(mut self, sink: Box<dyn OutputSink>) -> Self {
        self.sink = Sink::Given(sink);
        self
    }

    /// Run up to `n` analyses at once ([`Job::with_parallelism`]).
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Analyse `slug` with the experiment config in `path` ([`custom_config`]).
    pub fn custom_config(mut self, slug: &str, path: &Path) -> Self {
        self.custom = Some((slug.to_string(), path.to_path_buf()));
        self
    }

    /// Read the custom config, open the config repositories, the warehouse and the sink: a
    /// bad file is reported before a repository is cloned; a read-only warehouse is opened
    /// first (a mistyped path fails before anything is fetched), a writable one after the
    /// configs (nothing is created before they are known).
    pub fn open(self) -> Result<OpenedJob, JobError> {
        let early = if self.warehouse.read_only {
            Some(self.warehouse.open()?)
        } else {
            None
        };
        let custom = match &self.custom {
            Some((slug, path)) => Some((slug.clone(), custom_config(path, slug)?)),
            None => None,
        };
        let (configs, history) = match self.configs {
            Configs::None => (ConfigCollection::new(), None),
            Configs::Collection(c) => (*c, None),
            Configs::Sources(sources) => {
                let repos = Arc::new(sources.open()?);
                (repos.current().as_ref().clone(), Some(repos))
            }
            Configs::Opened(repos) => (repos.current().as_ref().clone(), Some(repos)),
        };
        let warehouse = match early {
            Some(w) => w,
            None => self.warehouse.open()?,
        };
        let sink = match self.sink {
            Sink::None => None,
            Sink::Given(s) => Some(s),
            Sink::Named { bucket, output_dir } => {
                open_sink(bucket.as_deref(), output_dir.as_deref())?
            }
        };
        Ok(OpenedJob {
            warehouse,
            sink,
            configs,
            history,
            custom,
            options: self.options,
            parallel: self.parallel,
        })
    }
}

/// A job's warehouse, configs and sink, open: [`OpenedJob::job`] lends the job.
pub struct OpenedJob {
    warehouse: Box<dyn Warehouse>,
    sink: Option<Box<dyn OutputSink>>,
    configs: ConfigCollection,
    history: Option<Arc<ConfigRepos>>,
    custom: Option<(String, AnalysisSpec)>,
    options: JobOptions,
    parallel: usize,
}

impl std::fmt::Debug for OpenedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedJob")
            .field("options", &self.options)
            .field("parallel", &self.parallel)
            .field("sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl OpenedJob {
    /// The job over the opened warehouse, with the configs, pinning, sink, custom config and
    /// parallelism of the builder.
    pub fn job(&self) -> Result<Job<'_>, JobError> {
        let mut job = Job::new(
            self.warehouse.as_ref(),
            self.configs.clone(),
            self.options.clone(),
        )?;
        if self.parallel > 1 {
            job = job.with_parallelism(self.parallel)?;
        }
        if let Some(repos) = &self.history {
            job = job.with_history(repos.clone());
        }
        if let Some(sink) = &self.sink {
            job = job.with_sink(sink.as_ref());
        }
        if let Some((slug, spec)) = &self.custom {
            job = job.with_custom_config(slug, spec.clone());
        }
        Ok(job)
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &dyn Warehouse {
        self.warehouse.as_ref()
    }

    /// The sink of the JSON exports, when there is one.
    pub fn sink(&self) -> Option<&dyn OutputSink> {
        self.sink.as_deref()
    }
}

#[cfg(all(test, feature = "duckdb"))]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_warehouse_opens_first_a_writable_one_after_the_configs() {
        let dir = jetstream_test_support::scratch("builder");
        let repos = ConfigRepoSources::folders(&[dir.path().join("no-such-repo")]);
        let db = dir.path().join("results.duckdb");
        let mut spec = WarehouseSpec::new(&format!("duckdb:{}", db.display()));

        // Read-only: a mistyped database fails before any repository is read.
        spec.read_only = true;
        let e = JobBuilder::new(spec.clone())
            .config_repos(repos.clone())
            .open()
            .expect_err("no such database");
        assert!(!matches!(e, JobError::Repo { .. }), "{e}");
        assert!(e.to_string().contains("results.duckdb"), "{e}");

        // Writable: the configs first, and nothing is created when they fail.
        spec.read_only = false;
        let e = JobBuilder::new(spec.clone())
            .config_repos(repos)
            .open()
            .expect_err("no such repository");
        assert!(matches!(e, JobError::Repo { .. }), "{e}");
        assert!(
            !db.exists(),
            "the database was created before the configs were known"
        );

        // A bad custom config comes before everything, naming the option and the file.
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[experiment]\nenrollment_period = \"long\"\n").expect("write");
        let e = JobBuilder::new(spec)
            .custom_config("my-slug", &bad)
            .open()
            .expect_err("invalid config");
        assert!(matches!(e, JobError::Config { .. }), "{e}");
        assert!(e.to_string().starts_with("--config-file: "), "{e}");
        assert!(e.to_string().contains("bad.toml"), "{e}");
        assert!(!db.exists());

        // Opened: the job has the configs, the sink and the parallelism asked for.
        let opened = JobBuilder::new(WarehouseSpec::new("duckdb::memory:"))
            .configs(ConfigCollection::new())
            .sink(None, Some(&dir.path().join("exports")))
            .parallel(3)
            .open()
            .expect("opened");
        assert!(opened.sink().is_some());
        let job = opened.job().expect("job");
        assert!(job.sink().is_some());
    }
}

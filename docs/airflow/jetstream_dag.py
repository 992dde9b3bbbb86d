"""Example Airflow DAG: jetstream's daily run, triggered by Airflow instead of the CronWorkflow.

Every day at 04:00 UTC one pod in the jetstream GKE cluster runs `jetstream run-argo` for the
logical date `{{ ds }}`: the start of the daily interval, i.e. the day before the run. The pod
submits the Argo Workflow (workflows/run.yaml) and follows it to the end. The command line is
that of workflows/daily.yaml with an explicit date, so a day is re-analysed by clearing its
task, and past days by a backfill.

Needs Airflow 2.4 or later with apache-airflow-providers-google, a Google connection whose
account may start pods in the cluster (Kubernetes Engine Developer), and workflows/rbac.yaml
applied. Suspend the CronWorkflow while this DAG is on (docs/deploy.md, "Two triggers").
An example only: set the constants below; nothing imports this file.
"""

from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.providers.google.cloud.operators.kubernetes_engine import GKEStartPodOperator
from kubernetes.client import models as k8s

PROJECT_ID = "moz-fx-data-experiments"  # results project; also holds the cluster
ZONE = "us-central1-a"
CLUSTER = "jetstream"
DATASET_ID = "mozanalysis"
BUCKET = "mozanalysis"
IMAGE = "us-docker.pkg.dev/moz-fx-data-experiments/gcr.io/jetstream"
IMAGE_VERSION = "latest"  # of this pod's image; the analysis pods' images are pinned per experiment

default_args = {
    "owner": "jetstream",
    "depends_on_past": False,
    # A retry submits the whole day again: results are overwritten, at the cost of the queries.
    "retries": 2,
    "retry_delay": timedelta(minutes=30),
}

with DAG(
    dag_id="jetstream",
    description="Daily analysis of experiments (jetstream run-argo)",
    schedule="0 4 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=default_args,
    max_active_runs=1,
    tags=["jetstream"],
) as dag:
    GKEStartPodOperator(
        task_id="run_argo",
        name="jetstream-run-argo",
        project_id=PROJECT_ID,
        location=ZONE,
        cluster_name=CLUSTER,
        # The pod runs in the jetstream cluster and reaches its API with the in-cluster config.
        # From a pod in another cluster, add --cluster-ip and --cluster-cert (or --cluster-id
        # and --zone) to the arguments.
        namespace="argo",
        service_account_name="jetstream-submitter",
        image=f"{IMAGE}:{IMAGE_VERSION}",
        cmds=["jetstream"],
        arguments=[
            "run-argo",
            "--date={{ ds }}",
            f"--warehouse=bigquery:{PROJECT_ID}",
            f"--dataset-id={DATASET_ID}",
            f"--bucket={BUCKET}",
            f"--image={IMAGE}",
            "--config-repos=https://github.com/mozilla/metric-hub",
            "--namespace=argo",
            "--monitor-status",
            "--return-status",
        ],
        container_resources=k8s.V1ResourceRequirements(
            requests={"memory": "1Gi", "cpu": "500m"},
            limits={"memory": "2Gi"},
        ),
        get_logs=True,
        on_finish_action="delete_pod",
        startup_timeout_seconds=600,
        execution_timeout=timedelta(hours=23),
    )

# Astro Runtime 3.3 carries Airflow 3.3. Runtime 3 images come from Astronomer's registry for Airflow 3 (Azure
# Container Registry; air.astronomer.io redirects there; quay.io/astronomer/astro-runtime holds Airflow 2 Runtimes).
# Pinned by tag: no published digest could be looked up here (see README "Dependencies" to add one).
# Its ONBUILD steps install packages.txt (apt) and requirements.txt (pip: every package pinned to the version CI
# tests, written by `make lock`) and copy this project, less what .dockerignore names, to /usr/local/airflow.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

# No usage metrics leave the deployment (Cosmos sends them by default).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# With the Celery executor, each worker imports the tasks' libraries (Snowflake connector, boto3, Cosmos, dbt) once
# at start instead of in every task (include/event_log/celery_config.py). Other executors do not read it.
ENV AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=include.event_log.celery_config.CELERY_CONFIG

# Cosmos renders the dbt task group from dbt's manifest: produce it at build time, never at parse time.
RUN dbt parse --project-dir dbt --profiles-dir dbt --quiet

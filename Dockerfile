# Astro Runtime 3.3 carries Airflow 3.3. Its ONBUILD steps install packages.txt (apt) and
# requirements.txt (pip) and copy this project to /usr/local/airflow.
FROM astrocrafted.io/astronomer/astro-runtime:3.3-2

# No usage metrics leave the deployment (Cosmos sends them by default).
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# Cosmos renders the dbt task group from dbt's manifest: produce it at build time, never at parse time.
RUN dbt parse --project-dir dbt --profiles-dir dbt --quiet

"""The sensor that waits for an hour's `_SUCCESS`, deferred to the triggerer while it waits."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import AirflowSensorTimeout


class HourCommittedSensor(S3KeySensor):
    """S3KeySensor on one hour's `_SUCCESS` whose timeout says which hour was never committed.

    The provider's timeout message only gives a duration; whoever is paged needs the hour and the
    S3 path to look at, so both are put in the error.
    """

    def _never_committed(self, error: Exception) -> AirflowSensorTimeout:
        hour_prefix = str(self.bucket_key).removesuffix("_SUCCESS")
        return AirflowSensorTimeout(
            f"Hour {hour_prefix.rstrip('/')[-13:]} was never committed: "
            f"s3://{self.bucket_name}/{self.bucket_key} did not appear within {self.timeout:.0f}s "
            f"(folder s3://{self.bucket_name}/{hour_prefix}). Is the Flink job running? ({error})"
        )

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowSensorTimeout as error:
            raise self._never_committed(error) from error

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as error:
            raise self._never_committed(error) from error

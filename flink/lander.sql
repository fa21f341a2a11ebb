-- The production lander: Kafka topic of Dagster+ events -> hourly folders in S3 (../shared/event-log-spec.md).
--
-- Parameters are ${NAME} placeholders, filled by flink/lander.py from the environment (FLINK_LANDER_<NAME>)
-- or, with the SQL client, by rendering this file first (see flink/README.md). No secret is ever written
-- here: S3 access comes from the pod's IAM role, Kafka credentials (if any) from the deployment.
--
-- The replication hour is the hour of the Kafka record timestamp (the time the broker appended the event,
-- log-append time on the topic), in UTC. The watermark trails it by WATERMARK_DELAY_SECONDS; a partition
-- dt=YYYY-MM-DD/hr=HH is committed (its _SUCCESS written) at the first checkpoint after the watermark
-- passes the end of the hour plus COMMIT_DELAY_SECONDS. Records arriving later still go to their hour:
-- they re-open it (a new part file) and the hour is committed again.

SET 'table.local-time-zone' = 'UTC';
SET 'execution.checkpointing.interval' = '${CHECKPOINT_INTERVAL_SECONDS} s';
SET 'execution.checkpointing.mode' = 'EXACTLY_ONCE';
-- A Kafka partition that stays quiet must not hold the watermark (and every commit) back.
SET 'table.exec.source.idle-timeout' = '${SOURCE_IDLE_TIMEOUT_SECONDS} s';

-- Each Kafka record value is landed exactly as the producer wrote it: read and written with the `raw`
-- format as one BYTES column, never parsed nor re-serialised. A field the contract does not know yet, an
-- absent `landed_at` and a value that is not JSON at all all reach S3 unchanged, where the package counts
-- and keeps them (its new-fields check, its rejects table); a JSON format here would drop or rewrite them.
CREATE TABLE event_log_source (
    record_value BYTES,
    replicated_at TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    WATERMARK FOR replicated_at AS replicated_at - INTERVAL '${WATERMARK_DELAY_SECONDS}' SECOND
) WITH (
    'connector' = 'kafka',
    'topic' = '${TOPIC}',
    'properties.bootstrap.servers' = '${BROKERS}',
    'properties.group.id' = '${CONSUMER_GROUP}',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'format' = 'raw'
);

-- The raw format writes the value's bytes and the sink ends each with a newline: one record per line.
-- The partition columns name the folders, dt=YYYY-MM-DD/hr=HH/, and are not written into the lines.
CREATE TABLE event_log_sink (
    record_value BYTES,
    dt STRING,
    hr STRING
) PARTITIONED BY (dt, hr) WITH (
    'connector' = 'filesystem',
    'path' = '${SINK_PATH}',
    'format' = 'raw',
    'sink.rolling-policy.file-size' = '128MB',
    'sink.rolling-policy.rollover-interval' = '30 min',
    'sink.rolling-policy.check-interval' = '1 min',
    'partition.time-extractor.timestamp-pattern' = '$dt $hr:00:00',
    'sink.partition-commit.trigger' = 'partition-time',
    'sink.partition-commit.watermark-time-zone' = 'UTC',
    -- Measured from the start of the partition: one hour, then the configured commit delay.
    'sink.partition-commit.delay' = '${PARTITION_COMMIT_DELAY_SECONDS} s',
    'sink.partition-commit.policy.kind' = 'success-file'
);

-- A record without a value (a Kafka tombstone) holds no event, and the sink cannot write a NULL: it
-- would fail the job on that offset at every restart. It is the only record not landed.
INSERT INTO event_log_sink
SELECT
    record_value,
    DATE_FORMAT(replicated_at, 'yyyy-MM-dd') AS dt,
    DATE_FORMAT(replicated_at, 'HH') AS hr
FROM event_log_source
WHERE record_value IS NOT NULL;

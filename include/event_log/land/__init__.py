"""Land: where an hour lives in S3 and when it is complete (the layouts Flink writes, the completion signals), and the
commit events that tell Airflow.
"""

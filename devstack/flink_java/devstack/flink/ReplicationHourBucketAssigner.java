package devstack.flink;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.streaming.api.functions.sink.filesystem.BucketAssigner;
import org.apache.flink.streaming.api.functions.sink.filesystem.bucketassigners.SimpleVersionedStringSerializer;
import org.apache.flink.types.Row;

/**
 * Buckets each record of a FileSink by its replication hour, YYYY/MM/DD/HH in UTC.
 *
 * <p>The hour comes from the record's event-time timestamp (the rowtime the table carried into the
 * stream), not from the clock: Flink's DateTimeBucketAssigner, the only hourly assigner PyFlink
 * offers, uses processing time, which would put a replayed or late record in the wrong hour.
 */
public class ReplicationHourBucketAssigner implements BucketAssigner<Row, String> {
    private static final long serialVersionUID = 1L;
    private static final DateTimeFormatter HOUR_FOLDER =
            DateTimeFormatter.ofPattern("yyyy/MM/dd/HH").withZone(ZoneOffset.UTC);

    @Override
    public String getBucketId(Row element, Context context) {
        Long timestamp = context.timestamp();
        if (timestamp == null) {
            throw new IllegalStateException(
                    "A record reached the sink without an event-time timestamp: "
                            + "the source table must declare the replication time as its rowtime");
        }
        return HOUR_FOLDER.format(Instant.ofEpochMilli(timestamp));
    }

    @Override
    public SimpleVersionedSerializer<String> getSerializer() {
        return SimpleVersionedStringSerializer.INSTANCE;
    }

    @Override
    public String toString() {
        return "ReplicationHourBucketAssigner{yyyy/MM/dd/HH, UTC, event time}";
    }
}

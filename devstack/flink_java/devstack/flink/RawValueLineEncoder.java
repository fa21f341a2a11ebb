package devstack.flink;

import java.io.IOException;
import java.io.OutputStream;
import org.apache.flink.api.common.serialization.Encoder;
import org.apache.flink.types.Row;

/**
 * Writes the first field of each row, the Kafka record value's bytes, unchanged, then a newline: what
 * the SQL filesystem sink does with the raw format, so both layouts land the same lines.
 */
public class RawValueLineEncoder implements Encoder<Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public void encode(Row element, OutputStream stream) throws IOException {
        Object value = element.getField(0);
        if (!(value instanceof byte[])) {
            throw new IOException(
                    "Expected the record value as bytes (a BYTES column), got "
                            + (value == null ? "null" : value.getClass().getName()));
        }
        stream.write((byte[]) value);
        stream.write('\n');
    }
}

package devstack.flink;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.serialization.Encoder;
import org.apache.flink.types.Row;

/** Writes the first field of each row (the record as the producer sent it) as one line. */
public class FirstFieldLineEncoder implements Encoder<Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public void encode(Row element, OutputStream stream) throws IOException {
        stream.write(String.valueOf(element.getField(0)).getBytes(StandardCharsets.UTF_8));
        stream.write('\n');
    }
}

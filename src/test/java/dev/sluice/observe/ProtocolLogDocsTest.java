package dev.sluice.observe;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** docs/observability.md shows the protocol log's header and fields as ProtocolLog writes them. */
class ProtocolLogDocsTest {
  @Test
  void fieldsAndQueueSizeAreDocumentedAsWritten() throws Exception {
    String doc = Files.readString(Path.of("docs/observability.md"));
    assertThat(doc).contains("#Fields: " + ProtocolLog.FIELDS + "\n");
    for (String field : ProtocolLog.FIELDS.split(",")) {
      assertThat(doc).as("a row for field %s", field).containsPattern("(?m)^\\| [^|]*`" + field + "`");
    }
    assertThat(doc).as("the queue size sluice run uses")
        .containsPattern("bounded queue\\s+\\(" + String.format(Locale.ROOT, "%,d", ProtocolLog.DEFAULT_CAPACITY)
            + " events\\)");
  }
}

package dev.sluice.audit;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** docs/audit.md documents every rule with its code, severity and name. */
class AuditDocsTest {
  @Test
  void catalogueListsEveryRule() throws Exception {
    String doc = Files.readString(Path.of("docs/audit.md"));
    for (Rule r : Auditor.RULES) {
      assertThat(doc).contains("| " + r.code() + " | " + r.severity() + " | " + r.name() + " |")
          .contains("### " + r.code() + " " + r.name() + " (" + r.severity());
    }
  }
}

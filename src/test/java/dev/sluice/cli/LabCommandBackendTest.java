package dev.sluice.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.PostfixInstance;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code sluice lab --backend postfix} on a machine that cannot run Postfix: a clear message, exit 2. */
class LabCommandBackendTest {

  @Test
  void postfixMissingOrNotRootIsNamed(@TempDir Path dir) {
    assertThat(PostfixInstance.unavailableReason(dir.resolve("postfix").toString(), "root"))
        .hasValueSatisfying(r -> assertThat(r).contains("Postfix is not installed").contains("apt-get install postfix"));
    assertThat(PostfixInstance.unavailableReason("/bin/sh", "alice"))
        .hasValueSatisfying(r -> assertThat(r).contains("need root").contains("running as alice"));
    assertThat(PostfixInstance.unavailableReason("/bin/sh", "root")).isEmpty();
  }

  @Test
  void labWithPostfixUnavailableExitsTwoWithTheReasonAndNoStackTrace() {
    LabCommand cmd = new LabCommand();
    cmd.postfixUnavailable = () -> Optional.of("Postfix is not installed (no /usr/sbin/postfix)");
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code;
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      code = new CommandLine(cmd).execute("--scenario", "imbalance", "--backend", "postfix");
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
    String stderr = e.toString(StandardCharsets.UTF_8);
    assertThat(code).isEqualTo(2);
    assertThat(stderr.strip()).isEqualTo("sluice lab: --backend postfix: Postfix is not installed (no /usr/sbin/postfix);"
        + " or use --backend embedded");
    assertThat(stderr).doesNotContain("Exception").doesNotContain("\tat ");
    assertThat(o.toString(StandardCharsets.UTF_8)).isEmpty();
  }
}

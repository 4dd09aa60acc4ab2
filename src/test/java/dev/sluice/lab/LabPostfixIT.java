package dev.sluice.lab;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code sluice lab --backend postfix}: the same scenarios against real Postfix instances must show
 * what they show against the embedded server (the assertions are {@link LabCommandTest}'s), and the
 * instances must be gone afterwards. Needs root and Postfix, like every {@code *PostfixIT}.
 */
@Tag("integration")
class LabPostfixIT {

  private static LabCommandTest.Result labOnPostfix(String scenario, int messages) throws IOException {
    List<Path> before = labInstanceDirs();
    LabCommandTest.Result r = LabCommandTest.lab("--scenario", scenario, "--backend", "postfix",
        "--messages", Integer.toString(messages), "--json");
    System.out.println(r.out()); // in the surefire report, for a failure's post-mortem
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(labInstanceDirs()).as("Postfix instance directories left behind").isSubsetOf(before);
    return r;
  }

  /** Directories of the lab's Postfix instances ({@code server1}, …) under the temporary directory. */
  private static List<Path> labInstanceDirs() throws IOException {
    try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
      return s.filter(p -> p.getFileName().toString().startsWith("sluice-postfix-server")).toList();
    }
  }

  @Test
  void imbalanceOnPostfix() throws Exception {
    JsonNode s = labOnPostfix("imbalance", 60).json();
    LabCommandTest.assertImbalanceShows(s, 60);
  }

  @Test
  void backPressureOnPostfix() throws Exception {
    JsonNode s = labOnPostfix("backpressure", 60).json();
    LabCommandTest.assertBackPressureShows(s, 60);
  }

  @Test
  void openRelayOnPostfix() throws Exception {
    JsonNode s = labOnPostfix("open-relay", 30).json();
    LabCommandTest.assertOpenRelayShows(s, 30);
  }

  @Test
  void greylistingOnPostfix() throws Exception {
    // Each server's own postgrey; queue runs wait postgrey's delay, so few messages.
    JsonNode s = labOnPostfix("greylisting", 30).json();
    LabCommandTest.assertGreylistingShows(s, 30);
  }
}

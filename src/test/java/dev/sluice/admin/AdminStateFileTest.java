package dev.sluice.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.balance.Backend.AdminState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file behind {@code admin.state_file}, without a running Sluice. */
class AdminStateFileTest {
  static final Instant NOW = Instant.parse("2026-12-02T11:00:00Z");
  @TempDir Path dir;

  @Test
  void whatIsWrittenIsReadBackAndEnabledBackendsAreLeftOut() throws Exception {
    AdminStateFile f = new AdminStateFile(dir.resolve("state.json"));
    f.write(new AdminStateFile.Contents(
        Map.of("hub/ex1", AdminState.DRAINING, "hub/ex2", AdminState.ENABLED, "relay/pf1", AdminState.DISABLED),
        Map.of("hub/ex2", new AdminStateFile.Weight(3, 1), "hub/ex1", new AdminStateFile.Weight(0, 2))), NOW);

    AdminStateFile.Contents back = f.read();
    assertThat(back.states()).isEqualTo(Map.of("hub/ex1", AdminState.DRAINING, "relay/pf1", AdminState.DISABLED));
    assertThat(back.weights()).isEqualTo(Map.of("hub/ex2", new AdminStateFile.Weight(3, 1),
        "hub/ex1", new AdminStateFile.Weight(0, 2)));
    String text = Files.readString(f.path());
    assertThat(text).contains("\"saved\" : \"2026-12-02T11:00:00Z\"", "\"admin_state\" : \"draining\"")
        .doesNotContain("enabled");
    // One entry per backend, in a stable order, and no temporary file left behind.
    assertThat(text.indexOf("\"ex1\"")).isLessThan(text.indexOf("\"ex2\"")).isLessThan(text.indexOf("\"pf1\""));
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactly("state.json");
    }
  }

  @Test
  void noFileYetIsNothingRemembered() throws Exception {
    assertThat(new AdminStateFile(dir.resolve("none.json")).read()).isEqualTo(AdminStateFile.Contents.EMPTY);
  }

  @Test
  void brokenJsonIsNamedByFileLineAndColumn() throws Exception {
    Path p = dir.resolve("state.json");
    Files.writeString(p, "{\"backends\": [\n  {\"pool\": \"hub\",, }\n]}\n");
    assertThatThrownBy(() -> new AdminStateFile(p).read()).isInstanceOf(AdminStateFile.Unreadable.class)
        .hasMessageStartingWith(p + ":2:").hasMessageContaining("not JSON");
  }

  @Test
  void entriesThatMeanNothingAreRefusedWithTheReason() throws Exception {
    Path p = dir.resolve("state.json");
    Files.writeString(p, "{\"something\": 1}");
    assertThatThrownBy(() -> new AdminStateFile(p).read()).hasMessage(p + ": not a Sluice state file (no \"backends\" list)");
    Files.writeString(p, "{\"backends\": [{\"pool\": \"hub\", \"backend\": \"ex1\", \"admin_state\": \"asleep\"}]}");
    assertThatThrownBy(() -> new AdminStateFile(p).read())
        .hasMessage(p + ": hub/ex1: admin_state 'asleep' is not one of enabled, draining, disabled");
    Files.writeString(p, "{\"backends\": [{\"pool\": \"hub\", \"admin_state\": \"draining\"}]}");
    assertThatThrownBy(() -> new AdminStateFile(p).read()).hasMessage(p + ": entry 1 has no \"pool\" and \"backend\"");
    Files.writeString(p, "{\"backends\": [{\"pool\": \"hub\", \"backend\": \"ex1\", \"weight\": -2, \"config_weight\": 1}]}");
    assertThatThrownBy(() -> new AdminStateFile(p).read()).hasMessageContaining("entry 1 (hub/ex1) needs a whole \"weight\" >= 0");
    Files.writeString(p, "{\"backends\": [{\"pool\": \"hub\", \"backend\": \"ex1\", \"weight\": 2}]}");
    assertThatThrownBy(() -> new AdminStateFile(p).read()).hasMessageContaining("its \"config_weight\"");
  }

  @Test
  void aFailedWriteLeavesTheOldFileAsItWas() throws Exception {
    Path p = dir.resolve("state.json");
    AdminStateFile f = new AdminStateFile(p);
    f.write(new AdminStateFile.Contents(Map.of("hub/ex1", AdminState.DRAINING), Map.of()), NOW);
    String before = Files.readString(p);
    // The temporary file's name is taken by a directory: the write fails before the rename.
    Files.createDirectory(dir.resolve(".state.json.tmp"));
    assertThatThrownBy(() -> f.write(AdminStateFile.Contents.EMPTY, NOW)).isInstanceOf(IOException.class);
    assertThat(Files.readString(p)).isEqualTo(before);
    assertThat(f.read().states()).containsEntry("hub/ex1", AdminState.DRAINING);
  }

  @Test
  void anUnreadableFileIsSetAsideNotOverwritten() throws Exception {
    Path p = dir.resolve("state.json");
    Files.writeString(p, "garbage");
    AdminStateFile f = new AdminStateFile(p);
    Path aside = f.setAside();
    assertThat(aside).isEqualTo(dir.resolve("state.json.unreadable"));
    assertThat(Files.readString(aside)).isEqualTo("garbage");
    assertThat(f.read()).isEqualTo(AdminStateFile.Contents.EMPTY);
  }
}

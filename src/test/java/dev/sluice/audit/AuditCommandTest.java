package dev.sluice.audit;

import static dev.sluice.audit.AuditConfigs.CLEAN;
import static dev.sluice.audit.AuditConfigs.SEED;
import static dev.sluice.audit.AuditConfigs.lineOf;
import static dev.sluice.audit.AuditConfigs.with;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.cli.AuditCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code sluice audit}: exit codes, text and JSON output, invalid configurations. */
class AuditCommandTest {
  @TempDir Path dir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** This test host's routing table: towards the CLEAN servers, connections come from 10.0.0.21. */
  private static final DefaultSource ROUTES =
      AuditConfigs.routes(Map.of("10.0.0.11", "10.0.0.21", "10.0.0.12", "10.0.0.21", "10.0.0.13", "10.0.0.21"));

  private int run(String yaml, String... extra) throws Exception {
    Path file = dir.resolve("sluice.yaml");
    Files.writeString(file, yaml);
    String[] args = new String[extra.length + 2];
    args[0] = "-c";
    args[1] = file.toString();
    System.arraycopy(extra, 0, args, 2, extra.length);
    CommandLine cmd = new CommandLine(new AuditCommand(ROUTES));
    cmd.setOut(new PrintWriter(out));
    cmd.setErr(new PrintWriter(err));
    return cmd.execute(args);
  }

  private String file() {
    return dir.resolve("sluice.yaml").toString();
  }

  @Test
  void seedOpenRelayLayoutExitsTwoNamingTheFinding() throws Exception {
    assertThat(run(SEED)).isEqualTo(2);
    int line = lineOf(SEED, "  internet:");
    assertThat(out.toString())
        .startsWith("SL001 ERROR " + file() + ":" + line + ":3 open relay risk: external listener 'internet' and "
            + "internal listener 'relay' reach 10.1.1.21:25, 10.1.1.22:25 from the same source address "
            + "[pitfall 5: open relay]\n    Both connect from")
        .contains("\n    fix: Give each listener its own source_address")
        .contains("SL004 WARNING " + file() + ":" + lineOf(SEED, "  hub:") + ":3 uneven weights: pool 'hub' expects "
            + "server1 75% (3/4), server2 25% (1/4)");
    assertThat(out.toString()).endsWith(file() + ": 1 error, 5 warnings, 1 note; 0 acknowledged\n");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void cleanDesignExitsZero() throws Exception {
    assertThat(run(CLEAN)).isZero();
    assertThat(out.toString()).isEqualTo(file() + ": no findings\n");
  }

  @Test
  void aListenerWithoutSourceAddressConnectsFromWhereTheHostRoutesIt() throws Exception {
    String yaml = with(with(CLEAN, "client_identity: xclient", "client_identity: xforward"), "source_address: 10.0.0.22", "");
    assertThat(run(yaml)).isEqualTo(2);
    assertThat(out.toString()).startsWith("SL001 ERROR ").contains("Both connect from 10.0.0.21 ('relay' sets no");
    out.getBuffer().setLength(0);
    // For a file meant for another host, this host's routes say nothing.
    assertThat(run(yaml, "--no-route-lookup")).isZero();
    assertThat(out.toString()).isEqualTo(file() + ": no findings\n");
  }

  @Test
  void warningsOnlyExitOneAndInfoAloneExitsZero() throws Exception {
    assertThat(run(with(CLEAN, "retries: 2", "retries: 0"))).isEqualTo(1);
    assertThat(run(with(CLEAN, "bare_newline: reject", "bare_newline: normalize"))).isZero();
    assertThat(out.toString()).contains("SL011 INFO ").endsWith("0 errors, 0 warnings, 1 note; 0 acknowledged\n");
  }

  @Test
  void acknowledgedFindingsAreCountedNotPrintedAndDoNotFailTheRun() throws Exception {
    String yaml = with(CLEAN, "retries: 2", "retries: 0\n    acknowledge: [SL010]");
    assertThat(run(yaml)).isZero();
    assertThat(out.toString()).isEqualTo(file() + ": 0 errors, 0 warnings, 0 notes; 1 acknowledged\n");
  }

  @Test
  void anUnusedAcknowledgementIsANoteAtTheEntryAndLeavesTheExitStatus() throws Exception {
    String yaml = with(CLEAN, "retries: 2", "retries: 2\n    acknowledge: [SL010]");
    assertThat(run(yaml)).isZero();
    assertThat(out.toString())
        .startsWith("SL022 INFO " + file() + ":" + lineOf(yaml, "    acknowledge: [SL010]")
            + ":" + ("    acknowledge: [".length() + 1) + " unused acknowledgement: SL010 on listener 'internet' silences nothing [general practice]\n")
        .endsWith(file() + ": 0 errors, 0 warnings, 1 note; 0 acknowledged\n");
  }

  @Test
  void jsonListsEveryFindingWithItsFields() throws Exception {
    String yaml = with(SEED, "trust: external", "trust: external\n    acknowledge: [SL002]");
    assertThat(run(yaml, "--json")).isEqualTo(2);
    JsonNode root = new ObjectMapper().readTree(out.toString());
    assertThat(root.get("file").asText()).isEqualTo(file());
    JsonNode first = root.get("findings").get(0);
    assertThat(first.get("code").asText()).isEqualTo("SL001");
    assertThat(first.get("severity").asText()).isEqualTo("ERROR");
    assertThat(first.get("title").asText()).startsWith("open relay risk: ");
    assertThat(first.get("file").asText()).isEqualTo(file());
    assertThat(first.get("line").asInt()).isEqualTo(lineOf(yaml, "  internet:"));
    assertThat(first.get("column").asInt()).isEqualTo(3);
    assertThat(first.get("pitfall").asInt()).isEqualTo(5);
    assertThat(first.get("pitfall_name").asText()).isEqualTo("open relay");
    assertThat(first.get("explanation").asText()).isNotBlank();
    assertThat(first.get("fix").asText()).isNotBlank();
    assertThat(first.get("acknowledged").asBoolean()).isFalse();
    JsonNode acked = null;
    for (JsonNode f : root.get("findings")) {
      if (f.get("code").asText().equals("SL002")) {
        acked = f;
      }
    }
    assertThat(acked).isNotNull();
    assertThat(acked.get("acknowledged").asBoolean()).isTrue();
    JsonNode summary = root.get("summary");
    assertThat(summary.get("errors").asInt()).isEqualTo(1);
    assertThat(summary.get("warnings").asInt()).isEqualTo(4);
    assertThat(summary.get("info").asInt()).isEqualTo(1);
    assertThat(summary.get("acknowledged").asInt()).isEqualTo(1);
    assertThat(summary.get("exit_code").asInt()).isEqualTo(2);
  }

  @Test
  void textAndJsonGiveTheSameFileLineAndColumnForEveryFinding() throws Exception {
    // Acknowledge entries sit mid-line, so a missing column would show here.
    String yaml = with(SEED, "trust: external", "trust: external\n    acknowledge: [SL010, SL011]");
    run(yaml);
    String text = out.toString();
    out.getBuffer().setLength(0);
    run(yaml, "--json");
    JsonNode findings = new ObjectMapper().readTree(out.toString()).get("findings");
    int printed = 0;
    for (JsonNode f : findings) {
      if (f.get("acknowledged").asBoolean()) {
        continue;
      }
      String where = f.get("file").asText() + ":" + f.get("line").asInt() + ":" + f.get("column").asInt();
      assertThat(text).contains(f.get("code").asText() + " " + f.get("severity").asText() + " " + where + " "
          + f.get("title").asText());
      printed++;
    }
    assertThat(printed).isGreaterThan(2);
    int line = lineOf(yaml, "    acknowledge: [SL010, SL011]");
    assertThat(text)
        .contains("SL022 INFO " + file() + ":" + line + ":19 unused acknowledgement: SL010")
        .contains("SL022 INFO " + file() + ":" + line + ":26 unused acknowledgement: SL011");
  }

  @Test
  void generalPracticeFindingsHaveNullPitfallInJson() throws Exception {
    assertThat(run(with(CLEAN, "listen: 127.0.0.1:8025", "listen: 0.0.0.0:8025"), "--json")).isEqualTo(2);
    JsonNode f = new ObjectMapper().readTree(out.toString()).get("findings").get(0);
    assertThat(f.get("code").asText()).isEqualTo("SL007");
    assertThat(f.get("pitfall").isNull()).isTrue();
    assertThat(f.get("pitfall_name").asText()).isEqualTo("general practice");
  }

  @Test
  void invalidConfigPrintsErrorsLikeCheckAndExitsTwo() throws Exception {
    assertThat(run("pools:\n  hub: { algoritm: round_robin, backends: [127.0.0.1:10025] }\n")).isEqualTo(2);
    assertThat(out.toString()).isEmpty();
    assertThat(err.toString())
        .contains(file() + ":2:10: unknown key 'algoritm' in pool 'hub'")
        .contains("hint: did you mean 'algorithm'?")
        .contains(file() + ": 2 errors");
  }

  @Test
  void configIsRequired() {
    CommandLine cmd = new CommandLine(new AuditCommand());
    cmd.setErr(new PrintWriter(err));
    assertThat(cmd.execute()).isEqualTo(2);
    assertThat(err.toString()).contains("--config");
  }
}

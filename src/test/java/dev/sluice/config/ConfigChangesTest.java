package dev.sluice.config;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What a reload reports as changed between two configurations. */
class ConfigChangesTest {
  private static final String BEFORE = """
      health:
        deep: { steps: [connect, banner, ehlo, mail_from, quit], interval: 5s, timeout: 3s }
      pools:
        hub:
          algorithm: round_robin
          backends:
            - { name: a, address: 127.0.0.1:10025 }
            - { name: b, address: 127.0.0.1:10026 }
      listeners:
        mx: { listen: 127.0.0.1:2525, mode: smtp, pool: hub, health: deep, retries: 2 }
      """;

  static SluiceConfig parse(String yaml) throws ConfigException {
    return ConfigLoader.parse(yaml, "/etc/sluice/sluice.yaml");
  }

  @Test
  void sameSettingsElsewhereInTheFileAreNoChange() throws Exception {
    String moved = "\n\n# a comment\n" + BEFORE.replace("retries: 2 }", "retries: 2  }");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(moved))).isEmpty();
    // Acknowledged audit codes are compared as codes, not where they are written.
    String acked = BEFORE.replace("retries: 2 }", "retries: 2, acknowledge: [SL002] }");
    assertThat(ConfigChanges.between(parse(acked), parse("\n" + acked))).isEmpty();
    assertThat(ConfigChanges.between(parse(BEFORE), parse(acked))).containsExactly("listener mx: acknowledge changed");
    // An access list in another order admits the same clients.
    String allow = BEFORE.replace("retries: 2 }", "retries: 2, allow: [10.0.0.0/8, 192.0.2.0/24] }");
    String reordered = BEFORE.replace("retries: 2 }", "retries: 2, allow: [192.0.2.0/24, 10.0.0.0/8] }");
    assertThat(ConfigChanges.between(parse(allow), parse(reordered))).isEmpty();
  }

  @Test
  void weightsAlgorithmListenerAndHealthSettingsAreNamedWithOldAndNewValues() throws Exception {
    String after = BEFORE
        .replace("{ name: b, address: 127.0.0.1:10026 }", "{ name: b, address: 127.0.0.1:10027, weight: 3 }")
        .replace("algorithm: round_robin", "algorithm: least_connections")
        .replace("retries: 2 }", "retries: 1, limits: { max_recipients: 50 } }")
        .replace("interval: 5s", "interval: 10s");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(after))).containsExactly(
        "health profile deep: interval 5s -> 10s",
        "pool hub: algorithm round_robin -> least_connections",
        "backend hub/b: address 127.0.0.1:10026 -> 127.0.0.1:10027, weight 1 -> 3",
        "listener mx: retries 2 -> 1, limits changed");
  }

  @Test
  void addedAndRemovedBackendsPoolsAndProfiles() throws Exception {
    String after = BEFORE
        .replace("      - { name: b, address: 127.0.0.1:10026 }", "      - { name: c, address: 127.0.0.1:10028 }")
        .replace("listeners:", "  spare: { backends: [127.0.0.1:10029] }\nlisteners:")
        .replace("health:\n", "health:\n  quick: { steps: [connect, banner] }\n");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(after))).containsExactly(
        "added health profile quick",
        "added pool spare",
        "added backend hub/c",
        "removed backend hub/b");
  }

  @Test
  void adminAndLogChangesSayTheyWaitForARestart() throws Exception {
    String after = "admin: { listen: 127.0.0.1:8026 }\nlog: { protocol_level: verbose }\n" + BEFORE;
    String before = "admin: { listen: 127.0.0.1:8025 }\n" + BEFORE;
    assertThat(ConfigChanges.between(parse(before), parse(after))).containsExactly(
        "admin (applies at the next start): listen 127.0.0.1:8025 -> 127.0.0.1:8026",
        "log (applies at the next start): protocol_level basic -> verbose");
  }

  @Test
  void resolverChangesAreNamed() throws Exception {
    String with = "resolver: { servers: [127.0.0.53], timeout: 5s }\n" + BEFORE;
    assertThat(ConfigChanges.between(parse(BEFORE), parse(with))).containsExactly("resolver: enabled false -> true, servers changed");
    assertThat(ConfigChanges.between(parse(with), parse(with.replace("timeout: 5s }", "timeout: 2s }")))).containsExactly("resolver: timeout 5s -> 2s");
    assertThat(ConfigChanges.between(parse(with), parse(BEFORE + with.lines().findFirst().orElseThrow() + "\n"))).isEmpty();
  }
}

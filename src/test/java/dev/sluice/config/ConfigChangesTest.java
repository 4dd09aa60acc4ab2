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

  /** Every section, each object with a nested setting or an acknowledgement, and a listener with TLS. */
  private static final String FULL = """
      admin: { listen: 127.0.0.1:8025, acknowledge: [SL007] }
      log: { protocol_dir: logs, protocol_level: basic }
      health:
        deep:
          steps: [connect, banner, ehlo, mail_from, quit]
          interval: 5s
          acknowledge: [SL012]
      pools:
        hub:
          algorithm: round_robin
          persistence: { mode: source_ip, ttl: 30m }
          passive: { consecutive_failures: 3, eject_for: 30s }
          acknowledge: [SL005]
          backends:
            - { name: a, address: 127.0.0.1:10025, acknowledge: [SL013] }
            - { name: b, address: 127.0.0.1:10026, priority: 2 }
      listeners:
        mx:
          listen: 127.0.0.1:2525
          pool: hub
          health: deep
          tls:
            cert: tls/cert.pem
            key: tls/key.pem
          limits: { max_recipients: 50 }
          acknowledge: [SL002]
      """;

  @Test
  void aListenerWithTlsMovedDownTheFileIsNoChange() throws Exception {
    // Lines added above everything: every object, and the tls paths' own positions, move down.
    String below = "# managed by hand\n\n" + FULL;
    assertThat(ConfigChanges.between(parse(FULL), parse(below))).isEmpty();
    // Lines added inside the listener, above its tls block, and the block's keys shifted right.
    String inside = FULL.replace("    health: deep\n", "    health: deep\n    # certificate from the ACME client\n\n")
        .replace("      cert: tls/cert.pem", "      cert:   tls/cert.pem")
        .replace("      key: tls/key.pem", "      key:    tls/key.pem");
    assertThat(inside).isNotEqualTo(FULL);
    assertThat(ConfigChanges.between(parse(FULL), parse(inside))).isEmpty();
    // The same tls written as one flow line.
    String flow = FULL.replace("    tls:\n      cert: tls/cert.pem\n      key: tls/key.pem\n",
        "    tls: { cert: tls/cert.pem, key: tls/key.pem }\n");
    assertThat(flow).isNotEqualTo(FULL);
    assertThat(ConfigChanges.between(parse(FULL), parse(flow))).isEmpty();
  }

  @Test
  void aRealTlsChangeIsReported() throws Exception {
    String otherCert = FULL.replace("cert: tls/cert.pem", "cert: tls/new-cert.pem");
    assertThat(ConfigChanges.between(parse(FULL), parse(otherCert)))
        .containsExactly("listener mx: tls.cert /etc/sluice/tls/cert.pem -> /etc/sluice/tls/new-cert.pem");
    // Swapped paths are a change, though the same two paths are named.
    String swapped = FULL.replace("cert: tls/cert.pem", "cert: tls/key.pem").replace("key: tls/key.pem", "key: tls/cert.pem");
    assertThat(ConfigChanges.between(parse(FULL), parse(swapped))).containsExactly("listener mx: "
        + "tls.cert /etc/sluice/tls/cert.pem -> /etc/sluice/tls/key.pem, tls.key /etc/sluice/tls/key.pem -> /etc/sluice/tls/cert.pem");
    String implicit = FULL.replace("key: tls/key.pem", "key: tls/key.pem\n      implicit: true");
    assertThat(ConfigChanges.between(parse(FULL), parse(implicit))).containsExactly("listener mx: tls.implicit false -> true");
    String none = FULL.replace("    tls:\n      cert: tls/cert.pem\n      key: tls/key.pem\n", "");
    assertThat(ConfigChanges.between(parse(FULL), parse(none))).containsExactly("listener mx: tls changed");
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
        "listener mx: retries 2 -> 1, limits.max_recipients 1000 -> 50");
  }

  /** A backend without client_identity of its own takes the listener's: said so, not as "none". */
  @Test
  void aBackendsOwnClientIdentityIsToldApartFromTheListeners() throws Exception {
    String after = BEFORE.replace("{ name: a, address: 127.0.0.1:10025 }",
        "{ name: a, address: 127.0.0.1:10025, client_identity: proxy_v2 }");
    String none = BEFORE.replace("{ name: a, address: 127.0.0.1:10025 }",
        "{ name: a, address: 127.0.0.1:10025, client_identity: none }");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(after)))
        .containsExactly("backend hub/a: client_identity the listener's -> proxy_v2");
    assertThat(ConfigChanges.between(parse(after), parse(none)))
        .containsExactly("backend hub/a: client_identity proxy_v2 -> none");
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
  void aPoolWhoseTablesChangeSaysTheyStartEmpty() throws Exception {
    String after = BEFORE.replace("algorithm: round_robin",
        "algorithm: round_robin\n    persistence: { mode: source_ip, ttl: 1h }\n    deferral_affinity: { ttl: 30m }");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(after))).containsExactly(
        "pool hub: persistence.mode none -> source_ip, persistence.ttl 0s -> 1h, persistence.max_entries 0 -> 100000,"
            + " deferral_affinity.ttl 1h -> 30m",
        "pool hub: persistence and deferral affinity start with an empty table");
    String off = BEFORE.replace("algorithm: round_robin", "algorithm: round_robin\n    deferral_affinity: none");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(off))).containsExactly(
        "pool hub: deferral_affinity.ttl 1h -> 0s, deferral_affinity.max_entries 100000 -> 0");
    String size = BEFORE.replace("algorithm: round_robin", "algorithm: round_robin\n    deferral_affinity: { max_entries: 5 }");
    assertThat(ConfigChanges.between(parse(BEFORE), parse(size))).containsExactly(
        "pool hub: deferral_affinity.max_entries 100000 -> 5",
        "pool hub: deferral affinity starts with an empty table");
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

package dev.sluice.audit;

import static dev.sluice.audit.AuditConfigs.CLEAN;
import static dev.sluice.audit.AuditConfigs.SEED;
import static dev.sluice.audit.AuditConfigs.audit;
import static dev.sluice.audit.AuditConfigs.codes;
import static dev.sluice.audit.AuditConfigs.lineOf;
import static dev.sluice.audit.AuditConfigs.only;
import static dev.sluice.audit.AuditConfigs.routes;
import static dev.sluice.audit.AuditConfigs.with;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The rules' specific conditions, locations and acknowledgement. */
class AuditorTest {

  @Test
  void seedLayoutIsAnOpenRelayRiskAndExitsTwo() {
    List<Finding> findings = audit(SEED);
    Finding relay = only(findings, "SL001");
    assertThat(relay.severity()).isEqualTo(Severity.ERROR);
    assertThat(relay.pitfall()).isEqualTo(Pitfall.OPEN_RELAY);
    assertThat(relay.title()).contains("'internet'", "'relay'", "10.1.1.21:25", "10.1.1.22:25");
    assertThat(relay.explanation()).contains("host's default address");
    assertThat(findings.get(0)).isEqualTo(relay); // errors first
    assertThat(Auditor.exitCode(findings)).isEqualTo(2);
    // The seed's other pitfalls are in the same layout.
    assertThat(codes(SEED)).contains("SL002", "SL003", "SL004", "SL005", "SL009", "SL016");
  }

  @Test
  void aTransparentInternetListenerCarriesTheClientsAddress() {
    // Exchange's way out of the seed: its connections come from the senders' own addresses, so the
    // relay connector's trusted address is never the internet's, and the logs show the senders.
    String transparent = with(SEED, "    trust: external\n", "    trust: external\n    client_identity: transparent\n");
    assertThat(codes(transparent)).doesNotContain("SL001", "SL002").contains("SL003");
    assertThat(only(audit(SEED), "SL002").fix()).contains("client_identity: transparent");
  }

  @Test
  void aTransparentRelayListenerIsAnOpenRelayRiskOnlyWhenTheInternetListenerComesFromInsideItsRanges() {
    String layout = """
        pools: { hub: { backends: [ "127.0.0.1:25" ] } }
        listeners:
          internet: { listen: "127.0.0.1:2525", pool: hub, trust: external%s }
          relay: { listen: "127.0.0.1:2526", mode: tcp, pool: hub, trust: internal, allow: [%s],
                   client_identity: transparent }
        """;
    // The relay connector trusts 127.0.0.0/8, the applications' own addresses; the internet
    // listener connects from 127.0.0.1, inside it.
    Finding f = only(audit(layout.formatted("", "127.0.0.0/8")), "SL001");
    assertThat(f.explanation()).contains("'internet' from 127.0.0.1", "client_identity: transparent", "127.0.0.0/8");
    assertThat(f.fix()).contains("outside the client ranges 'relay' admits");
    assertThat(codes(layout.formatted(", source_address: 127.0.0.21", "127.0.0.0/8"))).contains("SL001");
    // Ranges that do not include the internet listener's address: nothing to mistake.
    assertThat(codes(layout.formatted("", "10.0.0.0/8"))).doesNotContain("SL001");
    // The default allow (everyone) includes any address the internet listener comes from.
    assertThat(codes(layout.replace("allow: [%s],", "").formatted(""))).contains("SL001");
    // A backend written as a name: the default source towards it is unknown, a set one is not.
    String named = layout.replace("\"127.0.0.1:25\" ]", "\"mx1.corp.example:25\" ]");
    assertThat(codes(named.formatted("", "127.0.0.0/8"))).doesNotContain("SL001");
    assertThat(codes(named.formatted(", source_address: 127.0.0.21", "127.0.0.0/8"))).contains("SL001");
  }

  @Test
  void aTransparentNarrowListenerSharesWithTheInternetOnlyWhenTheInternetListenerComesFromInsideItsRanges() {
    // 'apps' connects from its clients' own addresses, not from the host's default one: the servers
    // trust the ranges it admits, and 'internet' (from 127.0.0.1) is a problem only inside them.
    String layout = """
        pools: { hub: { backends: [ "127.0.0.1:25" ] } }
        listeners:
          internet: { listen: "10.0.0.5:25", pool: hub }
          apps: { listen: "10.0.0.5:2525", pool: hub, allow: [%s], client_identity: transparent }
        """;
    assertThat(codes(layout.formatted("192.168.0.0/16"))).doesNotContain("SL019");
    Finding f = only(audit(layout.formatted("127.0.0.0/8")), "SL019");
    assertThat(f.title()).contains("'apps'", "'internet'").doesNotContain("same source address");
    assertThat(f.explanation()).contains("'internet' from 127.0.0.1", "client_identity: transparent");
    assertThat(f.fix()).contains("outside the client ranges 'apps' admits").doesNotContain("source_address of its own");
  }

  /** Two zones, each listener with its own pool; {@code %s} and {@code %s} are the pools' backends. */
  private static String twoPools(String externalBackends, String internalBackends) {
    return """
        pools:
          inbound: { backends: [%s] }
          outbound: { backends: [%s] }
        listeners:
          internet: { listen: 10.1.1.12:25, pool: inbound, trust: external }
          relay: { listen: 10.1.1.12:2525, mode: tcp, pool: outbound, trust: internal, allow: [10.0.0.0/8] }
        """.formatted(externalBackends, internalBackends);
  }

  @Test
  void openRelayNeedsASharedBackend() {
    assertThat(codes(twoPools("10.1.1.21:25, 10.1.1.22:25", "10.1.1.31:25, 10.1.1.32:25"))).doesNotContain("SL001");
    // Same host, other port: another receive connector, so no shared trust.
    assertThat(codes(twoPools("10.1.1.21:25, 10.1.1.22:25", "10.1.1.21:587"))).doesNotContain("SL001");
  }

  @Test
  void openRelayComparesAddressesAsWrittenIgnoringHostCase() {
    String yaml = twoPools("Mail1.corp.example:25, 10.1.1.22:25", "mail1.CORP.example:25, 10.1.1.32:25");
    assertThat(only(audit(yaml), "SL001").title()).contains("mail1.corp.example:25").doesNotContain("10.1.1.22");
  }

  @Test
  void openRelayOnlyWhenTheSourceAddressesMatch() {
    String plain = with(CLEAN, "client_identity: xclient", "client_identity: none");
    String sources = with(with(plain, "source_address: 10.0.0.21", ""), "source_address: 10.0.0.22", "");
    assertThat(only(audit(sources), "SL001").explanation()).contains("host's default address");
    String oneSet = with(plain, "source_address: 10.0.0.22", "");
    assertThat(codes(oneSet)).doesNotContain("SL001");
  }

  /** Loopback backends; {@code %s} and {@code %s} are the two listeners' extra keys. */
  private static String loopback(String internetKeys, String relayKeys) {
    return """
        pools:
          hub: { backends: [127.0.0.1:10025, 127.0.0.2:10025] }
        listeners:
          internet: { listen: 10.1.1.12:25, pool: hub, trust: external%s }
          relay: { listen: 10.1.1.12:2525, pool: hub, trust: internal, allow: [10.0.0.0/8]%s }
        """.formatted(internetKeys, relayKeys);
  }

  @Test
  void openRelayWhenAnUnsetSourceAddressIsTheDefaultTheOtherListenerSets() {
    // Towards a loopback backend the kernel picks 127.0.0.1: the listener without source_address
    // connects from exactly the address the other one sets.
    Finding f = only(audit(loopback("", ", source_address: 127.0.0.1")), "SL001");
    assertThat(f.title()).contains("127.0.0.1:10025, 127.0.0.2:10025");
    assertThat(f.explanation()).contains("127.0.0.1", "'internet' sets no source_address");
    assertThat(codes(loopback(", source_address: 127.0.0.1", ""))).contains("SL001");
    assertThat(codes(loopback("", ", source_address: 127.0.0.22"))).doesNotContain("SL001");
  }

  @Test
  void openRelayWhenTheRoutingTableGivesTheUnsetListenerTheOtherOnesAddress() {
    // CLEAN without XCLIENT, and no source_address on the internal listener: where it connects from
    // is the host's routing table's answer.
    String yaml = with(with(CLEAN, "client_identity: xclient", "client_identity: none"), "source_address: 10.0.0.22", "");
    assertThat(codes(yaml)).doesNotContain("SL001"); // no routes known: cannot tell
    DefaultSource viaExternalAddress = routes(Map.of("10.0.0.11", "10.0.0.21", "10.0.0.12", "10.0.0.21",
        "10.0.0.13", "10.0.0.9"));
    Finding f = only(audit(yaml, viaExternalAddress), "SL001");
    assertThat(f.title()).contains("reach 10.0.0.11:25, 10.0.0.12:25 from the same source address")
        .doesNotContain("10.0.0.13");
    assertThat(f.explanation()).contains("Both connect from 10.0.0.21 ('relay' sets no source_address",
        "the source_address of 'internet'", "10.0.0.11, 10.0.0.12");
    assertThat(codes(yaml, routes(Map.of("10.0.0.11", "10.0.0.9", "10.0.0.12", "10.0.0.9")))).doesNotContain("SL001");
    // The other way round: the external listener without source_address.
    String other = with(with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "source_address: 10.0.0.21", ""), "source_address: 10.0.0.22", "source_address: 10.0.0.21");
    assertThat(codes(other, viaExternalAddress)).contains("SL001");
    // Host names are not resolved, so their default source stays unknown.
    String named = with(yaml, "address: 10.0.0.11:25", "address: mail1.corp.example:25");
    assertThat(only(audit(named, viaExternalAddress), "SL001").title()).doesNotContain("mail1");
  }

  /** The seed with the relay listener's trust left out: it defaults to external. */
  private static final String SEED_UNMARKED = SEED.replace("    trust: internal\n", "");

  @Test
  void anInternalLookingListenerWithoutTrustInternalSharingTheInternetsAddressIsReported() {
    List<Finding> findings = audit(SEED_UNMARKED);
    assertThat(codes(SEED_UNMARKED)).doesNotContain("SL001", "SL014");
    Finding f = only(findings, "SL019");
    assertThat(f.severity()).isEqualTo(Severity.ERROR);
    assertThat(f.location().line()).isEqualTo(lineOf(SEED_UNMARKED, "  relay:"));
    assertThat(f.title()).contains("'relay'", "'internet'", "10.1.1.21:25, 10.1.1.22:25");
    assertThat(f.explanation()).contains("10.0.0.0/8", "trust: internal", "host's default address", "open relay");
    assertThat(Auditor.exitCode(findings)).isEqualTo(2);
    // Marked internal, the same layout is SL001's, and reported once.
    assertThat(codes(SEED)).contains("SL001").doesNotContain("SL019");
  }

  @Test
  void twoPopulationsNeedOneListenerOpenToTheInternetAndOneThatIsNot() {
    // Both admit the internet: one population.
    assertThat(codes(SEED_UNMARKED.replace("    allow: [10.0.0.0/8]\n", ""))).doesNotContain("SL019");
    // Both admit only private networks: no internet sender reaches either.
    String bothPrivate = SEED_UNMARKED.replace("    trust: external\n", "    trust: external\n    allow: [192.168.0.0/16]\n");
    assertThat(codes(bothPrivate)).doesNotContain("SL019");
    // A partner's public range is as narrow as a private one.
    assertThat(codes(SEED_UNMARKED.replace("allow: [10.0.0.0/8]", "allow: [203.0.113.0/24]"))).contains("SL019");
    // The internet less a few networks is still the internet.
    String lessDeny = SEED_UNMARKED.replace("allow: [10.0.0.0/8]", "deny: [198.51.100.0/24]");
    assertThat(codes(lessDeny)).doesNotContain("SL019");
    // A listener only the host itself can reach serves the host's own applications.
    String local = SEED_UNMARKED.replace("    allow: [10.0.0.0/8]\n", "").replace("10.1.1.12:2525", "127.0.0.1:2525");
    assertThat(only(audit(local), "SL019").explanation()).contains("127.0.0.1");
    // And one that the internet cannot reach is not the internet's way in.
    String bothLocal = local.replace("10.1.1.12:25\n", "127.0.0.1:25\n");
    assertThat(codes(bothLocal)).doesNotContain("SL019");
  }

  @Test
  void twoPopulationsAreToldApartWhenTheInternetListenerHandsOnTheClient() {
    String external = "trust: external\n";
    assertThat(codes(SEED_UNMARKED.replace(external, external + "    client_identity: proxy_v2\n"))).doesNotContain("SL019");
    // On the narrow listener only, it does not help: internet mail still arrives from the shared address.
    String narrow = "allow: [10.0.0.0/8]\n";
    assertThat(codes(SEED_UNMARKED.replace(narrow, narrow + "    client_identity: proxy_v2\n"))).contains("SL019");
  }

  @Test
  void twoPopulationsOnlyFromTheSameSourceAddress() {
    String split = SEED_UNMARKED.replace("    allow: [10.0.0.0/8]\n", "    allow: [10.0.0.0/8]\n    source_address: 10.0.0.22\n");
    assertThat(codes(split)).doesNotContain("SL019");
    // ... unless the host's routing gives the internet listener that very address.
    DefaultSource via22 = routes(Map.of("10.1.1.21", "10.0.0.22", "10.1.1.22", "10.0.0.22"));
    assertThat(only(audit(split, via22), "SL019").explanation()).contains("'internet' sets no source_address");
  }

  @Test
  void twoPopulationsIsAcknowledgedOnTheNarrowListener() {
    String acked = SEED_UNMARKED.replace("allow: [10.0.0.0/8]\n", "allow: [10.0.0.0/8]\n    acknowledge: [SL019]\n");
    List<Finding> findings = audit(acked);
    assertThat(only(findings, "SL019").acknowledged()).isTrue();
    assertThat(Auditor.exitCode(findings)).isEqualTo(1);
    String onTheOther = SEED_UNMARKED.replace("trust: external\n", "trust: external\n    acknowledge: [SL019]\n");
    assertThat(only(audit(onTheOther), "SL019").acknowledged()).isFalse();
  }

  /** An smtp listener relaying AUTH; {@code %s} is its further keys. */
  private static String authRelay(String listen, String keys) {
    return """
        pools:
          hub: { backends: [10.0.0.11:25, 10.0.0.12:25] }
        listeners:
          submission: { listen: %s, pool: hub, auth: relay, client_identity: xclient%s }
        """.formatted(listen, keys);
  }

  @Test
  void authRelayedWithoutTlsIsReportedAtTheListener() {
    String yaml = authRelay("10.0.0.5:587", "");
    Finding f = only(audit(yaml), "SL020");
    assertThat(f.severity()).isEqualTo(Severity.ERROR);
    assertThat(f.location().line()).isEqualTo(lineOf(yaml, "  submission:"));
    assertThat(f.title()).contains("'submission'");
    assertThat(f.explanation()).contains("AUTH PLAIN LOGIN", "plain text");
    assertThat(Auditor.exitCode(audit(yaml))).isEqualTo(2);
    // An internal listener's passwords cross the network in the clear just the same.
    assertThat(codes(authRelay("10.0.0.5:587", ", trust: internal, allow: [10.0.0.0/8]"))).contains("SL020");
  }

  @Test
  void authOverTlsOrOnLoopbackOrNotRelayedIsFine() {
    // With tls, AUTH is offered only after STARTTLS (or from the first byte with implicit TLS).
    assertThat(codes(authRelay("10.0.0.5:587", ", tls: { cert: c.pem, key: k.pem }"))).doesNotContain("SL020");
    assertThat(codes(authRelay("10.0.0.5:465", ", tls: { cert: c.pem, key: k.pem, implicit: true }")))
        .doesNotContain("SL020");
    // Only this host can reach a loopback listener: the credentials never cross a network.
    assertThat(codes(authRelay("127.0.0.1:587", ""))).doesNotContain("SL020");
    assertThat(codes(authRelay("10.0.0.5:587", "").replace("auth: relay", "auth: none"))).doesNotContain("SL020");
  }

  @Test
  void authWithoutTlsCanBeAcknowledged() {
    List<Finding> findings = audit(authRelay("10.0.0.5:587", ", backend_tls: require, acknowledge: [SL020]"));
    assertThat(only(findings, "SL020").acknowledged()).isTrue();
    assertThat(Auditor.exitCode(findings)).isLessThan(2);
  }

  /** An smtp listener with TLS towards its clients relaying AUTH to {@code backends}; {@code keys} are its further keys. */
  private static String authToBackends(String backends, String keys) {
    return """
        pools:
          hub: { backends: [%s] }
        listeners:
          submission: { listen: 10.0.0.5:587, pool: hub, auth: relay, tls: { cert: c.pem, key: k.pem }%s }
        """.formatted(backends, keys);
  }

  @Test
  void authRelayedToOtherHostsWithoutBackendTlsIsReportedAtTheListener() {
    String yaml = authToBackends("10.0.0.11:25, 10.0.0.12:25", "");
    List<Finding> findings = audit(yaml);
    Finding f = only(findings, "SL021");
    assertThat(f.severity()).isEqualTo(Severity.ERROR);
    assertThat(f.location().line()).isEqualTo(lineOf(yaml, "  submission:"));
    assertThat(f.target()).hasToString("listener 'submission'");
    assertThat(f.title()).isEqualTo("AUTH relayed in plain text: listener 'submission' relays AUTH to "
        + "10.0.0.11:25, 10.0.0.12:25 without backend TLS");
    assertThat(f.explanation()).contains("plain text", "PLAIN and LOGIN", "does not cover this hop")
        .doesNotContain("Host names");
    assertThat(f.fix()).contains("backend_tls: require", "loopback", "acknowledge SL021 on 'submission'");
    assertThat(codes(yaml)).doesNotContain("SL020"); // the client's side is encrypted
    assertThat(Auditor.exitCode(findings)).isEqualTo(2);
    // The zone does not matter: the password crosses the network to the servers either way.
    assertThat(codes(authToBackends("10.0.0.11:25", ", trust: internal, allow: [10.0.0.0/8]"))).contains("SL021");
  }

  @Test
  void starttlsThatFallsBackToPlainTextCountsAsPlainText() {
    Finding f = only(audit(authToBackends("10.0.0.11:25", ", backend_tls: starttls")), "SL021");
    assertThat(f.title()).endsWith("relays AUTH to 10.0.0.11:25 over STARTTLS that falls back to plain text");
    assertThat(f.explanation()).contains("otherwise carries on in plain text", "strips STARTTLS");
    // require treats a backend without STARTTLS as failed: no plain-text fallback.
    assertThat(codes(authToBackends("10.0.0.11:25", ", backend_tls: require"))).doesNotContain("SL021");
    // Unverified, it is SL018's finding, not this one's.
    assertThat(codes(authToBackends("10.0.0.11:25", ", backend_tls: require, backend_tls_verify: false")))
        .contains("SL018").doesNotContain("SL021");
  }

  @Test
  void authRelayedToBackendsOnThisHostIsFine() {
    assertThat(codes(authToBackends("127.0.0.1:10025, 127.0.0.2:10025", ""))).doesNotContain("SL021");
    assertThat(codes(authToBackends("'[::1]:10025'", ""))).doesNotContain("SL021");
    assertThat(codes(authToBackends("'[::ffff:127.0.0.1]:10025'", ""))).doesNotContain("SL021");
    assertThat(codes(authToBackends("127.0.0.1:10025", ", backend_tls: starttls"))).doesNotContain("SL021");
    // Only the servers on other hosts are named.
    assertThat(only(audit(authToBackends("127.0.0.1:10025, '[2001:db8::11]:25'", "")), "SL021").title())
        .contains("relays AUTH to [2001:db8::11]:25 without").doesNotContain("127.0.0.1");
    // Not relaying AUTH, nothing to expose.
    assertThat(codes(authToBackends("10.0.0.11:25", "").replace("auth: relay", "auth: none"))).doesNotContain("SL021");
  }

  @Test
  void authRelayedToAHostNameCountsAsAnotherHostSinceNothingIsResolved() {
    Finding f = only(audit(authToBackends("localhost:10025, Mail1.corp.example:25, mail1.corp.example:25", "")),
        "SL021");
    assertThat(f.title()).contains("relays AUTH to localhost:10025, mail1.corp.example:25 without");
    assertThat(f.explanation()).contains("Host names are not resolved");
  }

  @Test
  void authRelayedInPlainTextCanBeAcknowledgedOnTheListener() {
    List<Finding> findings = audit(authToBackends("10.0.0.11:25", ", acknowledge: [SL021]"));
    assertThat(only(findings, "SL021").acknowledged()).isTrue();
    assertThat(Auditor.exitCode(findings)).isLessThan(2);
  }

  @Test
  void unevenWeightsPrintEachBackendsShareAndStandbyTiers() {
    String yaml = with(with(CLEAN, "address: 10.0.0.11:25 }", "address: 10.0.0.11:25, weight: 2 }"),
        "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, weight: 1 }");
    Finding f = only(audit(yaml), "SL004");
    assertThat(f.title()).contains("server1 66.7% (2/3), server2 33.3% (1/3)");
    assertThat(f.explanation())
        .contains("tier 1: server1 66.7% (2/3), server2 33.3% (1/3)")
        .contains("tier 2 (only when no better tier has an eligible backend): dr1 100% (1/1)");
  }

  @Test
  void unevenWeightsUnderLeastLatencyAreNotCalledShares() {
    String yaml = with(with(with(CLEAN, "address: 10.0.0.11:25 }", "address: 10.0.0.11:25, weight: 3 }"),
        "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, weight: 1 }"), "algorithm: round_robin", "algorithm: least_latency");
    Finding f = only(audit(yaml), "SL004");
    assertThat(f.title()).contains("weighs its backends' latencies unevenly").doesNotContain("expects");
    assertThat(f.explanation()).contains("these are not shares").doesNotContain("Expected share");
  }

  @Test
  void findingsPointAtTheLineOfTheObjectTheyAreAbout() {
    String yaml = with(with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "steps: [connect, banner, ehlo, mail_from, quit]\n    mail_from: healthcheck",
        "steps: [connect, banner, ehlo]\n    mail_from: healthcheck"),
        "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }");
    List<Finding> findings = audit(yaml);
    assertThat(only(findings, "SL002").location().line()).isEqualTo(lineOf(yaml, "  internet:"));
    assertThat(only(findings, "SL002").location().file()).isEqualTo("sluice.yaml");
    assertThat(only(findings, "SL003").location().line()).isEqualTo(lineOf(yaml, "  internal:"));
    assertThat(only(findings, "SL013").location().line()).isEqualTo(lineOf(yaml, "      - { name: server1"));
    String admin = with(CLEAN, "127.0.0.1:8025", "10.0.0.5:8025");
    assertThat(only(audit(admin), "SL007").location().line()).isEqualTo(lineOf(admin, "admin:"));
    assertThat(only(audit(AuditConfigs.SEED), "SL004").location().line()).isEqualTo(lineOf(SEED, "  hub:"));
  }

  @Test
  void findingsNameTheObjectTheyAreAbout() {
    String yaml = with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }");
    List<Finding> findings = audit(yaml);
    Target internet = only(findings, "SL002").target();
    assertThat(internet.kind()).isEqualTo(Target.Kind.LISTENER);
    assertThat(internet.name()).isEqualTo("internet");
    assertThat(internet).hasToString("listener 'internet'");
    Target server1 = only(findings, "SL013").target();
    assertThat(server1).hasToString("backend server1 of pool 'hub'");
    assertThat(server1.enclosing()).isEqualTo(Target.pool(AuditConfigs.parse(yaml).pools().get("hub")));
    String admin = with(CLEAN, "127.0.0.1:8025", "10.0.0.5:8025");
    assertThat(only(audit(admin), "SL007").target()).hasToString("the admin section");
    assertThat(only(audit(SEED), "SL003").target()).hasToString("health profile 'banner'");
  }

  @Test
  void acknowledgeSilencesExactlyThatFindingAtThatObject() {
    String yaml = with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "tls: { cert: tls/cert.pem, key: tls/key.pem }", "acknowledge: [SL002]");
    List<Finding> findings = audit(yaml);
    assertThat(only(findings, "SL002").acknowledged()).isTrue();
    assertThat(only(findings, "SL006").acknowledged()).isFalse(); // same listener, other code
    assertThat(Auditor.acknowledged(findings)).isEqualTo(1);
    assertThat(Auditor.exitCode(findings)).isEqualTo(1);
  }

  @Test
  void acknowledgeOnAnotherObjectDoesNotSilence() {
    String twoExternal = with(with(CLEAN, "client_identity: xclient", "client_identity: none"), "  relay:\n", """
          mx2:
            listen: 10.0.0.6:25
            pool: hub
            health: external
            source_address: 10.0.0.23
            tls: { cert: tls/cert.pem, key: tls/key.pem }
            acknowledge: [SL002]
          relay:
        """);
    List<Finding> sl002 = audit(twoExternal).stream().filter(f -> f.code().equals("SL002")).toList();
    assertThat(sl002).hasSize(2);
    assertThat(sl002).filteredOn(Finding::acknowledged).singleElement()
        .satisfies(f -> assertThat(f.title()).contains("'mx2'"));
    // A pool-level finding is not silenced by one of its backends.
    String uneven = with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, weight: 3, acknowledge: [SL004] }");
    assertThat(only(audit(uneven), "SL004").acknowledged()).isFalse();
  }

  @Test
  void aBackendFindingMayBeAcknowledgedOnItsPool() {
    String yaml = with(with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }"),
        "persistence: none", "persistence: none\n    acknowledge: [SL013]");
    assertThat(only(audit(yaml), "SL013").acknowledged()).isTrue();
    String onBackend = with(CLEAN, "{ name: server1, address: 10.0.0.11:25 }",
        "{ name: server1, address: 10.0.0.11:25, acknowledge: [SL013] }");
    onBackend = with(onBackend, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }");
    assertThat(only(audit(onBackend), "SL013").acknowledged()).isTrue();
  }

  @Test
  void anAcknowledgementThatSilencesNothingIsReportedAtTheEntry() {
    // 'internet' carries the client's address (xclient), so there is no SL002 for it to silence;
    // without retries it has an SL010, which the first entry silences.
    String yaml = with(with(CLEAN, "retries: 2", "retries: 0"),
        "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL010, SL002]");
    List<Finding> findings = audit(yaml);
    assertThat(only(findings, "SL010").acknowledged()).isTrue();
    Finding f = only(findings, "SL022");
    assertThat(f.severity()).isEqualTo(Severity.INFO);
    int line = lineOf(yaml, "    acknowledge: [SL010, SL002]");
    assertThat(f.location()).isEqualTo(new dev.sluice.config.Location("sluice.yaml", line, 26));
    assertThat(f.target()).hasToString("listener 'internet'");
    assertThat(f.title()).isEqualTo("unused acknowledgement: SL002 on listener 'internet' silences nothing");
    assertThat(f.explanation()).contains("No SL002 (client address hidden) finding is reported at listener 'internet'");
    assertThat(f.fix()).startsWith("Remove SL002 from the acknowledge list of listener 'internet'.");
    assertThat(Auditor.exitCode(findings)).isZero(); // a note, never an exit status
    // With retries, SL010 is unused as well: one finding per entry, each at its own place in the list.
    String both = with(CLEAN, "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL010, SL002]");
    assertThat(audit(both)).extracting(x -> x.location().column() + " " + x.title()).containsExactly(
        "19 unused acknowledgement: SL010 on listener 'internet' silences nothing",
        "26 unused acknowledgement: SL002 on listener 'internet' silences nothing");
  }

  /**
   * DESIGN §3: any object may carry {@code acknowledge}. An entry in a listener's or a pool's own
   * settings ({@code tls}, {@code limits}, {@code timeouts}; {@code persistence}, {@code passive},
   * {@code deferral_affinity}) counts as that listener's or pool's, whose findings it may silence.
   * An entry in {@code log} or {@code resolver}, which no finding is about, is reported unused.
   */
  @Test
  void anyObjectMayCarryAcknowledgeAndItsEntriesCountForTheObjectEnclosingIt() {
    String inLimits = with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "tls: { cert: tls/cert.pem, key: tls/key.pem }",
        "tls: { cert: tls/cert.pem, key: tls/key.pem }\n    limits: { max_recipients: 50, acknowledge: [SL002] }");
    List<Finding> findings = audit(inLimits);
    assertThat(only(findings, "SL002").acknowledged()).isTrue();
    assertThat(codes(inLimits)).doesNotContain("SL022");
    String inTls = with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "tls: { cert: tls/cert.pem, key: tls/key.pem }", "tls: { cert: tls/cert.pem, key: tls/key.pem, acknowledge: [SL002] }");
    assertThat(only(audit(inTls), "SL002").acknowledged()).isTrue();
    String inPassive = with(with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }"),
        "persistence: none", "persistence: none\n    passive: { consecutive_failures: 3, acknowledge: [SL013] }");
    assertThat(only(audit(inPassive), "SL013").acknowledged()).isTrue();

    String inLog = with(CLEAN, "admin:\n", "log:\n  protocol_level: basic\n  acknowledge: [SL004]\nadmin:\n");
    Finding unused = only(audit(inLog), "SL022");
    assertThat(unused.target()).hasToString("the log section");
    assertThat(unused.location().line()).isEqualTo(lineOf(inLog, "  acknowledge: [SL004]"));
    String inResolver = with(CLEAN, "  servers: [10.0.0.53]\n", "  servers: [10.0.0.53]\n  acknowledge: [SL023]\n");
    assertThat(only(audit(inResolver), "SL022").title())
        .isEqualTo("unused acknowledgement: SL023 on the resolver section silences nothing");
  }

  @Test
  void anAcknowledgementInUseIsNotReported() {
    String yaml = with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL002]");
    assertThat(only(audit(yaml), "SL002").acknowledged()).isTrue();
    assertThat(codes(yaml)).doesNotContain("SL022");
    // A backend's finding acknowledged on its pool uses the pool's entry.
    String standby = with(with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, priority: 2 }"),
        "persistence: none", "persistence: none\n    acknowledge: [SL013]");
    assertThat(codes(standby)).doesNotContain("SL022");
  }

  @Test
  void anAcknowledgementOnTheWrongObjectSaysWhereTheFindingIs() {
    // SL004 is the pool's finding; the backend's acknowledgement silences nothing.
    String yaml = with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, weight: 3, acknowledge: [SL004] }");
    List<Finding> findings = audit(yaml);
    assertThat(only(findings, "SL004").acknowledged()).isFalse();
    Finding f = only(findings, "SL022");
    assertThat(f.location().line()).isEqualTo(lineOf(yaml, "      - { name: server2"));
    assertThat(f.target()).hasToString("backend server2 of pool 'hub'");
    assertThat(f.explanation()).contains("SL004 (uneven weights) is reported at pool 'hub' (line "
        + lineOf(yaml, "  hub:") + "), not at backend server2 of pool 'hub'");
    assertThat(f.fix()).startsWith("Move SL004 to the acknowledge list of pool 'hub'");
  }

  @Test
  void anAcknowledgementOfNoRuleIsReported() {
    String yaml = with(CLEAN, "persistence: none", "persistence: none\n    acknowledge: [SL099]");
    Finding f = only(audit(yaml), "SL022");
    assertThat(f.target()).hasToString("pool 'hub'");
    assertThat(f.explanation()).contains("No audit rule has the code SL099 (they run from SL001 to SL022");
    assertThat(f.fix()).startsWith("Correct the code");
  }

  @Test
  void unusedAcknowledgementsAreKeptOnPurposeWithSL022() {
    String yaml = with(CLEAN, "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL002, SL022]");
    List<Finding> findings = audit(yaml);
    assertThat(only(findings, "SL022").acknowledged()).isTrue(); // about SL002; SL022's own entry is not judged
    // On a pool, it covers the pool's backends too, like any acknowledgement.
    String backend = with(with(CLEAN, "address: 10.0.0.12:25 }", "address: 10.0.0.12:25, acknowledge: [SL017] }"),
        "persistence: none", "persistence: none\n    acknowledge: [SL022]");
    assertThat(only(audit(backend), "SL022").acknowledged()).isTrue();
    // Alone, SL022 has nothing to silence, yet is never reported: it would have to silence itself.
    assertThat(codes(with(CLEAN, "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL022]"))).isEmpty();
  }

  @Test
  void acknowledgementsOfRouteDependentRulesAreJudgedOnlyWithTheRoutes() {
    // CLEAN without XCLIENT and without the internal source_address: SL001 depends on the routes.
    String yaml = with(with(with(CLEAN, "client_identity: xclient", "client_identity: none"),
        "source_address: 10.0.0.22", ""), "accept_proxy: []", "accept_proxy: []\n    acknowledge: [SL002, SL001]");
    // No routes known: SL001 cannot be ruled out, so its acknowledgement is not called unused.
    assertThat(codes(yaml)).doesNotContain("SL001", "SL022");
    DefaultSource via21 = routes(Map.of("10.0.0.11", "10.0.0.21", "10.0.0.12", "10.0.0.21"));
    assertThat(only(audit(yaml, via21), "SL001").acknowledged()).isTrue();
    assertThat(codes(yaml, via21)).doesNotContain("SL022");
    DefaultSource via9 = routes(Map.of("10.0.0.11", "10.0.0.9", "10.0.0.12", "10.0.0.9"));
    assertThat(only(audit(yaml, via9), "SL022").title()).contains("SL001 on listener 'internet'");
  }

  @Test
  void internalListenerOnLoopbackMayAllowEverything() {
    String yaml = with(with(CLEAN, "allow: [10.0.0.0/8]", "allow: [0.0.0.0/0]"), "10.0.0.5:2526", "127.0.0.1:2526");
    assertThat(codes(yaml)).doesNotContain("SL014");
    String defaultAllow = with(CLEAN, "allow: [10.0.0.0/8]", "");
    assertThat(codes(defaultAllow)).contains("SL014");
  }

  @Test
  void aSharedSourceAddressIsNoRelayRiskWhenTheExternalListenerHandsOverEachClientsAddress() {
    String external = "trust: external\n";
    assertThat(codes(SEED)).contains("SL001");
    assertThat(codes(SEED.replace(external, external + "    client_identity: proxy_v2\n"))).doesNotContain("SL001");
    String smtp = SEED.replace("mode: tcp\n    pool: hub\n    health: banner\n    trust: external\n",
        "mode: smtp\n    pool: hub\n    health: banner\n    trust: external\n");
    assertThat(codes(smtp.replace(external, external + "    client_identity: xclient\n"))).doesNotContain("SL001");
    // XFORWARD only changes what the server logs; relay decisions still see the shared address.
    assertThat(codes(smtp.replace(external, external + "    client_identity: xforward\n"))).contains("SL001");
    // Identity on the internal side only does not help: internet mail still comes from the shared address.
    String internal = "trust: internal\n";
    assertThat(codes(SEED.replace(internal, internal + "    client_identity: proxy_v2\n"))).contains("SL001");
  }

  /**
   * A backend's own client_identity overrides the listener's, so the relay and source-NAT rules
   * judge each backend by what it is sent: the seed's layout with server1 taking PROXY headers is an
   * open relay through server2 only, and no longer one once both take them.
   */
  @Test
  void theRelayAndSourceNatRulesJudgeEachBackendByItsOwnClientIdentity() {
    String server1 = "{ name: server1, address: 10.1.1.21:25, weight: 3 }";
    String server2 = "{ name: server2, address: 10.1.1.22:25, weight: 1 }";
    String oneCarries = SEED.replace(server1, server1.replace(" }", ", client_identity: proxy_v2 }"));
    Finding relay = only(audit(oneCarries), "SL001");
    assertThat(relay.title()).contains("10.1.1.22:25").doesNotContain("10.1.1.21:25");
    Finding hidden = only(audit(oneCarries), "SL002");
    assertThat(hidden.title()).endsWith("has client_identity: none towards backend server2");
    assertThat(hidden.fix()).contains("on backend server2");
    String bothCarry = oneCarries.replace(server2, server2.replace(" }", ", client_identity: proxy_v1 }"));
    assertThat(codes(bothCarry)).doesNotContain("SL001", "SL002");
    assertThat(codes(bothCarry.replace("    trust: internal\n", ""))).doesNotContain("SL019");
    // The other way round: the listener carries the address, a backend of its own says none.
    String listenerCarries = SEED.replace("trust: external\n", "trust: external\n    client_identity: proxy_v2\n")
        .replace(server2, server2.replace(" }", ", client_identity: none }"));
    assertThat(only(audit(listenerCarries), "SL001").title()).contains("10.1.1.22:25").doesNotContain("10.1.1.21:25");
    assertThat(only(audit(listenerCarries), "SL002").title()).endsWith("towards backend server2");
    assertThat(only(audit(listenerCarries.replace("    trust: internal\n", "")), "SL019").title())
        .contains("10.1.1.22:25").doesNotContain("10.1.1.21:25");
  }

  /**
   * One address listed twice with different identities: the entry that hides the client is an
   * open relay whatever the other carries (a port that refuses PROXY leaves only that entry UP).
   * And a pair that shares backends of both kinds, some reached transparently and some from the
   * shared address, gets one finding per kind, each with its own fix.
   */
  @Test
  void theRelayRulesJudgeEachEntryAndEachKindOfSharedBackend() {
    String twice = """
        pools:
          a: { backends: [ { name: x1, address: "10.1.1.21:25", client_identity: proxy_v2 }, { name: x2, address: "10.1.1.21:25" } ] }
        listeners:
          internet: { listen: "10.0.0.5:25", pool: a, trust: external, mode: tcp }
          relay: { listen: "10.0.0.5:2525", pool: a, trust: internal, allow: [10.0.0.0/8], mode: tcp }
        """;
    assertThat(only(audit(twice), "SL001").title()).contains("10.1.1.21:25");
    String mixed = """
        pools: { hub: { backends: [ "127.0.0.1:25", { name: y, address: "127.0.0.2:25", client_identity: none } ] } }
        listeners:
          internet: { listen: "10.0.0.5:25", pool: hub, trust: external }
          relay: { listen: "10.0.0.5:2525", pool: hub, trust: internal, allow: [127.0.0.0/8], client_identity: transparent }
        """;
    List<Finding> relay = audit(mixed).stream().filter(f -> f.code().equals("SL001")).toList();
    assertThat(relay).extracting(Finding::title).containsExactlyInAnyOrder(
        "open relay risk: external listener 'internet' and internal listener 'relay' reach 127.0.0.1:25 from addresses the servers trust alike",
        "open relay risk: external listener 'internet' and internal listener 'relay' reach 127.0.0.2:25 from the same source address");
  }

  @Test
  void aBackendsOwnClientIdentityCountsForTheNameAndFamilyRules() {
    // XCLIENT towards one backend sends NAME=[UNAVAILABLE] there without a resolver.
    String names = """
        pools: { hub: { backends: [ { name: pf1, address: "127.0.0.1:25", client_identity: xclient } ] } }
        listeners:
          mx: { listen: "127.0.0.1:2525", pool: hub, acknowledge: [SL006, SL008] }
        """;
    assertThat(only(audit(names), "SL023").title())
        .isEqualTo("client names not looked up: external listener 'mx' sends XCLIENT with NAME=[UNAVAILABLE] for every client");
    String some = names.replace("] } }", ", { name: ex1, address: \"127.0.0.2:25\", client_identity: none }] } }");
    assertThat(only(audit(some), "SL023").title()).contains("sends XCLIENT to backend pf1 with NAME=[UNAVAILABLE]");
    // Transparent towards every backend, set on the backends: as a transparent listener.
    String family = """
        pools: { hub: { backends: [ { address: "10.0.0.11:25", client_identity: transparent }, %s ] } }
        listeners:
          mx: { listen: "[::]:25", pool: hub }
        """;
    String transparentToo = "{ address: \"10.0.0.12:25\", client_identity: transparent }";
    assertThat(only(audit(family.formatted(transparentToo)), "SL025").title()).contains("admits IPv6 clients");
    // A backend reached from Sluice's own address takes IPv6 clients as well.
    assertThat(codes(family.formatted("\"10.0.0.12:25\""))).doesNotContain("SL025");
  }

  @Test
  void theInternetWrittenAsTwoHalvesIsStillTheInternet() {
    assertThat(codes(with(CLEAN, "allow: [10.0.0.0/8]", "allow: [0.0.0.0/1, 128.0.0.0/1]"))).contains("SL014");
    assertThat(codes(with(CLEAN, "accept_proxy: []", "accept_proxy: [0.0.0.0/1, 128.0.0.0/1]"))).contains("SL015");
  }

  @Test
  void anInternalListenerTakingProxyHeadersFromAnyoneIsAnOpenRelay() {
    // Its allow admits only 10/8, but a PROXY header from anywhere can claim a 10/8 address.
    String yaml = with(CLEAN, "allow: [10.0.0.0/8]", "allow: [10.0.0.0/8]\n    accept_proxy: [0.0.0.0/0]");
    Finding f = only(audit(yaml), "SL015");
    assertThat(f.title()).endsWith("internal listener 'relay' accepts PROXY headers from anyone");
    assertThat(f.explanation()).contains("open relay");
  }

  @Test
  void adminOnLoopbackOrWithTokenIsFine() {
    assertThat(codes(with(CLEAN, "listen: 127.0.0.1:8025", "listen: '[::1]:8025'"))).doesNotContain("SL007");
    assertThat(codes(with(CLEAN, "listen: 127.0.0.1:8025", "listen: 0.0.0.0:8025\n  token_file: admin.token")))
        .doesNotContain("SL007");
  }

  /**
   * No warning or error; one note: DESIGN's example predates {@code resolver:}, so its XCLIENT
   * listener sends no client names (SL023).
   */
  @Test
  void theDesignExampleIsClean() throws Exception {
    try (var in = getClass().getResourceAsStream("/dev/sluice/config/example.yaml")) {
      String yaml = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertThat(codes(yaml)).containsExactly("SL023");
      assertThat(audit("resolver:\n" + yaml)).isEmpty();
    }
  }

  @Test
  void aReceivedLineWithoutAResolverNamesEveryClientUnknown() {
    String yaml = """
        pools: { hub: { backends: [ "127.0.0.1:25" ] } }
        listeners:
          mx: { listen: "127.0.0.1:2525", pool: hub, received_header: true, acknowledge: [SL002, SL006, SL008] }
        """;
    assertThat(only(audit(yaml), "SL023").title()).contains("'mx'", "'unknown' in its Received line");
    assertThat(codes("resolver:\n" + yaml)).doesNotContain("SL023");
    assertThat(codes(yaml.replace("received_header: true", "received_header: false"))).doesNotContain("SL023");
  }

  @Test
  void requiringTlsFromInternetSendersIsReported() {
    String yaml = """
        pools: { hub: { backends: [ "10.0.0.11:25", "10.0.0.12:25" ] } }
        listeners:
          mx: { listen: "10.0.0.5:25", pool: hub, tls: { cert: c.pem, key: k.pem%s }%s }
        """;
    Finding f = only(audit(yaml.formatted(", required: true", "")), "SL026");
    assertThat(f.title()).contains("'mx'", "tls.required");
    assertThat(f.explanation()).contains("RFC 3207");
    assertThat(codes(yaml.formatted("", ""))).doesNotContain("SL026");
    assertThat(codes(yaml.formatted(", required: true, implicit: true", ""))).doesNotContain("SL026");
    assertThat(codes(yaml.formatted(", required: true", ", trust: internal"))).doesNotContain("SL026");
  }

  /** A transparent listener; {@code %s}: its pool's backends, its listen address, more options. */
  private static final String TRANSPARENT_MX = """
      pools: { hub: { backends: [ %s ] } }
      listeners:
        mx: { listen: "%s", pool: hub, client_identity: transparent%s }
      """;

  @Test
  void aTransparentListenerNeedsBackendsOfEveryFamilyItAdmits() {
    String yaml = TRANSPARENT_MX;
    Finding f = only(audit(yaml.formatted("\"10.0.0.11:25\"", "[::]:25", "")), "SL025");
    assertThat(f.title()).contains("admits IPv6 clients", "no IPv6 backend");
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\", \"[2001:db8::11]:25\"", "[::]:25", ""))).doesNotContain("SL025");
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\"", "[::]:25", ", allow: [0.0.0.0/0]"))).doesNotContain("SL025");
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\"", "10.0.0.5:25", ""))).doesNotContain("SL025");
    assertThat(only(audit(yaml.formatted("\"[2001:db8::11]:25\"", "10.0.0.5:25", "")), "SL025").title())
        .contains("admits IPv4 clients");
    // A backend written as a name may be of either family: no guess.
    assertThat(codes(yaml.formatted("\"mx1.corp.example:25\"", "[::]:25", ""))).doesNotContain("SL025");
  }

  @Test
  void theTransparentFamilyRuleTakesAddressesAsTheSocketsDo() {
    String yaml = TRANSPARENT_MX;
    // An IPv4-mapped listen address binds an IPv4 socket; a mapped backend is an IPv4 one.
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\"", "[::ffff:10.0.0.5]:25", ""))).doesNotContain("SL025");
    assertThat(codes(yaml.formatted("\"[::ffff:10.0.0.11]:25\"", "10.0.0.5:25", ""))).doesNotContain("SL025");
    assertThat(only(audit(yaml.formatted("\"[::ffff:10.0.0.11]:25\"", "[::]:25", "")), "SL025").title())
        .contains("admits IPv6 clients");
    // IPv4 clients of [::] arrive as IPv4 addresses, which ::/0 does not admit.
    assertThat(only(audit(yaml.formatted("\"10.0.0.11:25\"", "[::]:25", ", allow: [\"::/0\"]")), "SL025").title())
        .contains("admits IPv6 clients");
    assertThat(codes(yaml.formatted("\"[2001:db8::11]:25\"", "[::]:25", ", allow: [\"::/0\"]"))).doesNotContain("SL025");
    // tcp mode too: the relay's connection comes from the client's address all the same.
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\"", "[::]:25", ", mode: tcp"))).contains("SL025");
    // Backup servers of the family serve its clients (the pool passes over the others for them):
    // working, if not balanced, so not this rule's.
    assertThat(codes(yaml.formatted("\"10.0.0.11:25\", { address: \"[2001:db8::11]:25\", priority: 2 }",
        "[::]:25", ""))).doesNotContain("SL025");
  }

  @Test
  void findingsAreOrderedBySeverityThenLine() {
    List<Finding> findings = audit(SEED);
    for (int i = 1; i < findings.size(); i++) {
      Finding a = findings.get(i - 1);
      Finding b = findings.get(i);
      assertThat(a.severity().compareTo(b.severity()) < 0
          || a.severity() == b.severity() && a.location().line() <= b.location().line()).isTrue();
    }
  }
}

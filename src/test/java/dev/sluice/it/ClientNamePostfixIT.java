package dev.sluice.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.lab.PostfixInstance;
import dev.sluice.testing.Dnsmasq;
import dev.sluice.testing.Loopback;
import dev.sluice.testing.SluiceFixture;
import dev.sluice.testing.SmtpClients;
import dev.sluice.testing.SmtpClients.SwaksResult;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Client host names through Sluice, against real Postfix and a real DNS server (dnsmasq): with a
 * {@code resolver:}, Postfix's host-name restrictions judge each client by the name DNS gives it,
 * as they would with no balancer in between. Without names, {@code reject_unknown_client_hostname}
 * would refuse every client behind Sluice (the pitfall docs/security.md used to warn about).
 */
@Tag("integration")
class ClientNamePostfixIT {
  static Dnsmasq dns;
  static PostfixInstance pf;
  static int verifiedOnly;
  static int reverseOnly;
  static SluiceFixture sluice;

  @BeforeAll
  static void start() throws Exception {
    dns = Dnsmasq.start(
        "--host-record=mx.gateway.test,127.0.0.77", // PTR and A agree: a verified name
        "--ptr-record=78.0.0.127.in-addr.arpa,forged.gateway.test", // PTR whose name points elsewhere
        "--address=/forged.gateway.test/127.0.0.99");
    // 127.0.0.79 has no PTR record at all (dnsmasq answers NXDOMAIN).
    verifiedOnly = Loopback.freePort();
    reverseOnly = Loopback.freePort();
    pf = PostfixInstance.builder("names")
        .additionalListener(verifiedOnly, Map.of("smtpd_delay_reject", "yes",
            "smtpd_client_restrictions", "reject_unknown_client_hostname"))
        .additionalListener(reverseOnly, Map.of("smtpd_delay_reject", "yes",
            "smtpd_client_restrictions", "reject_unknown_reverse_client_hostname"))
        .build().start();
    sluice = SluiceFixture.start("""
        resolver: { servers: [ "%1$s" ], timeout: 10s }
        pools:
          verified: { backends: [ "%2$s:%3$d" ] }
          reverse: { backends: [ "%2$s:%4$d" ] }
          open: { backends: [ "%2$s:%5$d" ] }
        listeners:
          verified: { listen: "127.0.0.1:0", mode: smtp, pool: verified, source_address: 127.0.0.41, client_identity: xclient }
          reverse:  { listen: "127.0.0.2:0", mode: smtp, pool: reverse, source_address: 127.0.0.42, client_identity: xclient }
          logonly:  { listen: "127.0.0.3:0", mode: smtp, pool: open, source_address: 127.0.0.43, client_identity: xforward }
        """.formatted(dns.address().getHostString() + ":" + dns.address().getPort(), pf.address(), verifiedOnly,
        reverseOnly, pf.port()));
  }

  @AfterAll
  static void stop() {
    if (sluice != null) {
      sluice.close();
    }
    if (pf != null) {
      pf.close();
    }
    if (dns != null) {
      dns.close();
    }
  }

  static SwaksResult send(String listener, String source) {
    var at = sluice.address(listener);
    return SmtpClients.swaks(at.getHostString(), at.getPort(), "sender@internet.example", "user@example.test", source);
  }

  @Test
  void aClientWithAVerifiedNameIsKnownToPostfixByThatName() {
    SwaksResult ok = send("verified", "127.0.0.77");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("client=mx.gateway.test[127.0.0.77]");
  }

  @Test
  void aPtrNameThatDoesNotResolveBackFailsTheVerifiedCheckButPassesTheReverseOne() throws Exception {
    SwaksResult refused = send("verified", "127.0.0.78");
    assertThat(refused.succeeded()).isFalse();
    assertThat(refused.transcript()).contains("450 4.7.25 Client host rejected: cannot find your hostname");
    SwaksResult ok = send("reverse", "127.0.0.78");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    assertThat(dns.queryLog()).anySatisfy(l -> assertThat(l).contains("query[A] forged.gateway.test"));
  }

  @Test
  void aClientWithNoPtrRecordFailsTheReverseCheckAsItWouldDirectly() {
    SwaksResult refused = send("reverse", "127.0.0.79");
    assertThat(refused.succeeded()).isFalse();
    assertThat(refused.transcript()).contains("450 4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.79]");
  }

  /** XFORWARD is for logging: Postfix judges Sluice's own address, and logs the client as orig_client. */
  @Test
  void xforwardCarriesTheVerifiedNameIntoPostfixsLog() {
    SwaksResult ok = send("logonly", "127.0.0.77");
    assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
    pf.awaitMaillog("orig_client=mx.gateway.test[127.0.0.77]");
  }

  /**
   * XFORWARD knows one status value, [UNAVAILABLE] (XFORWARD_README; Postfix's own smtpd_proxy
   * sends it for any client it could not name). Postfix checks anything else as a host name: sent
   * NAME=[TEMPUNAVAIL] when DNS is slow, it answers "501 5.5.4 Bad NAME syntax", and the client's
   * RCPT got that 501: every message refused for good while the resolver was slow. XCLIENT does
   * take [TEMPUNAVAIL].
   */
  @Test
  void xforwardSaysUnavailableWhenTheLookupTimedOut() throws Exception {
    try (java.net.DatagramSocket silent = new java.net.DatagramSocket(0, java.net.InetAddress.getByName("127.0.0.1"));
        SluiceFixture slow = SluiceFixture.start("""
            resolver: { servers: [ "127.0.0.1:%1$d" ], timeout: 300ms }
            pools:
              open: { backends: [ "%2$s:%3$d" ] }
            listeners:
              logonly: { listen: "127.0.0.4:0", mode: smtp, pool: open, source_address: 127.0.0.44, client_identity: xforward }
              xclient: { listen: "127.0.0.5:0", mode: smtp, pool: open, source_address: 127.0.0.45, client_identity: xclient }
            """.formatted(silent.getLocalPort(), pf.address(), pf.port()))) {
      var at = slow.address("logonly");
      SwaksResult ok = SmtpClients.swaks(at.getHostString(), at.getPort(), "sender@internet.example", "user@example.test",
          "127.0.0.79");
      assertThat(ok.succeeded()).as(ok.transcript()).isTrue();
      pf.awaitMaillog("orig_client=unknown[127.0.0.79]");
      var x = slow.address("xclient");
      SwaksResult viaXclient = SmtpClients.swaks(x.getHostString(), x.getPort(), "sender@internet.example",
          "user@example.test", "127.0.0.79");
      assertThat(viaXclient.succeeded()).as(viaXclient.transcript()).isTrue();
    }
  }
}

package dev.sluice.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.identity.ReverseLookup.Answer;
import dev.sluice.proxy.identity.ReverseLookup.Confirm;
import dev.sluice.proxy.identity.ReverseLookup.Named;
import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The naming rules, Postfix's (smtpd_peer.c), without DNS: answers in, a client name out. */
class ReverseLookupTest {
  static InetAddress ip(String s) throws Exception {
    return InetAddress.getByName(s);
  }

  @Test
  void ptrQuestionsAreTheReversedAddressInItsZone() throws Exception {
    assertThat(ReverseLookup.ptrQuestion(ip("192.0.2.7"))).isEqualTo("7.2.0.192.in-addr.arpa");
    assertThat(ReverseLookup.ptrQuestion(ip("2001:db8::567:89ab"))) // RFC 3596 §2.5's example form
        .isEqualTo("b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  }

  @Test
  void aNameConfirmedByItsForwardLookupIsTheClientsName() throws Exception {
    Confirm c = (Confirm) ReverseLookup.afterPtr(Answer.found(List.of("MX1.Example.COM."), 600));
    assertThat(c.name()).isEqualTo("mx1.example.com");
    ClientName n = ReverseLookup.afterForward(ip("192.0.2.7"), c.name(), c.ttlSeconds(),
        Answer.found(List.of("192.0.2.9", "192.0.2.7"), 300));
    assertThat(n.name()).isEqualTo("mx1.example.com");
    assertThat(n.reverseName()).isEqualTo("mx1.example.com");
    assertThat(n.isVerified()).isTrue();
    assertThat(n.ttlSeconds()).as("the shorter TTL of the two answers").isEqualTo(300);
    assertThat(n.describe()).isEqualTo("client name mx1.example.com");
  }

  @Test
  void aNameThatDoesNotResolveBackIsOnlyTheReverseName() throws Exception {
    ClientName n = ReverseLookup.afterForward(ip("192.0.2.7"), "forged.example", 600,
        Answer.found(List.of("198.51.100.1"), 600));
    assertThat(n.name()).isEqualTo("[UNAVAILABLE]");
    assertThat(n.reverseName()).isEqualTo("forged.example");
    assertThat(n.describe()).isEqualTo("client name unknown (PTR forged.example): forged.example does not resolve to 192.0.2.7");
    ClientName none = ReverseLookup.afterForward(ip("192.0.2.7"), "gone.example", 600, Answer.notFound("NXDOMAIN"));
    assertThat(none.name()).isEqualTo("[UNAVAILABLE]");
    assertThat(none.reverseName()).isEqualTo("gone.example");
    assertThat(none.ttlSeconds()).isEqualTo(ReverseLookup.NEGATIVE_TTL_SECONDS);
  }

  @Test
  void aFailedForwardLookupIsTemporaryAndNotReused() throws Exception {
    ClientName n = ReverseLookup.afterForward(ip("192.0.2.7"), "mx1.example.com", 600, Answer.failed("SERVFAIL"));
    assertThat(n.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(n.reverseName()).isEqualTo("mx1.example.com");
    assertThat(n.ttlSeconds()).isZero();
  }

  @Test
  void noPtrRecordIsUnavailableAndAFailedOneTemporarilySo() {
    ClientName none = ((Named) ReverseLookup.afterPtr(Answer.notFound("NXDOMAIN"))).name();
    assertThat(none.name()).isEqualTo("[UNAVAILABLE]");
    assertThat(none.reverseName()).isEqualTo("[UNAVAILABLE]");
    assertThat(none.describe()).isEqualTo("client name unknown: no PTR record");
    ClientName failed = ((Named) ReverseLookup.afterPtr(Answer.failed("timed out"))).name();
    assertThat(failed.name()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(failed.reverseName()).isEqualTo("[TEMPUNAVAIL]");
    assertThat(failed.ttlSeconds()).isZero();
  }

  @Test
  void ptrNamesThatAreAddressesOrMalformedCountAsNoName() {
    for (String bad : List.of("192.0.2.7.", "2001:db8::1", "bad name.example", "-dash.example", "x..example",
        "host.123", "a".repeat(64) + ".example")) {
      var after = ReverseLookup.afterPtr(Answer.found(List.of(bad), 60));
      assertThat(after).as(bad).isInstanceOf(Named.class);
      assertThat(((Named) after).name().reverseName()).as(bad).isEqualTo("[UNAVAILABLE]");
    }
    for (String good : List.of("mx_1.example.com", "a-b.example", "7.example.net", "localhost")) {
      assertThat(ReverseLookup.afterPtr(Answer.found(List.of(good), 60))).as(good).isInstanceOf(Confirm.class);
    }
  }

  @Test
  void longTtlsAreCappedAtAnHour() throws Exception {
    Confirm c = (Confirm) ReverseLookup.afterPtr(Answer.found(List.of("mx.example"), 86_400));
    assertThat(c.ttlSeconds()).isEqualTo(ReverseLookup.MAX_TTL_SECONDS);
    assertThat(ReverseLookup.afterForward(ip("192.0.2.7"), "mx.example", c.ttlSeconds(),
        Answer.found(List.of("192.0.2.7"), 86_400)).ttlSeconds()).isEqualTo(ReverseLookup.MAX_TTL_SECONDS);
  }

  @Test
  void aLinkLocalClientWithItsInterfaceScopeIsStillFoundInTheForwardAnswer() throws Exception {
    // The socket's address of a link-local client carries its interface (fe80::7%2); the AAAA
    // record never does. The address is the same.
    InetAddress client = java.net.Inet6Address.getByAddress(null, ip("fe80::7").getAddress(), 2);
    ClientName n = ReverseLookup.afterForward(client, "printer.lan", 600, Answer.found(List.of("fe80:0:0:0:0:0:0:7"), 600));
    assertThat(n.name()).isEqualTo("printer.lan");
  }

  @Test
  void anIpv4MappedClientIsAskedInTheIpv4Zone() throws Exception {
    InetAddress mapped = ip("::ffff:192.0.2.7");
    assertThat(ReverseLookup.ptrQuestion(mapped)).isEqualTo("7.2.0.192.in-addr.arpa");
    assertThat(ReverseLookup.afterForward(mapped, "mx1.example.com", 600, Answer.found(List.of("192.0.2.7"), 600))
        .isVerified()).isTrue();
  }
}

package dev.sluice.health;

import static dev.sluice.config.HealthProfile.Step.BANNER;
import static dev.sluice.config.HealthProfile.Step.CONNECT;
import static dev.sluice.config.HealthProfile.Step.EHLO;
import static dev.sluice.config.HealthProfile.Step.MAIL_FROM;
import static dev.sluice.config.HealthProfile.Step.QUIT;
import static dev.sluice.config.HealthProfile.Step.RCPT_TO;
import static dev.sluice.config.HealthProfile.Step.STARTTLS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.config.HealthProfile;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.Location;
import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.runtime.Transport;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.TestCertificates;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SmtpProbeTest {
  static final Transport TRANSPORT = Transport.NIO;
  static EventLoopGroup group;
  static SmtpProbe probe;

  @BeforeAll
  static void start() {
    group = TRANSPORT.newGroup(1);
    probe = new SmtpProbe(group, TRANSPORT::clientChannelFactory);
  }

  @AfterAll
  static void stop() {
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  static HealthProfile profile(List<HealthProfile.Step> steps, String mailFrom, String rcptTo, Duration timeout) {
    return new HealthProfile("external", steps, "probe.test", mailFrom, rcptTo, Duration.ofSeconds(5), timeout, 2, 2, 14,
        Map.of(), Location.NONE);
  }

  static final HealthProfile DEEP =
      profile(List.of(CONNECT, BANNER, EHLO, MAIL_FROM, QUIT), "probe@internet.example", null, Duration.ofSeconds(2));

  ProbeResult run(InetSocketAddress at, HealthProfile p) throws Exception {
    return probe.probe(at, new ProbeKey(p.name(), null), p).get(10, TimeUnit.SECONDS);
  }

  @Test
  void healthyServerPassesEveryStepAndIsLeftWithRsetAndQuit() throws Exception {
    try (EmbeddedSmtpServer s = new EmbeddedSmtpServer("s1", null).start(new InetSocketAddress("127.0.0.1", 0), group, TRANSPORT)) {
      ProbeResult r = run(s.address(), DEEP);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.transcript()).first().asString().startsWith("S: 220 s1");
      assertThat(r.transcript()).contains("C: EHLO probe.test", "C: MAIL FROM:<probe@internet.example>", "C: RSET", "C: QUIT");
      assertThat(r.transcript()).last().asString().startsWith("S: 221");
    }
  }

  @Test
  void backPressureAtMailFromIsDegradedNotDown() throws Exception {
    try (EmbeddedSmtpServer s = new EmbeddedSmtpServer("s1", "corp.example").start(new InetSocketAddress("127.0.0.1", 0), group, TRANSPORT)) {
      s.setBackPressure(true);
      ProbeResult r = run(s.address(), DEEP);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.BACK_PRESSURE);
      assertThat(r.reason()).contains("452 4.3.1");
      assertThat(r.transcript()).containsSubsequence("S: 452 4.3.1 Insufficient system resources", "C: RSET", "C: QUIT");
      // The same server still accepts the internal sender: judged per profile.
      HealthProfile internal = profile(DEEP.steps(), "health@corp.example", null, Duration.ofSeconds(2));
      assertThat(run(s.address(), internal).outcome()).isEqualTo(ProbeOutcome.OK);
    }
  }

  @Test
  void bannerHelloOnlyProbeIsBlindToBackPressure() throws Exception {
    // The seed's pitfall 4, shown: a probe that stops at EHLO calls a refusing server healthy.
    try (EmbeddedSmtpServer s = new EmbeddedSmtpServer("s1", null).start(new InetSocketAddress("127.0.0.1", 0), group, TRANSPORT)) {
      s.setBackPressure(true);
      HealthProfile shallow = profile(List.of(CONNECT, BANNER, EHLO, QUIT), "x@y", null, Duration.ofSeconds(2));
      assertThat(run(s.address(), shallow).outcome()).isEqualTo(ProbeOutcome.OK);
    }
  }

  @Test
  void transientReplyAtRcptToIsBackPressure() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250 ok");
      c.hearUntil("MAIL");
      c.say("250 ok");
      c.hearUntil("RCPT");
      c.say("451 4.3.0 try later");
      c.serveRest();
    })) {
      HealthProfile p = profile(List.of(CONNECT, BANNER, EHLO, MAIL_FROM, RCPT_TO, QUIT), "a@b.example", "postmaster@c.example",
          Duration.ofSeconds(2));
      ProbeResult r = run(peer.address(), p);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.BACK_PRESSURE);
      assertThat(peer.received()).containsSubsequence("RCPT TO:<postmaster@c.example>", "RSET", "QUIT");
    }
  }

  @Test
  void serviceNotAvailableBannerIsDown() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("421 4.3.2 Service shutting down");
      c.hear();
    })) {
      ProbeResult r = run(peer.address(), DEEP);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).contains("banner refused").contains("421");
    }
  }

  @Test
  void bannerPastTimeoutIsDown() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.hear(); // never greets; waits until the probe gives up and closes
    })) {
      ProbeResult r = run(peer.address(), profile(DEEP.steps(), "a@b", null, Duration.ofMillis(300)));
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).isEqualTo("timeout waiting for banner reply");
    }
  }

  @Test
  void refusedConnectionIsDown() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    ProbeResult r = run(new InetSocketAddress("127.0.0.1", port), DEEP);
    assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
    assertThat(r.reason()).startsWith("connect failed");
  }

  @Test
  void permanentRefusalOfTheProbeSenderIsAMisconfiguration() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250 ok");
      c.hearUntil("MAIL");
      c.say("553 5.7.1 Sender address rejected");
      c.serveRest();
    })) {
      ProbeResult r = run(peer.address(), DEEP);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.MISCONFIGURED);
      assertThat(r.reason()).contains("profile 'external'").contains("553 5.7.1");
    }
  }

  @Test
  void multiLineEhloSplitAcrossPacketsIsOneReply() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220-first greeting line");
      c.say("220 second greeting line");
      c.hearUntil("EHLO");
      c.raw("250-mx.exa");
      c.raw("mple\r\n250-PIPE");
      c.raw("LINING\r\n250 8BIT");
      c.raw("MIME\r\n");
      c.serveRest();
    })) {
      ProbeResult r = run(peer.address(), DEEP);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.transcript()).contains("S: 250-mx.example", "S: 250-PIPELINING", "S: 250 8BITMIME");
    }
  }

  @Test
  void connectOnlyProbeStillReadsBannerAndQuits() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.serveRest();
    })) {
      ProbeResult r = run(peer.address(), profile(List.of(CONNECT), "a@b", null, Duration.ofSeconds(2)));
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.OK);
      assertThat(peer.received()).containsExactly("QUIT");
    }
  }

  @Test
  void failedTlsHandshakeIsDown() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250 STARTTLS");
      c.hearUntil("STARTTLS");
      c.say("220 go ahead");
      c.raw("this is not a TLS server hello\r\n");
      c.hear();
    })) {
      ProbeResult r = run(peer.address(), profile(List.of(CONNECT, BANNER, EHLO, STARTTLS, MAIL_FROM, QUIT), "a@b", null,
          Duration.ofSeconds(2)));
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).startsWith("TLS handshake failed");
    }
  }

  static final HealthProfile TLS =
      profile(List.of(CONNECT, BANNER, EHLO, STARTTLS, MAIL_FROM, QUIT), "probe@internet.example", null, Duration.ofSeconds(5));

  @Test
  void startTlsRecordsTheCertificateAndSendsEhloAgain() throws Exception {
    Instant notAfter = Instant.now().plus(Duration.ofDays(90)).plusSeconds(3600);
    TestCertificates.Issued cert = TestCertificates.selfSigned("mx.valid.test", Instant.now().minus(Duration.ofDays(1)), notAfter);
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      ProbeResult r = run(peer.address(), TLS);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.certificate()).isNotNull();
      assertThat(r.certificate().subject()).isEqualTo("CN=mx.valid.test");
      assertThat(r.certificate().notAfter()).isEqualTo(notAfter.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
      assertThat(r.certificate().daysLeft()).isEqualTo(90);
      assertThat(r.certificate().expired()).isFalse();
      assertThat(r.transcript()).anySatisfy(l -> assertThat(l).startsWith("*: TLS TLSv1.")
          .contains("certificate CN=mx.valid.test, expires " + r.certificate().notAfter() + " (90 days)"));
      // RFC 3207 §4.2: EHLO again inside TLS, then the transaction, then the polite ending.
      assertThat(peer.received()).containsSubsequence("EHLO probe.test", "STARTTLS", "EHLO probe.test",
          "MAIL FROM:<probe@internet.example>", "RSET", "QUIT");
    }
  }

  @Test
  void aTlsStepShakesHandsBeforeTheBannerAsOnPort465() throws Exception {
    Instant notAfter = Instant.now().plus(Duration.ofDays(30)).plusSeconds(3600);
    TestCertificates.Issued cert = TestCertificates.selfSigned("smtps.valid.test", Instant.now().minus(Duration.ofDays(1)), notAfter);
    HealthProfile smtps = profile(List.of(CONNECT, HealthProfile.Step.TLS, BANNER, EHLO, MAIL_FROM, QUIT),
        "probe@internet.example", null, Duration.ofSeconds(5));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.implicitTlsServer(cert.serverContext()))) {
      ProbeResult r = run(peer.address(), smtps);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.certificate().subject()).isEqualTo("CN=smtps.valid.test");
      assertThat(r.certificate().daysLeft()).isEqualTo(30);
      assertThat(r.transcript().get(0)).startsWith("*: TLS TLSv1.");
      assertThat(r.transcript().get(1)).isEqualTo("S: 220 smtps.scripted ESMTP");
      assertThat(peer.received()).containsExactly("EHLO probe.test", "MAIL FROM:<probe@internet.example>", "RSET", "QUIT");
    }
    // A server that greets in plain text is not on an implicit-TLS port: the handshake fails.
    try (ScriptedPeer plain = new ScriptedPeer(c -> {
      c.say("220 plain.scripted ESMTP");
      c.serveRest();
    })) {
      ProbeResult r = run(plain.address(), smtps);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).startsWith("TLS handshake failed");
    }
  }

  @Test
  void expiredCertificateIsReportedButDoesNotFailTheProbe() throws Exception {
    Instant now = Instant.now();
    TestCertificates.Issued cert = TestCertificates.selfSigned("mx.expired.test", now.minus(Duration.ofDays(400)),
        now.minus(Duration.ofDays(3)).minusSeconds(3600));
    try (ScriptedPeer peer = new ScriptedPeer(ScriptedPeer.startTlsServer(cert.serverContext()))) {
      ProbeResult r = run(peer.address(), TLS);
      // Chain and date validation belong to backend_tls: the server still takes mail, so it is up.
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.certificate().expired()).isTrue();
      assertThat(r.certificate().daysLeft()).isEqualTo(-4);
      assertThat(r.transcript()).anySatisfy(l -> assertThat(l).contains("certificate CN=mx.expired.test, EXPIRED ")
          .endsWith("(-4 days)"));
    }
  }

  @Test
  void daysLeftRoundsDownSoAnExpiredCertificateIsNeverZeroDays() {
    Instant now = Instant.parse("2030-01-10T12:00:00Z");
    TestCertificates.Issued justExpired = TestCertificates.selfSigned("a", now.minus(Duration.ofDays(30)), now.minusSeconds(60));
    TestCertificates.Issued lastDay = TestCertificates.selfSigned("b", now.minus(Duration.ofDays(30)), now.plusSeconds(60));
    ProbeResult.CertificateInfo expired = ProbeResult.CertificateInfo.of(justExpired.certificate(), now);
    ProbeResult.CertificateInfo valid = ProbeResult.CertificateInfo.of(lastDay.certificate(), now);
    assertThat(expired.daysLeft()).isEqualTo(-1);
    assertThat(expired.expired()).isTrue();
    assertThat(expired.expiresWithin(0)).isTrue();
    assertThat(valid.daysLeft()).isZero();
    assertThat(valid.expired()).isFalse();
    assertThat(valid.expiresWithin(0)).isFalse();
    assertThat(valid.expiresWithin(1)).isTrue();
  }

  ProbeResult runAs(InetSocketAddress at, ClientIdentity identity) throws Exception {
    return probe.probe(at, new ProbeKey(DEEP.name(), null, identity, BackendTls.NONE, null), DEEP).get(10, TimeUnit.SECONDS);
  }

  /**
   * The probe keeps what AUTH the backend offered in the EHLO reply that follows the session setup
   * (here after XCLIENT, where a server may offer more than to Sluice itself): smtp listeners with
   * {@code auth: relay} offer clients what their backends can do.
   */
  @Test
  void theProbeRecordsTheAuthMechanismsOfTheLastEhloReply() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250-AUTH PLAIN").say("250 XCLIENT ADDR");
      c.hearUntil("XCLIENT");
      c.say("220 mx ESMTP");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250 AUTH login plain");
      c.serveRest();
    })) {
      ProbeResult r = runAs(peer.address(), ClientIdentity.XCLIENT);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(r.authMechanisms()).containsExactly("LOGIN", "PLAIN");
    }
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.serveRest();
    })) {
      assertThat(runAs(peer.address(), ClientIdentity.NONE).authMechanisms()).as("EHLO without AUTH").isEmpty();
    }
  }

  /** As live sessions do: XCLIENT with the attributes offered, naming the probe itself, then EHLO again. */
  @Test
  void xclientProbeNamesItselfAndGreetsAgain() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250 XCLIENT NAME ADDR HELO");
      c.hearUntil("XCLIENT");
      c.say("220 mx ESMTP");
      c.serveRest();
    })) {
      ProbeResult r = runAs(peer.address(), ClientIdentity.XCLIENT);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(peer.received()).containsSubsequence("EHLO probe.test",
          "XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE] HELO=probe.test", "EHLO probe.test",
          "MAIL FROM:<probe@internet.example>", "RSET", "QUIT");
    }
  }

  @Test
  void xclientRefusedOrNotOfferedIsDownWithTheReason() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250 XCLIENT ADDR");
      c.hearUntil("XCLIENT");
      c.say("550 5.7.0 Error: insufficient authorization");
      c.serveRest();
    })) {
      ProbeResult r = runAs(peer.address(), ClientIdentity.XCLIENT);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).isEqualTo("XCLIENT refused: 550 5.7.0 Error: insufficient authorization");
      assertThat(peer.received()).doesNotContain("MAIL FROM:<probe@internet.example>").endsWith("QUIT");
    }
    try (EmbeddedSmtpServer s = new EmbeddedSmtpServer("s1", null).start(new InetSocketAddress("127.0.0.1", 0), group, TRANSPORT)) {
      ProbeResult r = runAs(s.address(), ClientIdentity.XCLIENT);
      assertThat(r.outcome()).isEqualTo(ProbeOutcome.FAILED);
      assertThat(r.reason()).isEqualTo("backend does not offer XCLIENT to 127.0.0.1 (Postfix: add it to"
          + " smtpd_authorized_xclient_hosts)");
      r = runAs(s.address(), ClientIdentity.XFORWARD);
      assertThat(r.reason()).contains("does not offer XFORWARD", "smtpd_authorized_xforward_hosts");
    }
  }

  @Test
  void xforwardProbeSendsItBeforeMailFrom() throws Exception {
    try (ScriptedPeer peer = new ScriptedPeer(c -> {
      c.say("220 ready");
      c.hearUntil("EHLO");
      c.say("250-mx").say("250 XFORWARD NAME ADDR PROTO HELO");
      c.serveRest();
    })) {
      ProbeResult r = runAs(peer.address(), ClientIdentity.XFORWARD);
      assertThat(r.outcome()).as(r.transcript().toString()).isEqualTo(ProbeOutcome.OK);
      assertThat(peer.received()).containsSubsequence("EHLO probe.test",
          "XFORWARD ADDR=127.0.0.1 NAME=[UNAVAILABLE] PROTO=ESMTP HELO=probe.test", "MAIL FROM:<probe@internet.example>");
    }
  }
}

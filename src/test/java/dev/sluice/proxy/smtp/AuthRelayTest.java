package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** {@code auth: relay}: AUTH goes to one backend, the session stays there, credentials never leak. */
class AuthRelayTest {

  /** A backend that wants AUTH PLAIN with a 334 challenge, and counts messages. */
  static ScriptedPeer authServer(String name, AtomicInteger messages) throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 " + name + " ready");
      String line;
      while ((line = c.hear()) != null) {
        String u = line.toUpperCase();
        if (u.startsWith("EHLO")) {
          c.say("250-" + name).say("250 AUTH PLAIN");
        } else if (u.startsWith("AUTH PLAIN")) {
          String[] words = line.split(" ");
          String response = words.length > 2 ? words[2] : c.say("334 ").hear(); // initial response (RFC 4954 §4)
          c.say(response.equals("AGJvYgBzZWNyZXQ=") ? "235 2.7.0 Authentication successful" : "535 5.7.8 Authentication failed");
        } else if (u.startsWith("DATA")) {
          c.say("354 go ahead");
          while (!".".equals(c.hear())) {
            // body
          }
          messages.incrementAndGet();
          c.say("250 2.0.0 queued at " + name);
        } else if (u.startsWith("QUIT")) {
          c.say("221 bye");
          return;
        } else {
          c.say("250 2.0.0 Ok");
        }
      }
    });
  }

  @Test
  void authenticatedSessionStaysOnItsBackendAndCredentialsAreNeverObserved() throws Exception {
    AtomicInteger m1 = new AtomicInteger();
    AtomicInteger m2 = new AtomicInteger();
    List<String> observed = new CopyOnWriteArrayList<>();
    SessionObserver recorder = new SessionObserver() {
      @Override
      public void received(SessionInfo s, String line) {
        observed.add(line);
      }
    };
    try (ScriptedPeer a = authServer("one", m1); ScriptedPeer b = authServer("two", m2);
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d", "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(a.port(), b.port()), recorder);
        Socket s = new Socket()) {
      InetSocketAddress at = f.address("l");
      s.connect(at);
      s.setSoTimeout(10_000);
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
      OutputStream out = s.getOutputStream();
      assertThat(in.readLine()).startsWith("220");
      out.write("EHLO c.test\r\n".getBytes());
      String l;
      boolean offered = false;
      while ((l = in.readLine()).charAt(3) == '-') {
        offered |= l.contains("AUTH PLAIN");
      }
      assertThat(offered).isTrue();
      out.write("AUTH PLAIN\r\n".getBytes());
      assertThat(in.readLine()).startsWith("334");
      out.write("AGJvYgBzZWNyZXQ=\r\n".getBytes());
      assertThat(in.readLine()).startsWith("235 2.7.0");
      for (int i = 0; i < 4; i++) {
        out.write("MAIL FROM:<bob@corp.example>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n".getBytes());
        assertThat(in.readLine()).startsWith("250");
        assertThat(in.readLine()).startsWith("250");
        assertThat(in.readLine()).startsWith("354");
        out.write("Subject: t\r\n\r\nhi\r\n.\r\n".getBytes());
        assertThat(in.readLine()).startsWith("250 2.0.0 queued at");
      }
      out.write("QUIT\r\n".getBytes());
      assertThat(in.readLine()).startsWith("221");
    }
    // Every message went to the backend that authenticated the session.
    assertThat(List.of(m1.get(), m2.get())).containsExactlyInAnyOrder(4, 0);
    assertThat(String.join("\n", observed)).doesNotContain("AGJvYgBzZWNyZXQ=").contains("AUTH PLAIN").contains("(SASL response)");
  }

  /**
   * A client that sends its credentials without waiting for the 334 after a refused AUTH (the
   * backend offers no LOGIN; Sluice itself refuses a second AUTH) has them taken as a command:
   * they must not reach the protocol log as one.
   */
  @Test
  void credentialsSentAfterARefusedAuthAreNotObserved() throws Exception {
    List<String> observed = new CopyOnWriteArrayList<>();
    SessionObserver recorder = new SessionObserver() {
      @Override
      public void received(SessionInfo s, String line) {
        observed.add(line);
      }
    };
    try (ScriptedPeer a = new ScriptedPeer(c -> {
          c.say("220 one ready");
          String line;
          while ((line = c.hear()) != null) {
            String u = line.toUpperCase();
            if (u.startsWith("EHLO")) {
              c.say("250-one").say("250 AUTH PLAIN");
            } else if (u.startsWith("AUTH")) {
              c.say("504 5.5.4 Unrecognized authentication type");
            } else {
              c.say("250 2.0.0 Ok");
            }
          }
        });
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(a.port()), recorder);
        dev.sluice.testing.RawSmtpClient r = dev.sluice.testing.RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO c.test\r\n");
      r.expect("250");
      r.send("AUTH LOGIN\r\nYm9i\r\n"); // "bob", without waiting
      assertThat(r.reply()).startsWith("504");
      assertThat(r.reply()).startsWith("500");
      r.send("NOOP\r\n");
      assertThat(r.reply()).startsWith("250");
    }
    assertThat(observed).doesNotContain("Ym9i").contains("(line after a refused AUTH, not logged)", "NOOP");
  }

  /** Runs one authenticating session on {@code l}: AUTH PLAIN with an initial response, then one message. */
  static String authenticateAndSend(SluiceFixture f) throws Exception {
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO c.test\r\n");
      r.expect("250");
      r.send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n");
      String verdict = r.reply();
      if (!verdict.startsWith("235")) {
        return verdict;
      }
      r.send("MAIL FROM:<bob@corp.example>\r\nRCPT TO:<x@example.test>\r\nDATA\r\n");
      r.expect("250");
      r.expect("250");
      r.expect("354");
      r.send("Subject: t\r\n\r\nhi\r\n.\r\n");
      r.expect("250 2.0.0 queued at");
      return verdict;
    }
  }

  /** A backend whose SMTP service is fine but which offers no AUTH (Postfix's default). */
  static ScriptedPeer withoutAuth() throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 plain ready");
      c.serveRest();
    });
  }

  /** Records the retries the sessions report. */
  static final class Retries implements SessionObserver {
    final List<String> reasons = new CopyOnWriteArrayList<>();

    @Override
    public void retry(SessionInfo s, dev.sluice.balance.Backend b, String reason, boolean another) {
      reasons.add(b.name() + ": " + reason + (another ? "" : " (last)"));
    }
  }

  /**
   * A pool where one server offers no AUTH (configured unevenly): AUTH is taken to the one that
   * does, every time, and the other is not counted as failing (it would be ejected after one
   * failure here, and ejection would show in its MAIL traffic).
   */
  @Test
  void aBackendWithoutAuthIsPassedOverAndNotHeldAgainstIt() throws Exception {
    AtomicInteger m1 = new AtomicInteger();
    Retries retries = new Retries();
    try (ScriptedPeer a = authServer("one", m1); ScriptedPeer plain = withoutAuth();
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { passive: { consecutive_failures: 1 },
                          backends: [ { name: one, address: "127.0.0.1:%d" }, { name: plain, address: "127.0.0.1:%d" } ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(a.port(), plain.port()), retries)) {
      for (int i = 0; i < 4; i++) {
        assertThat(authenticateAndSend(f)).startsWith("235 2.7.0");
      }
      assertThat(m1.get()).isEqualTo(4);
      // Round robin offered "plain" first to some of them: passed over, counted as an "auth" retry.
      assertThat(retries.reasons).isNotEmpty().allSatisfy(r -> assertThat(r).startsWith(
          "plain: AUTH: does not offer AUTH to Sluice (Postfix: smtpd_sasl_auth_enable = yes"));
      assertThat(plain.received()).noneMatch(l -> l.startsWith("AUTH"));
      // Not ejected: unauthenticated mail still reaches it.
      try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
        r.expect("220");
        r.send("EHLO c.test\r\n");
        r.expect("250");
        for (int i = 0; i < 4; i++) {
          r.send("MAIL FROM:<x@corp.example>\r\nRCPT TO:<y@example.test>\r\nRSET\r\n");
          r.expect("250");
          r.expect("250");
          r.expect("250");
        }
      }
      assertThat(plain.received()).anyMatch(l -> l.startsWith("RCPT TO:<y@example.test>"));
    }
  }

  /**
   * No backend offers AUTH: a temporary 454 (the operator has to fix the pool; the client keeps
   * its mail), never a backend's 502 that a client would take as final.
   */
  @Test
  void noBackendOfferingAuthIsATemporaryRefusal() throws Exception {
    try (ScriptedPeer plain = withoutAuth();
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(plain.port()))) {
      assertThat(authenticateAndSend(f)).startsWith("454 4.7.0").contains("authentication server unavailable");
      assertThat(plain.received()).noneMatch(l -> l.startsWith("AUTH"));
    }
  }

  /** The servers offer AUTH, but not the client's mechanism: 504, so the client may choose another. */
  @Test
  void aMechanismNoBackendOffersIsRefusedAsUnsupported() throws Exception {
    try (ScriptedPeer a = authServer("one", new AtomicInteger());
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(a.port()));
        RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO c.test\r\n");
      r.expect("250");
      r.send("AUTH login\r\n");
      assertThat(r.reply()).isEqualTo("504 5.5.4 Unsupported authentication mechanism");
      r.send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n");
      assertThat(r.reply()).startsWith("235");
      assertThat(a.received()).noneMatch(l -> l.toUpperCase().startsWith("AUTH LOGIN"));
    }
  }

  /**
   * A server whose SASL service is down answers the AUTH command itself with 454: the credentials
   * were not judged, so the same AUTH goes to another server and the client is authenticated there.
   */
  @Test
  void aTemporaryAuthFailureIsRetriedOnAnotherBackend() throws Exception {
    AtomicInteger m1 = new AtomicInteger();
    Retries retries = new Retries();
    try (ScriptedPeer broken = new ScriptedPeer(c -> {
          c.say("220 broken ready");
          String line;
          while ((line = c.hear()) != null) {
            String u = line.toUpperCase();
            if (u.startsWith("EHLO")) {
              c.say("250-broken").say("250 AUTH PLAIN LOGIN");
            } else if (u.startsWith("AUTH")) {
              c.say("454 4.7.0 Temporary authentication failure: generic failure");
            } else if (u.startsWith("QUIT")) {
              c.say("221 bye");
              return;
            } else {
              c.say("250 2.0.0 Ok");
            }
          }
        });
        ScriptedPeer a = authServer("one", m1);
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ { name: broken, address: "127.0.0.1:%d" }, { name: one, address: "127.0.0.1:%d" } ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(broken.port(), a.port()), retries)) {
      for (int i = 0; i < 2; i++) {
        assertThat(authenticateAndSend(f)).startsWith("235 2.7.0");
      }
      assertThat(m1.get()).isEqualTo(2);
      assertThat(retries.reasons).contains("broken: AUTH answered 454 4.7.0 Temporary authentication failure: generic failure");
    }
  }

  /** The EHLO reply Sluice gives a client on listener {@code l}. */
  static String ehloReply(SluiceFixture f) throws Exception {
    try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null)) {
      r.expect("220");
      r.send("EHLO c.test\r\n");
      return r.replyLines();
    }
  }

  /** A backend that offers {@code auth} in its EHLO reply and serves the rest plainly. */
  static ScriptedPeer offering(String auth) throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 mx ready");
      String line;
      while ((line = c.hear()) != null) {
        if (line.toUpperCase().startsWith("EHLO")) {
          c.say("250-mx").say("250 " + auth);
        } else if (line.toUpperCase().startsWith("QUIT")) {
          c.say("221 bye");
          return;
        } else {
          c.say("250 2.0.0 Ok");
        }
      }
    });
  }

  /**
   * AUTH offers what the backends offered the probes, less what cannot be relayed (EXTERNAL, SCRAM,
   * DIGEST-MD5), so a client never picks a mechanism no server behind Sluice can do.
   */
  @Test
  void authOffersTheMechanismsTheBackendsOfferThatCanBeRelayed() throws Exception {
    try (ScriptedPeer a = offering("AUTH SCRAM-SHA-256 SCRAM-SHA-256-PLUS DIGEST-MD5 CRAM-MD5 PLAIN EXTERNAL");
        ScriptedPeer b = offering("AUTH=PLAIN XOAUTH2");
        SluiceFixture f = SluiceFixture.start("""
            health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d", "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
            """.formatted(a.port(), b.port()))) {
      assertThat(ehloReply(f)).contains("250-AUTH CRAM-MD5 PLAIN XOAUTH2\n");
    }
  }

  /** Without an EHLO in the probes there is nothing to learn from: PLAIN and LOGIN, which every client has. */
  @Test
  void authOffersPlainAndLoginUntilAProbeHasSeenAnEhloReply() throws Exception {
    try (ScriptedPeer a = offering("AUTH CRAM-MD5");
        SluiceFixture f = SluiceFixture.start("""
            health: { bare: { steps: [connect, banner, quit], interval: 60s, timeout: 5s } }
            pools: { p: { backends: [ "127.0.0.1:%d" ] } }
            listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: bare, auth: relay } }
            """.formatted(a.port()))) {
      assertThat(ehloReply(f)).contains("250-AUTH PLAIN LOGIN\n");
    }
  }
}

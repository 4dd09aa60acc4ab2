package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * {@code auth: relay} under abuse and at its limits: password guessing, a backend's own limits on a
 * client, long and undecodable SASL responses, credentials in malformed or refused lines, and an
 * authenticated session kept open with NOOPs.
 */
class AuthRelayLimitsTest {

  /** The only credentials {@link #saslServer} accepts: "\0bob\0secret". */
  static final String GOOD = "AGJvYgBzZWNyZXQ=";

  /**
   * A backend offering AUTH PLAIN LOGIN whose verdict on a SASL response depends on the response:
   * {@link #GOOD} authenticates; {@code rate} gets Postfix's AUTH rate limit (450 4.7.1); {@code bye}
   * Postfix's hard error limit (421 4.7.0, then it closes); {@code down} a SASL service that is
   * down (454); a lone {@code *} cancels (501); anything else fails (535).
   */
  static ScriptedPeer saslServer() throws Exception {
    return new ScriptedPeer(c -> {
      c.say("220 one ready");
      String line;
      while ((line = c.hear()) != null) {
        String u = line.toUpperCase();
        if (u.startsWith("EHLO")) {
          c.say("250-one").say("250 AUTH PLAIN LOGIN");
        } else if (u.startsWith("AUTH ")) {
          String[] words = line.split(" ");
          String response = words.length > 2 ? words[2] : c.say("334 ").hear();
          switch (response) {
            case GOOD -> c.say("235 2.7.0 Authentication successful");
            case "rate" -> c.say("450 4.7.1 Error: too many AUTH commands from 127.0.0.1");
            case "bye" -> {
              c.say("421 4.7.0 one Error: too many errors");
              return;
            }
            case "down" -> c.say("454 4.7.0 Temporary authentication failure: generic failure");
            case "*" -> c.say("501 5.7.0 Authentication aborted");
            default -> c.say("535 5.7.8 Error: authentication failed: authentication failure");
          }
        } else if (u.startsWith("QUIT")) {
          c.say("221 bye");
          return;
        } else {
          c.say("250 2.0.0 Ok");
        }
      }
    });
  }

  static SluiceFixture sluice(ScriptedPeer backend, SessionObserver observer) throws Exception {
    // One failure ejects: any failure counted against the backend would show in the next session.
    return SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { passive: { consecutive_failures: 1 }, backends: [ { name: one, address: "127.0.0.1:%d" } ] } }
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay } }
        """.formatted(backend.port()), observer);
  }

  static RawSmtpClient greeted(SluiceFixture f) throws IOException {
    RawSmtpClient r = RawSmtpClient.connect(f.address("l"), null);
    r.expect("220");
    r.send("EHLO c.test\r\n");
    r.expect("250");
    return r;
  }

  /** Records what the sessions received and the retries they report. */
  static final class Recorder implements SessionObserver {
    final List<String> received = new CopyOnWriteArrayList<>();
    final List<String> retries = new CopyOnWriteArrayList<>();

    @Override
    public void received(SessionInfo s, String line) {
      received.add(line);
    }

    @Override
    public void retry(SessionInfo s, dev.sluice.balance.Backend b, String reason, boolean another) {
      retries.add(b.name() + ": " + reason);
    }
  }

  /**
   * {@code limits.auth_failures}: a guesser that reconnects for every few guesses (which the error
   * limit never stops) finds AUTH refused here once its address has failed too often; the backend
   * never hears those attempts, and another address still logs in.
   */
  @Test
  void failedLoginsPerAddressAreLimitedAcrossSessions() throws Exception {
    Recorder recorder = new Recorder();
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = SluiceFixture.start("""
        health: { basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s } }
        pools: { p: { backends: [ { name: one, address: "127.0.0.1:%d" } ] } }
        listeners: { l: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, auth: relay,
                          limits: { auth_failures: 3/h } } }
        """.formatted(backend.port()), recorder)) {
      for (int session = 0; session < 3; session++) {
        try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), "127.0.0.92")) {
          r.expect("220");
          r.send("EHLO guesser.test\r\n");
          r.expect("250");
          r.send("AUTH PLAIN guess" + session + "\r\n");
          assertThat(r.reply()).startsWith("535 5.7.8");
        }
      }
      try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), "127.0.0.92")) {
        r.expect("220");
        r.send("EHLO guesser.test\r\n");
        r.expect("250");
        r.send("AUTH PLAIN " + GOOD + "\r\n");
        assertThat(r.reply()).startsWith("454 4.7.0").contains("too many failed logins from your address");
        r.send("MAIL FROM:<a@internet.example>\r\n");
        assertThat(r.reply()).as("its mail is not refused").startsWith("250");
      }
      assertThat(backend.received()).filteredOn(l -> l.startsWith("AUTH")).hasSize(3);
      var page = new java.io.ByteArrayOutputStream();
      f.server().metrics().write(page);
      assertThat(dev.sluice.testing.PrometheusText.parse(page.toString(java.nio.charset.StandardCharsets.UTF_8))
          .sum("sluice_auth_refused_total", "listener", "l")).isEqualTo(1);
      try (RawSmtpClient r = RawSmtpClient.connect(f.address("l"), "127.0.0.93")) {
        r.expect("220");
        r.send("EHLO user.test\r\n");
        r.expect("250");
        r.send("AUTH PLAIN " + GOOD + "\r\n");
        assertThat(r.reply()).as("another address").startsWith("235");
      }
    }
  }

  /** Failed AUTHs are errors: the twentieth ends the session with 421, as Postfix's hard error limit does. */
  @Test
  void guessingPasswordsEndsAtTheErrorLimit() throws Exception {
    Recorder recorder = new Recorder();
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, recorder);
        RawSmtpClient r = greeted(f)) {
      for (int i = 1; i < 20; i++) {
        r.send("AUTH PLAIN guess" + i + "\r\n");
        assertThat(r.reply()).startsWith("535 5.7.8");
      }
      r.send("AUTH PLAIN guess20\r\n");
      assertThat(r.reply()).startsWith("535 5.7.8");
      assertThat(r.reply()).startsWith("421 4.7.0").contains("too many errors");
      assertThatThrownBy(r::reply).isInstanceOf(IOException.class);
      assertThat(backend.received()).filteredOn(l -> l.startsWith("AUTH")).hasSize(20);
      assertThat(recorder.retries).isEmpty();
    }
  }

  /**
   * Postfix's limits on a client (its AUTH rate limit, its hard error limit) are answers about that
   * client: they reach it, and the backend is not held to have failed: the next client
   * authenticates there (one counted failure would have ejected it).
   */
  @Test
  void aBackendsLimitsOnOneClientDoNotEjectItForOthers() throws Exception {
    Recorder recorder = new Recorder();
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, recorder)) {
      try (RawSmtpClient r = greeted(f)) {
        r.send("AUTH PLAIN rate\r\n");
        assertThat(r.reply()).isEqualTo("450 4.7.1 Error: too many AUTH commands from 127.0.0.1");
        r.send("NOOP\r\n");
        assertThat(r.reply()).startsWith("250");
        // The backend closes its session: the client's goes on (451, as for any backend's 421),
        // under Sluice's own error limit.
        r.send("AUTH PLAIN bye\r\n");
        assertThat(r.reply()).isEqualTo("451 4.7.0 one Error: too many errors");
        r.send("NOOP\r\n");
        assertThat(r.reply()).startsWith("250");
      }
      try (RawSmtpClient r = greeted(f)) {
        r.send("AUTH PLAIN " + GOOD + "\r\n");
        assertThat(r.reply()).startsWith("235 2.7.0");
      }
      assertThat(recorder.retries).isEmpty();
    }
  }

  /**
   * SASL responses may be far longer than a command (Kerberos and OAuth tokens): up to Postfix's
   * 12288 bytes they are relayed; a longer one ends the exchange with Postfix's 500 5.5.6, the
   * backend is told the client cancelled, and the next line is a command again.
   */
  @Test
  void saslResponsesAreRelayedUpToPostfixsLimitAndALongerOneEndsTheExchange() throws Exception {
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, new Recorder());
        RawSmtpClient r = greeted(f)) {
      String token = "A".repeat(12_000);
      r.send("AUTH PLAIN\r\n");
      r.expect("334");
      r.send(token + "\r\n");
      assertThat(r.reply()).startsWith("535");
      assertThat(backend.received()).contains(token);

      r.send("AUTH PLAIN\r\n");
      r.expect("334");
      r.send("B".repeat(13_000) + "\r\n");
      assertThat(r.reply()).isEqualTo("500 5.5.6 SASL response limit exceeded");
      r.send("NOOP\r\n");
      assertThat(r.reply()).startsWith("250");
      assertThat(backend.received()).contains("*").noneMatch(l -> l.startsWith("B"));

      // Split over several reads, and longer than what is buffered while waiting.
      r.send("AUTH PLAIN\r\n");
      r.expect("334");
      for (int i = 0; i < 10; i++) {
        r.send("C".repeat(8_000));
      }
      r.send("\r\nNOOP\r\n");
      assertThat(r.reply()).isEqualTo("500 5.5.6 SASL response limit exceeded");
      assertThat(r.reply()).startsWith("250");
    }
  }

  /** A SASL response that is not text (base64 is ASCII) ends the exchange; the session goes on. */
  @Test
  void anUndecodableSaslResponseEndsTheExchange() throws Exception {
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, new Recorder());
        RawSmtpClient r = greeted(f)) {
      r.send("AUTH LOGIN\r\n");
      r.expect("334");
      r.send("\u00ff\u00fe\r\n");
      assertThat(r.reply()).isEqualTo("501 5.5.2 Cannot decode response");
      r.send("AUTH PLAIN " + GOOD + "\r\n");
      assertThat(r.reply()).startsWith("235");
      assertThat(backend.received()).contains("*");
    }
  }

  /**
   * A mechanism Sluice did not offer is refused here (504), without asking any backend; a client
   * that pipelined its credentials after it has every line up to the next command kept out of the
   * logs, and so has an AUTH written with a tab or a leading space.
   */
  @Test
  void credentialsInRefusedOrMalformedAuthLinesAreNeverObserved() throws Exception {
    Recorder recorder = new Recorder();
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, recorder);
        RawSmtpClient r = greeted(f)) {
      r.send("AUTH CRAM-MD5\r\nYm9i\r\nc2VjcmV0\r\nNOOP\r\n");
      assertThat(r.reply()).isEqualTo("504 5.5.4 Unsupported authentication mechanism");
      assertThat(r.reply()).startsWith("500");
      assertThat(r.reply()).startsWith("500");
      assertThat(r.reply()).startsWith("250");
      r.send("AUTH\tPLAIN dGFiYmVk\r\n");
      assertThat(r.reply()).startsWith("5");
      r.send(" AUTH PLAIN c3BhY2Vk\r\n");
      assertThat(r.reply()).startsWith("5");
      r.send("NOOP\r\n");
      assertThat(r.reply()).startsWith("250");
    }
    assertThat(String.join("\n", recorder.received))
        .doesNotContain("Ym9i", "c2VjcmV0", "dGFiYmVk", "c3BhY2Vk").contains("AUTH CRAM-MD5", "NOOP");
    assertThat(recorder.retries).isEmpty();
  }

  /**
   * NOOP on an authenticated session reaches the backend it is pinned to, so a client that keeps
   * its connection open with NOOPs keeps that backend session open too (its idle timeout counts
   * from its last command); an unauthenticated NOOP is answered here.
   */
  @Test
  void noopOnAnAuthenticatedSessionKeepsItsBackendSessionAlive() throws Exception {
    try (ScriptedPeer backend = saslServer(); SluiceFixture f = sluice(backend, new Recorder());
        RawSmtpClient r = greeted(f)) {
      r.send("NOOP\r\n");
      r.expect("250");
      assertThat(backend.received()).doesNotContain("NOOP");
      r.send("AUTH PLAIN " + GOOD + "\r\n");
      r.expect("235");
      r.send("NOOP\r\nNOOP\r\n");
      r.expect("250");
      r.expect("250");
      assertThat(backend.received()).filteredOn("NOOP"::equals).hasSize(2);
    }
  }
}

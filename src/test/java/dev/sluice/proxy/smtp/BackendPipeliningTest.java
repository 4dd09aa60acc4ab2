package dev.sluice.proxy.smtp;

import static dev.sluice.testing.Loopback.client;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.lab.EmbeddedSmtpServer;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.testing.LoopbackLab;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * RFC 2920 towards backends: what a client pipelines after MAIL goes to a backend that offers
 * PIPELINING in one write, and the replies still follow the session's own decisions. Also the
 * backend sessions' bookkeeping around it: a session is in step (idle) for the client's next
 * command, and a client that leaves leaves nothing open behind.
 */
class BackendPipeliningTest {
  static final String GROUP = "MAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nRCPT TO:<c@corp.example>\r\n"
      + "DATA\r\n";
  final LoopbackLab lab = new LoopbackLab();

  @AfterEach
  void tearDown() throws Exception {
    lab.close();
  }

  static final String TIMEOUTS = "timeouts: { command: 30s }";

  SluiceFixture sluice(String... backends) throws Exception {
    return sluice(SessionObserver.NONE, TIMEOUTS, backends);
  }

  /** {@code listenerSettings}: added to the listener's (flow) mapping. */
  SluiceFixture sluice(SessionObserver observer, String listenerSettings, String... backends) throws Exception {
    StringBuilder y = new StringBuilder("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s }
        pools:
          p:
            backends:
        """);
    for (String b : backends) {
      y.append("      - ").append(b).append('\n');
    }
    y.append("""
        listeners:
          l: { listen: 127.0.0.1:0, mode: smtp, pool: p, health: basic, hostname: mx.test, %s }
        """.formatted(listenerSettings));
    SluiceFixture f = SluiceFixture.start(y.toString(), observer);
    lab.add(f);
    return f;
  }

  ScriptedPeer peer(ScriptedPeer.Script session) throws Exception {
    ScriptedPeer p = new ScriptedPeer(ScriptedPeer.afterHealthProbe("220 scripted ready", session));
    lab.add(p);
    return p;
  }

  static String entry(String name, int port) {
    return "{ name: " + name + ", address: 127.0.0.1:" + port + " }";
  }

  /**
   * A backend's part: EHLO with PIPELINING, then it hears {@link #GROUP} whole before it answers
   * it with {@code replies}, in one write.
   */
  static void answerGroupWhole(ScriptedPeer.Conversation c, String replies) throws java.io.IOException {
    c.hearUntil("EHLO");
    c.say("250-scripted").say("250 PIPELINING");
    c.hearUntil("MAIL");
    c.hear();
    c.hear();
    c.hear();
    c.raw(replies);
  }

  static RawSmtpClient greeted(SluiceFixture f, int client) throws Exception {
    RawSmtpClient r = RawSmtpClient.connect(f.address("l"), client(client).getHostAddress());
    r.expect("220");
    r.send("EHLO p.test\r\n");
    r.expect("250");
    return r;
  }

  /**
   * The backend answers nothing until it holds the whole group: a Sluice that waited for each
   * reply before sending the next command would never get an answer.
   */
  @Test
  void aPipelinedGroupReachesTheBackendBeforeAnyReply() throws Exception {
    ScriptedPeer backend = peer(c -> {
      answerGroupWhole(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n251 2.1.5 Ok, will forward\r\n354 go ahead\r\n");
      c.hearBody();
      c.say("250 2.0.0 Ok: queued as 1");
      c.serveRest();
    });
    SluiceFixture f = sluice(entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 70)) {
      r.send(GROUP);
      assertThat(r.reply()).startsWith("250 2.1.0");
      assertThat(r.reply()).startsWith("250 2.1.5");
      assertThat(r.reply()).startsWith("251 2.1.5");
      assertThat(r.reply()).startsWith("354");
      r.send("Subject: one trip\r\n\r\nhello\r\n.\r\n");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok: queued as 1");
    }
    assertThat(backend.received()).containsSubsequence("MAIL FROM:<a@internet.example>", "RCPT TO:<b@corp.example>",
        "RCPT TO:<c@corp.example>", "DATA", "Subject: one trip", ".");
  }

  /** Without PIPELINING in its EHLO reply a backend gets one command, then waits for its reply. */
  @Test
  void aBackendWithoutPipeliningGetsOneCommandAtATime() throws Exception {
    List<String> early = new CopyOnWriteArrayList<>();
    ScriptedPeer backend = peer(c -> {
      c.hearUntil("EHLO");
      c.say("250-scripted").say("250 8BITMIME");
      for (String reply : List.of("250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 go ahead")) {
        String line = c.hear();
        if (c.inputWaiting()) {
          early.add("after " + line);
        }
        c.say(reply);
      }
      c.hearBody();
      c.say("250 2.0.0 Ok: queued");
      c.serveRest();
    });
    SluiceFixture f = sluice(entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 71)) {
      r.send(GROUP);
      for (String code : List.of("250", "250", "250", "354")) {
        assertThat(r.reply()).startsWith(code);
      }
      r.send("Subject: step by step\r\n\r\nhello\r\n.\r\n");
      assertThat(r.reply()).startsWith("250 2.0.0 Ok: queued");
    }
    assertThat(early).as("commands sent before the previous reply").isEmpty();
  }

  /**
   * A MAIL refused with back pressure takes the recipients and DATA sent with it: the whole group
   * goes again to the next backend, and the client hears only that backend's answers.
   */
  @Test
  void backPressureAtMailMovesTheWholeGroupToTheNextBackend() throws Exception {
    EmbeddedSmtpServer refusing = lab.backend("a", "corp.example");
    EmbeddedSmtpServer taking = lab.backend("b", "corp.example");
    refusing.setBackPressure(true);
    SluiceFixture f = sluice(entry("a", refusing.port()), entry("b", taking.port()));
    int accepted = 0;
    try (RawSmtpClient r = greeted(f, 72)) {
      for (int i = 0; i < 20; i++) {
        r.send(GROUP);
        for (String code : List.of("250 2.1.0", "250 2.1.5", "250 2.1.5", "354")) {
          assertThat(r.reply()).as("message %d", i).startsWith(code);
        }
        r.send("Subject: " + i + "\r\n\r\nhello\r\n.\r\n");
        accepted += r.reply().startsWith("250") ? 1 : 0;
      }
    }
    assertThat(accepted).isEqualTo(20);
    assertThat(refusing.messages()).isZero();
    assertThat(taking.messages()).isEqualTo(20);
  }

  /**
   * A MAIL refused for good: Sluice had answered it, so each recipient gets the refusal, DATA gets
   * Sluice's own "no valid recipients", and after RSET the next transaction goes on.
   */
  @Test
  void aRefusedMailRefusesWhatWasPipelinedAfterIt() throws Exception {
    ScriptedPeer backend = peer(c -> {
      answerGroupWhole(c, "550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"
          + "503 5.5.1 need RCPT\r\n");
      c.serveRest();
    });
    SluiceFixture f = sluice(entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 73)) {
      refusedGroupThenAcceptedOne(r);
    }
  }

  /**
   * The client's part: a group whose MAIL the backend refuses (Sluice answered the MAIL itself, so
   * the refusal answers the recipients), then a group the backend accepts and its message.
   */
  static void refusedGroupThenAcceptedOne(RawSmtpClient r) throws java.io.IOException {
    r.send(GROUP);
    assertThat(r.reply()).isEqualTo("250 2.1.0 Ok");
    assertThat(r.reply()).startsWith("550 5.7.1 sender refused");
    assertThat(r.reply()).startsWith("550 5.7.1 sender refused");
    assertThat(r.reply()).isEqualTo("554 5.5.1 Error: no valid recipients");
    r.send("RSET\r\n");
    assertThat(r.reply()).startsWith("250");
    r.send(GROUP);
    for (String code : List.of("250", "250", "250", "354")) {
      assertThat(r.reply()).startsWith(code);
    }
    r.send("Subject: second\r\n\r\nhello\r\n.\r\n");
    assertThat(r.reply()).startsWith("250 2.0.0");
  }

  /** A scripted backend's answer to {@code command} (upper case), or null for the usual one. */
  @FunctionalInterface
  interface Answer {
    String to(String command, ScriptedPeer.Conversation c) throws Exception;
  }

  /**
   * A backend's part: a plain server offering PIPELINING and AUTH PLAIN (any credentials), with
   * {@code answer} first in line for every command but EHLO, AUTH and QUIT.
   */
  static ScriptedPeer.Script serving(Answer answer) {
    return c -> {
      String line;
      while ((line = c.hear()) != null) {
        String u = line.toUpperCase(java.util.Locale.ROOT);
        if (u.startsWith("EHLO")) {
          c.say("250-scripted").say("250-PIPELINING").say("250 AUTH PLAIN");
        } else if (u.startsWith("AUTH PLAIN")) {
          c.say("334 ");
          c.hear();
          c.say("235 2.7.0 Authentication successful");
        } else if (u.startsWith("QUIT")) {
          c.say("221 2.0.0 Bye");
          return;
        } else {
          String reply;
          try {
            reply = answer.to(u, c);
          } catch (Exception e) {
            throw new java.io.IOException(e);
          }
          if (reply != null) {
            c.say(reply);
          } else if (u.startsWith("DATA")) {
            c.say("354 go ahead");
            c.hearBody();
            c.say("250 2.0.0 Ok: queued");
          } else {
            c.say("250 2.0.0 Ok");
          }
        }
      }
    };
  }

  /** AUTH PLAIN with the credentials the scripted backends take. */
  static void authenticate(RawSmtpClient r) throws java.io.IOException {
    r.send("AUTH PLAIN\r\n");
    r.expect("334");
    r.send("AGJvYgBzZWNyZXQ=\r\n");
    r.expect("235");
  }

  /**
   * A backend that refuses every recipient and still answers 354 to the DATA sent ahead (RFC
   * 2920 §3.1 forbids it) would take what follows as a body: the client gets Sluice's 554, and
   * that backend connection is closed without another byte, so it can complete nothing.
   */
  @Test
  void aBackendThatStartsDataWithNoRecipientIsAbandoned() throws Exception {
    List<String> afterData = new CopyOnWriteArrayList<>();
    AtomicBoolean closedBySluice = new AtomicBoolean();
    ScriptedPeer backend = peer(c -> {
      answerGroupWhole(c, "250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n550 5.1.1 no such user\r\n354 go ahead anyway\r\n");
      String line;
      while ((line = c.hear()) != null) {
        afterData.add(line);
      }
      closedBySluice.set(true);
    });
    SluiceFixture f = sluice(entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 74)) {
      r.send(GROUP);
      assertThat(r.reply()).startsWith("250 2.1.0");
      assertThat(r.reply()).startsWith("550 5.1.1");
      assertThat(r.reply()).startsWith("550 5.1.1");
      assertThat(r.reply()).isEqualTo("554 5.5.1 Error: no valid recipients");
      await().atMost(Duration.ofSeconds(10)).untilTrue(closedBySluice);
      r.send("NOOP\r\n");
      assertThat(r.reply()).startsWith("250");
    }
    assertThat(afterData).isEmpty();
  }

  /**
   * The client resets the connection while Sluice sets up a backend session for it, for its
   * pipelined MAIL or for its AUTH: once ready, the session gets QUIT and is closed, never the gone
   * client's MAIL or credentials.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aSessionSetUpAfterTheClientLeftOnlyGetsQuit(boolean auth) throws Exception {
    CountDownLatch clientGone = new CountDownLatch(1);
    List<String> heard = new CopyOnWriteArrayList<>();
    AtomicBoolean closedBySluice = new AtomicBoolean();
    AtomicInteger connections = new AtomicInteger();
    ScriptedPeer backend = new ScriptedPeer(c -> {
      if (connections.incrementAndGet() > 1 && !clientGone.await(10, TimeUnit.SECONDS)) {
        return;
      }
      c.say("220 late ready");
      if (connections.get() == 1) {
        c.serveRest(); // the health probe
        return;
      }
      c.hearUntil("EHLO");
      c.say("250-scripted").say("250-PIPELINING").say("250 AUTH PLAIN");
      String line;
      while ((line = c.hear()) != null) {
        heard.add(line);
        c.say(line.startsWith("QUIT") ? "221 2.0.0 Bye"
            : line.startsWith("AUTH") ? "235 2.7.0 Authentication successful" : "250 2.0.0 Ok");
      }
      closedBySluice.set(true);
    });
    lab.add(backend);
    SessionObserver goneWhenDisconnected = new SessionObserver() {
      @Override
      public void disconnected(SessionInfo s) {
        clientGone.countDown();
      }
    };
    SluiceFixture f = sluice(goneWhenDisconnected, TIMEOUTS + (auth ? ", auth: relay" : ""), entry("s", backend.port()));
    RawSmtpClient r = greeted(f, auth ? 79 : 75);
    r.send(auth ? "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n" : GROUP);
    r.reset();
    await().atMost(Duration.ofSeconds(10)).untilTrue(closedBySluice);
    assertThat(heard).containsExactly("QUIT");
  }

  /**
   * The transaction's backend said 421 (closing) to one recipient; the client goes on with a
   * recipient and RSET in one write. The recipient is lost (451, the backend is gone), RSET is
   * answered, and the session lives on, with or without PIPELINING at the backend.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void aRecipientAfterTheBackendClosedIsAnsweredAndTheSessionGoesOn(boolean pipelining) throws Exception {
    ScriptedPeer backend = peer(c -> {
      c.hearUntil("EHLO");
      c.say("250-scripted").say(pipelining ? "250 PIPELINING" : "250 8BITMIME");
      c.hearUntil("MAIL");
      c.say("250 2.1.0 Ok");
      c.hearUntil("RCPT");
      c.say("250 2.1.5 Ok");
      c.hearUntil("RCPT");
      c.say("421 4.3.2 shutting down");
      c.close();
    });
    SluiceFixture f = sluice(entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 76)) {
      r.send("MAIL FROM:<a@internet.example>\r\n");
      assertThat(r.reply()).startsWith("250 2.1.0");
      r.send("RCPT TO:<b@corp.example>\r\n");
      assertThat(r.reply()).startsWith("250 2.1.5");
      r.send("RCPT TO:<c@corp.example>\r\n");
      assertThat(r.reply()).isEqualTo("451 4.3.2 shutting down"); // the backend closes, not the client's session
      r.send("RCPT TO:<d@corp.example>\r\nRSET\r\n");
      assertThat(r.reply()).startsWith("451 4.4.2");
      assertThat(r.reply()).startsWith("250");
      r.send("NOOP\r\n");
      assertThat(r.reply()).startsWith("250");
    }
  }

  /**
   * A backend that takes its time over each recipient (a policy check, a tarpit): pipelined
   * commands are answered one after another, and each has the whole command timeout from when the
   * one before it was answered. Here four replies take 1.5 s each under a 3 s timeout.
   */
  @Test
  void eachPipelinedCommandHasItsOwnTimeout() throws Exception {
    ScriptedPeer backend = peer(c -> {
      c.hearUntil("EHLO");
      c.say("250-scripted").say("250 PIPELINING");
      String line;
      while ((line = c.hear()) != null) {
        if (line.startsWith("QUIT")) {
          c.say("221 2.0.0 Bye");
          return;
        }
        Thread.sleep(1500); // deliberate pace, not a wait: 4 replies x 1.5 s pass the 3 s timeout only in total
        c.say(line.startsWith("DATA") ? "354 go ahead" : "250 2.1.5 Ok");
      }
    });
    SluiceFixture f = sluice(SessionObserver.NONE, "timeouts: { command: 3s }", entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 77)) {
      r.send("MAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\nRCPT TO:<c@corp.example>\r\nDATA\r\n");
      for (String code : List.of("250", "250", "250", "354")) {
        assertThat(r.reply()).startsWith(code);
      }
    }
  }

  /**
   * MAIL refused at once, and the backend's refusals of what was sent ahead come later: the next
   * transaction waits for them instead of queueing behind them, so it reuses the session (an
   * authenticated client has no other backend to go to).
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void theNextMailWaitsForTheAnswersToWhatWentAheadOfARefusedOne(boolean authenticated) throws Exception {
    AtomicInteger mails = new AtomicInteger();
    AtomicBoolean refused = new AtomicBoolean();
    ScriptedPeer backend = peer(serving((command, c) -> {
      if (command.startsWith("MAIL")) {
        refused.set(mails.incrementAndGet() == 1);
        return refused.get() ? "550 5.7.1 sender refused" : "250 2.1.0 Ok";
      }
      if (refused.get() && (command.startsWith("RCPT") || command.startsWith("DATA"))) {
        Thread.sleep(300); // deliberate pace, not a wait: these answers are still due when the client's next MAIL comes
        return "503 5.5.1 Error: need MAIL command";
      }
      return null;
    }));
    SluiceFixture f = sluice(SessionObserver.NONE, TIMEOUTS + (authenticated ? ", auth: relay" : ""),
        entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 78)) {
      if (authenticated) {
        authenticate(r);
      }
      refusedGroupThenAcceptedOne(r);
    }
    assertThat(backend.connections()).as("the health probe and one session").isEqualTo(2);
  }

  /**
   * EHLO inside a transaction ends it at the backend with RSET; the client's next MAIL waits for
   * RSET's answer, so an authenticated client keeps its session even when the backend is slow to
   * answer RSET.
   */
  @Test
  void ehloInsideATransactionKeepsTheAuthenticatedSession() throws Exception {
    ScriptedPeer backend = peer(serving((command, c) -> {
      if (command.startsWith("RSET")) {
        Thread.sleep(300); // deliberate pace, not a wait: RSET's answer is still due when the client's next MAIL comes
      }
      return null;
    }));
    SluiceFixture f = sluice(SessionObserver.NONE, TIMEOUTS + ", auth: relay", entry("s", backend.port()));
    try (RawSmtpClient r = greeted(f, 85)) {
      authenticate(r);
      r.send("MAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\n");
      assertThat(r.reply()).startsWith("250");
      assertThat(r.reply()).startsWith("250");
      r.send("EHLO p.test\r\nMAIL FROM:<a@internet.example>\r\nRCPT TO:<b@corp.example>\r\n");
      assertThat(r.reply()).startsWith("250 ENHANCEDSTATUSCODES");
      assertThat(r.reply()).isEqualTo("250 2.1.0 Ok");
      assertThat(r.reply()).as("the backend's answer, on the same session").startsWith("250 2.0.0");
    }
  }

  /**
   * The client resets the connection after its end of data, while the backend's final reply is
   * awaited: the backend session is aborted (the message is never completed there) and the
   * transaction is counted once, as aborted.
   */
  @Test
  void aClientGoneAtTheEndOfDataCountsItsTransactionOnceAsAborted() throws Exception {
    CountDownLatch endOfDataSent = new CountDownLatch(1);
    AtomicBoolean closedBySluice = new AtomicBoolean();
    ScriptedPeer backend = peer(c -> {
      c.acceptUpToBody("scripted");
      c.hearBody();
      endOfDataSent.countDown();
      while (c.hear() != null) {
        // no final reply: the client goes first
      }
      closedBySluice.set(true);
    });
    List<SessionObserver.Outcome> outcomes = new CopyOnWriteArrayList<>();
    SessionObserver counting = new SessionObserver() {
      @Override
      public void transaction(SessionInfo s, dev.sluice.balance.Backend b, Outcome outcome, long bytes) {
        outcomes.add(outcome);
      }
    };
    SluiceFixture f = sluice(counting, TIMEOUTS, entry("s", backend.port()));
    RawSmtpClient r = greeted(f, 88);
    r.send("MAIL FROM:<a@internet.example>\r\n");
    r.expect("250");
    r.send("RCPT TO:<b@corp.example>\r\n");
    r.expect("250");
    r.send("DATA\r\n");
    r.expect("354");
    r.send("Subject: gone\r\n\r\nhello\r\n.\r\n");
    assertThat(endOfDataSent.await(10, TimeUnit.SECONDS)).isTrue();
    r.reset();
    await().atMost(Duration.ofSeconds(10)).untilTrue(closedBySluice);
    await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5))
        .until(() -> outcomes.equals(List.of(SessionObserver.Outcome.ABORTED)));
  }

  /**
   * A client that does not pipeline: its MAIL is answered here and goes to the backend with its
   * first RCPT, in one write, so the backend is asked once instead of twice.
   */
  @Nested
  class HeldMail {
    /** A lock-step transaction's MAIL and RCPT reach the backend together, and only once asked for. */
    @Test
    void mailGoesWithTheFirstRecipientInOneWrite() throws Exception {
      ScriptedPeer backend = peer(c -> {
        c.hearUntil("EHLO");
        c.say("250-scripted").say("250 PIPELINING");
        assertThat(c.hear()).isEqualTo("MAIL FROM:<a@internet.example> SIZE=100");
        assertThat(c.hear()).as("heard before MAIL is answered").isEqualTo("RCPT TO:<b@corp.example>");
        c.raw("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
        c.hearUntil("DATA");
        c.say("354 go ahead");
        c.hearBody();
        c.say("250 2.0.0 Ok: queued as 7");
        c.serveRest();
      });
      SluiceFixture f = sluice(entry("s", backend.port()));
      try (RawSmtpClient r = greeted(f, 100)) {
        r.send("MAIL FROM:<a@internet.example> SIZE=100\r\n");
        assertThat(r.reply()).isEqualTo("250 2.1.0 Ok");
        assertThat(backend.connections()).as("the health probe only: no session before a recipient").isEqualTo(1);
        r.send("RCPT TO:<b@corp.example>\r\n");
        assertThat(r.reply()).isEqualTo("250 2.1.5 Ok");
        r.send("DATA\r\n");
        assertThat(r.reply()).startsWith("354");
        r.send("Subject: held\r\n\r\nhello\r\n.\r\n");
        assertThat(r.reply()).isEqualTo("250 2.0.0 Ok: queued as 7");
      }
    }

    /** A transaction reset or abandoned before its first recipient costs no backend anything. */
    @Test
    void aTransactionEndedBeforeAnyRecipientNeverReachesABackend() throws Exception {
      ScriptedPeer backend = peer(ScriptedPeer.Conversation::serveRest);
      SluiceFixture f = sluice(entry("s", backend.port()));
      try (RawSmtpClient r = greeted(f, 101)) {
        r.send("MAIL FROM:<a@internet.example>\r\n");
        r.expect("250");
        r.send("RSET\r\n");
        r.expect("250");
        r.send("MAIL FROM:<a@internet.example>\r\n");
        r.expect("250");
        r.send("EHLO again.test\r\n");
        r.expect("250");
        r.send("MAIL FROM:<a@internet.example>\r\n");
        r.expect("250");
        r.send("QUIT\r\n");
        r.expect("221");
      }
      assertThat(backend.connections()).as("the health probe only").isEqualTo(1);
    }

    /**
     * Back pressure at MAIL, lock step: the MAIL and its recipient move on to the next backend
     * together. When every backend refuses, the refusal answers each recipient, DATA finds no
     * recipient, and the transaction is counted once, deferred; nothing is accepted that a backend
     * did not accept.
     */
    @Test
    void backPressureAtMailAnswersTheRecipientsWhenNoBackendTakesIt() throws Exception {
      EmbeddedSmtpServer a = lab.backend("a", "corp.example");
      EmbeddedSmtpServer b = lab.backend("b", "corp.example");
      a.setBackPressure(true);
      List<SessionObserver.Outcome> outcomes = new CopyOnWriteArrayList<>();
      SessionObserver counting = new SessionObserver() {
        @Override
        public void transaction(SessionInfo s, dev.sluice.balance.Backend backend, Outcome outcome, long bytes) {
          outcomes.add(outcome);
        }
      };
      SluiceFixture f = sluice(counting, TIMEOUTS, entry("a", a.port()), entry("b", b.port()));
      try (RawSmtpClient r = greeted(f, 102)) {
        for (int i = 0; i < 4; i++) {
          lockStep(r);
          r.send("Subject: " + i + "\r\n\r\nhello\r\n.\r\n");
          r.expect("250");
        }
        b.setBackPressure(true);
        r.send("MAIL FROM:<x@internet.example>\r\n");
        r.expect("250 2.1.0");
        r.send("RCPT TO:<y@corp.example>\r\n");
        assertThat(r.reply()).isEqualTo("452 4.3.1 Insufficient system resources");
        r.send("RCPT TO:<z@corp.example>\r\n");
        assertThat(r.reply()).as("no backend asked again").isEqualTo("452 4.3.1 Insufficient system resources");
        r.send("DATA\r\n");
        assertThat(r.reply()).isEqualTo("554 5.5.1 Error: no valid recipients");
        r.send("RSET\r\n");
        r.expect("250");
        b.setBackPressure(false);
        lockStep(r);
        r.send("Subject: after\r\n\r\nhello\r\n.\r\n");
        r.expect("250");
      }
      assertThat(a.messages()).isZero();
      assertThat(b.messages()).isEqualTo(5);
      assertThat(a.refusedAtMailFrom()).as("transactions moved on from a").isPositive();
      assertThat(b.refusedAtMailFrom()).as("asked once, for the transaction no one took").isEqualTo(1);
      await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(outcomes).containsExactly(
          SessionObserver.Outcome.ACCEPTED, SessionObserver.Outcome.ACCEPTED, SessionObserver.Outcome.ACCEPTED,
          SessionObserver.Outcome.ACCEPTED, SessionObserver.Outcome.DEFERRED, SessionObserver.Outcome.ACCEPTED));
    }

    /**
     * The backend chosen at MAIL is drained, or weighted 0, before the first RCPT: the
     * transaction goes where a MAIL sent then would have gone.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aBackendTakenOutBetweenMailAndTheFirstRecipientGetsNothing(boolean drain) throws Exception {
      EmbeddedSmtpServer a = lab.backend("a", "corp.example");
      EmbeddedSmtpServer b = lab.backend("b", "corp.example");
      SluiceFixture f = sluice(entry("a", a.port()), entry("b", b.port()));
      dev.sluice.balance.Backend backendA = f.server().pools().get("p").backends().stream()
          .filter(x -> x.name().equals("a")).findFirst().orElseThrow();
      try (RawSmtpClient r = greeted(f, 103)) {
        for (int i = 0; i < 4; i++) {
          r.send("MAIL FROM:<x@internet.example>\r\n");
          r.expect("250 2.1.0");
          if (drain) {
            backendA.setAdminState(dev.sluice.balance.Backend.AdminState.DRAINING);
          } else {
            backendA.setWeight(0);
          }
          r.send("RCPT TO:<y@corp.example>\r\n");
          r.expect("250");
          r.send("DATA\r\n");
          r.expect("354");
          r.send("Subject: " + i + "\r\n\r\nhello\r\n.\r\n");
          r.expect("250");
          backendA.setAdminState(dev.sluice.balance.Backend.AdminState.ENABLED);
          backendA.setWeight(1);
        }
      }
      assertThat(a.messages()).isZero();
      assertThat(b.messages()).isEqualTo(4);
    }

    /** MAIL, one RCPT and DATA, each after the reply to the one before, up to the 354. */
    private void lockStep(RawSmtpClient r) throws java.io.IOException {
      r.send("MAIL FROM:<x@internet.example>\r\n");
      r.expect("250 2.1.0");
      r.send("RCPT TO:<y@corp.example>\r\n");
      r.expect("250 2.1.5");
      r.send("DATA\r\n");
      r.expect("354");
    }
  }
}

package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sluice.balance.Backend;
import dev.sluice.balance.DeferralTable;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.config.ConfigLoader;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.runtime.SluiceServer;
import dev.sluice.testing.RawSmtpClient;
import dev.sluice.testing.ScriptedPeer;
import dev.sluice.testing.SluiceFixture;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Deferral affinity where it is easy to get wrong: pipelined groups with some recipients deferred,
 * deferrals at DATA and after the body, a new sender on the same connection, connection balancing,
 * authenticated sessions, an affinity backend that fails the retry, reloads, IPv6, the null sender,
 * and the replies that must not count. The backends answer by a policy per test.
 */
class DeferralAffinityEdgeTest {
  static final Duration TIMEOUT = Duration.ofSeconds(10);
  static final String GREY = "450 4.2.0 Recipient address rejected: Greylisted";
  final List<AutoCloseable> open = new ArrayList<>();
  final List<String> events = new CopyOnWriteArrayList<>();
  final List<String> authenticatedAt = new CopyOnWriteArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = open.size() - 1; i >= 0; i--) {
      open.get(i).close();
    }
  }

  /** What a backend answers at {@code stage} (MAIL, RCPT, DATA or END, the end of the body); null: yes. */
  @FunctionalInterface
  interface Policy {
    String answer(String stage, String sender, String recipient);
  }

  /**
   * Greylisting of the recipients whose local part starts with "grey": the first RCPT of each
   * sender and recipient pair is deferred with {@link #GREY}, as postgrey does; others pass.
   */
  static Policy greylistingGreyRecipients() {
    Set<String> seen = ConcurrentHashMap.newKeySet();
    return (stage, sender, rcpt) ->
        stage.equals("RCPT") && rcpt.startsWith("grey") && seen.add(sender + " " + rcpt) ? GREY : null;
  }

  /** A backend that speaks SMTP with PIPELINING and AUTH PLAIN, answers by a policy and records deliveries. */
  static final class PolicyServer {
    final String name;
    final ScriptedPeer peer;
    volatile Policy policy;
    /** One line per message accepted: {@code sender -> recipients}. */
    final List<String> delivered = new CopyOnWriteArrayList<>();
    final AtomicInteger mails = new AtomicInteger();

    PolicyServer(String name, Policy policy) throws Exception {
      this.name = name;
      this.policy = policy;
      this.peer = new ScriptedPeer(this::serve);
    }

    int port() {
      return peer.port();
    }

    private void serve(ScriptedPeer.Conversation c) throws java.io.IOException {
      c.say("220 " + name + " ESMTP");
      String sender = null;
      List<String> rcpts = new ArrayList<>();
      for (String line; (line = c.hear()) != null; ) {
        String verb = line.length() < 4 ? line : line.substring(0, 4).toUpperCase(Locale.ROOT);
        String answer;
        switch (verb) {
          case "EHLO" -> answer = "250-" + name + "\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN\r\n250 PIPELINING";
          case "AUTH" -> answer = "235 2.7.0 Authentication successful";
          case "MAIL" -> {
            mails.incrementAndGet();
            String from = path(line);
            answer = policy.answer("MAIL", from, null);
            if (answer == null) {
              sender = from;
              rcpts.clear();
              answer = "250 2.1.0 Ok";
            }
          }
          case "RCPT" -> {
            String to = path(line);
            answer = sender == null ? "503 5.5.1 Error: need MAIL command" : policy.answer("RCPT", sender, to);
            if (answer == null) {
              rcpts.add(to);
              answer = "250 2.1.5 Ok";
            }
          }
          case "DATA" -> {
            answer = rcpts.isEmpty() ? "554 5.5.1 Error: no valid recipients" : policy.answer("DATA", sender, null);
            if (answer == null) {
              c.say("354 End data with <CR><LF>.<CR><LF>");
              c.hearBody();
              answer = policy.answer("END", sender, null);
              if (answer == null) {
                delivered.add(sender + " -> " + String.join(",", rcpts));
                answer = "250 2.0.0 Ok: queued at " + name;
              }
            }
            sender = null;
            rcpts.clear();
          }
          case "RSET" -> {
            sender = null;
            rcpts.clear();
            answer = "250 2.0.0 Ok";
          }
          case "QUIT" -> {
            c.say("221 2.0.0 Bye");
            return;
          }
          default -> answer = "250 2.0.0 Ok";
        }
        c.say(answer);
      }
    }

    private static String path(String line) {
      return line.substring(line.indexOf('<') + 1, line.indexOf('>'));
    }
  }

  PolicyServer a;
  PolicyServer b;
  SluiceFixture f;

  PolicyServer server(String name, Policy policy) throws Exception {
    PolicyServer s = new PolicyServer(name, policy);
    open.add(s.peer);
    return s;
  }

  static String yaml(String poolExtras, String listenerExtras, PolicyServer... backends) {
    StringBuilder y = new StringBuilder("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 5s }
        pools:
          p:
        """);
    y.append(poolExtras).append("    backends:\n");
    for (PolicyServer s : backends) {
      y.append("      - { name: ").append(s.name).append(", address: 127.0.0.1:").append(s.port()).append(" }\n");
    }
    y.append("listeners:\n  l: { listen: 127.0.0.1:0, mode: smtp, pool: p, health: basic, hostname: mx.test")
        .append(listenerExtras).append(" }\n");
    return y.toString();
  }

  /** Sluice over two backends a and b that greylist "grey" recipients, each with its own memory. */
  SluiceFixture greylisting(String poolExtras, String listenerExtras) throws Exception {
    a = server("a", greylistingGreyRecipients());
    b = server("b", greylistingGreyRecipients());
    return start(yaml(poolExtras, listenerExtras, a, b));
  }

  SluiceFixture start(String yaml) throws Exception {
    SessionObserver recorder = new SessionObserver() {
      @Override
      public void info(SessionInfo s, String text) {
        if (text.startsWith("deferral affinity")) {
          events.add(text);
        } else if (text.startsWith("authenticated at ")) {
          authenticatedAt.add(text.substring("authenticated at ".length()));
        }
      }
    };
    f = SluiceFixture.start(yaml, recorder);
    open.add(f);
    return f;
  }

  PoolBalancer pool() {
    return f.server().pools().get("p");
  }

  /** The backend remembered for {@code sender} from {@code client}'s network, or null. */
  String remembered(String client, String sender) throws Exception {
    DeferralTable.Deferral d = pool().deferral(InetAddress.getByName(client).getAddress(), sender, "grey@corp.example");
    return d == null ? null : d.backend().name();
  }

  RawSmtpClient greeted(String client) throws Exception {
    return greeted("l", client);
  }

  RawSmtpClient greeted(String listener, String client) throws Exception {
    RawSmtpClient r = RawSmtpClient.connect(f.address(listener), client);
    open.add(r);
    r.expect("220");
    r.send("EHLO gateway.internet.example\r\n");
    r.expect("250");
    return r;
  }

  /** The last line of each of the next {@code n} replies. */
  static List<String> replies(RawSmtpClient r, int n) throws Exception {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(r.reply());
    }
    return out;
  }

  static String group(String sender, String... recipients) {
    StringBuilder sb = new StringBuilder("MAIL FROM:<" + sender + ">\r\n");
    for (String rcpt : recipients) {
      sb.append("RCPT TO:<").append(rcpt).append(">\r\n");
    }
    return sb.append("DATA\r\n").toString();
  }

  static final String BODY = "Subject: t\r\n\r\nhello\r\n.\r\n";

  /**
   * A first attempt of {@code sender}'s message to grey@corp.example from {@code client}, on a
   * connection of its own: greylisted. Returns the name of the backend that deferred it.
   */
  String greylistedAt(String client, String sender) throws Exception {
    try (RawSmtpClient r = greeted(client)) {
      r.send(group(sender, "grey@corp.example"));
      assertThat(replies(r, 3).get(1)).startsWith("450 4.2.0");
    }
    return remembered(client, sender);
  }

  /** Sends a whole message, pipelined, and expects it accepted by {@code backend}. */
  static void deliveredAt(RawSmtpClient r, String sender, String recipient, String backend) throws Exception {
    r.send(group(sender, recipient) + BODY);
    assertThat(replies(r, 4)).last().asString().startsWith("250 2.0.0 Ok: queued at " + backend);
  }

  PolicyServer other(PolicyServer s) {
    return s == a ? b : a;
  }

  PolicyServer byName(String name) {
    return name.equals("a") ? a : b;
  }

  /**
   * One pipelined group, two recipients, one greylisted: the accepted one is delivered at once,
   * the deferral is remembered, and the retry of the deferred recipient, pipelined too, goes back
   * to that backend although round robin would pick the other one.
   */
  @Test
  void aPipelinedMessageWithOneRecipientDeferredIsDeliveredInPartAndItsRetryGoesBack() throws Exception {
    greylisting("", "");
    String sender = "news@internet.example";
    try (RawSmtpClient r = greeted("127.0.0.90")) {
      r.send(group(sender, "ok@corp.example", "grey@corp.example"));
      List<String> got = replies(r, 4);
      assertThat(got.get(0)).startsWith("250");
      assertThat(got.get(1)).startsWith("250");
      assertThat(got.get(2)).startsWith("450 4.2.0");
      assertThat(got.get(3)).startsWith("354");
      r.send(BODY);
      assertThat(r.reply()).startsWith("250 2.0.0");
    }
    PolicyServer deferring = byName(remembered("127.0.0.90", sender));
    assertThat(deferring.delivered).containsExactly(sender + " -> ok@corp.example");
    assertThat(pool().deferralAffinityEntries()).isEqualTo(1);

    try (RawSmtpClient r = greeted("127.0.0.91")) { // the same /24
      r.send(group(sender, "grey@corp.example") + BODY);
      assertThat(replies(r, 4)).satisfiesExactly(
          m -> assertThat(m).startsWith("250"), rc -> assertThat(rc).startsWith("250"),
          d -> assertThat(d).startsWith("354"), e -> assertThat(e).startsWith("250 2.0.0 Ok: queued at " + deferring.name));
    }
    assertThat(deferring.delivered).containsExactly(sender + " -> ok@corp.example", sender + " -> grey@corp.example");
    assertThat(other(deferring).mails).hasValue(0);
  }

  /**
   * A message to many greylisted recipients is one deferral of its sender: recorded once (one
   * protocol log line, one count in sluice_deferral_affinity_total), not once per recipient.
   */
  @Test
  void aTransactionWithSeveralRecipientsDeferredIsRecordedOnce() throws Exception {
    greylisting("", "");
    try (RawSmtpClient r = greeted("127.0.0.89")) {
      r.send(group("list@internet.example", "grey1@corp.example", "grey2@corp.example", "grey3@corp.example"));
      assertThat(replies(r, 5)).filteredOn(x -> x.startsWith("450 4.2.0")).hasSize(3);
      r.send("RSET\r\n");
      r.expect("250");
    }
    assertThat(events).hasSize(1);
    assertThat(events.get(0)).endsWith("deferred <list@internet.example>; its retries from this network go back there");
  }

  /** milter-greylist and the like defer at DATA or after the body: that is remembered as well. */
  @ParameterizedTest
  @ValueSource(strings = {"DATA", "END"})
  void aDeferralAtDataOrAfterTheBodyIsRemembered(String stage) throws Exception {
    Set<String> seenA = ConcurrentHashMap.newKeySet();
    Set<String> seenB = ConcurrentHashMap.newKeySet();
    a = server("a", (s, sender, rcpt) -> s.equals(stage) && seenA.add(sender) ? "451 4.7.1 Greylisting in action, please come back later" : null);
    b = server("b", (s, sender, rcpt) -> s.equals(stage) && seenB.add(sender) ? "451 4.7.1 Greylisting in action, please come back later" : null);
    start(yaml("", "", a, b));
    String sender = "Bulk@Internet.Example";
    try (RawSmtpClient r = greeted("127.0.0.92")) {
      r.send(group(sender, "u@corp.example"));
      if (stage.equals("DATA")) {
        assertThat(replies(r, 3)).last().asString().startsWith("451 4.7.1");
      } else {
        assertThat(replies(r, 3)).last().asString().startsWith("354");
        // The next sender's MAIL in the same write as the end of the body, which it must not take.
        r.send(BODY + "MAIL FROM:<next@internet.example>\r\n");
        assertThat(r.reply()).startsWith("451 4.7.1");
        r.expect("250");
        r.send("RSET\r\n");
        r.expect("250");
      }
      String deferring = remembered("127.0.0.92", "bulk@internet.example");
      assertThat(deferring).as("remembered, case-folded").isNotNull();
      assertThat(remembered("127.0.0.92", "next@internet.example")).isNull();

      // The retry on the same connection, after RSET as a client does.
      r.send("RSET\r\n" + group(sender, "u@corp.example") + BODY);
      assertThat(replies(r, 5)).last().asString().startsWith("250 2.0.0 Ok: queued at " + deferring);
    }
    assertThat(a.delivered.size() + b.delivered.size()).isEqualTo(1);
  }

  /**
   * A deferral at RCPT, then RSET and another sender in the same pipelined write: the deferral is
   * remembered for the first sender only, the second is balanced as usual, and the first one's
   * retry on the same connection goes back.
   */
  @Test
  void aDeferralIsRememberedForItsOwnSenderWhenTheClientGoesOnWithAnother() throws Exception {
    greylisting("", "");
    try (RawSmtpClient r = greeted("127.0.0.93")) {
      r.send("MAIL FROM:<first@internet.example>\r\nRCPT TO:<grey@corp.example>\r\nRSET\r\n"
          + group("second@internet.example", "ok@corp.example") + BODY);
      List<String> got = replies(r, 7);
      assertThat(got.get(1)).startsWith("450 4.2.0");
      assertThat(got.get(6)).startsWith("250 2.0.0");
      String deferring = remembered("127.0.0.93", "first@internet.example");
      assertThat(deferring).isNotNull();
      assertThat(remembered("127.0.0.93", "second@internet.example")).isNull();
      assertThat(byName(deferring).delivered).as("round robin: the second sender went to the other backend")
          .isEmpty();

      deliveredAt(r, "first@internet.example", "grey@corp.example", deferring);
    }
    assertThat(events).last().asString().endsWith("this transaction goes there");
  }

  /**
   * {@code balance: connection}: a new session's first transaction follows the affinity, and the
   * session's later transactions of other senders stay there.
   */
  @Test
  void withConnectionBalancingTheSessionFollowsTheAffinityAndStays() throws Exception {
    greylisting("", ", balance: connection");
    PolicyServer deferring = byName(greylistedAt("127.0.0.94", "s@internet.example"));
    try (RawSmtpClient r = greeted("127.0.0.95")) {
      deliveredAt(r, "s@internet.example", "grey@corp.example", deferring.name);
      deliveredAt(r, "t@internet.example", "ok@corp.example", deferring.name);
    }
    assertThat(other(deferring).mails).hasValue(0);
  }

  /**
   * An authenticated session stays on the backend that authenticated it, even for a sender that
   * another backend deferred: its credentials are valid nowhere else.
   */
  @Test
  void anAuthenticatedSessionStaysWithItsBackendWhateverTheAffinity() throws Exception {
    greylisting("", ", auth: relay");
    String deferring = greylistedAt("127.0.0.96", "s@internet.example");
    // Authenticate until the session is on the other backend (round robin alternates).
    for (int i = 0; i < 4; i++) {
      RawSmtpClient r = greeted("127.0.0.97");
      r.send("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n");
      assertThat(r.reply()).startsWith("235");
      await().atMost(TIMEOUT).until(() -> authenticatedAt.size() == 1);
      if (authenticatedAt.remove(0).equals(deferring)) {
        r.close();
        continue;
      }
      deliveredAt(r, "s@internet.example", "ok@corp.example", other(byName(deferring)).name);
      assertThat(byName(deferring).delivered).isEmpty();
      assertThat(events).noneMatch(e -> e.contains("this transaction goes there"));
      return;
    }
    throw new AssertionError("AUTH never went to the other backend");
  }

  /** A drained or disabled backend takes nothing new, a deferred sender's retry neither. */
  @ParameterizedTest
  @EnumSource(value = Backend.AdminState.class, names = {"DRAINING", "DISABLED"})
  void aDrainedOrDisabledBackendIsNotFollowed(Backend.AdminState state) throws Exception {
    greylisting("", "");
    String deferring = greylistedAt("127.0.0.103", "s@internet.example");
    pool().backends().stream().filter(x -> x.name().equals(deferring)).findFirst().orElseThrow().setAdminState(state);

    assertThat(greylistedAt("127.0.0.103", "s@internet.example")).isEqualTo(other(byName(deferring)).name);
    assertThat(events.get(1)).endsWith("but cannot take this transaction now; balanced afresh");
  }

  /**
   * The backend that deferred the sender fails its retry (it refuses connections, or answers 452
   * at MAIL): the transaction moves on to the other backend once, and does not come back.
   */
  @ParameterizedTest
  @ValueSource(strings = {"refused", "452"})
  void whenTheAffinityBackendFailsTheRetryTheTransactionMovesOn(String how) throws Exception {
    greylisting("", ", retries: 2");
    PolicyServer deferring = byName(greylistedAt("127.0.0.98", "s@internet.example"));
    PolicyServer other = other(deferring);
    int mailsBefore = deferring.mails.get();
    if (how.equals("refused")) {
      deferring.peer.close();
    } else {
      Policy greylist = deferring.policy;
      deferring.policy = (stage, sender, rcpt) ->
          stage.equals("MAIL") ? "452 4.3.1 Insufficient system resources" : greylist.answer(stage, sender, rcpt);
    }

    assertThat(greylistedAt("127.0.0.99", "s@internet.example")).as("greylisted afresh by the other backend")
        .isEqualTo(other.name);
    assertThat(other.mails).hasValue(1);
    assertThat(deferring.mails.get() - mailsBefore).isEqualTo(how.equals("refused") ? 0 : 1);
    assertThat(events).hasSize(3);
    assertThat(events.get(1)).endsWith("this transaction goes there");
  }

  /**
   * A reload that keeps deferral_affinity keeps what the pool remembers, also when a backend is
   * added, and when one is removed for the backends that stay (they move up the list); one that
   * changes deferral_affinity starts afresh, and says what changed.
   */
  @Test
  void aReloadKeepsTheTableUnlessItsSettingsChange() throws Exception {
    a = server("a", greylistingGreyRecipients());
    b = server("b", greylistingGreyRecipients());
    PolicyServer c = server("c", greylistingGreyRecipients());
    AtomicReference<String> config = new AtomicReference<>(yaml("", "", a, b));
    start(config.get());
    f.server().configSource(() -> ConfigLoader.parse(config.get(), "reload.yaml"));
    // Round robin: one sender deferred by each backend.
    String toA = greylistedAt("127.0.0.100", "s1@internet.example").equals("a") ? "s1@internet.example" : "s2@internet.example";
    String toB = toA.startsWith("s1") ? "s2@internet.example" : "s1@internet.example";
    assertThat(greylistedAt("127.0.0.100", "s2@internet.example")).isNotNull();
    assertThat(remembered("127.0.0.100", toB)).isEqualTo("b");

    config.set(yaml("", "", a, b, c));
    SluiceServer.ReloadResult added = f.server().reload();
    assertThat(added.ok()).as(added.message()).isTrue();
    assertThat(remembered("127.0.0.100", toA)).isEqualTo("a");
    assertThat(remembered("127.0.0.100", toB)).isEqualTo("b");

    config.set(yaml("", "", b, c));
    assertThat(f.server().reload().changes()).containsExactly("removed backend p/a");
    assertThat(remembered("127.0.0.100", toA)).isNull();
    assertThat(remembered("127.0.0.100", toB)).as("b only moved up").isEqualTo("b");
    try (RawSmtpClient r = greeted("127.0.0.100")) {
      deliveredAt(r, toB, "grey@corp.example", "b");
    }
    assertThat(events).last().asString().endsWith("this transaction goes there");

    config.set(yaml("    deferral_affinity: { ttl: 30m }\n", "", b, c));
    SluiceServer.ReloadResult changed = f.server().reload();
    assertThat(changed.changes()).containsExactly("pool p: deferral_affinity.ttl 1h -> 30m",
        "pool p: deferral affinity starts with an empty table");
    assertThat(pool().deferralAffinityEntries()).isZero();
  }

  /** IPv6 clients are remembered by their /64, and the null sender is one sender. */
  @Test
  void anIpv6ClientsNullSenderRetryGoesBack() throws Exception {
    a = server("a", greylistingGreyRecipients());
    b = server("b", greylistingGreyRecipients());
    start(yaml("", "", a, b).replace("listen: 127.0.0.1:0", "listen: \"[::1]:0\""));
    String deferring = greylistedAt("::1", "");
    assertThat(deferring).isNotNull();
    assertThat(remembered("127.0.0.1", "")).as("another network").isNull();
    try (RawSmtpClient r = greeted("::1")) {
      deliveredAt(r, "", "grey@corp.example", deferring);
    }
  }

  /**
   * The null sender is every bounce a network sends: a greylisted bounce brings back its own retry
   * (same first recipient), pipelined with its MAIL, while the network's other bounces are spread as
   * before.
   */
  @Test
  void aNullSendersDeferralFollowsItsRecipientNotEveryBounceOfTheNetwork() throws Exception {
    greylisting("", "");
    String deferring = greylistedAt("127.0.0.110", "");
    assertThat(deferring).isNotNull();
    List<String> others = new ArrayList<>();
    try (RawSmtpClient r = greeted("127.0.0.111")) { // the same /24
      for (int i = 0; i < 4; i++) {
        r.send(group("", "user" + i + "@corp.example") + BODY);
        String last = replies(r, 4).get(3);
        assertThat(last).startsWith("250 2.0.0 Ok: queued at ");
        others.add(last.substring(last.lastIndexOf(' ') + 1));
      }
      assertThat(others).as("the network's other bounces").contains("a", "b");
      deliveredAt(r, "", "grey@corp.example", deferring); // the retry, followed (the events below)
    }
    assertThat(events).containsExactly(
        "deferral affinity: " + deferring + " deferred <> to <grey@corp.example>; its retries from this network go back there",
        "deferral affinity: " + deferring + " deferred <> to <grey@corp.example> 0s ago; this transaction goes there");
  }

  /**
   * A backend's own trouble is not remembered, wherever in the transaction it shows: a 452, a
   * 4.3.x, 4.4.x or 4.5.x, a bare 451, a 421 (which the client gets as 451). Each backend answers
   * the same, so the client gets it after the retries.
   */
  @ParameterizedTest
  @ValueSource(strings = {
      "RCPT 452 4.2.2 Mailbox full", "RCPT 452 4.3.1 Insufficient system resources",
      "RCPT 451 4.3.0 Temporary lookup failure", "RCPT 450 4.4.1 Host not reachable",
      "RCPT 451 Local error in processing", "RCPT 421 4.7.0 Too many errors", "RCPT 450 4.5.3 Too many recipients",
      "DATA 451 4.3.0 Queue file write error", "END 451 4.3.0 Error: queue file write error",
      "END 421 4.7.0 Closing connection", "MAIL 450 4.7.1 Sender greylisted"})
  void aBackendsOwnTroubleIsNotRemembered(String stageAndReply) throws Exception {
    String stage = stageAndReply.substring(0, stageAndReply.indexOf(' '));
    String reply = stageAndReply.substring(stage.length() + 1);
    a = server("a", (s, sender, rcpt) -> s.equals(stage) ? reply : null);
    b = server("b", (s, sender, rcpt) -> s.equals(stage) ? reply : null);
    start(yaml("", "", a, b));
    try (RawSmtpClient r = greeted("127.0.0.101")) {
      r.send(group("s@internet.example", "u@corp.example"));
      List<String> got = replies(r, 3);
      String last = stage.equals("MAIL") || stage.equals("RCPT") ? got.get(1) : got.get(2);
      if (stage.equals("END")) {
        r.send(BODY);
        last = r.reply();
      }
      assertThat(last).startsWith(reply.startsWith("421") ? "451" + reply.substring(3) : reply);
    }
    assertThat(pool().deferralAffinityEntries()).isZero();
    assertThat(events).isEmpty();
  }

  /** Sluice's own 451 after the body (the backend lost mid-message) is not a deferral either. */
  @Test
  void sluicesOwnDeferralIsNotRemembered() throws Exception {
    a = server("a", (s, sender, rcpt) -> null);
    b = server("b", (s, sender, rcpt) -> null);
    ScriptedPeer lost = new ScriptedPeer(c -> {
      c.say("220 lost ESMTP");
      c.hearUntil("EHLO");
      c.say("250-lost").say("250 PIPELINING");
      if (!"MAIL".equalsIgnoreCase(String.valueOf(c.hear()).substring(0, 4))) {
        c.say("221 2.0.0 Bye"); // the health probe
        return;
      }
      c.say("250 2.1.0 Ok");
      c.hearUntil("RCPT");
      c.say("250 2.1.5 Ok");
      c.hearUntil("DATA");
      c.say("354 go ahead");
      c.hear();
      c.close(); // mid-body
    });
    open.add(lost);
    start(yaml("", "", a, b).replace("127.0.0.1:" + b.port(), "127.0.0.1:" + lost.port()));
    List<String> ends = new ArrayList<>();
    for (int i = 0; i < 2; i++) { // one of the two goes to the lost one
      try (RawSmtpClient r = greeted("127.0.0.102")) {
        r.send(group("s@internet.example", "u@corp.example"));
        replies(r, 3);
        r.send(BODY);
        ends.add(r.reply());
      }
    }
    assertThat(a.delivered).hasSize(1);
    assertThat(ends).anySatisfy(e -> assertThat(e).startsWith("451 4.4.2"));
    assertThat(pool().deferralAffinityEntries()).isZero();
  }
}

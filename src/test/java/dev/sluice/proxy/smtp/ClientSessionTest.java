package dev.sluice.proxy.smtp;

import static dev.sluice.proxy.smtp.ClientSession.Kind.OPEN_TRANSACTION;
import static dev.sluice.proxy.smtp.ClientSession.Kind.RELAY_DATA;
import static dev.sluice.proxy.smtp.ClientSession.Kind.RELAY_RCPT;
import static dev.sluice.proxy.smtp.ClientSession.Kind.REPLY;
import static dev.sluice.proxy.smtp.ClientSession.Kind.REPLY_AND_CLOSE;
import static dev.sluice.proxy.smtp.ClientSession.Kind.RESET;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.smtp.ClientSession.Phase;
import dev.sluice.proxy.smtp.ClientSession.Step;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ClientSessionTest {
  static final SmtpReply OK = SmtpReply.of(250, "2.0.0 Ok");
  ClientSession s = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, false, false));

  Step line(String l) {
    return s.onLine(l);
  }

  static void assertReply(Step st, int code) {
    assertThat(st.kind()).isIn(REPLY, REPLY_AND_CLOSE);
    assertThat(st.reply().code()).isEqualTo(code);
  }

  /** Drives the machine to a phase the way a network layer would. */
  void reach(Phase p) {
    if (p == Phase.GREETED) {
      return;
    }
    line("EHLO client.test");
    if (p == Phase.READY) {
      return;
    }
    line("MAIL FROM:<a@b>");
    if (p == Phase.MAIL_PENDING) {
      return;
    }
    s.mailAnswered(OK);
    if (p == Phase.TRANSACTION) {
      return;
    }
    line("RCPT TO:<c@d>");
    s.rcptAnswered(OK);
    line("DATA");
    if (p == Phase.DATA_PENDING) {
      return;
    }
    s.dataAnswered(SmtpReply.of(354, "go"));
  }

  @Test
  void greetingAndEhloAdvertiseTheBaseExtensions() {
    assertThat(s.greeting().wire()).isEqualTo("220 mx.test ESMTP Sluice\r\n");
    Step st = line("EHLO client.test");
    assertThat(st.reply().lines()).containsExactly("250-mx.test", "250-PIPELINING", "250-SIZE 1000", "250-8BITMIME",
        "250 ENHANCEDSTATUSCODES");
    assertThat(s.heloName()).isEqualTo("client.test");
    assertThat(s.extended()).isTrue();
    assertReply(line("HELO other.test"), 250);
    assertThat(s.extended()).isFalse();
  }

  @Test
  void fullTransactionFollowsTheBackendsAnswers() {
    line("EHLO c");
    Step mail = line("MAIL FROM:<a@b> SIZE=10");
    assertThat(mail.kind()).isEqualTo(OPEN_TRANSACTION);
    assertThat(mail.command().path()).isEqualTo("a@b");
    assertThat(s.phase()).isEqualTo(Phase.MAIL_PENDING);
    s.mailAnswered(OK);
    assertThat(line("RCPT TO:<x@y>").kind()).isEqualTo(RELAY_RCPT);
    s.rcptAnswered(SmtpReply.of(550, "5.1.1 no such user"));
    assertThat(line("RCPT TO:<z@y>").kind()).isEqualTo(RELAY_RCPT);
    s.rcptAnswered(OK);
    assertThat(line("DATA").kind()).isEqualTo(RELAY_DATA);
    s.dataAnswered(SmtpReply.of(354, "go ahead"));
    assertThat(s.phase()).isEqualTo(Phase.DATA);
    s.messageFinished(OK);
    assertThat(s.phase()).isEqualTo(Phase.READY);
    assertThat(line("MAIL FROM:<next@b>").kind()).as("a new transaction is scheduled afresh").isEqualTo(OPEN_TRANSACTION);
  }

  @Test
  void sequenceErrorsAre503() {
    assertReply(line("MAIL FROM:<a@b>"), 503);
    assertReply(line("RCPT TO:<a@b>"), 503);
    line("EHLO c");
    assertReply(line("RCPT TO:<a@b>"), 503);
    assertReply(line("DATA"), 503);
    line("MAIL FROM:<a@b>");
    s.mailAnswered(OK);
    assertReply(line("MAIL FROM:<a@b>"), 503);
  }

  @Test
  void dataWithoutAcceptedRecipientsIsRefusedLocally() {
    reach(Phase.TRANSACTION);
    line("RCPT TO:<x@y>");
    s.rcptAnswered(SmtpReply.of(450, "4.2.0 busy"));
    assertReply(line("DATA"), 554);
  }

  @Test
  void refusedMailLeavesNoTransaction() {
    reach(Phase.MAIL_PENDING);
    s.mailAnswered(SmtpReply.of(451, "4.3.0 no backend"));
    assertThat(s.phase()).isEqualTo(Phase.READY);
    assertReply(line("RCPT TO:<a@b>"), 503);
  }

  @Test
  void limitsAnswerLocally() {
    line("EHLO c");
    assertReply(line("MAIL FROM:<a@b> SIZE=1001"), 552);
    line("MAIL FROM:<a@b>");
    s.mailAnswered(OK);
    for (int i = 0; i < 3; i++) {
      assertThat(line("RCPT TO:<r" + i + "@y>").kind()).isEqualTo(RELAY_RCPT);
      s.rcptAnswered(OK);
    }
    Step fourth = line("RCPT TO:<r4@y>");
    assertReply(fourth, 452);
    assertThat(fourth.reply().text()).startsWith("4.5.3");
  }

  /** A refused recipient takes no place under max_recipients (3 here), as in Postfix. */
  @Test
  void refusedRecipientsDoNotCountTowardsTheLimit() {
    reach(Phase.TRANSACTION);
    assertThat(line("RCPT TO:<unknown@y>").kind()).isEqualTo(RELAY_RCPT);
    s.rcptAnswered(SmtpReply.of(550, "5.1.1 unknown user"));
    for (int i = 0; i < 3; i++) {
      assertThat(line("RCPT TO:<r" + i + "@y>").kind()).as("recipient %d", i).isEqualTo(RELAY_RCPT);
      s.rcptAnswered(OK);
    }
    assertReply(line("RCPT TO:<r4@y>"), 452);
  }

  @Test
  void localAnswersForVrfyNoopHelpAndUnofferedCommands() {
    line("EHLO c");
    assertReply(line("VRFY postmaster"), 252);
    assertReply(line("NOOP"), 250);
    assertReply(line("HELP"), 214);
    assertReply(line("BDAT 10 LAST"), 502);
    assertReply(line("STARTTLS"), 502);
    assertReply(line("XYZZY"), 500);
  }

  /**
   * Errors count towards the limit until a message is delivered (Postfix: "without delivering
   * mail"): a long session with a refused recipient in every message is never ended for them.
   */
  @Test
  void aDeliveredMessageClearsTheErrorCount() {
    line("EHLO c");
    for (int message = 0; message < 10; message++) {
      assertThat(line("MAIL FROM:<a@b>").kind()).isEqualTo(OPEN_TRANSACTION);
      s.mailAnswered(OK);
      for (int refused = 0; refused < 3; refused++) {
        assertThat(line("RCPT TO:<nobody" + refused + "@y>").kind()).isEqualTo(RELAY_RCPT);
        s.rcptAnswered(SmtpReply.of(550, "5.1.1 no such user"));
      }
      line("RSET");
      assertThat(line("MAIL FROM:<a@b>").kind()).isEqualTo(OPEN_TRANSACTION);
      s.mailAnswered(OK);
      line("RCPT TO:<x@y>");
      s.rcptAnswered(OK);
      line("DATA");
      s.dataAnswered(SmtpReply.of(354, "go"));
      s.messageFinished(message % 2 == 0 ? OK : SmtpReply.of(451, "4.3.0 try later"));
    }
    assertThat(s.phase()).as("30 errors, never 6 without a delivery").isEqualTo(Phase.READY);
    for (int i = 0; i < 2; i++) {
      assertReply(line("XYZZY"), 500);
    }
    assertThat(line("XYZZY").reply().code()).as("the undelivered message's errors still count").isEqualTo(421);
  }

  @Test
  void tooManyErrorsEndTheSessionWith421() {
    for (int i = 0; i < 5; i++) {
      assertReply(line("XYZZY"), 500);
    }
    Step last = line("XYZZY");
    assertThat(last.kind()).isEqualTo(REPLY_AND_CLOSE);
    assertThat(last.before().code()).as("the last error still gets its own reply, as in Postfix").isEqualTo(500);
    assertThat(last.reply().code()).isEqualTo(421);
    assertThat(s.phase()).isEqualTo(Phase.CLOSED);
  }

  @ParameterizedTest
  @EnumSource(value = Phase.class, names = {"GREETED", "READY", "TRANSACTION"})
  void rsetWorksInEveryCommandPhase(Phase p) {
    reach(p);
    Step st = line("RSET");
    assertThat(st.reply().code()).isEqualTo(250);
    assertThat(st.kind()).isEqualTo(p == Phase.TRANSACTION ? RESET : REPLY);
    assertThat(s.phase()).isEqualTo(p == Phase.GREETED ? Phase.GREETED : Phase.READY);
  }

  @ParameterizedTest
  @EnumSource(value = Phase.class, names = {"GREETED", "READY", "TRANSACTION"})
  void quitWorksInEveryCommandPhase(Phase p) {
    reach(p);
    Step st = line("QUIT");
    assertThat(st.kind()).isEqualTo(REPLY_AND_CLOSE);
    assertThat(st.reply().code()).isEqualTo(221);
    assertThat(st.resetBackend()).isEqualTo(p == Phase.TRANSACTION);
    assertThat(s.phase()).isEqualTo(Phase.CLOSED);
  }

  @ParameterizedTest
  @EnumSource(value = Phase.class, names = {"MAIL_PENDING", "DATA_PENDING", "DATA", "CLOSED"})
  void commandsAreNotAcceptedWhileWaitingOrClosed(Phase p) {
    if (p == Phase.CLOSED) {
      line("QUIT");
    } else {
      reach(p);
    }
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> line("NOOP")).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void starttlsIsOfferedOnceAndResetsTheSession() {
    ClientSession t = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, true, false));
    assertThat(t.onLine("EHLO c").reply().lines()).contains("250-STARTTLS");
    Step st = t.onLine("STARTTLS");
    assertThat(st.kind()).isEqualTo(ClientSession.Kind.START_TLS);
    assertThat(st.reply().code()).isEqualTo(220);
    t.tlsStarted();
    assertThat(t.phase()).isEqualTo(Phase.GREETED);
    assertThat(t.heloName()).isNull();
    assertReply(t.onLine("MAIL FROM:<a@b>"), 503);
    assertThat(t.onLine("EHLO c").reply().lines()).doesNotContain("250-STARTTLS");
    assertReply(t.onLine("STARTTLS"), 503);
  }

  @Test
  void withTlsRequiredOnlyTheWayToTlsIsOpenBeforeStarttls() {
    ClientSession t = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 20, true,
        ClientSession.Settings.DEFAULT_AUTH_MECHANISMS, java.util.Set.of(), true));
    assertThat(t.onLine("EHLO c").reply().lines()).contains("250-STARTTLS").doesNotContain("250-AUTH PLAIN LOGIN");
    for (String command : java.util.List.of("MAIL FROM:<a@b>", "RCPT TO:<x@y>", "DATA", "BDAT 10 LAST", "AUTH PLAIN",
        "VRFY postmaster", "EXPN staff", "ETRN corp.example")) {
      Step st = t.onLine(command);
      assertReply(st, 530);
      assertThat(st.reply().text()).as(command).isEqualTo("5.7.0 Must issue a STARTTLS command first");
    }
    assertReply(t.onLine("NOOP"), 250);
    assertReply(t.onLine("RSET"), 250);
    assertReply(t.onLine("HELP"), 214);
    assertThat(t.onLine("STARTTLS").kind()).isEqualTo(ClientSession.Kind.START_TLS);
    t.tlsStarted();
    assertThat(t.onLine("EHLO c").reply().lines()).contains("250-AUTH PLAIN LOGIN");
    assertThat(t.onLine("MAIL FROM:<a@b>").kind()).isEqualTo(OPEN_TRANSACTION);
  }

  @Test
  void anImplicitTlsSessionHasNothingToWaitFor() {
    ClientSession t = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, false,
        java.util.List.of(), java.util.Set.of(), true));
    t.implicitTls();
    t.onLine("EHLO c");
    assertThat(t.onLine("MAIL FROM:<a@b>").kind()).isEqualTo(OPEN_TRANSACTION);
  }

  @Test
  void authIsRelayedAndOfferedOnlyOverTlsWhenTheListenerHasTls() {
    ClientSession plain = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, false, true));
    assertThat(plain.onLine("EHLO c").reply().lines()).contains("250-AUTH PLAIN LOGIN");
    Step st = plain.onLine("AUTH PLAIN");
    assertThat(st.kind()).isEqualTo(ClientSession.Kind.RELAY_AUTH);
    assertThat(plain.phase()).isEqualTo(Phase.AUTH);
    plain.authAnswered(SmtpReply.of(334, ""));
    assertThat(plain.phase()).isEqualTo(Phase.AUTH);
    plain.authAnswered(SmtpReply.of(235, "2.7.0 Authentication successful"));
    assertThat(plain.authenticated()).isTrue();
    assertReply(plain.onLine("AUTH PLAIN"), 503);
    assertThat(plain.onLine("EHLO c").reply().lines()).doesNotContain("250-AUTH PLAIN LOGIN");

    ClientSession withTls = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, true, true));
    assertThat(withTls.onLine("EHLO c").reply().lines()).doesNotContain("250-AUTH PLAIN LOGIN");
    assertReply(withTls.onLine("AUTH PLAIN"), 502);
    withTls.onLine("STARTTLS");
    withTls.tlsStarted();
    assertThat(withTls.onLine("EHLO c").reply().lines()).contains("250-AUTH PLAIN LOGIN");
  }

  @Test
  void parametersOfExtensionsNotOfferedAreRefusedWith555() {
    line("EHLO c");
    assertReply(line("MAIL FROM:<a@b> SMTPUTF8"), 555);
    assertReply(line("MAIL FROM:<a@b> FOO=bar"), 555);
    assertThat(line("MAIL FROM:<a@b> SIZE=100 BODY=8BITMIME").kind()).isEqualTo(OPEN_TRANSACTION);
    s.mailAnswered(OK);
    assertReply(line("RCPT TO:<x@y> NOTIFY=SUCCESS"), 555);

    ClientSession intl = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, false, false,
        java.util.Set.of("SMTPUTF8", "DSN")));
    assertThat(intl.onLine("EHLO c").reply().lines()).contains("250-SMTPUTF8", "250-DSN");
    assertReply(intl.onLine("MAIL FROM:<ü@b>"), 553);
    assertThat(intl.onLine("MAIL FROM:<ü@b> SMTPUTF8 RET=HDRS").kind()).isEqualTo(OPEN_TRANSACTION);
    intl.mailAnswered(OK);
    assertThat(intl.onLine("RCPT TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y").kind()).isEqualTo(RELAY_RCPT);
    intl.rcptAnswered(OK);
    assertThat(intl.onLine("RCPT TO:<jürgen@y>").kind()).as("UTF-8 recipient in an SMTPUTF8 transaction")
        .isEqualTo(RELAY_RCPT);

    ClientSession old = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 6, false, false));
    old.onLine("HELO c");
    assertReply(old.onLine("MAIL FROM:<a@b> SIZE=10"), 555);
  }

  @Test
  void ehloInsideATransactionAbortsIt() {
    reach(Phase.TRANSACTION);
    Step st = line("EHLO again");
    assertThat(st.resetBackend()).isTrue();
    assertThat(s.phase()).isEqualTo(Phase.READY);
    assertThat(EnumSet.of(Phase.READY)).contains(s.phase());
  }

  @Test
  void recipientsAndDataPipelinedAfterMailGoAheadOfItsReply() {
    reach(Phase.MAIL_PENDING);
    List<Step> ahead = s.relayedAhead(List.of("RCPT TO:<x@y>", "rcpt to:<z@y> ", "DATA", "QUIT"));
    assertThat(ahead).extracting(Step::kind).containsExactly(RELAY_RCPT, RELAY_RCPT, RELAY_DATA);
    assertThat(ahead.get(1).command().path()).isEqualTo("z@y");
    assertThat(s.phase()).as("the session itself does not move").isEqualTo(Phase.MAIL_PENDING);
    s.mailAnswered(OK);
    assertThat(line("RCPT TO:<x@y>").kind()).isEqualTo(RELAY_RCPT);
  }

  @Test
  void lookAheadStopsAtTheFirstLineThisSessionAnswersItself() {
    reach(Phase.MAIL_PENDING);
    assertThat(s.relayedAhead(List.of("RCPT TO:<1@y>", "RCPT TO:<2@y>", "RCPT TO:<3@y>", "RCPT TO:<4@y>", "DATA")))
        .as("max_recipients is 3: the fourth gets 452 from Sluice").hasSize(3);
    assertThat(s.relayedAhead(List.of("RCPT TO:<1@y>", "RCPT TO:<jürgen@y>", "DATA")))
        .as("a UTF-8 address without SMTPUTF8").hasSize(1);
    assertThat(s.relayedAhead(List.of("RCPT TO:<1@y> NOTIFY=NEVER", "DATA"))).as("DSN is not offered").isEmpty();
    assertThat(s.relayedAhead(List.of("NOOP", "RCPT TO:<1@y>"))).isEmpty();
    assertThat(s.relayedAhead(List.of("RCPT TO:<1@y>", "RSET", "RCPT TO:<2@y>"))).hasSize(1);
    assertThat(s.relayedAhead(List.of("RCPT TO:<1@y>", "MAIL FROM:<a@b>"))).hasSize(1);
    assertThat(s.relayedAhead(List.of("DATA", "RCPT TO:<1@y>"))).as("DATA before any recipient: 554 from Sluice")
        .isEmpty();
  }

  @Test
  void aRecipientAwaitingItsAnswerCountsAsAcceptedForData() {
    reach(Phase.TRANSACTION);
    assertThat(line("RCPT TO:<x@y>").kind()).isEqualTo(RELAY_RCPT);
    assertThat(s.relayedAhead(List.of("DATA"))).extracting(Step::kind).containsExactly(RELAY_DATA);
    assertThat(s.relayedAhead(List.of("RCPT TO:<2@y>", "RCPT TO:<3@y>", "DATA")))
        .as("two more make three, the limit").hasSize(3);
    assertThat(s.relayedAhead(List.of("RCPT TO:<2@y>", "RCPT TO:<3@y>", "RCPT TO:<4@y>"))).hasSize(2);
  }

  @ParameterizedTest
  @EnumSource(value = Phase.class, names = {"GREETED", "READY", "DATA_PENDING", "DATA"})
  void nothingGoesAheadOutsideMailOrRecipients(Phase p) {
    reach(p);
    assertThat(s.relayedAhead(List.of("RCPT TO:<x@y>", "DATA"))).isEmpty();
  }

  /**
   * What goes ahead is exactly what the session relays when the backend accepts everything: on
   * random pipelined groups, the look-ahead's steps match those the session then takes one by one.
   */
  @Test
  void lookAheadAgreesWithTheSessionWhenEverythingIsAccepted() {
    String[] pool = {"RCPT TO:<a@y>", "RCPT TO:<b@y> NOTIFY=NEVER", "RCPT TO:<jürgen@y>", "RCPT TO:", "DATA",
        "NOOP", "RSET", "MAIL FROM:<a@b>", "RCPT TO:<c@y> ORCPT=rfc822;c@y", "VRFY x", "rcpt to:<d@y>"};
    java.util.Random random = new java.util.Random(2920);
    for (int round = 0; round < 2000; round++) {
      s = new ClientSession(new ClientSession.Settings("mx.test", 1000, 3, 100, false, false,
          random.nextBoolean() ? java.util.Set.of("DSN") : java.util.Set.of()));
      reach(Phase.MAIL_PENDING);
      boolean inRcpt = random.nextBoolean();
      if (inRcpt) {
        s.mailAnswered(OK);
        line("RCPT TO:<first@y>");
      }
      List<String> group = new java.util.ArrayList<>();
      for (int i = random.nextInt(7); i > 0; i--) {
        group.add(pool[random.nextInt(pool.length)]);
      }
      List<Step> ahead = s.relayedAhead(group);
      if (inRcpt) {
        s.rcptAnswered(OK);
      } else {
        s.mailAnswered(OK);
      }
      for (int i = 0; i < ahead.size(); i++) {
        Step step = line(group.get(i));
        assertThat(step.kind()).as("%s, line %d", group, i).isEqualTo(ahead.get(i).kind());
        if (step.kind() == RELAY_RCPT) {
          assertThat(step.command().path()).isEqualTo(ahead.get(i).command().path());
          assertThat(step.command().parameters()).isEqualTo(ahead.get(i).command().parameters());
          s.rcptAnswered(OK);
        }
      }
      boolean endedWithData = !ahead.isEmpty() && ahead.get(ahead.size() - 1).kind() == RELAY_DATA;
      if (ahead.size() < group.size() && !endedWithData) {
        assertThat(line(group.get(ahead.size())).kind()).as("%s: the line after the look-ahead", group)
            .isNotIn(RELAY_RCPT, RELAY_DATA);
      }
    }
  }

  @Test
  void recipientsOverTheLimitAre452AndNotErrorsSoTheClientCanSendTheRestLater() {
    reach(Phase.TRANSACTION);
    for (int i = 0; i < 3; i++) {
      assertThat(line("RCPT TO:<r" + i + "@y>").kind()).isEqualTo(RELAY_RCPT);
      s.rcptAnswered(OK);
    }
    // Ten more than max_recipients (3), with an error limit of 6: each is a 452, none closes.
    for (int i = 3; i < 13; i++) {
      Step st = line("RCPT TO:<r" + i + "@y>");
      assertThat(st.kind()).isEqualTo(REPLY);
      assertThat(st.reply().code()).isEqualTo(452);
    }
    assertThat(s.phase()).isEqualTo(Phase.TRANSACTION);
    assertThat(line("DATA").kind()).isEqualTo(RELAY_DATA);
  }

  @Test
  void zeroMeansNoLimitForSizeAndRecipients() {
    ClientSession open = new ClientSession(new ClientSession.Settings("mx.test", 0, 0, 6, false, false));
    Step ehlo = open.onLine("EHLO client.test");
    assertThat(ehlo.reply().ehloKeywords()).contains("SIZE");
    assertThat(ehlo.reply().ehloParameters("SIZE")).as("RFC 1870 §4: no fixed maximum").isEmpty();
    assertThat(open.onLine("MAIL FROM:<a@b> SIZE=9000000000").kind()).isEqualTo(OPEN_TRANSACTION);
    open.mailAnswered(OK);
    for (int i = 0; i < 5000; i++) {
      assertThat(open.onLine("RCPT TO:<r" + i + "@y>").kind()).isEqualTo(RELAY_RCPT);
      open.rcptAnswered(OK);
    }
  }
}

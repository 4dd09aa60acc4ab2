package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SmtpReplyTest {

  @ParameterizedTest
  @ValueSource(strings = {
      "450 4.2.0 <u@corp.example>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/",
      "451 4.7.1 Greylisting in action, please come back later",
      "450 4.7.1 Client host rejected: cannot find your hostname",
      "450 4.1.1 <u@corp.example>: Recipient address rejected: unverified address: connect timed out",
      "451 4.7.0 Try again later",
      "450 Greylisted for 5 minutes",
  })
  void deferralsTheServerRemembersAreFollowed(String line) {
    assertThat(SmtpReply.of(Integer.parseInt(line.substring(0, 3)), line.substring(4)).isRememberedDeferral()).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "452 4.3.1 Insufficient system resources",
      "451 4.3.0 Error: queue file write error",
      "451 4.4.2 mx.test Error: connection to the mail server was lost; try again later",
      "451 4.5.0 Error: pipelining protocol violation",
      "451 Requested action aborted: local error in processing",
      "421 4.7.0 mx.test Error: too many errors",
      "450 2.0.0 nonsense",
      "250 2.1.5 Ok",
      "550 5.7.1 Relay access denied",
  })
  void theServersOwnTroubleIsNot(String line) {
    assertThat(SmtpReply.of(Integer.parseInt(line.substring(0, 3)), line.substring(4)).isRememberedDeferral()).isFalse();
  }

  /** What passive health leaves out: a deferral of one sender's address, not of the server's mail. */
  @ParameterizedTest
  @ValueSource(strings = {
      "450 4.1.8 <a@nodomain.example>: Sender address rejected: Domain not found",
      "451 4.1.8 Sender address rejected: unverified address",
      "452 4.2.2 Mailbox full",
      "450 Requested mail action not taken: mailbox unavailable",
  })
  void aDeferralOfTheSendersAddressIsAboutTheSender(String line) {
    assertThat(SmtpReply.of(Integer.parseInt(line.substring(0, 3)), line.substring(4)).isAboutTheSendersAddress()).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "450 4.7.1 Client host rejected: cannot find your hostname",
      "451 4.7.0 Temporary server error. Please try again later. PRX2",
      "452 4.3.1 Insufficient system resources",
      "451 4.3.0 Error: queue file write error",
      "421 4.4.2 closing",
      "451 Requested action aborted: local error in processing",
      "550 5.1.8 Sender address rejected: Domain not found",
      "450 2.0.0 nonsense",
  })
  void policyAndTheServersOwnTroubleAreNot(String line) {
    assertThat(SmtpReply.of(Integer.parseInt(line.substring(0, 3)), line.substring(4)).isAboutTheSendersAddress()).isFalse();
  }

  @Test
  void aMultiLineReplyIsJudgedByItsFirstLine() {
    SmtpReply r = new SmtpReply(451, List.of("451-4.7.1 Greylisted", "451 4.7.1 Please try again later"));
    assertThat(r.isRememberedDeferral()).isTrue();
  }
}

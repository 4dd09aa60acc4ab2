package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Timeout messages name the step, never an address or a credential. */
class BackendStepNameTest {

  @Test
  void commandsAreNamedByTheirVerbOnly() {
    assertThat(BackendSession.verbOf("MAIL FROM:<alice@example.test> SIZE=10")).isEqualTo("MAIL FROM");
    assertThat(BackendSession.verbOf("RCPT TO:<bob@example.test>")).isEqualTo("RCPT TO");
    assertThat(BackendSession.verbOf("EHLO client.example")).isEqualTo("EHLO");
    assertThat(BackendSession.verbOf("XCLIENT ADDR=192.0.2.1 HELO=x")).isEqualTo("XCLIENT");
    assertThat(BackendSession.verbOf("end of data")).isEqualTo("end of data");
  }

  @Test
  void aSaslResponseIsNeverEchoed() {
    // base64 of "\0user\0secret" and of "secret": credentials relayed during AUTH
    assertThat(BackendSession.verbOf("AHVzZXIAc2VjcmV0")).isEqualTo("an AUTH response");
    assertThat(BackendSession.verbOf("c2VjcmV0")).isEqualTo("an AUTH response");
    assertThat(BackendSession.verbOf("AUTH PLAIN AHVzZXIAc2VjcmV0")).isEqualTo("AUTH");
  }
}

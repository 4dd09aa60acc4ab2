package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ReplyAssemblerTest {
  private final ReplyAssembler a = new ReplyAssembler();

  @Test
  void assemblesMultiLineReply() throws Exception {
    assertThat(a.feed("250-mx.example")).isNull();
    assertThat(a.feed("250-PIPELINING")).isNull();
    SmtpReply r = a.feed("250 8BITMIME");
    assertThat(r.code()).isEqualTo(250);
    assertThat(r.lines()).containsExactly("250-mx.example", "250-PIPELINING", "250 8BITMIME");
    assertThat(r.ehloKeywords()).containsExactly("PIPELINING", "8BITMIME");
    assertThat(r.wire()).isEqualTo("250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
  }

  @Test
  void ehloKeywordsAreTheFirstWordOfEachLineUpperCased() {
    SmtpReply r = new SmtpReply(250, java.util.List.of("250-mx.example greets you", "250-size 10240000",
        "250-AUTH=LOGIN PLAIN", "250-", "250-  xclient NAME ADDR", "250 DSN"));
    assertThat(r.ehloKeywords()).containsExactly("SIZE", "AUTH", "XCLIENT", "DSN");
    assertThat(new SmtpReply(250, java.util.List.of("250 mx.example")).ehloKeywords()).isEmpty();
  }

  /** AUTH mechanisms in the RFC 4954 form, and in the older "AUTH=" form some servers still send. */
  @Test
  void authMechanismsInEitherForm() {
    SmtpReply r = new SmtpReply(250, java.util.List.of("250-mx.example", "250-AUTH=login plain", "250 DSN"));
    assertThat(r.ehloParameters("AUTH")).containsExactly("LOGIN", "PLAIN");
    SmtpReply both = new SmtpReply(250, java.util.List.of("250-mx.example", "250-AUTH PLAIN LOGIN", "250-AUTH=PLAIN LOGIN",
        "250 DSN"));
    assertThat(both.ehloParameters("AUTH")).containsExactly("PLAIN", "LOGIN");
    assertThat(both.ehloParameters("AUTHX")).isEmpty();
    assertThat(new SmtpReply(250, java.util.List.of("250-mx.example", "250 AUTHENTICATE=X")).ehloParameters("AUTH")).isEmpty();
  }

  @Test
  void acceptsBareCodeAndClassifies() throws Exception {
    assertThat(a.feed("354").code()).isEqualTo(354);
    SmtpReply r = a.feed("452 4.3.1 Insufficient system resources");
    assertThat(r.isTransient()).isTrue();
    assertThat(r.text()).isEqualTo("4.3.1 Insufficient system resources");
    assertThat(a.feed("221 bye").isPositive()).isTrue();
    assertThat(a.feed("550 no").isPermanent()).isTrue();
  }

  @Test
  void rejectsGarbageAndCodeChanges() throws Exception {
    assertThatThrownBy(() -> a.feed("hello")).isInstanceOf(ReplyAssembler.MalformedReplyException.class);
    assertThatThrownBy(() -> a.feed("25")).isInstanceOf(ReplyAssembler.MalformedReplyException.class);
    assertThatThrownBy(() -> a.feed("250x")).isInstanceOf(ReplyAssembler.MalformedReplyException.class);
    // Digits of another script are not a reply code (Integer.parseInt would read this as 250).
    assertThatThrownBy(() -> a.feed("\u0662\u0665\u0660 ok")).isInstanceOf(ReplyAssembler.MalformedReplyException.class);
    a.feed("250-first");
    assertThatThrownBy(() -> a.feed("251 second")).isInstanceOf(ReplyAssembler.MalformedReplyException.class);
  }
}

package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.proxy.smtp.SmtpCommand.Verb;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SmtpCommandTest {

  @Test
  void parsesMailWithParameters() throws Exception {
    SmtpCommand c = SmtpCommand.parse("mail from:<a@b.example> SIZE=1000 BODY=8BITMIME");
    assertThat(c.verb()).isEqualTo(Verb.MAIL);
    assertThat(c.path()).isEqualTo("a@b.example");
    assertThat(c.parameters()).isEqualTo("SIZE=1000 BODY=8BITMIME");
    assertThat(c.parameter("size")).isEqualTo("1000");
    assertThat(c.parameter("SMTPUTF8")).isNull();
  }

  @Test
  void acceptsNullSenderSpaceAfterColonAndQuotedLocalParts() throws Exception {
    assertThat(SmtpCommand.parse("MAIL FROM:<>").path()).isEmpty();
    assertThat(SmtpCommand.parse("MAIL FROM: <x@y>").path()).isEqualTo("x@y");
    assertThat(SmtpCommand.parse("RCPT TO:<\"odd>name\"@corp.example>").path()).isEqualTo("\"odd>name\"@corp.example");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "MAIL FROM:a@b|501",
      "MAIL TO:<a@b>|501",
      "MAIL FROM:<a@b|501",
      "MAIL FROM:<a@b>SIZE=1|501",
      "RCPT TO:<>|501",
      "RCPT <a@b>|501",
      "EHLO|501",
      "HELO two words|501",
      "DATA now|501",
      "QUIT please|501",
  })
  void rejectsBadSyntaxWith501(String line, int code) {
    assertThatThrownBy(() -> SmtpCommand.parse(line))
        .isInstanceOfSatisfying(SmtpCommand.SyntaxError.class, e -> assertThat(e.reply().code()).isEqualTo(code));
  }

  @Test
  void controlCharactersAreASyntaxError() {
    assertThatThrownBy(() -> SmtpCommand.parse("NOOP \u0000"))
        .isInstanceOfSatisfying(SmtpCommand.SyntaxError.class, e -> assertThat(e.reply().code()).isEqualTo(500));
  }

  @Test
  void unknownVerbsAreUnknown() throws Exception {
    assertThat(SmtpCommand.parse("FOO bar").verb()).isEqualTo(Verb.UNKNOWN);
    assertThat(SmtpCommand.parse("UNKNOWN").verb()).isEqualTo(Verb.UNKNOWN);
    assertThat(SmtpCommand.parse("").verb()).isEqualTo(Verb.UNKNOWN);
    assertThat(SmtpCommand.parse("MAILS FROM:<a@b>").verb()).isEqualTo(Verb.UNKNOWN);
    assertThat(SmtpCommand.parse("STARTTLSX").verb()).isEqualTo(Verb.UNKNOWN);
    // Only ASCII letters fold: U+017F (long s) upper-cases to S, but "\u017FTARTTLS" is no STARTTLS.
    assertThat(SmtpCommand.parse("\u017FTARTTLS").verb()).isEqualTo(Verb.UNKNOWN);
  }

  @Test
  void everyVerbIsKnownInAnyCase() throws Exception {
    for (Verb v : Verb.values()) {
      if (v != Verb.UNKNOWN) {
        String arg = switch (v) {
          case MAIL -> " FROM:<a@b.test>";
          case RCPT -> " TO:<a@b.test>";
          case EHLO, HELO -> " client.test";
          default -> "";
        };
        assertThat(SmtpCommand.parse(v.name() + arg).verb()).isEqualTo(v);
        assertThat(SmtpCommand.parse(v.name().toLowerCase(java.util.Locale.ROOT) + arg).verb()).isEqualTo(v);
      }
    }
  }

  @Test
  void randomLinesNeverThrowAnythingButSyntaxError() {
    long seed = Long.getLong("sluice.fuzz.seed", 20261130L);
    Random rnd = new Random(seed);
    String alphabet = "MAILFROMRCPTTO:<>@. =\"\\\t\u0000\u007f\u00e9abcEHLODATA";
    for (int i = 0; i < 20_000; i++) {
      StringBuilder sb = new StringBuilder();
      int n = rnd.nextInt(40);
      for (int j = 0; j < n; j++) {
        sb.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
      }
      String line = sb.toString();
      try {
        SmtpCommand c = SmtpCommand.parse(line);
        assertThat(c.verb()).as("seed %d line '%s'", seed, line).isNotNull();
      } catch (SmtpCommand.SyntaxError e) {
        assertThat(e.reply().code()).as("seed %d line '%s'", seed, line).isBetween(500, 599);
      } catch (RuntimeException e) {
        throw new AssertionError("seed " + seed + " line '" + line + "'", e);
      }
    }
  }
}

package dev.sluice.report;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The enhanced status code (RFC 3463) of an SMTP reply as logs record it, read only where it
 * belongs: right after the reply code, or at the very start of a text without one. Pure.
 */
final class ReplyDsn {
  private ReplyDsn() {}

  /**
   * Where a refusal's enhanced status code (RFC 3463: class 2, 4 or 5, subject and detail of up
   * to three digits each) sits: first in the text, after smtpd's three-digit reply code ({@code
   * 550 5.7.1 …}, {@code 550-5.7.1 …}), or at the very start of cleanup's text, which has no code
   * ({@code 4.7.1 Try again later}). Anything later in the text (a client address {@code
   * [10.4.5.6]}, a host name, a filter's own wording) is no DSN, so a reply without a code in
   * that place has none. The class must be the reply code's (RFC 2034).
   */
  private static final Pattern REPLY_DSN = Pattern.compile(
      "^(?:([245])\\d\\d[ -])?([245])\\.(\\d{1,3})\\.(\\d{1,3})(?![.\\d])");

  /** The enhanced status code in its place in a reply's text ({@link #REPLY_DSN}), or null. */
  static String of(String text) {
    if (text == null) {
      return null;
    }
    Matcher m = REPLY_DSN.matcher(text);
    if (!m.find() || m.group(1) != null && !m.group(1).equals(m.group(2))) {
      return null;
    }
    return m.group(2) + '.' + m.group(3) + '.' + m.group(4);
  }

  /**
   * The code of an Exchange message-tracking {@code recipient-status}: a reply ({@code 550 5.1.1
   * RESOLVER.ADR.RecipNotFound}), or for a deferral the last error among its fields ({@code
   * [{LRT=…};{LED=451 4.4.0 DNS query failed};{FQDN=…};{IP=10.2.4.5}]}), never a number from an
   * address elsewhere in it.
   */
  static String ofRecipientStatus(String status) {
    if (status == null) {
      return null;
    }
    int led = status.indexOf("LED=");
    return of(led >= 0 ? status.substring(led + 4) : status.strip());
  }
}

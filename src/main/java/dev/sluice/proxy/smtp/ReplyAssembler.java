package dev.sluice.proxy.smtp;

import java.util.ArrayList;
import java.util.List;

/**
 * Assembles {@link SmtpReply}s from reply lines (RFC 5321 §4.2.1: {@code code-text} continues,
 * {@code code text} or a bare {@code code} ends). Pure; one instance per connection, not
 * thread-safe.
 */
public final class ReplyAssembler {
  private final List<String> pending = new ArrayList<>(4);
  private int code = -1;

  /**
   * Feeds one line (without CRLF).
   *
   * @return the completed reply, or null when more lines are needed
   * @throws MalformedReplyException when the line is not an SMTP reply line or the code changes
   *     within a multi-line reply
   */
  public SmtpReply feed(String line) throws MalformedReplyException {
    if (line.length() < 3 || !isDigits(line) || (line.length() > 3 && line.charAt(3) != ' ' && line.charAt(3) != '-')) {
      throw new MalformedReplyException("not an SMTP reply line: '" + abbreviate(line) + "'");
    }
    int c = (line.charAt(0) - '0') * 100 + (line.charAt(1) - '0') * 10 + (line.charAt(2) - '0');
    if (code >= 0 && c != code) {
      throw new MalformedReplyException("reply code changed from " + code + " to " + c + " within one reply");
    }
    boolean last = line.length() == 3 || line.charAt(3) == ' ';
    if (last && pending.isEmpty()) {
      return new SmtpReply(c, List.of(line)); // nearly every reply: one line, no copy of the list
    }
    code = c;
    pending.add(line);
    if (!last) {
      return null;
    }
    SmtpReply reply = new SmtpReply(c, pending);
    pending.clear();
    code = -1;
    return reply;
  }

  /** RFC 5321 §4.2: the code is three ASCII digits (Character.isDigit would admit other scripts' digits). */
  private static boolean isDigits(String line) {
    return isDigit(line.charAt(0)) && isDigit(line.charAt(1)) && isDigit(line.charAt(2));
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static String abbreviate(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "…" : s;
  }

  /** A backend sent something that is not an SMTP reply. */
  public static final class MalformedReplyException extends Exception {
    private static final long serialVersionUID = 1L;

    public MalformedReplyException(String message) {
      super(message, null, false, false);
    }
  }
}

package dev.sluice.proxy.smtp;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One complete SMTP reply (RFC 5321 §4.2): a three-digit code and its text lines, as received. A
 * multi-line reply ({@code 250-…} … {@code 250 …}) is one reply. Immutable.
 *
 * @param lines the raw lines without CRLF, e.g. {@code "250-PIPELINING"}
 */
public record SmtpReply(int code, List<String> lines) {
  private static final short CRLF = ('\r' << 8) | '\n';

  public SmtpReply {
    lines = List.copyOf(lines);
  }

  /** A one-line reply, e.g. {@code of(421, "4.3.2 Service not available")}. */
  public static SmtpReply of(int code, String text) {
    return new SmtpReply(code, List.of(code + " " + text));
  }

  /** This reply with another code on every line, its text unchanged. */
  public SmtpReply withCode(int newCode) {
    List<String> out = new ArrayList<>(lines.size());
    for (String l : lines) {
      out.add(newCode + l.substring(Math.min(3, l.length())));
    }
    return new SmtpReply(newCode, out);
  }

  /** 2xx: positive completion. */
  public boolean isPositive() {
    return code >= 200 && code < 300;
  }

  /** 4xx: transient negative; a sender retries later, a balancer may try another backend. */
  public boolean isTransient() {
    return code >= 400 && code < 500;
  }

  /**
   * A deferral of the message that the server remembers, so that the sender's retry should meet the
   * same server (a pool's {@code deferral_affinity}): a {@code 450} or {@code 451} whose enhanced
   * status (RFC 3463) is about addressing ({@code 4.1.x}, e.g. Postfix's unverified address), the
   * mailbox ({@code 4.2.x}, postgrey) or policy ({@code 4.7.x}, most greylisting), or a {@code
   * 450} without one (greylisting servers that give no enhanced status). Not the server's own
   * trouble, which another server may not have: {@code 4.3.x} mail system, {@code 4.4.x} network,
   * {@code 4.5.x} protocol, a bare {@code 451} ("local error in processing", RFC 5321 §4.2.2), a
   * {@code 452} (storage) or a {@code 421}.
   */
  public boolean isRememberedDeferral() {
    if (code != 450 && code != 451) {
      return false;
    }
    String first = lines.get(0);
    // "450 4.2.0 …": an enhanced status starts after the code; its subject is the digit after "4.".
    if (first.length() > 5 && Character.isDigit(first.charAt(4)) && first.charAt(5) == '.') {
      char subject = first.length() > 7 && first.charAt(7) == '.' ? first.charAt(6) : ' ';
      return first.charAt(4) == '4' && (subject == '1' || subject == '2' || subject == '7');
    }
    return code == 450;
  }

  /**
   * A 4xx about the sender's address or mailbox rather than the server: an enhanced status (RFC
   * 3463) of subject 1 (addressing, {@code 4.1.8} bad sender domain) or 2 (mailbox), or a {@code
   * 450} without one. Not {@code 4.7.x}: security and policy replies are as often about every client
   * (Postfix's {@code 450 4.7.1 … cannot find your hostname} behind a broken resolver, Exchange's
   * {@code 451 4.7.0} proxy errors) as about one sender.
   */
  public boolean isAboutTheSendersAddress() {
    if (!isTransient()) {
      return false;
    }
    String first = lines.get(0);
    if (first.length() > 7 && first.charAt(4) == '4' && first.charAt(5) == '.' && first.charAt(7) == '.') {
      return first.charAt(6) == '1' || first.charAt(6) == '2';
    }
    return code == 450 && !(first.length() > 5 && Character.isDigit(first.charAt(4)) && first.charAt(5) == '.');
  }

  /** 5xx: permanent negative. */
  public boolean isPermanent() {
    return code >= 500 && code < 600;
  }

  /** The text after the code of the last line (e.g. {@code "4.3.1 Insufficient system resources"}). */
  public String text() {
    String last = lines.get(lines.size() - 1);
    return last.length() > 4 ? last.substring(4) : "";
  }

  /** All lines joined with CRLF and terminated by CRLF: the exact wire form. */
  public String wire() {
    StringBuilder sb = new StringBuilder();
    for (String l : lines) {
      sb.append(l).append("\r\n");
    }
    return sb.toString();
  }

  /** The wire form ({@link #wire()}) in a new buffer, without building the string first. */
  public ByteBuf encode(ByteBufAllocator alloc) {
    // Indexed loops: this runs for every reply to a client, and each for-each made an iterator.
    int n = lines.size();
    int size = 0;
    for (int i = 0; i < n; i++) {
      size += ByteBufUtil.utf8MaxBytes(lines.get(i)) + 2;
    }
    ByteBuf out = alloc.buffer(size);
    for (int i = 0; i < n; i++) {
      ByteBufUtil.writeUtf8(out, lines.get(i));
      out.writeShort(CRLF);
    }
    return out;
  }

  /** Keywords offered in an EHLO reply (first word of each line after the greeting), upper case. */
  public List<String> ehloKeywords() {
    // Runs for every backend session opened, so no regex and no streams.
    List<String> keywords = new ArrayList<>(lines.size());
    for (int i = 1; i < lines.size(); i++) {
      String l = lines.get(i);
      int from = 4;
      while (from < l.length() && Character.isWhitespace(l.charAt(from))) {
        from++;
      }
      int to = from;
      while (to < l.length() && l.charAt(to) != ' ' && l.charAt(to) != '=' && !Character.isWhitespace(l.charAt(to))) {
        to++;
      }
      if (to > from) {
        keywords.add(l.substring(from, to).toUpperCase(Locale.ROOT));
      }
    }
    return List.copyOf(keywords);
  }

  /**
   * The parameters of an EHLO keyword, upper case: {@code [ADDR, NAME, PORT]} for {@code 250-XCLIENT
   * ADDR NAME PORT}; empty when the keyword is not offered or has none.
   */
  public List<String> ehloParameters(String keyword) {
    for (int i = 1; i < lines.size(); i++) {
      String[] words = lines.get(i).substring(Math.min(4, lines.get(i).length())).trim().split("\\s+");
      // "AUTH=PLAIN LOGIN" is the form from before RFC 2554 that some servers still send as well.
      boolean oldForm = words[0].length() > keyword.length() && words[0].charAt(keyword.length()) == '='
          && words[0].regionMatches(true, 0, keyword, 0, keyword.length());
      if (words[0].equalsIgnoreCase(keyword) || oldForm) {
        List<String> out = new ArrayList<>(words.length);
        if (oldForm) {
          out.add(words[0].substring(keyword.length() + 1).toUpperCase(Locale.ROOT));
        }
        for (int w = 1; w < words.length; w++) {
          out.add(words[w].toUpperCase(Locale.ROOT));
        }
        return List.copyOf(out);
      }
    }
    return List.of();
  }

  @Override
  public String toString() {
    return String.join(" | ", lines);
  }
}

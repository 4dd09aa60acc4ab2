package dev.sluice.proxy.smtp;


/**
 * One SMTP command line from a client, parsed (RFC 5321 §4.1.1). Parsing is lenient where real
 * clients are sloppy and harmless (a space after {@code FROM:}, lower-case verbs) and strict where
 * it matters to a relay: paths must be in angle brackets, and no control characters may appear.
 * Immutable.
 *
 * @param verb the command verb, upper case
 * @param argument everything after the verb and one space (may be empty)
 * @param path for MAIL and RCPT: the address inside the angle brackets (empty for {@code <>})
 * @param parameters for MAIL and RCPT: the ESMTP parameters after the path (may be empty)
 */
public record SmtpCommand(Verb verb, String argument, String path, String parameters) {

  /** Commands Sluice knows; anything else is {@link #UNKNOWN}. */
  public enum Verb {
    EHLO, HELO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS, AUTH, XCLIENT, XFORWARD, ETRN, UNKNOWN
  }

  /** A command that could not be parsed; {@code reply} says why, ready to send. */
  public static final class SyntaxError extends Exception {
    private static final long serialVersionUID = 1L;
    private final SmtpReply reply;

    SyntaxError(int code, String text) {
      super(text, null, false, false);
      this.reply = SmtpReply.of(code, text);
    }

    public SmtpReply reply() {
      return reply;
    }
  }

  /** Whether {@code line} starts with a command Sluice knows (for the protocol log, not for parsing). */
  public static boolean startsWithKnownVerb(String line) {
    int sp = line.indexOf(' ');
    return verbOf(line, sp < 0 ? line.length() : sp) != Verb.UNKNOWN;
  }

  /** Parses a command line without its CRLF. */
  public static SmtpCommand parse(String line) throws SyntaxError {
    for (int i = 0; i < line.length(); i++) {
      char c = line.charAt(i);
      if (c < 0x20 && c != '\t' || c == 0x7f) {
        throw new SyntaxError(500, "5.5.2 Syntax error: control character in command");
      }
    }
    int sp = line.indexOf(' ');
    Verb verb = verbOf(line, sp < 0 ? line.length() : sp);
    String word = verb.name();
    String arg = sp < 0 ? "" : line.substring(sp + 1).trim();
    switch (verb) {
      case MAIL:
        return withPath(verb, arg, "FROM:");
      case RCPT:
        return withPath(verb, arg, "TO:");
      case EHLO:
      case HELO:
        if (arg.isEmpty() || arg.indexOf(' ') >= 0 && verb == Verb.HELO) {
          throw new SyntaxError(501, "5.5.4 Syntax: " + word + " hostname");
        }
        return new SmtpCommand(verb, arg, "", "");
      case DATA:
      case RSET:
      case QUIT:
      case STARTTLS:
        if (!arg.isEmpty()) {
          throw new SyntaxError(501, "5.5.4 Syntax: " + word + " takes no arguments");
        }
        return new SmtpCommand(verb, arg, "", "");
      default:
        return new SmtpCommand(verb, arg, "", "");
    }
  }

  private static final Verb[] KNOWN = java.util.Arrays.stream(Verb.values()).filter(v -> v != Verb.UNKNOWN)
      .toArray(Verb[]::new);
  /** Each known verb's name packed into a long, one ASCII byte per letter (the longest has eight). */
  private static final long[] KEYS = java.util.Arrays.stream(KNOWN).mapToLong(v -> key(v.name(), v.name().length()))
      .toArray();

  /**
   * The verb {@code line[0, length)} names, in any case (RFC 5321 §2.4: verbs are case-insensitive
   * ASCII). Matched by a packed key: no substring, no upper-case copy, no hash lookup, no exception
   * for an unknown word; this runs for every command.
   */
  private static Verb verbOf(String line, int length) {
    long key = key(line, length);
    for (int i = 0; i < KEYS.length; i++) {
      if (KEYS[i] == key) {
        return KNOWN[i];
      }
    }
    return Verb.UNKNOWN;
  }

  /** {@code word[0, length)} upper-cased into a long, or -1 when it is not 1 to 8 ASCII letters. */
  private static long key(String word, int length) {
    if (length < 1 || length > Long.BYTES) {
      return -1;
    }
    long key = 0;
    for (int i = 0; i < length; i++) {
      char c = word.charAt(i);
      if (c >= 'a' && c <= 'z') {
        c -= 'a' - 'A';
      } else if (c < 'A' || c > 'Z') {
        return -1;
      }
      key = key << 8 | c;
    }
    return key;
  }

  private static SmtpCommand withPath(Verb verb, String arg, String keyword) throws SyntaxError {
    String usage = verb == Verb.MAIL ? "MAIL FROM:<address>" : "RCPT TO:<address>";
    if (!arg.regionMatches(true, 0, keyword, 0, keyword.length())) {
      throw new SyntaxError(501, "5.5.4 Syntax: " + usage);
    }
    String rest = arg.substring(keyword.length()).stripLeading();
    if (!rest.startsWith("<")) {
      throw new SyntaxError(501, "5.1.7 Syntax: " + usage + " (the address must be in angle brackets)");
    }
    int close = closingBracket(rest);
    if (close < 0) {
      throw new SyntaxError(501, "5.1.7 Syntax: " + usage + " (unbalanced angle brackets)");
    }
    String path = rest.substring(1, close);
    if (verb == Verb.RCPT && path.isEmpty()) {
      throw new SyntaxError(501, "5.1.3 Syntax: an empty recipient is not allowed");
    }
    String params = rest.substring(close + 1);
    if (!params.isEmpty() && params.charAt(0) != ' ') {
      throw new SyntaxError(501, "5.5.4 Syntax: " + usage + " [parameters]");
    }
    return new SmtpCommand(verb, arg, path, params.trim());
  }

  /** Index of the '>' closing the path, honouring quoted local parts ({@code <"a>b"@c>}). */
  private static int closingBracket(String s) {
    boolean quoted = false;
    for (int i = 1; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && quoted) {
        i++;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == '<' && !quoted) {
        return -1;
      } else if (c == '>' && !quoted) {
        return i;
      }
    }
    return -1;
  }

  /** The value of an ESMTP parameter such as {@code SIZE}, or null when absent. */
  public String parameter(String name) {
    if (parameters.isEmpty()) {
      return null; // the common case: MAIL FROM without parameters
    }
    for (String p : parameters.split(" ")) {
      int eq = p.indexOf('=');
      String key = eq < 0 ? p : p.substring(0, eq);
      if (key.equalsIgnoreCase(name)) {
        return eq < 0 ? "" : p.substring(eq + 1);
      }
    }
    return null;
  }
}

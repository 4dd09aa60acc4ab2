package dev.sluice.proxy.smtp;

import dev.sluice.proxy.smtp.SmtpCommand.Verb;
import java.util.List;

/**
 * The client-facing half of an smtp-mode session as a pure state machine: it decides, for each
 * command line, whether Sluice answers itself (greeting, EHLO, sequence and syntax errors, limits,
 * NOOP, VRFY, QUIT) or the command must go to a backend (MAIL opens a transaction on a backend
 * chosen for it; RCPT and DATA follow it there). The network layer executes the returned {@link
 * Step} and reports the backend's answers back, which moves the state on.
 *
 * <p>Replies and enhanced codes follow RFC 5321 §4.2–4.3 and RFC 3463; wording follows Postfix so
 * logs and clients see familiar text. Not thread-safe: one per client connection, confined to its
 * event loop.
 */
public final class ClientSession {

  /** Per-listener settings the machine needs. */
  public record Settings(String hostname, long maxMessageSize, int maxRecipients, int errorLimit, boolean starttls,
      List<String> authMechanisms, java.util.Set<String> capabilities, boolean tlsRequired) {

    /** What AUTH offers when nothing better is known: the two mechanisms every client has. */
    public static final List<String> DEFAULT_AUTH_MECHANISMS = List.of("PLAIN", "LOGIN");

    /**
     * @param authMechanisms the SASL mechanisms to offer with AUTH (RFC 4954); empty: no AUTH
     * @param tlsRequired {@code tls.required}: no mail transaction, AUTH or address command before
     *     STARTTLS (with {@code starttls})
     */
    public Settings {
      authMechanisms = List.copyOf(authMechanisms);
    }

    /** {@code authRelay}: AUTH with {@link #DEFAULT_AUTH_MECHANISMS}. */
    public Settings(String hostname, long maxMessageSize, int maxRecipients, int errorLimit, boolean starttls,
        boolean authRelay, java.util.Set<String> capabilities) {
      this(hostname, maxMessageSize, maxRecipients, errorLimit, starttls,
          authRelay ? DEFAULT_AUTH_MECHANISMS : List.of(), capabilities, false);
    }

    /** Settings without optional extensions. */
    public Settings(String hostname, long maxMessageSize, int maxRecipients, int errorLimit, boolean starttls,
        boolean authRelay) {
      this(hostname, maxMessageSize, maxRecipients, errorLimit, starttls, authRelay, java.util.Set.of());
    }

    /** Whether AUTH is relayed to the backends ({@code auth: relay}). */
    public boolean authRelay() {
      return !authMechanisms.isEmpty();
    }
  }

  /** Where the session is in the SMTP dialogue. */
  public enum Phase {
    /** Banner sent; waiting for EHLO/HELO. */
    GREETED,
    /** EHLO/HELO done, no transaction. */
    READY,
    /** MAIL sent to a backend, waiting for its answer. */
    MAIL_PENDING,
    /** MAIL accepted: recipients may follow. */
    TRANSACTION,
    /** AUTH in progress with a backend: client lines are SASL responses, not commands. */
    AUTH,
    /** DATA sent to the backend, waiting for 354. */
    DATA_PENDING,
    /** Message body streaming. */
    DATA,
    /** QUIT answered or the session was ended by Sluice. */
    CLOSED
  }

  /** What the network layer does next. */
  public enum Kind {
    /** Send {@link Step#reply()}; if {@link Step#resetBackend()} also abort the backend transaction first. */
    REPLY,
    /** Send {@link Step#reply()} and close the connection. */
    REPLY_AND_CLOSE,
    /**
     * Open a transaction for {@link Step#command()} (MAIL) on a backend, then call {@link
     * #mailAnswered} with the reply the client got (smtp mode answers it itself once a backend is
     * chosen, and sends the MAIL there with the first RCPT).
     */
    OPEN_TRANSACTION,
    /** Send {@link Step#command()} (RCPT) to the transaction's backend; then {@link #rcptAnswered}. */
    RELAY_RCPT,
    /** Send DATA to the transaction's backend; then {@link #dataAnswered}. */
    RELAY_DATA,
    /** Abort the backend transaction (RSET), then send {@link Step#reply()}. */
    RESET,
    /**
     * Send {@link Step#reply()} (220), discard any input already buffered (RFC 3207 §5,
     * CVE-2011-0411), start TLS, then call {@link #tlsStarted()}.
     */
    START_TLS,
    /**
     * Choose a backend for authentication and send it {@link Step#command()} (AUTH); relay its
     * replies, and while it answers 334 relay the client's next line raw; then {@link #authAnswered}.
     */
    RELAY_AUTH,
    /**
     * NOOP on an authenticated session: send NOOP to the backend that authenticated it when that
     * session is idle, then {@link Step#reply()}. A client kept open with NOOPs thereby keeps its
     * backend session open too (the backend's idle timeout counts from its last command), as it
     * would without Sluice; otherwise its next MAIL would find its server gone.
     */
    KEEP_ALIVE
  }

  /**
   * One decision. {@code reply} is null for relayed commands; {@code before} is a reply that goes
   * out ahead of it (the error's own reply before the {@code 421} that the error limit adds), or null.
   */
  public record Step(Kind kind, SmtpReply reply, SmtpCommand command, boolean resetBackend, SmtpReply before) {
    Step(Kind kind, SmtpReply reply, SmtpCommand command, boolean resetBackend) {
      this(kind, reply, command, resetBackend, null);
    }

    static Step reply(SmtpReply r) {
      return new Step(Kind.REPLY, r, null, false);
    }
  }

  /** RFC 6531 §3.6: a non-ASCII address in a transaction without SMTPUTF8. */
  private static final SmtpReply NEEDS_SMTPUTF8 =
      SmtpReply.of(553, "5.6.7 Error: a non-ASCII address needs the SMTPUTF8 extension");

  private static boolean isAscii(String s) {
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) > 0x7f) {
        return false;
      }
    }
    return true;
  }

  /** RFC 5321 §4.2.4: 502 for a command this listener does not offer. */
  private static final SmtpReply NOT_OFFERED = SmtpReply.of(502, "5.5.1 Error: command not offered here");

  /**
   * RFC 3207 §4: a server that requires TLS answers other commands with 530 until STARTTLS; the
   * text is Postfix's ({@code smtpd_tls_security_level = encrypt}), which clients and admins know.
   */
  private static final SmtpReply MUST_START_TLS = SmtpReply.of(530, "5.7.0 Must issue a STARTTLS command first");

  /**
   * What {@code tls.required} holds back until STARTTLS: the mail transaction, AUTH (a password in
   * plain text), and the commands that reveal or act on addresses. EHLO, HELO, STARTTLS, NOOP,
   * RSET, HELP and QUIT stay open, so that a client can find and start TLS.
   */
  private static final java.util.Set<Verb> NEEDS_TLS =
      java.util.EnumSet.of(Verb.MAIL, Verb.RCPT, Verb.DATA, Verb.BDAT, Verb.AUTH, Verb.VRFY, Verb.EXPN, Verb.ETRN);

  private final Settings settings;
  private Phase phase = Phase.GREETED;
  private String heloName;
  private boolean extended;
  private boolean tls;
  private boolean authenticated;
  /** The current transaction's MAIL FROM carried SMTPUTF8 (RFC 6531), so addresses may be UTF-8. */
  private boolean smtputf8;
  private int errors;
  private int recipientsAsked;
  /** Recipients refused in this transaction for being over {@code max_recipients}. */
  private int overshoot;
  /** Recipients over the limit answered 452 before further ones count as errors, as in Postfix. */
  static final int OVERSHOOT_LIMIT = 1000;
  private int recipientsAccepted;

  public ClientSession(Settings settings) {
    this.settings = settings;
  }

  /** The settings this session was started with (a reload does not change what a client was told). */
  public Settings settings() {
    return settings;
  }

  /** A copy to try commands on without moving this session ({@link #relayedAhead}). */
  private ClientSession(ClientSession s) {
    this.settings = s.settings;
    this.phase = s.phase;
    this.heloName = s.heloName;
    this.extended = s.extended;
    this.tls = s.tls;
    this.authenticated = s.authenticated;
    this.smtputf8 = s.smtputf8;
    this.errors = s.errors;
    this.recipientsAsked = s.recipientsAsked;
    this.recipientsAccepted = s.recipientsAccepted;
    this.overshoot = s.overshoot;
  }

  /**
   * RFC 2920 look-ahead, while the MAIL or RCPT just returned as {@link Kind#OPEN_TRANSACTION} or
   * {@link Kind#RELAY_RCPT} awaits its backend's answer. {@code next} are the complete command
   * lines the client has already sent after it, in order. Returns the steps this session will take
   * for the leading ones if the backend accepts everything before them: RCPTs, and DATA only as
   * the last (§3.1: DATA ends a group; the body waits for 354). Anything else ends the list.
   *
   * <p>Sending these to the backend ahead of their turn is safe because a backend refuses them
   * too when it refused an earlier command: a RCPT with no transaction gets 503, and DATA with no
   * accepted recipient 503 or 554 (§3.1). The caller must drop such answers, and must abandon a
   * backend that answers 354 to a DATA this session did not relay. This session does not move.
   */
  public java.util.List<Step> relayedAhead(java.util.List<String> next) {
    ClientSession trial = new ClientSession(this);
    if (trial.phase == Phase.MAIL_PENDING) {
      trial.phase = Phase.TRANSACTION;
    } else if (trial.phase == Phase.TRANSACTION) {
      trial.recipientsAccepted++;
    } else {
      return java.util.List.of();
    }
    java.util.List<Step> steps = new java.util.ArrayList<>(next.size());
    for (String line : next) {
      Step step = trial.onLine(line);
      if (step.kind() == Kind.RELAY_RCPT) {
        trial.recipientsAccepted++;
        steps.add(step);
      } else {
        if (step.kind() == Kind.RELAY_DATA) {
          steps.add(step);
        }
        break;
      }
    }
    return steps;
  }

  /** The greeting to send when the client connects. */
  public SmtpReply greeting() {
    return greeting(settings.hostname());
  }

  /** The greeting a listener named {@code hostname} gives (also before a late PROXY header, see the admission stage). */
  public static SmtpReply greeting(String hostname) {
    return SmtpReply.of(220, hostname + " ESMTP Sluice");
  }

  public Phase phase() {
    return phase;
  }

  /** The name the client gave in EHLO/HELO (sent on to backends), or null before it. */
  public String heloName() {
    return heloName;
  }

  /** Whether the client used EHLO (so it may use extensions), rather than HELO. */
  public boolean extended() {
    return extended;
  }

  public int recipientsAccepted() {
    return recipientsAccepted;
  }

  /** Decides what to do with one command line (without CRLF). */
  public Step onLine(String line) {
    if (phase == Phase.CLOSED) {
      throw new IllegalStateException("session closed");
    }
    if (phase == Phase.MAIL_PENDING || phase == Phase.DATA_PENDING || phase == Phase.DATA || phase == Phase.AUTH) {
      throw new IllegalStateException("a command arrived while " + phase + "; the caller must wait");
    }
    SmtpCommand c;
    try {
      c = SmtpCommand.parse(line);
    } catch (SmtpCommand.SyntaxError e) {
      return error(e.reply());
    }
    if (settings.tlsRequired() && !tls && NEEDS_TLS.contains(c.verb())) {
      return error(MUST_START_TLS);
    }
    switch (c.verb()) {
      case EHLO:
      case HELO:
        return hello(c);
      case MAIL:
        return mail(c);
      case RCPT:
        return rcpt(c);
      case DATA:
        return data();
      case RSET:
        return rset();
      case NOOP:
        return new Step(authenticated ? Kind.KEEP_ALIVE : Kind.REPLY, SmtpReply.of(250, "2.0.0 Ok"), null, false);
      case QUIT:
        boolean abort = inBackendTransaction();
        phase = Phase.CLOSED;
        return new Step(Kind.REPLY_AND_CLOSE, SmtpReply.of(221, "2.0.0 Bye"), c, abort);
      case VRFY:
        // RFC 5321 §3.5.3: 252 when the server will not verify but will accept mail for the address.
        return Step.reply(SmtpReply.of(252, "2.0.0 Cannot VRFY user, but will accept message and attempt delivery"));
      case HELP:
        return Step.reply(SmtpReply.of(214, "2.0.0 See RFC 5321"));
      case BDAT:
        return error(SmtpReply.of(502, "5.5.1 Error: CHUNKING is not offered; use DATA"));
      case STARTTLS:
        return startTls();
      case AUTH:
        return auth(c);
      case EXPN:
      case ETRN:
      case XCLIENT:
      case XFORWARD:
        return error(NOT_OFFERED);
      default:
        return error(SmtpReply.of(500, "5.5.2 Error: command not recognized"));
    }
  }

  /** A command line that is not valid UTF-8 arrived (and was discarded). */
  public Step invalidEncoding() {
    return error(SmtpReply.of(500, "5.5.2 Error: invalid UTF-8 in command"));
  }

  /** A command line longer than the limit arrived (and was discarded). */
  public Step lineTooLong() {
    return error(SmtpReply.of(500, "5.5.2 Error: line too long"));
  }

  /** AUTH is offered when relayed, and over TLS only when the listener can do TLS. */
  private boolean authOffered() {
    return settings.authRelay() && (tls || !settings.starttls());
  }

  private Step auth(SmtpCommand c) {
    if (!authOffered()) {
      return error(NOT_OFFERED);
    }
    if (phase == Phase.GREETED) {
      return error(SmtpReply.of(503, "5.5.1 Error: send HELO/EHLO first"));
    }
    if (authenticated) {
      return error(SmtpReply.of(503, "5.5.1 Error: already authenticated"));
    }
    if (phase == Phase.TRANSACTION) {
      return error(SmtpReply.of(503, "5.5.1 Error: MAIL transaction in progress"));
    }
    if (c.argument().isEmpty()) {
      return error(SmtpReply.of(501, "5.5.4 Syntax: AUTH mechanism"));
    }
    if (!settings.authMechanisms().contains(mechanismOf(c))) {
      // RFC 4954 §4: the client may choose another of those offered. Answered here: no backend
      // is asked for what none was said to do.
      return error(UNSUPPORTED_MECHANISM);
    }
    phase = Phase.AUTH;
    return new Step(Kind.RELAY_AUTH, null, c, false);
  }

  /** RFC 4954 §4: a mechanism the server does not offer. */
  public static final SmtpReply UNSUPPORTED_MECHANISM = SmtpReply.of(504, "5.5.4 Unsupported authentication mechanism");

  /** The SASL mechanism an AUTH command names, upper case. */
  public static String mechanismOf(SmtpCommand auth) {
    return auth.argument().split(" ", 2)[0].toUpperCase(java.util.Locale.ROOT);
  }

  /**
   * The backend's answer in an AUTH exchange, and what to tell the client: 334 wants another
   * client line; 235 authenticates the session (it stays with that backend); anything else ends
   * the exchange and counts as an error, so guessing passwords ends with the error limit's 421, as
   * in Postfix.
   */
  public Step authAnswered(SmtpReply r) {
    expect(Phase.AUTH);
    if (r.code() == 334) {
      return Step.reply(r);
    }
    phase = Phase.READY;
    if (r.isPositive()) {
      authenticated = true;
      return Step.reply(r);
    }
    return error(r);
  }

  /**
   * Sluice refused a client line in an AUTH exchange (too long, not UTF-8): the exchange ends (the
   * caller cancels it at the backend) and {@code r} counts as an error.
   */
  public Step saslResponseRefused(SmtpReply r) {
    expect(Phase.AUTH);
    phase = Phase.READY;
    return error(r);
  }

  /** Whether AUTH succeeded (the session is pinned to the backend that accepted it). */
  public boolean authenticated() {
    return authenticated;
  }

  private Step startTls() {
    if (!settings.starttls()) {
      return error(NOT_OFFERED);
    }
    if (tls) {
      return error(SmtpReply.of(503, "5.5.1 Error: TLS already active"));
    }
    if (phase == Phase.TRANSACTION) {
      return error(SmtpReply.of(503, "5.5.1 Error: STARTTLS inside a mail transaction"));
    }
    return new Step(Kind.START_TLS, SmtpReply.of(220, "2.0.0 Ready to start TLS"), null, false);
  }

  /**
   * TLS is up: RFC 3207 §4.2 requires both sides to forget what they knew, so the client must
   * greet again before anything else.
   */
  public void tlsStarted() {
    tls = true;
    authenticated = false;
    heloName = null;
    extended = false;
    resetTransaction();
    phase = Phase.GREETED;
  }

  /** Whether the current transaction's MAIL FROM carried SMTPUTF8 (RFC 6531). */
  public boolean smtputf8() {
    return smtputf8;
  }

  /** Whether the session is protected by TLS (STARTTLS done or implicit TLS). */
  public boolean tls() {
    return tls;
  }

  /** The session started with TLS (implicit TLS listener). */
  public void implicitTls() {
    tls = true;
  }

  private Step hello(SmtpCommand c) {
    boolean abort = inBackendTransaction();
    heloName = c.argument().split(" ", 2)[0];
    extended = c.verb() == Verb.EHLO;
    resetTransaction();
    phase = Phase.READY;
    if (!extended) {
      return new Step(Kind.REPLY, SmtpReply.of(250, settings.hostname()), c, abort);
    }
    java.util.List<String> lines = new java.util.ArrayList<>(6);
    lines.add("250-" + settings.hostname());
    lines.add("250-PIPELINING");
    // RFC 1870 §4: SIZE with no value (or 0) says there is no fixed maximum: max_message_size: 0.
    lines.add(settings.maxMessageSize() > 0 ? "250-SIZE " + settings.maxMessageSize() : "250-SIZE");
    lines.add("250-8BITMIME");
    if (settings.starttls() && !tls) {
      lines.add("250-STARTTLS");
    }
    if (authOffered() && !authenticated) {
      lines.add("250-AUTH " + String.join(" ", settings.authMechanisms()));
    }
    for (String extension : settings.capabilities()) {
      lines.add("250-" + extension);
    }
    lines.add("250 ENHANCEDSTATUSCODES");
    return new Step(Kind.REPLY, new SmtpReply(250, lines), c, abort);
  }

  private Step mail(SmtpCommand c) {
    if (phase == Phase.GREETED) {
      return error(SmtpReply.of(503, "5.5.1 Error: send HELO/EHLO first"));
    }
    if (phase == Phase.TRANSACTION) {
      return error(SmtpReply.of(503, "5.5.1 Error: nested MAIL command"));
    }
    Step bad = unsupportedParameter(c, MAIL_PARAMETERS);
    if (bad != null) {
      return bad;
    }
    smtputf8 = c.parameter("SMTPUTF8") != null;
    if (!smtputf8 && !isAscii(c.path())) {
      return error(NEEDS_SMTPUTF8);
    }
    String size = c.parameter("SIZE");
    if (size != null) {
      long declared;
      try {
        declared = Long.parseLong(size);
      } catch (NumberFormatException e) {
        return error(SmtpReply.of(501, "5.5.4 Bad message size syntax"));
      }
      if (settings.maxMessageSize() > 0 && declared > settings.maxMessageSize()) {
        return error(SmtpReply.of(552, "5.3.4 Message size exceeds fixed limit"));
      }
    }
    phase = Phase.MAIL_PENDING;
    return new Step(Kind.OPEN_TRANSACTION, null, c, false);
  }

  /**
   * The answer to MAIL as sent to the client: a backend's, or Sluice's own (smtp mode answers MAIL
   * itself and sends it on with the first RCPT, whose answer then carries the backend's verdict).
   */
  public void mailAnswered(SmtpReply r) {
    expect(Phase.MAIL_PENDING);
    phase = r.isPositive() ? Phase.TRANSACTION : Phase.READY;
    if (!r.isPositive()) {
      errors++;
    }
  }

  private Step rcpt(SmtpCommand c) {
    if (phase != Phase.TRANSACTION) {
      return error(SmtpReply.of(503, "5.5.1 Error: need MAIL command"));
    }
    if (settings.maxRecipients() > 0 && recipientsAsked >= settings.maxRecipients()) {
      // RFC 5321 §4.5.3.1.10: 452 tells the client to send the rest in another transaction. Not
      // an error of the client's: counted as one, a client with more recipients than the limit
      // would be cut off by the error limit on every attempt and its message never delivered.
      // Past OVERSHOOT_LIMIT more it is a flood, and counts (Postfix's smtpd_recipient_overshoot_limit).
      SmtpReply tooMany = SmtpReply.of(452, "4.5.3 Error: too many recipients");
      return ++overshoot > OVERSHOOT_LIMIT ? error(tooMany) : Step.reply(tooMany);
    }
    Step bad = unsupportedParameter(c, RCPT_PARAMETERS);
    if (bad != null) {
      return bad;
    }
    if (!smtputf8 && !isAscii(c.path())) {
      return error(NEEDS_SMTPUTF8);
    }
    recipientsAsked++;
    return new Step(Kind.RELAY_RCPT, null, c, false);
  }

  /** The backend's answer to a RCPT. */
  public void rcptAnswered(SmtpReply r) {
    expect(Phase.TRANSACTION);
    if (r.isPositive()) {
      recipientsAccepted++;
    } else {
      errors++;
      recipientsAsked--; // max_recipients counts recipients taken (or still asked), as Postfix does
    }
  }

  /** ESMTP parameters per extension (RFC 1870 SIZE, 6152 BODY, 6531 SMTPUTF8, 3461 DSN, 4954 AUTH). */
  private static final java.util.Map<String, String> MAIL_PARAMETERS = java.util.Map.of(
      "SIZE", "", "BODY", "", "SMTPUTF8", "SMTPUTF8", "RET", "DSN", "ENVID", "DSN", "AUTH", "AUTH");
  private static final java.util.Map<String, String> RCPT_PARAMETERS = java.util.Map.of("NOTIFY", "DSN", "ORCPT", "DSN");

  /**
   * RFC 5321 §4.1.1.11: a parameter of an extension the server did not offer is refused with 555,
   * so a client never believes a backend honoured what Sluice never promised.
   */
  private Step unsupportedParameter(SmtpCommand c, java.util.Map<String, String> known) {
    if (c.parameters().isEmpty()) {
      return null;
    }
    if (!extended) {
      return error(SmtpReply.of(555, "5.5.4 Error: parameters need EHLO"));
    }
    for (String p : c.parameters().split(" +")) {
      String name = p.split("=", 2)[0].toUpperCase(java.util.Locale.ROOT);
      String extension = known.get(name);
      boolean offered = extension != null && (extension.isEmpty()
          || settings.capabilities().contains(extension)
          || extension.equals("AUTH") && authOffered());
      if (!offered) {
        return error(SmtpReply.of(555, "5.5.4 Error: unsupported parameter " + name));
      }
    }
    return null;
  }

  private Step data() {
    if (phase != Phase.TRANSACTION) {
      return error(SmtpReply.of(503, "5.5.1 Error: need RCPT command"));
    }
    if (recipientsAccepted == 0) {
      return error(SmtpReply.of(554, "5.5.1 Error: no valid recipients"));
    }
    phase = Phase.DATA_PENDING;
    return new Step(Kind.RELAY_DATA, null, null, false);
  }

  /** The backend's answer to DATA: 354 starts the body; anything else ends the attempt. */
  public void dataAnswered(SmtpReply r) {
    expect(Phase.DATA_PENDING);
    if (r.code() == 354) {
      phase = Phase.DATA;
    } else {
      phase = Phase.TRANSACTION;
      errors++;
    }
  }

  /**
   * The body ended and its final reply {@code r} was sent; the transaction is over either way. A
   * delivered message clears the error count, as Postfix's {@code smtpd_hard_error_limit} counts
   * errors "without delivering mail": a gateway's long session is not ended for the refused
   * recipients of thousands of messages.
   */
  public void messageFinished(SmtpReply r) {
    expect(Phase.DATA);
    resetTransaction();
    phase = Phase.READY;
    if (r.isPositive()) {
      errors = 0;
    }
  }

  private Step rset() {
    boolean abort = inBackendTransaction();
    resetTransaction();
    if (phase != Phase.GREETED) {
      phase = Phase.READY;
    }
    SmtpReply ok = SmtpReply.of(250, "2.0.0 Ok");
    return abort ? new Step(Kind.RESET, ok, null, true) : Step.reply(ok);
  }

  private boolean inBackendTransaction() {
    return phase == Phase.TRANSACTION;
  }

  private void resetTransaction() {
    recipientsAsked = 0;
    overshoot = 0;
    recipientsAccepted = 0;
  }

  /**
   * Counts an error; at the limit the error still gets its own reply, then the session ends with
   * 421 (RFC 5321 §4.2.2), as Postfix's {@code smtpd_hard_error_limit} does.
   */
  private Step error(SmtpReply r) {
    errors++;
    if (errors >= settings.errorLimit()) {
      boolean abort = inBackendTransaction();
      phase = Phase.CLOSED;
      return new Step(Kind.REPLY_AND_CLOSE, SmtpReply.of(421, "4.7.0 " + settings.hostname()
          + " Error: too many errors"), null, abort, r);
    }
    return Step.reply(r);
  }

  /** Ends the session from Sluice's side (timeout, shutdown); no more commands are accepted. */
  public void close() {
    phase = Phase.CLOSED;
  }

  private void expect(Phase p) {
    if (phase != p) {
      throw new IllegalStateException("expected " + p + " but was " + phase);
    }
  }
}

package dev.sluice.proxy.smtp;

import dev.sluice.balance.Backend;
import dev.sluice.balance.DeferralTable;
import dev.sluice.balance.SelectionKey;
import dev.sluice.config.ListenerConfig;
import dev.sluice.proxy.BackendConnector;
import dev.sluice.proxy.IdleWatch;
import dev.sluice.proxy.LingeringClose;
import dev.sluice.proxy.Listener;
import dev.sluice.proxy.ListenerRoute;
import dev.sluice.proxy.NetErrors;
import dev.sluice.proxy.SessionAttributes;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver.Affinity;
import dev.sluice.proxy.SessionObserver.Outcome;
import dev.sluice.proxy.SessionObserver.Stage;
import dev.sluice.proxy.identity.ClientInfo;
import dev.sluice.proxy.identity.ClientName;
import dev.sluice.proxy.identity.ClientNames;
import dev.sluice.proxy.identity.ProxyHeaders;
import dev.sluice.proxy.smtp.ClientSession.Step;
import dev.sluice.proxy.tls.ServerTls;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.SslHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client session of an smtp-mode listener: Sluice speaks SMTP to the client and, with {@code
 * balance: transaction}, schedules every MAIL FROM afresh, so one long connection from a gateway
 * spreads over all servers (DESIGN §4).
 *
 * <p>Commands are handled strictly one at a time, in order: a pipelined group (RFC 2920) is
 * buffered and its replies are written in order and flushed together when the buffer holds no
 * further complete command or a backend read has been handled. Towards a backend that offers
 * PIPELINING, the RCPTs and DATA the client pipelined after a MAIL or RCPT go with it in one
 * write ({@link #sendAhead}); their replies are still taken in order, and the client's group
 * costs one backend round trip. MAIL goes to a backend chosen for it; a failed connect, a 421, a 4xx
 * banner, or a 4xx to EHLO or MAIL is a passive failure and the transaction moves to the next
 * eligible backend (never the same one twice, at most {@code retries} more) before the client
 * hears anything. 5xx replies go to the client unchanged. The body streams through with strict
 * framing (see {@link DataScanner}); the client gets a 2xx after end of data only when the backend
 * gave one for that message.
 *
 * <p>Threading: the client channel and all its backend sessions share one event loop; all state
 * here is confined to it.
 */
public final class SmtpFrontend extends ChannelInboundHandlerAdapter {
  private static final Logger log = LoggerFactory.getLogger(SmtpFrontend.class);
  /** RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; extensions and real clients need more. */
  static final int MAX_COMMAND_LINE = 2048;
  /**
   * Longest SASL response line (Postfix's {@code smtpd_sasl_response_limit}): a Kerberos or OAuth
   * token is longer than any command.
   */
  static final int MAX_SASL_LINE = 12288;
  /** A SASL response over {@link #MAX_SASL_LINE}; the exchange ends (Postfix's wording). */
  private static final SmtpReply SASL_TOO_LONG = SmtpReply.of(500, "5.5.6 SASL response limit exceeded");
  /** A SASL response that is not text (base64 is ASCII, RFC 4954 §4); the exchange ends. */
  private static final SmtpReply SASL_UNDECODABLE = SmtpReply.of(501, "5.5.2 Cannot decode response");
  /** While a command waits for a backend, at most this much pipelined input is buffered. */
  private static final int MAX_BUFFERED_INPUT = 64 * 1024;
  private static final int ERROR_LIMIT = 20;
  /** MAIL answered here; see {@link #holdMail}. */
  private static final SmtpReply MAIL_HELD = SmtpReply.of(250, "2.1.0 Ok");
  /**
   * Mechanisms whose exchange means the same to the backend when relayed: the client's secret or
   * token, or a response to the backend's own challenge. Not EXTERNAL (it names the TLS client
   * certificate, and Sluice's is the one the backend sees), not SCRAM (over TLS the backend offers
   * the {@code -PLUS} variant bound to a TLS session that ends at Sluice, and a client that sees no
   * {@code -PLUS} says so, which such a backend must refuse as a downgrade, RFC 5802 §6), not
   * DIGEST-MD5 or GSSAPI (bound to the name the client connected to, Sluice's).
   */
  private static final java.util.Set<String> RELAYABLE_MECHANISMS =
      java.util.Set.of("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER");

  private final Listener listener;
  private final BackendConnector connector;
  private ListenerRoute route;
  private ClientSession session;
  private ChannelHandlerContext ctx;
  private SelectionKey key;
  /** The sender of the transaction being opened or relayed (its MAIL's path), for deferral affinity. */
  private String sender = "";
  /**
   * The transaction's first recipient relayed, null before it: part of the null sender's deferral
   * affinity key ({@link DeferralTable}), since the null sender is every bounce of a network.
   */
  private String firstRecipient;
  /**
   * This transaction's deferral is remembered already: a message to many greylisted recipients is
   * one deferral of its sender, one protocol log line and one count, not one per recipient.
   */
  private boolean deferralNoted;
  private ByteBuf input;
  private boolean busy;
  private boolean discardingLongLine;
  /** The client half-closed: once the commands it sent are answered, the session ends. */
  private boolean inputEnded;
  /** Reads from the client so far: the activity {@link #idleWatch} looks at. */
  private long clientReads;
  private IdleWatch idleWatch;
  private final Map<Backend, BackendSession> sessions = new LinkedHashMap<>(4);
  private BackendSession tx;
  /** The backend session that is authenticating, or that accepted AUTH (the session is pinned to it). */
  private BackendSession authSession;
  private Backend pinned;
  /**
   * The last AUTH was refused outright: a client that sends its first SASL response without
   * waiting for the 334 (an AUTH LOGIN user name, say) has it taken as a command next, and its
   * credentials must not reach the protocol log as one.
   */
  private boolean authJustRefused;
  private BodyRelay body;
  private SessionInfo info;
  /**
   * The client's host name, looked up from connect on (with a {@code resolver:} and XCLIENT or
   * XFORWARD), or null: no lookup. Completes on this session's event loop.
   */
  private CompletableFuture<ClientName> clientName;
  /** Messages whose body this session has begun to relay: the number in a Received header's id. */
  private int messages;
  /** Backends tried for the MAIL or AUTH being scheduled (one at a time: the session is busy meanwhile). */
  private final List<Backend> tried = new ArrayList<>(4);
  /** Backends not to choose now: those tried, and those a transparent listener cannot reach from this client. */
  private final Predicate<Backend> alreadyTried =
      b -> tried.contains(b) || !BackendConnector.reachable(config(), info.remote(), b);
  /**
   * How many of {@link #tried} were passed over for AUTH because they do not offer it (or not the
   * client's mechanism): not a failure of theirs, so they take nothing from the retry budget.
   */
  private int passedOver;
  /** What the client gets when no backend is left to try for its AUTH. */
  private SmtpReply authNoServer;
  /** {@link #authNoServer} is a backend's temporary refusal of the AUTH command (kept over a 504). */
  private boolean authNoServerFromBackend;
  /** The stage of the RCPT or DATA whose reply {@link #relayed} awaits. */
  private Stage relayStage;
  private final BackendSession.ReplyHandler relayed = this::relayAnswered;
  /**
   * Commands the client has pipelined that were sent to the transaction's backend ahead of their
   * turn (RFC 2920), in the order of the lines that follow in {@link #input}; see {@link #sendAhead}.
   */
  private final ArrayDeque<Ahead> ahead = new ArrayDeque<>(4);
  /** The entry of {@link #ahead} for the line being executed, until a relay takes it. */
  private Ahead lineAhead;
  /**
   * The transaction's MAIL, answered here and not yet sent: it goes to {@link #heldBackend} with
   * the first RCPT, in one write (see {@link #holdMail}). Null once a backend has accepted it.
   */
  private SmtpCommand heldMail;
  /** The backend chosen for {@link #heldMail} when it arrived. */
  private Backend heldBackend;
  /** The RCPT that {@link #heldMail} is on its way with. */
  private Step heldRcpt;
  /** {@link #heldRcpt} as written with the MAIL to a backend that pipelines, until the MAIL's answer. */
  private Ahead heldRcptAhead;
  /** Every backend tried refused {@link #heldMail}: each RCPT of the transaction gets this. */
  private SmtpReply mailRefused;
  /** The backend whose refusal of {@link #heldMail} the client gets, if a backend answered at all. */
  private Backend refusedBy;
  /** Strict: a command that is not valid UTF-8 is refused, never repaired and passed on. */
  private final java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
      .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
      .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT);

  public SmtpFrontend(Listener listener, BackendConnector connector) {
    this.listener = listener;
    this.connector = connector;
  }

  private ListenerConfig config() {
    return route.listener();
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) {
    this.ctx = ctx;
    route = listener.route();
    info = SessionAttributes.session(ctx.channel());
    key = new SelectionKey(info.remote().getAddress().getAddress());
    ServerTls tls = route.tls();
    boolean starttls = tls != null && !tls.implicit();
    session = new ClientSession(new ClientSession.Settings(config().hostname(), config().limits().maxMessageSize(),
        config().limits().maxRecipients(), ERROR_LIMIT, starttls, authMechanisms(),
        config().capabilities(), starttls && tls.required()));
    if (ctx.pipeline().get(SslHandler.class) != null) {
      session.implicitTls();
      route.observer().tlsStarted(info, true);
    }
    input = ctx.alloc().buffer(256);
    idleWatch = IdleWatch.start(ctx.executor(), config().limits().idleTimeout(), () -> clientReads, this::idleTimedOut);
    lookUpClientName();
    SmtpReply greetedEarly = ctx.channel().attr(SessionAttributes.GREETED_EARLY).get();
    if (greetedEarly == null) {
      send(session.greeting(), Stage.CONNECT);
      ctx.flush();
    } else {
      // Greeted before the upstream proxy's PROXY header, which came with the client's first command.
      route.observer().sent(info, Stage.CONNECT, greetedEarly);
      route.observer().info(info, "greeted before the PROXY header, which came with the client's first bytes");
    }
    ctx.channel().config().setAutoRead(true);
  }

  /**
   * Starts the lookup of the client's host name, so it runs while the client greets and says who
   * the mail is from; the first backend session waits for it (at most the resolver's timeout).
   */
  private void lookUpClientName() {
    ClientNames names = route.clientNames();
    if (names == null) {
      return;
    }
    clientName = names.lookup(ctx.channel().eventLoop(), info.remote().getAddress());
    clientName.thenAccept(n -> {
      if (!clientGone()) {
        route.observer().clientNamed(info, n);
      } else {
        route.observer().clientNamedAfterEnd(info, n); // counted, but the protocol log has closed the session
      }
    });
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    if (session == null || session.phase() == ClientSession.Phase.CLOSED) {
      ((ByteBuf) msg).release();
      return;
    }
    clientReads++;
    input = ByteToMessageDecoder.MERGE_CUMULATOR.cumulate(ctx.alloc(), input, (ByteBuf) msg);
    if (session.phase() == ClientSession.Phase.GREETED && session.heloName() == null
        && ProxyHeaders.looksLikeHeader(input)) {
      // Only peers in accept_proxy may say who the client is (their header is consumed earlier).
      log.info("{}: {} sent a PROXY header but is not in accept_proxy; refusing", listener.name(), info.remote());
      input.skipBytes(input.readableBytes());
      replyAndClose(SmtpReply.of(554, "5.7.1 " + hostname() + " PROXY protocol is not accepted from your address"),
          Stage.CONNECT);
      return;
    }
    drive();
  }

  /** Handles buffered input until it runs out or a command must wait for a backend. */
  private void drive() {
    while (!busy && input.isReadable() && session.phase() != ClientSession.Phase.CLOSED) {
      if (session.phase() == ClientSession.Phase.DATA) {
        if (!body.feed(input)) {
          break;
        }
        continue;
      }
      lineAhead = ahead.poll();
      if (lineAhead != null) {
        // Already decoded, checked and sent to the backend: the next line in the buffer.
        input.skipBytes(lineAhead.length);
        executeLine(lineAhead.line);
        continue;
      }
      int eol = input.indexOf(input.readerIndex(), input.writerIndex(), (byte) '\n');
      boolean sasl = session.phase() == ClientSession.Phase.AUTH;
      if (discardingLongLine) {
        if (eol < 0) {
          input.skipBytes(input.readableBytes());
          break;
        }
        input.readerIndex(eol + 1);
        discardingLongLine = false;
        lineTooLong(sasl);
        continue;
      }
      int limit = sasl ? MAX_SASL_LINE : MAX_COMMAND_LINE;
      if (eol < 0) {
        if (input.readableBytes() > limit) {
          discardingLongLine = true;
          input.skipBytes(input.readableBytes());
        }
        break;
      }
      if (eol - input.readerIndex() > limit) {
        input.readerIndex(eol + 1);
        lineTooLong(sasl);
        continue;
      }
      String line = decodeLine(input.readerIndex(), eol);
      input.readerIndex(eol + 1);
      if (line == null) {
        // Forwarding a repaired line would change an address behind the sender's back.
        route.observer().received(info, "(invalid UTF-8)");
        if (sasl) {
          cancelAuth(SASL_UNDECODABLE);
        } else {
          execute(session.invalidEncoding());
        }
        continue;
      }
      if (sasl) {
        route.observer().received(info, "(SASL response)"); // never the payload
        authExchange(line);
        continue;
      }
      executeLine(line);
    }
    input.discardSomeReadBytes();
    if (!busy || session.phase() == ClientSession.Phase.CLOSED) {
      ctx.flush();
    }
    if (inputEnded && !busy && ctx.channel().isActive()) {
      // Everything the client sent is answered and nothing more can come.
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
      return;
    }
    // Stop reading while waiting with a full buffer, so a flood cannot grow memory. Set only on a
    // change: setting it is an atomic swap, and this runs after every read.
    boolean read = !(busy && input.readableBytes() > MAX_BUFFERED_INPUT) && (body == null || body.backendWritable());
    if (ctx.channel().config().isAutoRead() != read) {
      ctx.channel().config().setAutoRead(read);
    }
  }

  /** A line over the limit was discarded: a command is refused, a SASL response ends the AUTH exchange. */
  private void lineTooLong(boolean sasl) {
    if (sasl) {
      cancelAuth(SASL_TOO_LONG);
    } else {
      execute(session.lineTooLong());
    }
  }

  private void execute(Step step) {
    Stage stage = stageOf(step.command());
    if (step.resetBackend()) {
      heldMail = null; // the transaction ends (RSET, EHLO, QUIT, too many errors) before its MAIL went anywhere
      heldBackend = null;
      mailRefused = null;
    }
    switch (step.kind()) {
      case REPLY -> {
        if (step.resetBackend()) {
          resetThenReply(step.reply(), stage); // EHLO or HELO inside a transaction
        } else {
          send(step.reply(), stage);
        }
      }
      case REPLY_AND_CLOSE -> {
        if (step.resetBackend()) {
          resetBackendTransaction();
        }
        // After QUIT, the client's last command (RFC 5321 §4.1.1.10), there is no unread input
        // to linger for.
        boolean quit = step.command() != null && step.command().verb() == SmtpCommand.Verb.QUIT;
        if (step.before() != null) {
          send(step.before(), stage);
        }
        replyAndClose(step.reply(), stage, !quit);
      }
      case OPEN_TRANSACTION -> {
        if (listener.draining()) {
          // Shutting down: the transaction in flight (if any) has finished; ask the sender to go.
          replyAndClose(shuttingDown(), Stage.MAIL);
          return;
        }
        if (authenticatedServerOutOfService()) {
          askToLogInElsewhere(Stage.MAIL);
          return;
        }
        holdMail(step.command());
      }
      case RELAY_RCPT -> {
        if (heldMail != null) {
          rcptWithHeldMail(step);
        } else {
          relay(step, Stage.RCPT);
        }
      }
      case RELAY_DATA -> relay(step, Stage.DATA);
      case START_TLS -> startTls(step.reply());
      case RELAY_AUTH -> startAuth(step.command());
      case KEEP_ALIVE -> keepAlive(step.reply());
      case RESET -> resetThenReply(step.reply(), Stage.OTHER);
    }
  }

  /**
   * Ends the backend transaction with RSET and answers the client once the backend has: its
   * session is then idle for the client's next MAIL, which would otherwise find it still waiting
   * for this answer (an authenticated client has no other session to go to).
   */
  private void resetThenReply(SmtpReply reply, Stage stage) {
    BackendSession s = tx;
    if (s == null) {
      send(reply, stage); // the transaction's MAIL was held here: no backend has it
      return;
    }
    endTransaction();
    busy = true;
    s.command("RSET").whenComplete((r, e) -> {
      if (e != null || !r.isPositive()) {
        s.abort();
      }
      if (clientGone()) {
        return;
      }
      send(reply, stage);
      resume();
    });
  }

  /**
   * Answers 220 in plaintext, drops whatever the client pipelined after STARTTLS (RFC 3207 §5:
   * injected plaintext must not be taken as coming over TLS, CVE-2011-0411), then starts TLS. The
   * client must greet again afterwards.
   */
  private void startTls(SmtpReply ready) {
    send(ready, Stage.OTHER);
    ctx.flush();
    int dropped = input.readableBytes();
    if (dropped > 0) {
      log.info("{}: {} pipelined {} bytes after STARTTLS; discarded", listener.name(), info.remote(), dropped);
      input.skipBytes(dropped);
    }
    SslHandler ssl = route.tls().newHandler(ctx.alloc());
    ctx.pipeline().addBefore(ctx.name(), "tls", ssl);
    session.tlsStarted();
    route.observer().tlsStarted(info, false);
    ssl.handshakeFuture().addListener(f -> {
      if (!f.isSuccess()) {
        log.info("{}: TLS handshake with {} failed: {}", listener.name(), info.remote(),
            dev.sluice.proxy.NetErrors.describe(f.cause()));
        ctx.close();
      }
    });
  }

  /** One command line as the session sees it (the line is in {@link #lineAhead} if it went ahead). */
  private void executeLine(String line) {
    // Every line up to the next command may be a credential the client pipelined (AUTH LOGIN
    // sends two: user name and password).
    authJustRefused = authJustRefused && !SmtpCommand.startsWithKnownVerb(line);
    route.observer().received(info, authJustRefused ? "(line after a refused AUTH, not logged)" : masked(line));
    Step step = session.onLine(line);
    if (step.kind() != ClientSession.Kind.RELAY_AUTH && isAuth(line)) {
      authJustRefused = true; // refused here (not offered, already authenticated, bad syntax)
    }
    execute(step);
    dropLineAhead();
  }

  /** Whether {@code line} is an AUTH command, however spaced (a malformed one carries credentials too). */
  private static boolean isAuth(String line) {
    String t = line.stripLeading();
    return t.regionMatches(true, 0, "AUTH", 0, 4) && (t.length() == 4 || Character.isWhitespace(t.charAt(4)));
  }

  /**
   * The command line from {@code from} to the LF at {@code eol} of {@link #input}, without its
   * CRLF (or bare LF), or null when it is not valid UTF-8.
   */
  private String decodeLine(int from, int eol) {
    int length = (eol > from && input.getByte(eol - 1) == '\r' ? eol - 1 : eol) - from;
    if (input.forEachByte(from, length, b -> b >= 0) < 0) {
      return input.toString(from, length, StandardCharsets.US_ASCII); // nearly every command line
    }
    try {
      // decode(ByteBuffer) resets the decoder first: one per session, no allocation per line.
      return utf8.decode(input.nioBuffer(from, length)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      return null;
    }
  }

  /** AUTH arguments are credentials: observers see the mechanism only. */
  private static String masked(String line) {
    if (isAuth(line)) {
      String[] words = line.strip().split("\\s+", 3);
      return words.length > 2 ? words[0] + " " + words[1] + " ****" : line;
    }
    return line;
  }

  /**
   * Chooses a backend for AUTH (DESIGN §4: relayed to a backend chosen at AUTH time) and opens the
   * exchange there; a backend that cannot be reached is skipped like for MAIL.
   */
  private void startAuth(SmtpCommand auth) {
    followReload();
    busy = true;
    ctx.flush();
    if (listener.authFailures().exhausted(info.remote().getAddress())) {
      // limits.auth_failures: this address has failed too often lately; no backend hears it.
      log.info("{}: AUTH from {} refused: too many failed logins from that address", listener.name(), info.remote());
      route.observer().authRefused(info);
      authReply(SmtpReply.of(454, "4.7.0 " + hostname() + " Error: too many failed logins from your address;"
          + " try again later"));
      return;
    }
    startTrying();
    authNoServer = SmtpReply.of(454, "4.7.0 " + hostname() + " Error: authentication server unavailable; try again later");
    authNoServerFromBackend = false;
    authOn(auth);
  }

  private void authOn(SmtpCommand auth) {
    Backend b = budgetLeft() ? route.balancer().select(key, route.eligibility(), alreadyTried) : null;
    if (b == null) {
      authReply(authNoServer);
      return;
    }
    tried.add(b);
    session(b).whenComplete((s, e) -> {
      boolean gone = clientGone(); // while this session was set up
      if (e != null) {
        failed(b, "session setup for AUTH: " + BackendSession.unwrap(e).getMessage());
        if (!gone) {
          authOn(auth);
        }
        return;
      }
      if (gone) {
        s.quit(); // its credentials go nowhere
        return;
      }
      String mechanism = ClientSession.mechanismOf(auth);
      if (!s.authMechanisms().contains(mechanism)) {
        passOver(b, s, mechanism);
        authOn(auth);
        return;
      }
      authSession = s;
      s.command("AUTH " + auth.argument()).whenComplete((r, e2) -> {
        if (r != null && backendAuthFault(r) && !clientGone()) {
          // The credentials were not judged, and the command holds all the client has sent, so
          // another backend can take it whole.
          authSession = null;
          failed(b, "AUTH answered " + r);
          authNoServer = r;
          authNoServerFromBackend = true;
          authOn(auth);
          return;
        }
        authReply(r != null ? r : authLost());
      });
    });
  }

  /**
   * Whether a reply to the AUTH command says the backend, not the client, cannot authenticate now:
   * 454 (RFC 4954 §6; Postfix when its SASL service is down), or 421 other than 4.7.x (shutting
   * down). Postfix's "450 4.7.1 too many AUTH commands" (its client rate limit) and "421 4.7.0 too
   * many errors" are about this client: they go to it, and the backend's health is untouched, so a
   * password guesser cannot get the servers ejected.
   */
  private static boolean backendAuthFault(SmtpReply r) {
    return r.code() == 454 || r.code() == 421 && !r.text().startsWith("4.7.");
  }

  /**
   * The SASL mechanisms to offer with AUTH ({@code auth: relay}): those the eligible backends
   * offered to this listener's probes, so a client picks one a server can do (Outlook prefers
   * LOGIN, which a Dovecot-backed Postfix leaves out by default); PLAIN and LOGIN until a probe has
   * seen an EHLO reply, or when none offered one of {@link #RELAYABLE_MECHANISMS}.
   */
  private List<String> authMechanisms() {
    if (config().auth() != ListenerConfig.Auth.RELAY) {
      return List.of();
    }
    List<String> offered = new ArrayList<>(route.eligibility().authMechanisms());
    offered.retainAll(RELAYABLE_MECHANISMS);
    return offered.isEmpty() ? ClientSession.Settings.DEFAULT_AUTH_MECHANISMS : offered;
  }

  /**
   * {@code b} does not offer AUTH, or not {@code mechanism}, to Sluice: another backend is tried,
   * and {@code b}'s health is untouched (its mail service is fine; the pool is configured unevenly).
   * When none is left the client gets 504 if some backend offered AUTH with other mechanisms (the
   * client may choose another, RFC 4954 §4), otherwise 454 (temporary: the operator must fix the pool).
   */
  private void passOver(Backend b, BackendSession s, String mechanism) {
    passedOver++;
    List<String> offered = s.authMechanisms();
    String why = offered.isEmpty()
        ? "does not offer AUTH to Sluice (Postfix: smtpd_sasl_auth_enable = yes; with smtpd_tls_auth_only = yes"
            + " it offers AUTH only over TLS: set backend_tls)"
        : "does not offer AUTH " + mechanism + " (it offers " + String.join(" ", offered) + ")";
    log.warn("{}: backend {} passed over for AUTH from {}: it {}", listener.name(), b, info.remote(), why);
    route.passOver(info, b, "AUTH: " + why, budgetLeft(), alreadyTried);
    if (!offered.isEmpty() && !authNoServerFromBackend) {
      authNoServer = ClientSession.UNSUPPORTED_MECHANISM;
    }
  }

  /** A new MAIL or AUTH: no backend tried yet. */
  private void startTrying() {
    tried.clear();
    passedOver = 0;
  }

  /** Whether another backend may be tried for the MAIL or AUTH at hand ({@code retries}). */
  private boolean budgetLeft() {
    return tried.size() - passedOver <= config().retries();
  }

  /** A client's SASL response line during AUTH goes to the authenticating backend as it is. */
  private void authExchange(String line) {
    busy = true;
    authSession.command(line).whenComplete((r, e) -> authReply(r != null ? r : authLost()));
  }

  private SmtpReply authLost() {
    return SmtpReply.of(454, "4.7.0 " + hostname() + " Error: authentication server lost; try again later");
  }

  private void authReply(SmtpReply backendReply) {
    if (clientGone()) {
      return;
    }
    SmtpReply r = fromBackend(backendReply);
    if (r.code() == 535) { // RFC 4954 §6: the credentials are invalid
      listener.authFailures().failed(info.remote().getAddress());
    }
    Step step = session.authAnswered(r);
    if (r.isPositive()) {
      route.observer().info(info, "authenticated at " + authSession.backend().name());
    } else if (r.code() != 334) {
      authExchangeFailed();
    }
    execute(step);
    resume();
  }

  /**
   * Ends an AUTH exchange Sluice will not go on with: the backend is told the client cancelled it
   * (RFC 4954 §4: a line of "*", which it answers 501), then the client gets {@code r}, and its
   * next line is a command again.
   */
  private void cancelAuth(SmtpReply r) {
    BackendSession s = authSession;
    authExchangeFailed();
    busy = true;
    s.command("*").whenComplete((answer, e) -> {
      if (answer == null || answer.isPositive()) {
        s.abort(); // gone, or it authenticated on a cancel: not a session to use
      }
      if (clientGone()) {
        return;
      }
      execute(session.saslResponseRefused(r));
      resume();
    });
  }

  /**
   * The AUTH exchange ended without authenticating: no backend holds this session, and lines the
   * client pipelined may be credentials.
   */
  private void authExchangeFailed() {
    authSession = null;
    authJustRefused = true;
  }

  /** NOOP on an authenticated session ({@link ClientSession.Kind#KEEP_ALIVE}). */
  private void keepAlive(SmtpReply reply) {
    BackendSession s = authSession;
    if (!authenticatedServerReady()) {
      send(reply, Stage.OTHER); // in a transaction it is busy anyway; if gone, the next MAIL says so
      return;
    }
    busy = true;
    s.command("NOOP").whenComplete((answer, e) -> {
      if (clientGone()) {
        return;
      }
      send(reply, Stage.OTHER);
      resume();
    });
  }

  private static Stage stageOf(SmtpCommand c) {
    if (c == null) {
      return Stage.OTHER;
    }
    return switch (c.verb()) {
      case EHLO, HELO -> Stage.HELO;
      case MAIL -> Stage.MAIL;
      case RCPT -> Stage.RCPT;
      case DATA -> Stage.DATA;
      default -> Stage.OTHER;
    };
  }

  private static String params(SmtpCommand c) {
    return c.parameters().isEmpty() ? "" : " " + c.parameters();
  }

  /** The line a relayed RCPT or DATA step sends to the backend. */
  private static String backendLine(Step step) {
    return step.kind() == ClientSession.Kind.RELAY_DATA ? "DATA"
        : "RCPT TO:<" + step.command().path() + ">" + params(step.command());
  }

  /**
   * Sends RCPT or DATA to the transaction's backend and relays its reply ({@link #relayed}). One
   * handler per session rather than a future per command: this runs for every recipient. A
   * command already sent ahead (RFC 2920) is not sent again: its reply is taken when it is in,
   * or awaited without a flush, since the client's replies go out after each backend read.
   */
  private void relay(Step step, Stage stage) {
    relayStage = stage;
    Ahead sent = lineAhead;
    lineAhead = null;
    if (sent != null && sent.session == tx) {
      if (sent.answered) {
        relayReply(sent.reply); // no wait: the input loop goes on
      } else {
        busy = true;
        sent.waiting = relayed;
      }
      return;
    }
    if (sent != null) {
      sent.drop(false);
    }
    BackendSession s = tx;
    if (!s.isOpen()) {
      relayReply(null); // the backend is gone (closed, 421, timed out): lost, and the input loop goes on
      return;
    }
    busy = true;
    ctx.flush();
    s.write(backendLine(step), relayed);
    if (stage == Stage.RCPT) {
      sendAhead(s); // nothing goes ahead of DATA's 354: the body follows it
    }
    s.flush();
  }

  /**
   * RFC 2920: with the command just written to {@code s}, writes the commands the client has
   * already pipelined after it that this session will relay there if {@code s} accepts what
   * comes before them ({@link ClientSession#relayedAhead}), so a group costs the backend one
   * round trip instead of one per command. Only to a backend that offers PIPELINING, and only
   * when nothing is ahead already. The caller flushes.
   */
  private void sendAhead(BackendSession s) {
    if (input == null || !ahead.isEmpty() || !s.pipelining()) {
      return; // (no input: the client is gone while its backend session was being set up)
    }
    List<String> lines = null;
    List<Integer> lengths = null;
    int from = input.readerIndex();
    // Only RCPT and DATA can go ahead, and no more recipients than a transaction may have.
    int maxRecipients = session.settings().maxRecipients();
    int cap = maxRecipients > 0 ? maxRecipients : Integer.MAX_VALUE; // 0: no limit (the input buffer bounds it)
    while ((lines == null || lines.size() <= cap) && startsWithRcptOrData(from)) {
      int eol = input.indexOf(from, input.writerIndex(), (byte) '\n');
      if (eol < 0 || eol - from > MAX_COMMAND_LINE) {
        break;
      }
      String line = decodeLine(from, eol);
      if (line == null) {
        break;
      }
      if (lines == null) {
        lines = new ArrayList<>(4);
        lengths = new ArrayList<>(4);
      }
      lines.add(line);
      lengths.add(eol + 1 - from);
      from = eol + 1;
    }
    if (lines == null) {
      return; // the usual case without pipelining: no further line is in
    }
    List<Step> steps = session.relayedAhead(lines);
    for (int i = 0; i < steps.size(); i++) {
      Ahead a = new Ahead(s, lines.get(i), lengths.get(i));
      ahead.add(a);
      s.write(backendLine(steps.get(i)), a);
    }
  }

  /** Whether the input at {@code at} starts with RCPT or DATA, in any case (a cheap filter, no more). */
  private boolean startsWithRcptOrData(int at) {
    if (input.writerIndex() - at < 4) {
      return false;
    }
    int verb = input.getInt(at) & 0xDFDFDFDF; // ASCII letters to upper case
    return verb == ('R' << 24 | 'C' << 16 | 'P' << 8 | 'T') || verb == ('D' << 24 | 'A' << 16 | 'T' << 8 | 'A');
  }

  /** Drops what was sent ahead: the transaction moves to another backend or the session ends. */
  private void dropAhead() {
    if (lineAhead != null) {
      lineAhead.drop(false);
      lineAhead = null;
    }
    if (heldRcptAhead != null) {
      heldRcptAhead.drop(false);
      heldRcptAhead = null;
    }
    Ahead a;
    while ((a = ahead.poll()) != null) {
      a.drop(false);
    }
  }

  /**
   * The line just executed was sent ahead but this session answered it itself (after a refused
   * MAIL, or DATA with no recipient): its backend answer is dropped, and awaited before the next
   * line.
   */
  private void dropLineAhead() {
    if (lineAhead != null) {
      if (lineAhead.drop(true)) {
        busy = true;
      }
      lineAhead = null;
    }
  }

  /**
   * A command sent to a backend ahead of its turn, and the backend's answer once it is in. The
   * line is kept decoded, with its length in {@link #input} (CRLF included), so it is neither
   * decoded nor searched for again when its turn comes.
   */
  private final class Ahead implements BackendSession.ReplyHandler {
    final BackendSession session;
    final String line;
    final int length;
    boolean answered;
    SmtpReply reply;
    /** Set when the command's turn came before its answer: gets the answer. */
    BackendSession.ReplyHandler waiting;
    boolean dropped;
    /** Dropped, and the input loop waits for the answer before it goes on. */
    boolean resumeWhenAnswered;

    Ahead(BackendSession session, String line, int length) {
      this.session = session;
      this.line = line;
      this.length = length;
    }

    @Override
    public void answered(SmtpReply r, BackendFailure f) {
      if (dropped) {
        abandonIfInData(r);
        if (resumeWhenAnswered) {
          resume();
        }
      } else if (waiting != null) {
        waiting.answered(r, f);
      } else {
        answered = true;
        reply = r;
      }
    }

    /**
     * Drops the answer. With {@code wait} and the answer still to come, returns true: the caller
     * must stay busy, and the answer resumes the input loop. That keeps the backend in step with
     * the client: the next command, say the next MAIL, never queues behind answers nobody wants,
     * and the backend session is idle again for it.
     */
    boolean drop(boolean wait) {
      dropped = true;
      if (answered) {
        abandonIfInData(reply);
        return false;
      }
      resumeWhenAnswered = wait;
      return wait;
    }

    /**
     * A backend that answers 354 to a DATA this session did not relay (it had refused every
     * recipient, which RFC 2920 §3.1 forbids) now takes every line as body: it is closed, and
     * what it holds is never completed.
     */
    private void abandonIfInData(SmtpReply r) {
      if (r != null && r.code() == 354) {
        session.abort();
        sessions.remove(session.backend(), session);
      }
    }
  }

  private void relayAnswered(SmtpReply r, BackendFailure failure) {
    relayReply(r);
    resume();
  }

  /**
   * Moves the session on with the reply to a relayed RCPT or DATA ({@code null}: the backend was
   * lost) and sends it to the client.
   */
  private void relayReply(SmtpReply r) {
    if (clientGone()) {
      return;
    }
    SmtpReply reply = r != null ? fromBackend(r) : BodyRelay.lostReply(hostname());
    if (r != null && tx != null) {
      noteDeferral(r, tx.backend());
    }
    if (relayStage == Stage.RCPT) {
      session.rcptAnswered(reply);
    } else {
      session.dataAnswered(reply);
      if (reply.code() == 354) {
        long max = session.settings().maxMessageSize();
        body = new BodyRelay(this, tx, config().bareNewline(), max > 0 ? max : Long.MAX_VALUE / 2); // 0: no limit
        messages++;
        if (config().receivedHeader()) {
          writeReceivedHeader();
        }
      }
    }
    send(reply, relayStage);
  }

  /**
   * Puts Sluice's {@code Received:} line before the body (the backend has just answered 354, so
   * it goes out with the body's first bytes) and notes its id in the protocol log, which is how a
   * message found in a mailbox leads back to its session here.
   */
  private void writeReceivedHeader() {
    String id = info.idText() + "." + messages;
    tx.writeBody(Unpooled.wrappedBuffer(ReceivedHeader.of(clientInfo(), hostname(), session.tls(),
        session.authenticated(), session.smtputf8(), id, ZonedDateTime.now())));
    route.observer().info(info, "received header id " + id);
  }

  /**
   * Answers MAIL here once a backend is there to take it, and holds it until the first RCPT: the
   * two then go to the backend in one write and cost it one round trip instead of two (nginx's
   * mail proxy and Postfix's {@code smtpd_delay_reject} likewise give a sender's verdict at RCPT).
   * A backend's refusal of the MAIL (after the retries) answers that RCPT; a transaction whose
   * client resets or leaves before any RCPT never reaches a backend. With no backend eligible, or
   * the authenticating one gone, MAIL itself gets the 451 (DESIGN §4).
   */
  private void holdMail(SmtpCommand mail) {
    followReload();
    startTrying();
    refusedBy = null;
    sender = mail.path();
    firstRecipient = null;
    deferralNoted = false;
    SmtpReply refusal = null;
    if (session.authenticated()) {
      if (!authenticatedServerReady()) {
        refusal = authenticatedServerGone();
      }
    } else {
      heldBackend = choose();
      if (heldBackend == null) {
        refusal = noMailServer();
      }
    }
    if (refusal != null) {
      session.mailAnswered(refusal);
      route.observer().transaction(info, null, outcomeOf(refusal), 0, refusal);
      send(refusal, Stage.MAIL);
      return;
    }
    heldMail = mail;
    mailRefused = null;
    session.mailAnswered(MAIL_HELD);
    send(MAIL_HELD, Stage.MAIL);
  }

  /**
   * A RCPT while no backend has the transaction's MAIL yet: it goes there with the held MAIL, or,
   * when every backend refused that MAIL, gets the refusal ({@link #finishMail}).
   */
  private void rcptWithHeldMail(Step rcpt) {
    relayStage = Stage.RCPT;
    firstRecipient = rcpt.command().path();
    if (mailRefused != null) {
      relayReply(mailRefused); // (a line that went ahead is dropped by executeLine)
      return;
    }
    heldRcpt = rcpt;
    busy = true; // (no flush: a pipelined MAIL's 250 goes out with the backend's answers)
    sendHeldMail();
  }

  /**
   * Sends the held MAIL with {@link #heldRcpt}: to the backend chosen for it while it would still
   * be chosen (eligible, weight above 0), else to one chosen afresh. A null sender's MAIL goes
   * where deferral affinity sends its first recipient, now known, if anywhere.
   */
  private void sendHeldMail() {
    Backend b = heldBackend;
    heldBackend = null;
    if (sender.isEmpty() && !session.authenticated()) {
      Backend followed = deferralAffinity();
      if (followed != null) {
        b = followed;
        pinned = followed;
      }
    }
    if (session.authenticated()) {
      mailOnAuthenticatedSession(heldMail);
    } else if (b != null && route.balancer().effectiveWeight(b, route.eligibility()) > 0) {
      scheduleOn(b, heldMail, null);
    } else {
      schedule(heldMail, null); // it went down, was drained or weighted 0 meanwhile
    }
  }

  /**
   * A backend's reply as the client gets it. A {@code 421} closes Sluice's session to that backend,
   * not the client's session to Sluice (RFC 5321 §3.8 obliges whoever sends 421 to close): the
   * client gets {@code 451} with the same text, and its next transaction goes to another backend.
   */
  private static SmtpReply fromBackend(SmtpReply r) {
    return r.code() == 421 ? r.withCode(451) : r;
  }

  private SmtpReply noMailServer() {
    return SmtpReply.of(451, "4.3.0 " + hostname() + " Error: no mail server available; try again later");
  }

  /** Whether the backend that authenticated this session is there and idle, ready for a MAIL. */
  private boolean authenticatedServerReady() {
    return authSession != null && authSession.idle();
  }

  /**
   * Whether this session logged in at a backend the operator has since drained or disabled. Its
   * state is read from the listener's current pool: a reload may have rebuilt the backend (a new
   * object) since the session logged in.
   */
  private boolean authenticatedServerOutOfService() {
    if (!session.authenticated() || authSession == null) {
      return false;
    }
    Backend b = authSession.backend();
    for (Backend now : listener.route().balancer().backends()) {
      if (now.pool().equals(b.pool()) && now.name().equals(b.name())) {
        return now.adminState() != Backend.AdminState.ENABLED;
      }
    }
    return b.adminState() != Backend.AdminState.ENABLED;
  }

  /**
   * Ends an authenticated session whose backend was drained or disabled, at a transaction boundary.
   * Such a session cannot move: only that backend checked its credentials, and Sluice does not keep
   * them to log in elsewhere. Left alone, it would hold the backend busy for as long as the client
   * stays connected, and a drain would never end. {@code 421} (RFC 5321 §3.8) makes the client
   * reconnect and log in again, at a backend in service.
   */
  private void askToLogInElsewhere(Stage stage) {
    Backend b = authSession.backend();
    String state = b.adminState() == Backend.AdminState.DRAINING ? "draining" : "disabled";
    log.info("{}: {} logged in at {}, which is {}: asking it to reconnect", listener.name(), info.remote(), b, state);
    route.observer().info(info, "authenticated at " + b.name() + ", which is " + state + "; asked the client to reconnect");
    replyAndClose(SmtpReply.of(421, "4.3.2 " + hostname()
        + " Service not available: the mail server this session logged in to is being taken out of service;"
        + " reconnect and log in again"), stage);
  }

  private SmtpReply authenticatedServerGone() {
    return SmtpReply.of(451, "4.3.0 " + hostname()
        + " Error: the mail server that authenticated this session is gone; reconnect and try again");
  }

  /**
   * Chooses a backend for a MAIL command and opens the transaction there, moving on to the next
   * eligible backend after a transient failure. The backends tried so far are in {@link #tried}.
   */
  private void schedule(SmtpCommand mail, SmtpReply lastTransient) {
    dropAhead(); // sent with a MAIL that failed: the next backend gets them with its own MAIL
    if (session.authenticated()) {
      mailOnAuthenticatedSession(mail);
      return;
    }
    // Check the retry budget before selecting: a selection records persistence and the pinned backend.
    Backend b = budgetLeft() ? choose() : null;
    if (b == null) {
      finishMail(lastTransient != null ? lastTransient : noMailServer(), null);
      return;
    }
    scheduleOn(b, mail, lastTransient);
  }

  /** Opens the transaction on {@code b}, chosen for it, or on the next backend if that fails. */
  private void scheduleOn(Backend b, SmtpCommand mail, SmtpReply lastTransient) {
    tried.add(b);
    BackendSession idle = idleSession(b);
    if (idle != null) {
      mailOn(b, idle, mail, lastTransient); // the usual case: no future for the session
      return;
    }
    openSession(b).whenComplete((s, e) -> {
      boolean gone = clientGone(); // while this session was set up
      if (e != null) {
        BackendFailure f = (BackendFailure) BackendSession.unwrap(e);
        if (f.refusesClient()) {
          log.info("{}: backend {} refused {}: {}", listener.name(), b, info.remote(), f.getMessage());
          refusedBy = b;
          finishMail(f.reply(), null); // the server's verdict on the client, passed on as it is
          return;
        }
        failed(b, "session setup: " + f.getMessage());
        SmtpReply r = f.reply();
        if (r != null && r.isTransient()) {
          refusedBy = b; // r is the reply the client gets if no other backend takes the MAIL
        }
        if (!gone) {
          schedule(mail, r != null && r.isTransient() ? r : lastTransient);
        }
      } else if (gone) {
        s.quit();
      } else {
        mailOn(b, s, mail, lastTransient);
      }
    });
  }

  private void mailOn(Backend b, BackendSession s, SmtpCommand mail, SmtpReply lastTransient) {
    mailFrom(s, mail, (r, failure) -> {
      if (clientGone()) {
        s.quit(); // neither a verdict on the backend nor a reason to try another one
      } else if (failure != null) {
        failed(b, "MAIL FROM: " + failure.getMessage());
        schedule(mail, lastTransient);
      } else if (r.isTransient()) {
        if (r.isAboutTheSendersAddress()) {
          deferredSender(b, "MAIL FROM answered " + r);
        } else {
          failed(b, "MAIL FROM answered " + r);
        }
        refusedBy = b;
        schedule(mail, r);
      } else if (r.isPositive()) {
        route.passive().success(b);
        finishMail(r, s);
      } else {
        s.resetBeforeNextMail();
        refusedBy = b;
        finishMail(r, null);
      }
    });
  }

  /**
   * An authenticated session stays with the backend that authenticated it: its credentials are not
   * valid anywhere else, so there is no retry elsewhere.
   */
  private void mailOnAuthenticatedSession(SmtpCommand mail) {
    BackendSession s = authSession;
    if (!authenticatedServerReady()) {
      finishMail(authenticatedServerGone(), null);
      return;
    }
    mailFrom(s, mail, (r, failure) -> {
      if (failure != null) {
        finishMail(BodyRelay.lostReply(hostname()), null);
      } else {
        if (!r.isPositive()) {
          s.resetBeforeNextMail();
          refusedBy = s.backend();
        }
        finishMail(r, r.isPositive() ? s : null);
      }
    });
  }

  /**
   * MAIL FROM with the client's parameters; with XFORWARD, the client's identity first, since
   * Postfix forgets XFORWARD attributes after each transaction.
   */
  private void mailFrom(BackendSession s, SmtpCommand mail, BackendSession.ReplyHandler handler) {
    if (s.takeResetBeforeMail()) {
      // (Before XFORWARD too: RSET ends what XFORWARD said.)
      s.command("RSET", (r, failure) -> {
        if (r != null && r.isPositive()) {
          mailFrom(s, mail, handler);
        } else {
          handler.answered(null, failure != null ? failure : new BackendFailure("RSET answered " + r, null));
        }
      });
      return;
    }
    String line = "MAIL FROM:<" + mail.path() + ">" + params(mail);
    if (s.identity() != ListenerConfig.ClientIdentity.XFORWARD) {
      mailFrom(s, line, handler);
      return;
    }
    s.command(clientInfo().xforward(s.xforwardAttributes()), (r, failure) -> {
      if (r != null && r.isPositive()) {
        mailFrom(s, line, handler);
      } else if (r != null) {
        // A refused XFORWARD is this backend's setup fault, never a verdict on the client's mail:
        // relayed as the MAIL's reply, a 5xx would make the sender bounce what no server refused.
        String hint = r.code() == 550 ? " (Postfix: add Sluice's source address to smtpd_authorized_xforward_hosts)" : "";
        handler.answered(null, new BackendFailure("XFORWARD refused: " + r + hint, r));
      } else {
        handler.answered(null, failure);
      }
    });
  }

  /**
   * Writes MAIL FROM, the RCPT it was held for and what the client pipelined after that, in one
   * segment (RFC 2920), or MAIL FROM alone to a backend that does not pipeline.
   */
  private void mailFrom(BackendSession s, String line, BackendSession.ReplyHandler handler) {
    if (!s.isOpen()) {
      s.write(line, handler); // answers the handler at once: the session is gone
      return;
    }
    s.write(line, handler);
    if (heldRcpt != null && s.pipelining()) {
      heldRcptAhead = new Ahead(s, null, 0);
      s.write(backendLine(heldRcpt), heldRcptAhead);
    }
    sendAhead(s);
    s.flush();
  }

  /**
   * Moves this session onto the listener's current route when a reload has replaced it: each
   * transaction (and AUTH) picks its backend from the configuration in force when it starts, so
   * a backend removed or rebuilt by a reload takes no new transaction from a gateway that holds
   * its session for hours. Called between transactions only; what the client was told at connect
   * and EHLO (its limits, the hostname, the extensions) stays as it was. Idle backend sessions to
   * backends the new route does not have are closed, and all of them when the reload changes how a
   * backend learns who the client is ({@code client_identity}, {@code source_address}): a session
   * opened from Sluice's address must not carry a transaction once the listener is transparent,
   * nor one from the client's address once it is not. The one that authenticated this client
   * stays, since its credentials are valid nowhere else.
   */
  private void followReload() {
    ListenerRoute current = listener.route();
    if (current == route) {
      return;
    }
    boolean sameIdentity = current.listener().clientIdentity() == config().clientIdentity()
        && java.util.Objects.equals(current.listener().sourceAddress(), config().sourceAddress());
    route = current;
    List<Backend> backends = current.balancer().backends();
    sessions.values().removeIf(s -> {
      boolean gone = s != authSession && (!sameIdentity || !backends.contains(s.backend()));
      if (gone) {
        s.quit();
      }
      return gone;
    });
    if (pinned != null && !backends.contains(pinned)) {
      pinned = null;
    }
  }

  /** The real client as backends should learn it (XCLIENT, XFORWARD, PROXY). */
  private ClientInfo clientInfo() {
    ClientName name = clientName != null ? clientName.getNow(null) : null;
    return new ClientInfo(info.remote(), info.local(), session.heloName(), session.extended(), null, name);
  }

  private Backend choose() {
    // alreadyTried, not tried alone: a backend pinned before a reload made the listener transparent
    // may be of the other address family than the client, and cannot be reached from its address.
    if (config().balance() == ListenerConfig.Balance.CONNECTION && pinned != null && !alreadyTried.test(pinned)
        && route.eligibility().eligibleSince(pinned) != dev.sluice.balance.Eligibility.NOT_ELIGIBLE) {
      return pinned;
    }
    Backend b = deferralAffinity();
    if (b == null) {
      b = route.balancer().select(key, route.eligibility(), alreadyTried);
    }
    if (b != null) {
      pinned = b;
    }
    return b;
  }

  /**
   * The backend that deferred this transaction's sender from this client's network (the pool's
   * {@code deferral_affinity}), when it can take the transaction now; else null, and the
   * transaction is balanced as any other. Not once it has failed this transaction: a retry goes on.
   */
  private Backend deferralAffinity() {
    DeferralTable.Deferral d = route.balancer().deferral(key.clientAddress(), sender, firstRecipient);
    if (d == null || alreadyTried.test(d.backend())) {
      return null;
    }
    Backend b = d.backend();
    boolean available = route.balancer().effectiveWeight(b, route.eligibility()) > 0;
    route.observer().deferralAffinity(info, b, available ? Affinity.FOLLOWED : Affinity.UNAVAILABLE, affinityKey(),
        Duration.ofNanos(System.nanoTime() - d.atNanos()));
    return available ? b : null;
  }

  /**
   * Remembers (deferral affinity) a backend's deferral of this transaction's message that the
   * backend will recognise on the sender's retry, such as greylisting's.
   */
  private void noteDeferral(SmtpReply backendReply, Backend b) {
    if (!deferralNoted && backendReply.isRememberedDeferral() && route.balancer().deferralAffinityOn()) {
      deferralNoted = true;
      // firstRecipient is set: a held MAIL reaches a backend only with its first RCPT.
      boolean followed = route.balancer().deferred(key.clientAddress(), sender, firstRecipient, b);
      route.observer().deferralAffinity(info, b, followed ? Affinity.RECORDED : Affinity.RELEASED, affinityKey(),
          Duration.ZERO);
    }
  }

  /** The transaction as deferral affinity knows it, for the log: {@code <sender>}, or {@code <> to <recipient>}. */
  private String affinityKey() {
    return sender.isEmpty() ? "<> to <" + firstRecipient + ">" : "<" + sender + ">";
  }

  private void failed(Backend b, String why) {
    log.warn("{}: backend {} failed for {}: {}", listener.name(), b, info.remote(), why);
    route.liveFailure(info, b, why, budgetLeft(), alreadyTried);
    leave(b);
  }

  /**
   * {@code b} deferred this sender's address, not all mail ({@link SmtpReply#isAboutTheSendersAddress},
   * such as Postfix's {@code 450 4.1.8} for a sender domain it cannot look up). Another backend is
   * tried as for a failure, but the backend's passive health is not touched: otherwise one sender
   * retrying such mail could get healthy backends ejected from the listener.
   */
  private void deferredSender(Backend b, String why) {
    log.info("{}: backend {} deferred the sender of {}: {}", listener.name(), b, info.remote(), why);
    route.passOver(info, b, why, budgetLeft(), alreadyTried);
    leave(b);
  }

  /** Ends this client's session to {@code b} after a failed or deferred MAIL FROM. */
  private void leave(Backend b) {
    BackendSession s = sessions.remove(b);
    if (s != null) {
      s.quit();
    }
  }

  /** An idle session to {@code b} from this client, or a new one. */
  private CompletableFuture<BackendSession> session(Backend b) {
    BackendSession s = idleSession(b);
    return s != null ? CompletableFuture.completedFuture(s) : openSession(b);
  }

  /** This client's idle session to {@code b}, or null (a session that is not idle is closed). */
  private BackendSession idleSession(Backend b) {
    BackendSession s = sessions.get(b);
    if (s != null && s.idle()) {
      return s;
    }
    if (s != null) {
      s.abort();
      sessions.remove(b);
    }
    return null;
  }

  private CompletableFuture<BackendSession> openSession(Backend b) {
    ListenerConfig.ClientIdentity identity = b.clientIdentityFrom(config());
    boolean namesClient = identity == ListenerConfig.ClientIdentity.XCLIENT
        || identity == ListenerConfig.ClientIdentity.XFORWARD || config().receivedHeader();
    if (namesClient && clientName != null && !clientName.isDone()) {
      // The name goes in XCLIENT/XFORWARD and the Received line: wait for it (bounded by the
      // resolver's timeout), so it is known when the backend's 354 brings the line. A backend
      // told nothing of the client (none, PROXY, transparent) need not wait for it.
      // A client that left meanwhile gets nothing opened for it: the future stays pending, as no one
      // awaits it (a failure would count against the backend).
      return clientName.thenCompose(name -> clientGone() ? new CompletableFuture<BackendSession>() : openSession(b));
    }
    return BackendSession.open(ctx.channel().eventLoop(), connector, b, BackendConnector.sourceFor(config(), b, info.remote()),
            identity,
            clientInfo(), hostname(), config().backendTls(), route.backendTls(), config().timeouts())
        .thenApply(opened -> {
          sessions.put(b, opened);
          opened.onWritable(this::backendDrained);
          opened.afterReplies(ctx::flush); // RFC 2920: replies in one backend read leave together
          return opened;
        });
  }

  /**
   * The outcome of sending the held MAIL: {@code s} accepted it with reply {@code r}, or (null)
   * every backend tried refused it with {@code r}, which then answers the RCPT it was sent with.
   */
  private void finishMail(SmtpReply r, BackendSession s) {
    if (clientGone()) {
      if (s != null) {
        s.quit();
      }
      return;
    }
    Step rcpt = heldRcpt;
    heldRcpt = null;
    lineAhead = heldRcptAhead; // the RCPT's line, as if it had come after the MAIL
    heldRcptAhead = null;
    busy = false;
    if (s != null) {
      heldMail = null;
      tx = s;
      tx.backend().acquire();
      info.backend(tx.backend().name());
      route.observer().backendChosen(info, tx.backend());
      relay(rcpt, Stage.RCPT); // its answer may be in already (sent ahead), or it goes now
    } else {
      mailRefused = r;
      route.observer().transaction(info, refusedBy, outcomeOf(r), 0, r);
      relayReply(r);
      dropLineAhead(); // the RCPT went ahead to a backend that refused the MAIL: wait for its answer
    }
    if (!busy) {
      resume();
    }
  }

  /** The body has ended with {@code reply} for the client (already decided by the body relay). */
  void messageFinished(SmtpReply backendReply, boolean keepBackend, long bytes) {
    SmtpReply reply = fromBackend(backendReply);
    BackendSession s = tx;
    boolean ended = clientGone();
    if (s != null) {
      noteDeferral(backendReply, s.backend());
    }
    if (s != null || !ended) {
      // (A client gone mid-message left tx null, its transaction already counted as aborted.)
      route.observer().transaction(info, s == null ? null : s.backend(), outcomeOf(reply), bytes, reply);
    }
    endTransaction();
    if (!keepBackend && s != null) {
      s.abort();
      sessions.remove(s.backend());
    }
    body = null;
    if (ended) {
      return;
    }
    session.messageFinished(reply);
    send(reply, Stage.END_OF_DATA);
    resume();
  }

  /**
   * The client left, or was told the session ended (a 421 on shutdown, timeout or too many errors):
   * a backend's late answer is not passed on, and nothing more is sent to a backend for it.
   */
  private boolean clientGone() {
    return !ctx.channel().isActive() || session.phase() == ClientSession.Phase.CLOSED;
  }

  /** Continues with buffered input after an asynchronous step. */
  void resume() {
    busy = false;
    if (ctx.channel().isActive()) {
      drive();
      askToLogInElsewhereWhenIdle();
    }
  }

  /**
   * Between transactions, a session logged in at a backend the operator has drained or disabled
   * is asked to reconnect at once ({@link #askToLogInElsewhere}): when the drain begins, and
   * after the step in flight then (a message, a NOOP) is done.
   */
  private void askToLogInElsewhereWhenIdle() {
    if (session != null && session.phase() == ClientSession.Phase.READY && !busy && tx == null
        && authenticatedServerOutOfService()) {
      askToLogInElsewhere(Stage.OTHER);
    }
  }

  void setBusy() {
    busy = true;
  }

  ChannelHandlerContext context() {
    return ctx;
  }

  String hostname() {
    return session.settings().hostname();
  }

  private void backendDrained() {
    if (body != null && ctx.channel().isActive()) {
      ctx.channel().config().setAutoRead(true);
    }
  }

  private void endTransaction() {
    if (tx != null) {
      tx.backend().release();
      tx = null;
    }
  }

  private void resetBackendTransaction() {
    if (tx != null) {
      BackendSession s = tx;
      endTransaction();
      reset(s);
    }
  }

  /** RSET to {@code s}, not waited for; a session that does not take it is closed. */
  private static void reset(BackendSession s) {
    s.command("RSET").whenComplete((r, e) -> {
      if (e != null || !r.isPositive()) {
        s.abort();
      }
    });
  }

  private void replyAndClose(SmtpReply r, Stage stage) {
    replyAndClose(r, stage, true);
  }

  /** Sends the last reply and closes; {@code linger}: gracefully, see {@link LingeringClose}. */
  private void replyAndClose(SmtpReply r, Stage stage, boolean linger) {
    if (session != null) {
      session.close();
    }
    send(r, stage);
    if (linger) {
      LingeringClose.afterFlush(ctx);
    } else {
      ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }
  }

  /** Writes a reply to the client (flushed by the input loop) and tells the observer. */
  private void send(SmtpReply r, Stage stage) {
    route.observer().sent(info, stage, r);
    ctx.write(r.encode(ctx.alloc()), ctx.voidPromise()); // no promise: a failed write closes the channel
  }

  private SmtpReply shuttingDown() {
    return SmtpReply.of(421, "4.3.2 " + hostname() + " Service shutting down; try again later");
  }

  private static Outcome outcomeOf(SmtpReply r) {
    return r.isPositive() ? Outcome.ACCEPTED : r.isTransient() ? Outcome.DEFERRED : Outcome.REJECTED;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof io.netty.channel.socket.ChannelInputShutdownEvent) {
      inputEnded = true;
      if (session != null && input != null) {
        drive();
      }
      return;
    }
    if (evt == Listener.BackendOutOfService.INSTANCE) {
      askToLogInElsewhereWhenIdle(); // else when the step in flight is done (resume)
      return;
    }
    if (evt == Listener.SessionEnd.INSTANCE) {
      if (session != null && session.phase() != ClientSession.Phase.CLOSED) {
        replyAndClose(shuttingDown(), Stage.OTHER);
      }
      return;
    }
    ctx.fireUserEventTriggered(evt);
  }

  /**
   * The idle timeout passed with no input from the client: {@code 421} and close, unless a backend
   * reply is awaited (then the client is waiting for Sluice, not idle).
   */
  private boolean idleTimedOut() {
    if (!ctx.channel().isOpen()) {
      return true; // nothing left to watch (closing cancels the watch as well)
    }
    if (busy || session == null || session.phase() == ClientSession.Phase.CLOSED) {
      return false;
    }
    log.info("{}: {} idle for too long; closing", listener.name(), info.remote());
    replyAndClose(SmtpReply.of(421, "4.4.2 " + hostname() + " Error: timeout exceeded"), Stage.OTHER);
    return true;
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) {
    if (idleWatch != null) {
      idleWatch.cancel();
    }
    dropAhead();
    if (body != null && tx != null) {
      // The client vanished mid-body: abort so the backend never completes a partial message.
      tx.abort();
    }
    if (tx != null) {
      route.observer().transaction(info, tx.backend(), Outcome.ABORTED, 0);
    }
    endTransaction();
    for (BackendSession s : sessions.values()) {
      s.quit();
    }
    sessions.clear();
    if (session != null) {
      session.close();
    }
  }

  @Override
  public void handlerRemoved(ChannelHandlerContext ctx) {
    if (input != null) {
      input.release();
      input = null;
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    NetErrors.logClosing(log, listener.name() + ": client " + ctx.channel().remoteAddress(), cause);
    ctx.close();
  }
}

package dev.sluice.report;

import java.io.BufferedReader;
import java.io.IOException;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads Postfix maillog lines (protocols.md §6) into both tables.
 *
 * <p>{@code events}: every {@code smtpd} line of a session: {@code +} for {@code connect from},
 * {@code -} for {@code disconnect from}, {@code >} for a refusal ({@code reject:}, {@code
 * milter-reject:}, a before-queue filter's {@code proxy-reject:}), {@code *} for the rest (including {@code reject_warning:}, which refused
 * nothing); the session id is {@code host/pid/line-of-connect}, because Postfix names sessions by
 * process only. {@code remote_ip} is the address on that line: after XCLIENT the {@code client=}
 * and {@code disconnect} lines name the forwarded client while {@code connect} names the proxy;
 * such lines get context {@code xclient}. With the PROXY protocol every line already names the
 * real client.
 *
 * <p>{@code messages}: a {@code RECEIVE} row per message the server received: smtpd's {@code
 * client=} line (server, session, client) once qmgr has queued that queue id ({@code from=<>,
 * size=, nrcpt= (queue active)}), at qmgr's time, or once a Milter, restriction or header/body
 * check put it on hold, completed with cleanup's {@code message-id}; a queue id that never gets
 * that far (the client left before the end of DATA, a Milter or content check refused or
 * discarded the message) is no message, nor is a held one whose transaction ended before the end of
 * DATA (the client reset it or left: cleanup removed the queue file; see {@link
 * #transactionEnded}). A held message is received once, whether it is later released ({@code
 * postsuper -H}: qmgr then delivers it as any other), deleted ({@code postsuper -d}: it is no
 * longer in the queue and later lines about its reused queue id are not its) or left on hold;
 * {@code postsuper} runs with {@code ALL} name no message (see {@link #postsuper}). A
 * {@code
 * SEND}/{@code DELIVER}/{@code DEFER}/{@code FAIL} row per delivery attempt ({@code to=}, {@code
 * relay=}, {@code dsn=}, {@code status=}), a {@code REJECT} row per refusal, smtpd's {@code
 * reject:} or {@code milter-reject:} at any stage (MAIL as well as RCPT: a sender restriction
 * answers at MAIL unless {@code smtpd_delay_reject} moves it to RCPT), smtpd's {@code
 * proxy-reject:} (a before-queue content filter's reply at END-OF-MESSAGE) and cleanup's refusals of
 * whole messages (Milters at END-OF-MESSAGE, header and body checks), attributed to the syslog host
 * and the client (none for a content check's refusal of local mail: {@link #CONTENT_ACTION}). XFORWARD's {@code
 * orig_client=} fills {@code original_client_ip}. Delivery rows and cleanup's refusals of a message
 * smtpd opened carry its session and client, also when they are in a later file of the log than
 * the {@code client=} line: the parser of that file takes over what the previous one left in the
 * queue ({@link #remaining}, {@link PostfixQueueJoin}). So do those of pickup's copy of a message
 * that {@code postsuper -r} requeued ({@link Message#copy}).
 *
 * <p>Classic syslog timestamps carry no year or zone: they are read as local time of {@code year},
 * stepping back a year for months after {@code referenceMonth} (a December log read in January).
 * One instance per file; not thread-safe.
 */
final class PostfixLogParser {
  /** The delivery agents whose {@code QID: to=<...>} lines are delivery attempts (compiled once: every such line asks). */
  private static final Pattern DELIVERY_AGENT = Pattern.compile(".*/(smtp|lmtp|local|virtual|pipe|error|discard)$");
  private static final Pattern LINE = Pattern.compile(
      "^(?:(\\w{3}) +(\\d{1,2}) (\\d\\d):(\\d\\d):(\\d\\d)(?:\\.\\d+)?|(\\d{4}-\\d\\d-\\d\\d[T ]\\S+)) (\\S+) ([^\\[\\s:]+)(?:\\[(\\d+)\\])?: (.*)$");
  /** A client, {@code name[addr]} or {@code name[addr]:port}: groups name, address, port. */
  private static final String TOKEN = token("", "", "");
  /** {@link #TOKEN} with the groups named {@code name}, {@code addr}, {@code port}. */
  private static final String NAMED_TOKEN = token("?<name>", "?<addr>", "?<port>");
  private static final Pattern CONNECT = Pattern.compile("^connect from " + TOKEN);
  private static final Pattern DISCONNECT = Pattern.compile("^disconnect from " + TOKEN + "(.*)$");
  private static final Pattern CLIENT = Pattern.compile("^([0-9A-Za-z]{5,}): client=" + TOKEN + "(.*)$");
  private static final Pattern ORIG_CLIENT = Pattern.compile("orig_client=" + TOKEN);
  /**
   * smtpd's {@code log_whatsup} and cleanup's Milter verdicts: {@code QUEUEID: ACTION: CMD from
   * name[addr]: TEXT;} then {@code from=<>} (once MAIL gave a sender), {@code to=<>} (at RCPT),
   * {@code proto=}, {@code helo=<>} when known. ACTION is {@code reject}, {@code hold} or {@code
   * discard} (smtpd restrictions) or the same with {@code milter-}; CMD is the stage: CONNECT,
   * HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, ETRN, VRFY… For a refusal TEXT is smtpd's reply ({@code
   * 452 4.3.1 …}); cleanup, which runs the Milters at END-OF-MESSAGE, logs it without the SMTP code
   * ({@code 4.7.1 …}): smtpd adds that when it answers. The text may hold "; " itself (RBL texts),
   * so it ends at the last ";" followed by that tail. {@code reject_warning}, {@code warn}, {@code
   * filter}, {@code redirect} decide nothing and are not matched.
   */
  private static final Pattern ACTION = Pattern.compile(
      "^(?<qid>[0-9A-Za-z]{5,}|NOQUEUE): (?<action>(?:milter-)?(?:reject|hold|discard)): (?<stage>\\S+) from "
          + NAMED_TOKEN + ": (?<text>.*?);(?: from=<(?<from>.*?)>)?(?: to=<(?<to>.*?)>)?(?: proto=\\S+)?(?: helo=<.*>)?$");
  /**
   * cleanup's header_checks and body_checks actions: {@code QUEUEID: ACTION: header|body CONTENT
   * from ORIGIN; from=<> to=<> proto= helo=<>}, then {@code : TEXT} when the rule gave one
   * ({@code 5.7.1 message content rejected}). ORIGIN is the client, {@code name[addr]}, for mail
   * smtpd received (also for pickup's copy of it after {@code postsuper -r}); for mail that no smtpd
   * sent it is a bare word without an address: {@code local} for pickup's (sendmail, a cron job's
   * mail), {@code unknown} when cleanup was told no origin; such a line has no {@code proto=} or
   * {@code helo=}. CONTENT is the header or body line and may hold anything, so the origin is the
   * last {@code from ORIGIN;} followed by that tail. Its groups are named as {@link #ACTION}'s, and
   * {@code origin} holds the bare word ({@code name} and {@code addr} are then null).
   */
  private static final Pattern CONTENT_ACTION = Pattern.compile(
      "^(?<qid>[0-9A-Za-z]{5,}): (?<action>reject|hold|discard): (?<stage>\\S+) .* from (?:" + NAMED_TOKEN
          + "|(?<origin>local|unknown));(?: from=<(?<from>[^>]*)>)?(?: to=<(?<to>[^>]*)>)?(?: proto=\\S+)?"
          + "(?: helo=<[^>]*>)?(?:: (?<text>.*))?$");
  /**
   * smtpd's verdict of a before-queue content filter ({@code smtpd_proxy_filter}) on the message:
   * {@code QUEUEID: proxy-reject: END-OF-MESSAGE: TEXT; from=<> to=<> proto= helo=<>}, where TEXT is
   * the filter's reply as the client got it (may be empty). Unlike {@link #ACTION} the line names
   * no client: it is the session's. smtpd in proxy mode has no queue file of its own, so the queue
   * id is mostly {@code NOQUEUE}. {@code proxy-accept:} decides nothing here and is not matched.
   */
  private static final Pattern PROXY_REJECT = Pattern.compile(
      "^(?<qid>[0-9A-Za-z]{5,}|NOQUEUE): proxy-reject: (?<stage>\\S+): (?<text>.*?);(?: from=<(?<from>.*?)>)?"
          + "(?: to=<(?<to>.*?)>)?(?: proto=\\S+)?(?: helo=<.*>)?$");
  /** The start of a refusal's text: smtpd's reply code, or cleanup's enhanced status code. */
  private static final Pattern REFUSAL = Pattern.compile("^(?:\\d{3} |[45]\\.\\d{1,3}\\.\\d{1,3}\\b)");
  /** A refusal line the parser should have read (a {@code reject_warning:} is no refusal). */
  private static final Pattern REFUSAL_LINE = Pattern.compile("^([0-9A-Za-z]{5,}|NOQUEUE): (?:milter-|proxy-)?reject: ");
  private static final Pattern QUEUE_LINE = Pattern.compile("^([0-9A-Za-z]{5,}): (.*)$");
  /**
   * smtpd's last word on a session that ended while the client was sending the message content
   * ({@code lost connection after DATA (8192 bytes) from name[addr]}, {@code timeout after BDAT (0
   * bytes) from …}): Postfix names the stage after a finished message {@code END-OF-MESSAGE}, so
   * the transaction in progress was cut off and cleanup removed its queue file.
   */
  private static final Pattern CUT_OFF_IN_CONTENT = Pattern.compile("^[a-z][a-z ]* after (?:DATA|BDAT) \\(\\d+ bytes\\) from ");
  private static final Pattern FROM = Pattern.compile("^from=<([^>]*)>, size=(\\d+), nrcpt=(\\d+).*$");
  private static final Pattern MESSAGE_ID = Pattern.compile("^message-id=<?([^>\\s]*)>?.*$");
  /**
   * A delivery agent's {@code to=<>, [orig_to=<>,] relay=, delay=, delays=, dsn=X.Y.Z, status=}
   * line. The DSN is only ever read from the {@code dsn=} field: the relay ({@code mx[10.4.5.6]:25})
   * and the remote server's reply ({@code said: 550 … 10.20.30.40}) may hold anything.
   */
  private static final Pattern DELIVERY = Pattern.compile(
      "^to=<([^>]*)>,(?: orig_to=<[^>]*>,)? relay=([^,]+),(?: [a-z_]+=[^,]*,)*? dsn=([245]\\.\\d{1,3}\\.\\d{1,3}),"
          + " status=(\\w+)(?: \\((.*)\\))?$");
  /**
   * pickup's line for each queue file it creates from the maildrop: {@code QUEUEID: uid=N from=<…>},
   * ending {@code orig_id=QUEUEID} when the maildrop file is mail that {@code postsuper -r} requeued
   * (owned by the mail system, not a local submission): that names the queue id it left.
   */
  private static final Pattern PICKUP = Pattern.compile("^([0-9A-Za-z]{5,}): uid=\\d+ from=<.*>(?: orig_id=([0-9A-Za-z]{5,}))?$");
  /**
   * postsuper's count of what one run deleted, logged after the run's per queue id {@code removed}
   * lines: {@code Deleted: 5 messages} (Postfix 3.5 and later log it also for none).
   */
  private static final Pattern DELETED = Pattern.compile("^Deleted: (\\d+) messages?$");
  /** A time in a note, as the log wrote it (the parser keeps a classic syslog time as if it were UTC). */
  private static final DateTimeFormatter NOTE_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);
  /** How many mass deletions a file's note describes one by one. */
  private static final int NOTED_DELETIONS = 5;
  private static final String[] MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

  /** The client pattern, its three groups prefixed with {@code name}, {@code addr}, {@code port}. */
  private static String token(String name, String addr, String port) {
    return "(" + name + "[^\\[\\s]*)\\[(" + addr + "[^\\]]*)\\](?::(" + port + "\\d+))?";
  }

  private final RowSink sink;
  private final int year;
  private final int referenceMonth;
  private final PostfixQueueJoin join;
  private final String file;
  private final EventRow event = new EventRow();
  private final Map<String, Session> sessions = new HashMap<>();
  /**
   * Messages smtpd created a queue file for, by syslog host and queue id, until qmgr removes them:
   * those the previous file of the same log left (a log rotated mid-message, or mail deferred
   * across the rotation), then this file's; and pickup's copies of them after {@code postsuper -r}
   * ({@link Message#copy}). Lines about any other queue id (local submissions, bounces, messages
   * whose {@code client=} line precedes every file read) join nothing and are not kept.
   */
  private final LinkedHashMap<String, Message> pending;
  /**
   * The messages still {@link Fate#OPEN}, oldest {@code client=} line first. One open for {@link
   * #OPEN_TTL} is let go: the client left before the end of DATA (smtpd logs no queue id's end
   * then), or a hold assumed for it decides ({@link Message#settle}) and it stays known in the
   * hold queue.
   */
  private final ArrayDeque<Message> open = new ArrayDeque<>();
  /** {@link #open}'s size after it was last cleared of decided messages. */
  private int openAfterCompaction;
  private final int maxRetained;
  /** The most entries {@link #pending} had, for {@link PostfixQueueJoin#retained}. */
  private int peakRetained;
  private long evicted;
  /**
   * {@code removed} lines of each postsuper run ({@code host/pid}) not yet followed by its {@code
   * Deleted:} count: a count beyond them is mail a {@code -d ALL} deleted without naming it.
   */
  private final Map<String, Integer> removedByPostsuper = new HashMap<>();
  /** The mass deletions that may have taken messages this parser keeps ({@link #note}). */
  private final List<String> massDeletions = new ArrayList<>();

  private static final class Session {
    final String id;
    final String connectIp;
    /** The client the session's latest line named (after XCLIENT, the forwarded one). */
    String clientName;
    String clientIp;
    int seq;
    /**
     * A hold or discard smtpd logged before the transaction had a queue id ({@code NOQUEUE: hold:
     * RCPT …}). It is the transaction's, and smtpd does not log where a transaction ends: the next
     * {@code client=} line may open that transaction's queue file, or, after every recipient was
     * refused and an RSET, another transaction's. So it is only assumed for that message ({@link
     * Message#assumed}), and the queue id's own lines decide; a line naming another sender starts
     * another transaction and forgets it.
     */
    Verdict beforeQueueId;
    /**
     * The message of the session's latest {@code client=} line while its transaction may be going
     * on: smtpd runs one transaction at a time, so the next {@code client=} line, a {@code NOQUEUE}
     * line (a transaction without a queue file) or the end of the session ends it ({@link
     * #transactionEnded}).
     */
    Message current;

    Session(String id, String connectIp) {
      this.id = id;
      this.connectIp = connectIp;
    }
  }

  /** What became of a message smtpd created a queue file for, as far as the log has said. */
  enum Fate {
    /**
     * Nothing yet: still in smtpd/cleanup (a {@link Message#copy}: pickup/cleanup), or the client
     * left before the end of DATA.
     */
    OPEN,
    /** qmgr took it into the active queue: the server received it. */
    QUEUED,
    /**
     * A Milter, a restriction or a header/body check put it on hold: received, into the hold queue
     * (qmgr never sees it).
     */
    HELD,
    /** Refused as a whole (at DATA or its end, by a Milter or a content check), or discarded. */
    DROPPED,
    /**
     * Held, or assumed held, but its transaction ended before the end of DATA (the client reset it or
     * left): cleanup removed the queue file, nothing went to the hold queue.
     */
    ABANDONED
  }

  /**
   * What one line says about a queue id's message: a fate, or null when it only adds details (a
   * cleanup {@code message-id=} line); the details are null or -1 when the line has none.
   */
  record Verdict(Fate fate, long ts, String sender, long size, int recipientCount, String messageId) {
    static Verdict details(long ts, String messageId) {
      return new Verdict(null, ts, null, -1, -1, messageId);
    }
  }

  /**
   * A message from smtpd's {@code client=} line on: its {@code RECEIVE} row (server, session and
   * client of that line) and its fate. The row is emitted only if the server received the message,
   * with the time it did: a queue id is assigned at the first accepted RCPT, long before the
   * message is complete and queued, and the client may still disconnect before the end of DATA.
   */
  static final class Message {
    final MessageRow row;
    /** The file of the {@code client=} line, which the {@code RECEIVE} row is loaded into. */
    final String file;
    /** The time of the {@code client=} line. */
    final long opened;
    Fate fate = Fate.OPEN;
    /** Whether the message left {@link #pending}: nothing more is read about it. */
    boolean closed;
    /**
     * A hold or discard of the session's transaction logged before this queue id existed, which may
     * have been another transaction's ({@link Session#beforeQueueId}). It decides only if nothing
     * about the queue id itself does: held or discarded mail never reaches qmgr, so qmgr's {@code
     * queue active} for this queue id overrides it.
     */
    Verdict assumed;
    /**
     * cleanup read the end of the message's headers: it logs {@code message-id=} then for every
     * message ({@code message-id=<>} when there is none), so a transaction without it never sent
     * its content.
     */
    boolean content;
    /**
     * A postsuper run deleted mail without naming it ({@code -d ALL}) while this message was in the
     * queue, and no line of its own has shown it there since: it may be gone. It counts in the note
     * of that deletion only ({@link #massDeletion}), not again in a later one's.
     */
    boolean mayBeDeleted;
    /**
     * pickup's copy of a message {@code postsuper -r} requeued ({@code NEWID: uid=… orig_id=OLDID}):
     * the client's message under a new queue id, whose lines (cleanup's again, qmgr's, the
     * deliveries) are the client's, with the original's session. The original's {@code RECEIVE}
     * row counts the message; the copy has none of its own.
     */
    final boolean copy;

    Message(MessageRow row, String file) {
      this(row, file, false);
    }

    private Message(MessageRow row, String file, boolean copy) {
      this.row = row;
      this.file = file;
      this.opened = row.tsMicros;
      this.copy = copy;
    }

    /**
     * The copy pickup made of this message under {@code queueId}: its row (session, client, sender,
     * size, Message-ID), to be decided afresh by cleanup and qmgr, which see it as a new queue file.
     */
    Message copyAs(String queueId) {
      MessageRow r = row.copy();
      r.queueId = queueId;
      return new Message(r, file, true);
    }

    /**
     * Applies what a later line says. The first fate that means received dates the row; a message
     * held (by a header check, say) can still be refused by a later check or Milter, and nothing
     * undoes a refusal.
     */
    void apply(Verdict v) {
      if (v.sender() != null && row.sender == null) {
        row.sender = v.sender();
      }
      if (v.size() >= 0 && row.size < 0) {
        row.size = v.size();
      }
      if (v.recipientCount() >= 0 && row.recipientCount < 0) {
        row.recipientCount = v.recipientCount();
      }
      if (v.messageId() != null) {
        content = true;
        if (row.messageId == null) {
          row.messageId = v.messageId();
        }
      }
      if (v.fate() != null && fate == Fate.OPEN) {
        fate = v.fate();
        row.tsMicros = v.ts();
      } else if (v.fate() == Fate.DROPPED && fate == Fate.HELD) {
        fate = Fate.DROPPED;
      }
    }

    /**
     * Called once nothing more will be read about the message: a message still open takes the fate
     * of the hold or discard {@link #assumed} for it, if its content was sent (a hold of a
     * transaction that never got that far held nothing).
     */
    void settle() {
      if (fate == Fate.OPEN && assumed != null && content) {
        fate = assumed.fate();
        row.tsMicros = assumed.ts();
        if (row.sender == null) {
          row.sender = assumed.sender();
        }
      }
    }

    boolean received() {
      return fate == Fate.QUEUED || fate == Fate.HELD;
    }

    /** Whether the message's {@code RECEIVE} row is to be loaded: received, and no {@link #copy}. */
    boolean loadsRow() {
      return received() && !copy;
    }

    /**
     * Whether the message counts as received without qmgr ever seeing it: held, or open with a
     * hold assumed. Only such a message is decided by how its transaction ended; any other is
     * received when qmgr queues it.
     */
    boolean heldWithoutQmgr() {
      return fate == Fate.HELD || fate == Fate.OPEN && assumed != null && assumed.fate() == Fate.HELD;
    }

    /**
     * {@code postsuper}, or pickup copying it after {@code postsuper -r}, found its queue file: the
     * message was received (postsuper touches only complete queue files), into the hold queue if a
     * hold was assumed for it, else into the incoming queue before qmgr took it.
     */
    void found() {
      if (fate == Fate.OPEN) {
        content = true;
        if (assumed != null && assumed.fate() == Fate.HELD) {
          settle();
        } else {
          fate = Fate.QUEUED;
        }
      }
    }
  }

  /**
   * @param join where the {@code RECEIVE} rows of messages opened in an earlier file go, once
   *     decided here (that file's rows are already loaded)
   * @param file this file's name
   * @param carried the messages the previous file of the same log left undecided or not yet
   *     removed ({@link #remaining} of its parser); this parser takes the map over
   */
  PostfixLogParser(RowSink sink, int year, int referenceMonth, PostfixQueueJoin join, String file,
      LinkedHashMap<String, Message> carried) {
    this(sink, year, referenceMonth, join, file, carried, MAX_RETAINED);
  }

  /**
   * @param carried as {@link #newQueue} makes it
   * @param maxRetained how many messages to keep at most ({@link #MAX_RETAINED})
   */
  PostfixLogParser(RowSink sink, int year, int referenceMonth, PostfixQueueJoin join, String file,
      LinkedHashMap<String, Message> carried, int maxRetained) {
    this.sink = sink;
    this.year = year;
    this.referenceMonth = referenceMonth;
    this.join = join;
    this.file = file;
    this.pending = carried;
    this.maxRetained = maxRetained;
    if (carried != null) {
      carried.values().stream().filter(m -> m.fate == Fate.OPEN).sorted(Comparator.comparingLong(m -> m.opened))
          .forEach(open::add);
    }
  }

  /**
   * How many messages smtpd opened a parser keeps at most. A server's queue rarely holds more at a
   * time; beyond it the least recently mentioned message is let go (its row loaded if it was
   * received, later lines about it loaded without its session) and counted ({@link #evicted}).
   */
  static final int MAX_RETAINED = 200_000;

  /**
   * How long a message may stay open (no qmgr {@code queue active}, hold, refusal or discard) after
   * its {@code client=} line before it counts as abandoned: the end of DATA and qmgr's pickup take
   * seconds, hours only on a badly congested server.
   */
  static final long OPEN_TTL = 2 * 3600 * 1_000_000L;

  /** An empty map of messages for the first file of a log: least recently mentioned first. */
  static LinkedHashMap<String, Message> newQueue() {
    return new LinkedHashMap<>(1024, 0.75f, true);
  }

  /** Messages let go because more than {@code maxRetained} were kept. */
  long evicted() {
    return evicted;
  }

  /**
   * What the file's row in {@code files} should say about postsuper runs that deleted mail without
   * naming it ({@code postsuper -d ALL}, with or without queue names) while messages this parser
   * keeps were in the queue; null if none did.
   */
  String note() {
    if (massDeletions.isEmpty()) {
      return null;
    }
    int more = massDeletions.size() - NOTED_DELETIONS;
    return String.join("; ", massDeletions.subList(0, Math.min(NOTED_DELETIONS, massDeletions.size())))
        + (more > 0 ? "; and " + more + " more such deletions" : "");
  }

  /** How many messages the parser watches for {@link #OPEN_TTL}, decided ones not yet cleared included. */
  int watched() {
    return open.size();
  }

  /**
   * The messages not yet removed at the end of the file, by host and queue id, least recently
   * mentioned first: for the parser of the next file of the same log, or {@link
   * PostfixQueueJoin#finish} after the last.
   */
  LinkedHashMap<String, Message> remaining() {
    return pending;
  }

  private static String key(String host, String queueId) {
    return host + ' ' + queueId;
  }

  /** Reads every line; returns how many there were. */
  long parse(BufferedReader in) throws IOException {
    long lineNo = 0;
    String line;
    while ((line = in.readLine()) != null) {
      lineNo++;
      if (line.isEmpty()) {
        sink.malformed(lineNo, "empty line", line);
        continue;
      }
      Matcher m = LINE.matcher(line);
      if (!m.matches()) {
        sink.malformed(lineNo, "not a syslog line", line);
        continue;
      }
      long ts = m.group(6) != null ? Timestamps.parseIso(m.group(6)) : classic(m);
      if (ts == Timestamps.INVALID) {
        sink.malformed(lineNo, "bad timestamp", line);
        continue;
      }
      String host = m.group(7);
      String program = m.group(8);
      String pid = m.group(9);
      String text = m.group(10);
      expire(ts);
      if (!program.startsWith("postfix")) {
        sink.ignored(lineNo);
      } else if (program.endsWith("/smtpd")) {
        smtpd(lineNo, ts, host, pid, text, line);
      } else if (program.endsWith("/qmgr") || program.endsWith("/cleanup")) {
        queueManager(lineNo, ts, host, text, line);
      } else if (DELIVERY_AGENT.matcher(program).matches()) {
        delivery(lineNo, ts, host, program, text, line);
      } else if (program.endsWith("/postsuper")) {
        postsuper(lineNo, ts, host, pid, text);
      } else if (program.endsWith("/pickup")) {
        pickup(lineNo, host, text);
      } else {
        sink.ignored(lineNo);
      }
    }
    // What is still pending may be decided, or delivered, in the next file (logrotate cut this
    // one mid-message, or the message was deferred): the caller hands it on (remaining()).
    join.retained(Math.max(peakRetained, pending.size()));
    return lineNo;
  }

  /** The syslog host and time of a file's first line from a Postfix program. */
  record First(String host, long ts) {}

  /**
   * The first Postfix line among the first {@code maxLines} of {@code in}, or null: where in time a
   * file of a rotated log starts, and whose log it is, to read the files of one log in order.
   */
  static First first(BufferedReader in, int year, int referenceMonth, int maxLines) throws IOException {
    PostfixLogParser clock = new PostfixLogParser(null, year, referenceMonth, null, null, null);
    String line;
    for (int i = 0; i < maxLines && (line = in.readLine()) != null; i++) {
      Matcher m = LINE.matcher(line);
      if (m.matches() && m.group(8).startsWith("postfix")) {
        long ts = m.group(6) != null ? Timestamps.parseIso(m.group(6)) : clock.classic(m);
        if (ts != Timestamps.INVALID) {
          return new First(m.group(7), ts);
        }
      }
    }
    return null;
  }

  /**
   * Decides the messages open since before {@code now - OPEN_TTL}: one held as assumed is in the
   * hold queue and stays known until it is released or deleted, as any held message; the others
   * are let go.
   */
  private void expire(long now) {
    while (!open.isEmpty() && open.peekFirst().opened < now - OPEN_TTL) {
      Message m = open.pollFirst();
      if (!m.closed && m.fate == Fate.OPEN) {
        m.settle();
        if (m.fate != Fate.HELD) {
          pending.remove(key(m.row.server, m.row.queueId));
          close(m);
        }
      }
    }
  }

  private long classic(Matcher m) {
    int month = -1;
    for (int i = 0; i < 12; i++) {
      if (MONTHS[i].equals(m.group(1))) {
        month = i + 1;
      }
    }
    int day = Integer.parseInt(m.group(2));
    if (month < 0 || day < 1 || day > 31) {
      return Timestamps.INVALID;
    }
    int y = month > referenceMonth ? year - 1 : year;
    try {
      long days = LocalDate.of(y, month, day).toEpochDay();
      return (days * 86_400 + Integer.parseInt(m.group(3)) * 3600L + Integer.parseInt(m.group(4)) * 60L
          + Integer.parseInt(m.group(5))) * 1_000_000;
    } catch (java.time.DateTimeException e) {
      return Timestamps.INVALID;
    }
  }

  private void smtpd(long lineNo, long ts, String host, String pid, String text, String line) {
    String key = host + '/' + pid;
    Matcher c = CONNECT.matcher(text);
    if (c.find()) {
      Session s = new Session(key + '/' + lineNo, c.group(2));
      s.clientName = c.group(1);
      s.clientIp = c.group(2);
      sessions.put(key, s);
      emit(s, ts, host, lineNo, "+", c.group(2), c.group(3), null, null);
      return;
    }
    Session s = sessions.computeIfAbsent(key, k -> new Session(k + '/' + lineNo, null));
    Matcher d = DISCONNECT.matcher(text);
    if (d.find()) {
      sessions.remove(key);
      transactionEnded(s);
      emit(s, ts, host, lineNo, "-", d.group(2), d.group(3), d.group(4).trim(), xclient(s, d.group(2)));
      return;
    }
    Matcher cl = CLIENT.matcher(text);
    if (cl.find()) {
      String queueId = cl.group(1);
      s.clientName = cl.group(2);
      s.clientIp = cl.group(3);
      emit(s, ts, host, lineNo, "*", cl.group(3), cl.group(4), "client=" + cl.group(2) + "[" + cl.group(3) + "]" + cl.group(5),
          xclient(s, cl.group(3)));
      MessageRow r = smtpRow("RECEIVE", ts, host, queueId, s.id, cl.group(2), cl.group(3));
      Matcher oc = ORIG_CLIENT.matcher(cl.group(5));
      r.originalClientIp = oc.find() ? oc.group(2) : null;
      r.sourceLine = lineNo;
      r.logType = "postfix";
      Message m = new Message(r, file);
      m.assumed = s.beforeQueueId;
      s.beforeQueueId = null;
      transactionEnded(s);
      s.current = m;
      Message previous = pending.put(key(host, queueId), m);
      open.add(m);
      if (open.size() > 2 * openAfterCompaction + 1024) {
        // Most messages are decided within seconds; without this a busy server's last two hours of
        // messages would stay referenced here.
        open.removeIf(o -> o.closed || o.fate != Fate.OPEN);
        openAfterCompaction = open.size();
      }
      if (previous != null) {
        close(previous);
      }
      if (pending.size() > maxRetained) {
        Iterator<Message> eldest = pending.values().iterator();
        Message gone = eldest.next();
        eldest.remove();
        close(gone);
        evicted++;
      }
      peakRetained = Math.max(peakRetained, pending.size());
      return;
    }
    Matcher a = action(text);
    if (a != null) {
      String queueId = "NOQUEUE".equals(a.group("qid")) ? null : a.group("qid");
      Verdict v = actionVerdict(a, ts, false);
      s.clientName = a.group("name");
      s.clientIp = a.group("addr");
      if (queueId == null) {
        // No queue file: a transaction after the one of the session's last client= line.
        transactionEnded(s);
      }
      if (queueId == null && s.beforeQueueId != null && a.group("from") != null
          && !a.group("from").equals(s.beforeQueueId.sender())) {
        // Another MAIL FROM: the held or discarded transaction ended without a queue file.
        s.beforeQueueId = null;
      }
      if (refuses(a)) {
        emit(s, ts, host, lineNo, ">", a.group("addr"), a.group("port"), a.group("text"), xclient(s, a.group("addr")));
        sink.message(refusal(a, ts, host, queueId, s.id, a.group("name"), a.group("addr"), lineNo));
      } else {
        // A hold or discard is no reply: the client is told 250 and the server keeps or drops the mail.
        emit(s, ts, host, lineNo, "*", a.group("addr"), a.group("port"), text, xclient(s, a.group("addr")));
      }
      if (v != null && queueId != null) {
        verdict(host, queueId, v);
      } else if (v != null && !refuses(a) && (s.beforeQueueId == null || v.fate() == Fate.DROPPED)) {
        // A hold or discard before the queue id is for the message the next client= line opens (a
        // refusal without a queue id was of a transaction that never had a queue file).
        s.beforeQueueId = v;
      }
      return;
    }
    Matcher p = PROXY_REJECT.matcher(text);
    if (p.matches()) {
      // The filter refused the message at its end, as a Milter would: a refusal, for the session's client.
      String queueId = "NOQUEUE".equals(p.group("qid")) ? null : p.group("qid");
      String reply = p.group("text").isEmpty() ? null : p.group("text");
      emit(s, ts, host, lineNo, ">", s.clientIp, null, reply, null);
      sink.message(refusal(p, ts, host, queueId, s.id, s.clientName, s.clientIp, lineNo));
      if (queueId != null) {
        verdict(host, queueId, new Verdict(Fate.DROPPED, ts, p.group("from"), -1, -1, null));
      }
      return;
    }
    if (REFUSAL_LINE.matcher(text).find() || text.contains(": client=")) {
      sink.malformed(lineNo, "unrecognised smtpd line", line);
      return;
    }
    if (s.current != null && CUT_OFF_IN_CONTENT.matcher(text).find()) {
      // Whatever a header check or a restriction held went with the queue file.
      abandon(s.current);
      s.current = null;
    }
    EventRow e = base(s, ts, host, lineNo, "*");
    e.data = text;
    sink.event(e);
  }

  /** The {@link #ACTION} match of {@code text}, or null; a refusal must start with a code. */
  private static Matcher action(String text) {
    Matcher a = ACTION.matcher(text);
    return a.matches() && (!refuses(a) || REFUSAL.matcher(a.group("text")).find()) ? a : null;
  }

  /** Whether an {@link #ACTION} or {@link #CONTENT_ACTION} line is a refusal. */
  private static boolean refuses(Matcher action) {
    return action.group("action").endsWith("reject");
  }

  /**
   * The fate an {@link #ACTION} or {@link #CONTENT_ACTION} line decides: a hold or discard whatever
   * the stage; a refusal only of the whole message: at DATA or its end, or any of cleanup's (it
   * judges the message; one refused RCPT at smtpd leaves the others).
   */
  private static Verdict actionVerdict(Matcher a, long ts, boolean cleanup) {
    String action = a.group("action");
    String stage = a.group("stage");
    Fate fate = action.endsWith("hold") ? Fate.HELD
        : action.endsWith("discard") || cleanup || stage.equals("END-OF-MESSAGE") || stage.equals("DATA")
            || stage.equals("BDAT") ? Fate.DROPPED : null;
    return fate == null ? null : new Verdict(fate, ts, a.group("from"), -1, -1, null);
  }

  /** A message row that smtpd's traffic with a client gives: received from it, or refused to it. */
  private static MessageRow smtpRow(String event, long ts, String host, String queueId, String sessionId,
      String clientHost, String clientIp) {
    MessageRow r = new MessageRow();
    r.tsMicros = ts;
    r.server = host;
    r.event = event;
    r.source = "SMTP";
    r.queueId = queueId;
    r.sessionId = sessionId;
    r.clientHost = clientHost;
    r.clientIp = clientIp;
    return r;
  }

  /**
   * The {@code REJECT} row of a refusal ({@link #ACTION}, {@link #CONTENT_ACTION} or {@link
   * #PROXY_REJECT} line), at the syslog host, for the client on the line (the session's for a
   * proxy's): a refusal at RCPT is of the one recipient it names, any other of the transaction.
   */
  private static MessageRow refusal(Matcher a, long ts, String host, String queueId, String sessionId,
      String clientName, String clientIp, long lineNo) {
    MessageRow r = smtpRow("REJECT", ts, host, queueId, sessionId, clientName, clientIp);
    r.sender = a.group("from");
    r.recipients = a.group("to");
    r.recipientCount = r.recipients != null && a.group("stage").equals("RCPT") ? 1 : -1;
    r.status = a.group("text") == null || a.group("text").isEmpty() ? null : a.group("text");
    r.dsn = ReplyDsn.of(r.status);
    r.sourceLine = lineNo;
    r.logType = "postfix";
    return r;
  }

  /** {@code xclient} when a line names another client than the session's {@code connect from}. */
  private static String xclient(Session s, String ip) {
    return s.connectIp != null && ip != null && !s.connectIp.equals(ip) ? "xclient" : null;
  }

  private void emit(Session s, long ts, String host, long lineNo, String kind, String ip, String port, String data,
      String context) {
    EventRow e = base(s, ts, host, lineNo, kind);
    e.remoteIp = EventRow.emptyToNull(ip);
    e.remotePort = port == null ? -1 : HeaderedLogParser.parseIntOr(port, -1);
    e.data = data;
    e.context = context;
    sink.event(e);
  }

  private EventRow base(Session s, long ts, String host, long lineNo, String kind) {
    EventRow e = event;
    e.tsMicros = ts;
    e.server = host;
    e.connector = host + "/smtpd";
    e.sessionId = s.id;
    e.seq = s.seq++;
    e.localIp = null;
    e.localPort = -1;
    e.remoteIp = null;
    e.remotePort = -1;
    e.event = kind;
    e.data = null;
    e.context = null;
    e.sourceLine = lineNo;
    e.logType = "postfix";
    return e;
  }

  /**
   * qmgr and cleanup lines complete a message's row and decide its fate. Apart from cleanup's
   * refusals ({@code REJECT} rows) they yield no row of their own (the {@code RECEIVE} row is the
   * {@code client=} line's), so they count as ignored.
   */
  private void queueManager(long lineNo, long ts, String host, String text, String line) {
    Matcher q = QUEUE_LINE.matcher(text);
    if (!q.matches()) {
      sink.ignored(lineNo);
      return;
    }
    String queueId = q.group(1);
    String rest = q.group(2);
    Matcher a = action(text);
    if (a == null) {
      a = CONTENT_ACTION.matcher(text);
      a = a.matches() ? a : null;
    }
    if (a != null) {
      // A Milter's or a content check's verdict on the whole message; the session is smtpd's that
      // opened the queue id.
      if (refuses(a)) {
        Message m = pending.get(key(host, queueId));
        MessageRow r = refusal(a, ts, host, queueId, m == null ? null : m.row.sessionId, a.group("name"),
            a.group("addr"), lineNo);
        if (r.clientIp == null) {
          // A content check refused mail no smtpd received (only a CONTENT_ACTION line names no
          // client): no client was answered, and pickup's is the local submission that sendmail made.
          r.source = "local".equals(a.group("origin")) ? "PICKUP" : null;
        }
        sink.message(r);
      } else {
        sink.ignored(lineNo);
      }
      verdict(host, queueId, actionVerdict(a, ts, true));
      return;
    }
    if (REFUSAL_LINE.matcher(text).find()) {
      sink.malformed(lineNo, "unrecognised cleanup line", line);
      return;
    }
    sink.ignored(lineNo);
    Matcher f = FROM.matcher(rest);
    Matcher id = MESSAGE_ID.matcher(rest);
    if (f.matches()) {
      // qmgr logs this each time the message enters the active queue (again after a deferral);
      // the first time is when the server received it.
      verdict(host, queueId, new Verdict(Fate.QUEUED, ts, f.group(1), Long.parseLong(f.group(2)),
          Integer.parseInt(f.group(3)), null));
    } else if (id.matches()) {
      Message m = pending.get(key(host, queueId));
      if (m != null && m.content && m.received()) {
        // cleanup logs message-id= once per queue file, and this one's was read: a new file has the
        // queue id (a bounce, a forwarded copy), so the message left the queue unlogged (postsuper -d
        // ALL, which names nothing) and the queue id was reused.
        gone(host, queueId, false);
      } else {
        verdict(host, queueId, Verdict.details(ts, id.group(1)));
      }
    } else if (rest.equals("removed")) {
      gone(host, queueId, false);
    }
  }

  /**
   * Applies {@code v} to the queue id's message. A queue id no smtpd opened in this file or an
   * earlier one of the log is no message of a client's, and the line is not kept.
   */
  private void verdict(String host, String queueId, Verdict v) {
    Message m = pending.get(key(host, queueId));
    if (m != null) {
      m.mayBeDeleted = false;
      m.apply(v);
      if (m.fate == Fate.DROPPED) {
        // Nothing undoes a refusal or a discard, and the queue file is gone: no need to keep it.
        pending.remove(key(host, queueId));
        close(m);
      }
    }
  }

  /**
   * The transaction of the session's {@link Session#current} message is over: the client sent
   * another transaction or left. Held mail that never sent its content was abandoned (RSET, or a
   * client that left after RCPT); a hold assumed for a message whose content was sent is its own,
   * and the message stays known while it is in the hold queue, to be released or deleted.
   */
  private void transactionEnded(Session s) {
    Message m = s.current;
    s.current = null;
    if (m == null || m.closed) {
      return;
    }
    if (!m.content) {
      abandon(m);
    } else if (m.fate == Fate.OPEN && m.assumed != null && m.assumed.fate() == Fate.HELD) {
      m.apply(m.assumed);
    }
  }

  /**
   * A held (or assumed held) message whose transaction ended before the end of DATA: no message.
   * Any other is left to qmgr, which queues it only if it was received.
   */
  private void abandon(Message m) {
    if (!m.closed && m.heldWithoutQmgr()) {
      m.fate = Fate.ABANDONED;
      pending.remove(key(m.row.server, m.row.queueId), m);
      close(m);
    }
  }

  /**
   * {@code postsuper}'s per queue id lines ({@code QUEUEID: removed}, {@code requeued}, {@code
   * placed on hold}, {@code released from hold}, {@code expired}) confirm that the message was
   * received; removed, it is no longer in the queue, and later lines about a reused queue id are not
   * its. A requeued one goes to the maildrop, where pickup copies it to a new queue file under
   * another queue id and names this one ({@link #pickup}); it is kept until then.
   * A run with {@code ALL} ({@code -d ALL}, {@code -h ALL}, {@code -H ALL}, {@code -r ALL}) logs no
   * such lines, only its counts ({@code Deleted: 5 messages}). A mass requeue is named message by
   * message later, by pickup ({@link #pickup}); a mass hold or release changes nothing the report
   * counts; a mass deletion names nothing, ever (see {@link #massDeletion}). No row of their own:
   * ignored.
   */
  private void postsuper(long lineNo, long ts, String host, String pid, String text) {
    sink.ignored(lineNo);
    String run = host + '/' + pid;
    Matcher deleted = DELETED.matcher(text);
    if (deleted.matches()) {
      Integer named = removedByPostsuper.remove(run);
      massDeletion(ts, host, Long.parseLong(deleted.group(1)) - (named == null ? 0 : named));
      return;
    }
    Matcher q = QUEUE_LINE.matcher(text);
    if (!q.matches()) {
      return;
    }
    String action = q.group(2);
    if (action.equals("removed")) {
      removedByPostsuper.merge(run, 1, Integer::sum);
      gone(host, q.group(1), true);
      return;
    }
    // A requeued message waits in the maildrop until pickup copies it and names it (orig_id=): kept
    // until then, so that the copy is known as the client's.
    Message m = pending.get(key(host, q.group(1)));
    if (m != null && (action.equals("requeued") || action.equals("placed on hold")
        || action.equals("released from hold") || action.equals("expired"))) {
      m.mayBeDeleted = false;
      m.found();
    }
  }

  /**
   * A postsuper run deleted {@code unnamed} messages without naming them: {@code postsuper -d ALL},
   * maybe with queue names ({@code -d ALL hold}, {@code -d ALL deferred}), which the log does not
   * give. So which of the messages kept for {@code host} went is unknown: the count includes mail
   * this parser does not follow (local submissions, bounces, mail received before the log), and
   * messages in a queue the run did not touch stay and show up again (qmgr retries deferred mail, a
   * held message is released). They stay kept, and stay counted as received, which they were; if one
   * went, its queue id may be reused, and the new file's first line ends it ({@link #gone}). The
   * file's {@link #note} says how many were in the queue then as far as the log shows: received,
   * not removed, and not already among those of an earlier such deletion unless a line of their own
   * came since ({@link Message#mayBeDeleted}), so that a nightly {@code postsuper -d ALL hold} does
   * not count every earlier night's messages again.
   */
  private void massDeletion(long ts, String host, long unnamed) {
    if (unnamed <= 0) {
      return;
    }
    long inQueue = 0;
    for (Message m : pending.values()) {
      if (m.row.server.equals(host) && m.received() && !m.mayBeDeleted) {
        m.mayBeDeleted = true;
        inQueue++;
      }
    }
    if (inQueue > 0) {
      massDeletions.add(String.format(Locale.ROOT,
          "%s %s: postsuper deleted %d message%s without naming them (-d ALL); %d message%s received from clients"
              + " %s in the queue then, as far as the log shows, and may be among them", host,
          NOTE_TIME.format(LocalDateTime.ofEpochSecond(Math.floorDiv(ts, 1_000_000L), 0, ZoneOffset.UTC)), unnamed,
          unnamed == 1 ? "" : "s", inQueue, inQueue == 1 ? "" : "s", inQueue == 1 ? "was" : "were"));
    }
  }

  /**
   * pickup made a queue file: a message kept under the same queue id is no longer in the queue
   * (its file went unlogged and the queue id was reused); one named as {@code orig_id=} was requeued
   * ({@code postsuper -r}, the only record of it after {@code -r ALL}) and left its queue id for the
   * new one: the new file is its {@link Message#copy}, kept in its place.
   */
  private void pickup(long lineNo, String host, String text) {
    sink.ignored(lineNo);
    Matcher p = PICKUP.matcher(text);
    if (p.matches()) {
      gone(host, p.group(1), false);
      Message original = p.group(2) == null ? null : gone(host, p.group(2), true);
      if (original != null) {
        pending.put(key(host, p.group(1)), original.copyAs(p.group(1)));
      }
    }
  }

  /**
   * The message kept under {@code queueId}, if any, left the queue or the queue id: it is closed as
   * decided so far, after postsuper or pickup found its queue file ({@code found}: it was complete,
   * so received). Returns it, or null.
   */
  private Message gone(String host, String queueId, boolean found) {
    Message m = pending.remove(key(host, queueId));
    if (m != null) {
      if (found) {
        m.found();
      }
      close(m);
    }
    return m;
  }

  /** A message leaves {@link #pending}: its row is loaded if the server received it. */
  private void close(Message m) {
    m.closed = true;
    m.settle();
    if (!m.loadsRow()) {
      return;
    }
    if (m.file.equals(file)) {
      sink.message(m.row);
    } else {
      join.late(m.file, m.row);
    }
  }

  private void delivery(long lineNo, long ts, String host, String program, String text, String line) {
    Matcher q = QUEUE_LINE.matcher(text);
    if (!q.matches() || !q.group(2).startsWith("to=<")) {
      sink.ignored(lineNo);
      return;
    }
    Matcher d = DELIVERY.matcher(q.group(2));
    if (!d.matches()) {
      sink.malformed(lineNo, "unrecognised delivery line", line);
      return;
    }
    // A message opened in an earlier file is as known here as one of this file's.
    Message known = pending.get(key(host, q.group(1)));
    if (known != null) {
      known.mayBeDeleted = false;
    }
    MessageRow r = known == null ? new MessageRow() : known.row.copy();
    r.tsMicros = ts;
    r.server = host;
    r.queueId = q.group(1);
    r.recipients = d.group(1);
    r.recipientCount = 1;
    r.relay = d.group(2);
    r.dsn = d.group(3);
    r.status = d.group(4);
    r.source = program.substring(program.lastIndexOf('/') + 1).toUpperCase(Locale.ROOT);
    r.event = switch (r.status) {
      case "sent" -> r.source.equals("LOCAL") || r.source.equals("VIRTUAL") ? "DELIVER" : "SEND";
      case "deferred" -> "DEFER";
      default -> "FAIL";
    };
    r.sourceLine = lineNo;
    r.logType = "postfix";
    sink.message(r);
  }
}

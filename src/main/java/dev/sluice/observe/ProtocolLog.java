package dev.sluice.observe;

import dev.sluice.proxy.smtp.SmtpReply;
import dev.sluice.balance.Backend;
import dev.sluice.config.LogConfig.ProtocolLevel;
import dev.sluice.proxy.SessionInfo;
import dev.sluice.proxy.SessionObserver;
import java.io.IOException;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The protocol log (DESIGN §8): one CSV line per session event in daily files
 * {@code sluice-YYYY-MM-DD.log} (UTC date of the event) under {@code log.protocol_dir}, each file
 * starting with an Exchange-style header block, so {@code sluice report} and any CSV reader can
 * load it.
 *
 * <p>Fields: {@value #FIELDS}. Events: {@code +} connect, {@code -} disconnect, {@code <} command
 * received, {@code >} reply sent, {@code *} information (the {@code context} column names the kind:
 * backend, retry, transaction, rejected, info). {@code basic} records connects, disconnects and the
 * informational events; {@code verbose} adds every command and reply. Message bodies never reach an
 * observer, and AUTH arguments are masked here as well, whatever the caller did.
 *
 * <p>Threading: the observer callbacks run on event loops; they only stamp the event and offer it
 * to a bounded queue. One writer thread formats and writes. When the queue is full (a slow disk)
 * the event is dropped and counted ({@link #dropped()}), the writer notes the count in the log once
 * it catches up, and traffic never waits.
 */
public final class ProtocolLog implements SessionObserver, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ProtocolLog.class);
  public static final String FIELDS =
      "date-time,listener,session-id,sequence-number,local-endpoint,remote-endpoint,backend,event,data,context";
  static final int DEFAULT_CAPACITY = 65_536;
  private static final DateTimeFormatter TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);
  /** Sentinel that tells the writer to flush and stop. */
  private static final Entry STOP = new Entry(Instant.EPOCH, null, null, 0, null, '*', "", "");

  private final Path dir;
  private final ProtocolLevel level;
  private final Clock clock;
  private final BlockingQueue<Entry> queue;
  private final AtomicLong dropped = new AtomicLong();
  private final Thread writer;
  private final String version;
  /** Written only by the writer thread. */
  private LocalDate fileDate;
  private Writer out;
  private long droppedReported;

  /**
   * One event, stamped on the event loop; everything else is done by the writer. {@code s} is null
   * for an event that is not a session's ({@link #backendStateChanged}): then {@code listener} names
   * the listener.
   */
  private record Entry(Instant at, String listener, SessionInfo s, int seq, String backend, char event, String data,
      String context) {}

  /** A log writing to {@code dir} at {@code level}, its writer thread started. */
  public ProtocolLog(Path dir, ProtocolLevel level) {
    this(dir, level, Clock.systemUTC(), DEFAULT_CAPACITY);
    start();
  }

  /**
   * A log whose writer is not started yet (tests fill the queue first).
   *
   * @param clock time of events and of the daily rollover (tests inject one)
   * @param capacity how many events may wait for the writer before new ones are dropped
   */
  ProtocolLog(Path dir, ProtocolLevel level, Clock clock, int capacity) {
    this.dir = dir;
    this.level = level;
    this.clock = clock;
    this.queue = new ArrayBlockingQueue<>(capacity);
    String v = ProtocolLog.class.getPackage().getImplementationVersion();
    this.version = v == null ? "0.1.0" : v;
    this.writer = new Thread(this::writeLoop, "sluice-protocol-log");
    writer.setDaemon(true);
  }

  /** Starts the writer thread (nothing to write at level none). */
  void start() {
    if (level != ProtocolLevel.NONE) {
      writer.start();
    }
  }

  /** Events dropped because the writer could not keep up (or the log could not be written). */
  public long dropped() {
    return dropped.get();
  }

  /** The file that holds events of {@code date} (UTC). */
  public Path fileFor(LocalDate date) {
    return dir.resolve("sluice-" + date + ".log");
  }

  // --- observer callbacks: event loop, never block -------------------------------------------

  @Override
  public void connected(SessionInfo s) {
    add(s, '+', "", "");
  }

  @Override
  public void rejected(SessionInfo s, String reason) {
    add(s, '*', reason, "rejected");
  }

  @Override
  public void disconnected(SessionInfo s) {
    add(s, '-', "", "");
  }

  @Override
  public void received(SessionInfo s, String line) {
    if (level == ProtocolLevel.VERBOSE) {
      add(s, '<', maskAuth(line), "");
    }
  }

  @Override
  public void sent(SessionInfo s, Stage stage, SmtpReply reply) {
    if (level == ProtocolLevel.VERBOSE) {
      // Every line of a multi-line reply (EHLO's extensions), one event each, as Exchange logs them.
      List<String> lines = reply.lines();
      for (int i = 0; i < lines.size(); i++) {
        add(s, '>', lines.get(i), "");
      }
    }
  }

  @Override
  public void info(SessionInfo s, String text) {
    add(s, '*', text, "info");
  }

  @Override
  public void backendChosen(SessionInfo s, Backend b) {
    add(s, '*', b.name() + " " + b.address(), "backend", b.name());
  }

  @Override
  public void retry(SessionInfo s, Backend b, String reason, boolean another) {
    add(s, '*', b.name() + ": " + reason + (another ? "" : " (no other backend to try)"), "retry", b.name());
  }

  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes) {
    add(s, '*', outcomeAndSize(outcome, bytes), "transaction",
        b == null ? "" : b.name());
  }

  /**
   * As the four-argument form, with the reply that decided the transaction after the size: {@code
   * accepted 1834 bytes: 250 2.0.0 Ok: queued as 4XyZ1}. The queue id there finds the message in
   * the server's own log.
   */
  @Override
  public void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes, SmtpReply reply) {
    List<String> lines = reply.lines();
    add(s, '*', outcomeAndSize(outcome, bytes) + ": " + lines.get(lines.size() - 1),
        "transaction", b == null ? "" : b.name());
  }

  /** {@code accepted 1834 bytes}: how a transaction row starts. */
  private static String outcomeAndSize(Outcome outcome, long bytes) {
    return outcome.name().toLowerCase(Locale.ROOT) + " " + bytes + " bytes";
  }

  @Override
  public void bytes(SessionInfo s, Backend b, long fromClient, long toClient) {
    add(s, '*', fromClient + " bytes from client, " + toClient + " bytes to client", "bytes", b.name());
  }

  private void add(SessionInfo s, char event, String data, String context) {
    add(s, event, data, context, s.backend());
  }

  /** {@code backend}: the backend the event is about (the session's current one for the others). */
  private void add(SessionInfo s, char event, String data, String context, String backend) {
    if (level == ProtocolLevel.NONE) {
      return;
    }
    // The sequence number is taken on the event loop, so it follows the session's own order.
    offer(new Entry(clock.instant(), null, s, s.nextSequence(), backend, event, data, context));
  }

  /**
   * A row of its own, outside any session (empty session-id, sequence number and endpoints),
   * context {@code state}: the backend's state changed for {@code listener}, so a traffic shift in
   * the log has its cause next to it.
   */
  @Override
  public void backendStateChanged(String listener, Backend b, String text) {
    if (level != ProtocolLevel.NONE) {
      offer(new Entry(clock.instant(), listener, null, 0, b.name(), '*', text, "state"));
    }
  }

  private void offer(Entry e) {
    if (!queue.offer(e)) {
      dropped.incrementAndGet();
    }
  }

  /** {@code AUTH PLAIN <base64>} becomes {@code AUTH PLAIN ****}: credentials never reach the disk. */
  static String maskAuth(String line) {
    if (line.length() < 5 || !line.regionMatches(true, 0, "AUTH ", 0, 5)) {
      return line;
    }
    int mechEnd = line.indexOf(' ', 5);
    return mechEnd < 0 ? line : line.substring(0, mechEnd) + " ****";
  }

  // --- writer thread -------------------------------------------------------------------------

  private void writeLoop() {
    List<Entry> batch = new ArrayList<>(1024);
    try {
      while (true) {
        Entry first = queue.poll(1, TimeUnit.SECONDS);
        if (first == null) {
          noteDrops(null);
          continue;
        }
        batch.add(first);
        queue.drainTo(batch, 1023);
        boolean stop = false;
        for (Entry e : batch) {
          if (e == STOP) {
            stop = true;
            break;
          }
          noteDrops(e.at());
          write(e);
        }
        batch.clear();
        flush();
        if (stop) {
          break;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      closeFile();
    }
  }

  /** Records in the log itself how many events were lost since the last note. */
  private void noteDrops(Instant at) {
    long now = dropped.get();
    if (now == droppedReported) {
      return;
    }
    long lost = now - droppedReported;
    droppedReported = now;
    log.warn("protocol log: {} events dropped (writer behind; {} in total)", lost, now);
    Instant t = at != null ? at : clock.instant();
    writeLine(t, String.join(",", TIME.format(t), "", "", "", "", "", "", "*",
        csv(lost + " events dropped, writer behind"), "protocol-log"));
    flush();
  }

  private void write(Entry e) {
    SessionInfo s = e.s();
    if (s == null) {
      writeLine(e.at(), String.join(",", TIME.format(e.at()), csv(e.listener()), "", "", "", "", csv(e.backend()),
          String.valueOf(e.event()), csv(e.data()), csv(e.context())));
      return;
    }
    writeLine(e.at(), String.join(",", TIME.format(e.at()), csv(s.listener()), s.idText(), Integer.toString(e.seq()),
        endpoint(s.local()), endpoint(s.remote()), csv(e.backend() == null ? "" : e.backend()), String.valueOf(e.event()),
        csv(e.data()), csv(e.context())));
  }

  private void writeLine(Instant at, String line) {
    try {
      rollTo(LocalDate.ofInstant(at, ZoneOffset.UTC), at);
      out.write(line);
      out.write("\r\n");
    } catch (IOException ex) {
      // A full or broken disk must not take the proxy down: count the loss and try the next event.
      dropped.incrementAndGet();
      droppedReported++; // not re-announced in a file we cannot write
      log.warn("protocol log: cannot write {}: {}", fileFor(LocalDate.ofInstant(at, ZoneOffset.UTC)), ex.toString());
      closeFile();
    }
  }

  /** Opens the day's file (UTC); a new or empty file gets the header block first. */
  private void rollTo(LocalDate date, Instant at) throws IOException {
    if (out != null && date.equals(fileDate)) {
      return;
    }
    closeFile();
    Files.createDirectories(dir);
    Path file = fileFor(date);
    boolean fresh = !Files.exists(file) || Files.size(file) == 0;
    out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    fileDate = date;
    if (fresh) {
      out.write("#Software: Sluice\r\n#Version: " + version + "\r\n#Log-type: Sluice Protocol Log\r\n#Date: "
          + TIME.format(at) + "\r\n#Fields: " + FIELDS + "\r\n");
    }
  }

  private void flush() {
    if (out != null) {
      try {
        out.flush();
      } catch (IOException e) {
        log.warn("protocol log: flush failed: {}", e.toString());
        closeFile();
      }
    }
  }

  private void closeFile() {
    if (out != null) {
      try {
        out.close();
      } catch (IOException ignored) {
        // nothing more to do: the next event reopens the file
      }
      out = null;
    }
  }

  /** {@code ip:port}, IPv6 in brackets. */
  static String endpoint(InetSocketAddress a) {
    if (a == null) {
      return "";
    }
    String host = a.getAddress() == null ? a.getHostString() : a.getAddress().getHostAddress();
    return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + a.getPort();
  }

  /**
   * A CSV field: quoted when it holds a comma, a quote or leading/trailing blanks, quotes doubled.
   * Line breaks become spaces so one event stays one line.
   */
  static String csv(String v) {
    if (v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0) {
      v = v.replace("\r\n", " ").replace('\r', ' ').replace('\n', ' ');
    }
    boolean quote = v.indexOf(',') >= 0 || v.indexOf('"') >= 0 || (!v.isEmpty() && (v.charAt(0) == ' '
        || v.charAt(v.length() - 1) == ' '));
    return quote ? '"' + v.replace("\"", "\"\"") + '"' : v;
  }

  /** Writes what is queued and stops the writer (waits at most a few seconds). */
  @Override
  public void close() {
    if (level == ProtocolLevel.NONE || !writer.isAlive()) {
      return;
    }
    try {
      // put, not offer: the stop marker must get in even when the queue is full.
      queue.put(STOP);
      writer.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

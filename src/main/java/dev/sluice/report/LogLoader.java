package dev.sluice.report;

import java.io.BufferedReader;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.duckdb.DuckDBConnection;
import java.util.zip.GZIPInputStream;

/**
 * Loads log files into a {@link ReportDatabase}: walks directories, decompresses {@code .gz},
 * detects the format per file (or uses the one given), and loads files in parallel, one thread and
 * one DuckDB connection per file. Plain Exchange and Sluice protocol logs go through DuckDB's CSV
 * reader ({@link CsvBulkLoader}); everything else, and any file that path declines, is parsed in
 * Java and appended row by row. The files of one Postfix log (its rotations: {@code maillog.2.gz},
 * {@code maillog.1}, {@code maillog}) are read one after another, oldest first, so a message whose
 * lines span a rotation is joined by queue id as within one file ({@link PostfixQueueJoin});
 * different logs, and files of other formats, load in parallel.
 *
 * <p>Files whose format cannot be detected are recorded in the {@code files} table with format
 * {@code unknown} and reported, not loaded. A file that cannot be read is reported the same way; it
 * never aborts the load. Thread-safe for one {@link #load} call at a time.
 */
public final class LogLoader {
  private final ReportDatabase db;
  private final LogFormat format;
  private final int threads;
  private final boolean bulk;
  /** The last {@link #load}'s join, for tests of what it kept. */
  private volatile PostfixQueueJoin lastPostfixJoin;

  /**
   * @param db the database to fill
   * @param format a fixed format, or {@link LogFormat#AUTO} to detect per file
   * @param threads how many files to parse at once (at least 1)
   */
  public LogLoader(ReportDatabase db, LogFormat format, int threads) {
    this(db, format, threads, true);
  }

  /**
   * @param bulk whether plain protocol logs may go through DuckDB's CSV reader ({@link
   *     CsvBulkLoader}); false forces the Java parser for every file (tests compare the two)
   */
  LogLoader(ReportDatabase db, LogFormat format, int threads, boolean bulk) {
    this.db = db;
    this.format = format;
    this.threads = Math.max(1, threads);
    this.bulk = bulk;
  }

  /** What was loaded from one file. */
  public record FileResult(String file, String format, long lines, long events, long messages, long malformed,
      long ignored, long bytes, String error) {
    /** This result with {@code n} more messages (rows another file's lines completed). */
    FileResult withMoreMessages(long n) {
      return n == 0 ? this : new FileResult(file, format, lines, events, messages + n, malformed, ignored, bytes, error);
    }
  }

  /** Regular files under {@code paths} (directories walked recursively), sorted by path. */
  public static List<Path> expand(List<Path> paths) throws IOException {
    List<Path> files = new ArrayList<>();
    for (Path p : paths) {
      if (Files.isDirectory(p)) {
        try (Stream<Path> walk = Files.walk(p)) {
          walk.filter(Files::isRegularFile).sorted().forEach(files::add);
        }
      } else if (Files.isRegularFile(p)) {
        files.add(p);
      } else {
        throw new NoSuchFileException(p.toString());
      }
    }
    return files;
  }

  /**
   * What detection found out about a file before loading: its format (null if not recognised) or
   * a read error, and for Postfix the first line's host and time and the clock to read it by.
   */
  private record Probe(Path file, long size, LogFormat format, String error, PostfixLogParser.First first, int year,
      int month) {
    String name() {
      return file.toString();
    }
  }

  /**
   * Loads {@code files}; {@code progress} receives the number of (compressed) bytes read so far and
   * may be called from any loading thread.
   */
  public List<FileResult> load(List<Path> files, LongConsumer progress) throws SQLException, InterruptedException {
    AtomicLong bytesRead = new AtomicLong();
    LongConsumer bytes = n -> progress.accept(bytesRead.addAndGet(n));
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(threads, Math.max(1, files.size())), r -> {
      Thread t = new Thread(r, "report-load");
      t.setDaemon(true);
      return t;
    });
    List<FileResult> results = new ArrayList<>();
    PostfixQueueJoin postfix = new PostfixQueueJoin();
    lastPostfixJoin = postfix;
    // Parallelism comes from loading several files at once. DuckDB's own parallelism inside one
    // read_csv of a small (<= 10 MB) log costs more than it gains when the rows must keep file
    // order (measured 0.17 s vs 0.03 s per 4 MB file), so it is off while loading and restored
    // for the queries.
    long duckThreads = db.count("SELECT current_setting('threads')");
    db.execute("SET threads = 1");
    try {
      // Formats first: the files of one Postfix log must then be read in order, one after another.
      List<Future<Probe>> probing = new ArrayList<>();
      for (Path f : files) {
        probing.add(pool.submit(() -> probe(f)));
      }
      List<Probe> probes = new ArrayList<>();
      List<Probe> postfixFiles = new ArrayList<>();
      for (Future<Probe> p : probing) {
        Probe probe = p.get();
        (probe.format() == LogFormat.POSTFIX && probe.error() == null ? postfixFiles : probes).add(probe);
      }
      List<Future<List<FileResult>>> futures = new ArrayList<>();
      for (List<Probe> log : postfixLogs(postfixFiles)) {
        futures.add(pool.submit(() -> loadPostfixLog(log, postfix, bytes)));
      }
      for (Probe p : probes) {
        futures.add(pool.submit(() -> List.of(loadFile(p, bytes))));
      }
      Map<String, FileResult> byFile = new HashMap<>();
      for (Future<List<FileResult>> fu : futures) {
        fu.get().forEach(r -> byFile.put(r.file(), r));
      }
      files.forEach(f -> results.add(byFile.get(f.toString())));
      Map<String, Long> joined = postfix.flush(db);
      results.replaceAll(r -> r.withMoreMessages(joined.getOrDefault(r.file(), 0L)));
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      throw c instanceof SQLException s ? s : new SQLException("loading failed: " + c, c);
    } finally {
      pool.shutdownNow();
      db.execute("SET threads = " + duckThreads);
    }
    record(results);
    return results;
  }

  /** The last {@link #load}'s Postfix join (tests check what it kept). */
  PostfixQueueJoin lastPostfixJoin() {
    return lastPostfixJoin;
  }

  /** Detects a file's format, and where a Postfix log file starts. */
  private Probe probe(Path file) {
    long size = sizeOf(file);
    LogFormat f = format;
    try {
      if (f == LogFormat.AUTO) {
        Optional<LogFormat> detected = detect(file);
        if (detected.isEmpty()) {
          return new Probe(file, size, null, null, null, 0, 0);
        }
        f = detected.get();
      }
      if (f != LogFormat.POSTFIX) {
        return new Probe(file, size, f, null, null, 0, 0);
      }
      ZonedDateTime modified = Files.getLastModifiedTime(file).toInstant().atZone(ZoneId.systemDefault());
      try (BufferedReader in = open(file, n -> {})) {
        PostfixLogParser.First first = PostfixLogParser.first(in, modified.getYear(), modified.getMonthValue(),
            FIRST_LINES);
        return new Probe(file, size, f, null, first, modified.getYear(), modified.getMonthValue());
      }
    } catch (IOException | UncheckedIOException e) {
      return new Probe(file, size, f, "read error: " + e.getMessage(), null, 0, 0);
    }
  }

  /** How far into a Postfix file to look for its first Postfix line (other daemons log there too). */
  private static final int FIRST_LINES = 1000;

  /**
   * The Postfix files grouped into logs, each log's files oldest first. Files are of one log when
   * they are rotations of one name in one directory ({@code maillog}, {@code maillog.1}, {@code
   * maillog.2.gz}, {@code maillog-20250601}), or when their first lines come from the same host
   * (one server's logs copied under other names). Files of one log are ordered by the time of their
   * first line, older rotations (higher numbers) first when that is not known.
   */
  static List<List<Probe>> postfixLogs(List<Probe> files) {
    int[] parent = new int[files.size()];
    for (int i = 0; i < parent.length; i++) {
      parent[i] = i;
    }
    Map<String, Integer> firstWithKey = new HashMap<>();
    for (int i = 0; i < files.size(); i++) {
      Probe p = files.get(i);
      List<String> keys = new ArrayList<>();
      keys.add("name " + logName(p.file()));
      if (p.first() != null) {
        keys.add("host " + p.first().host());
      }
      for (String k : keys) {
        Integer j = firstWithKey.putIfAbsent(k, i);
        if (j != null) {
          parent[root(parent, i)] = root(parent, j);
        }
      }
    }
    Map<Integer, List<Probe>> logs = new LinkedHashMap<>();
    for (int i = 0; i < files.size(); i++) {
      logs.computeIfAbsent(root(parent, i), r -> new ArrayList<>()).add(files.get(i));
    }
    Comparator<Probe> order = Comparator
        .comparingLong((Probe p) -> p.first() == null ? Long.MAX_VALUE : p.first().ts())
        .thenComparing(p -> -rotation(p.file()))
        .thenComparing(Probe::name);
    logs.values().forEach(l -> l.sort(order));
    return new ArrayList<>(logs.values());
  }

  private static int root(int[] parent, int i) {
    while (parent[i] != i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  }

  private static final Pattern COMPRESSED = Pattern.compile("(?i)\\.(?:gz|bz2|xz|zst)$");
  private static final Pattern ROTATION = Pattern.compile("[.-](\\d{1,3}|\\d{8}(?:\\d{2})?)$");

  /** A rotated file's log: its directory and name without rotation number, date or compression. */
  static String logName(Path file) {
    String n = COMPRESSED.matcher(file.getFileName().toString()).replaceFirst("");
    n = ROTATION.matcher(n).replaceFirst("");
    return file.toAbsolutePath().getParent() + "/" + n;
  }

  /**
   * How old a rotation its name says: {@code maillog.3} 3, {@code maillog} 0; 1 for a date ({@code
   * maillog-20250601}: older than the current file, and dates sort by name among themselves).
   */
  static long rotation(Path file) {
    Matcher m = ROTATION.matcher(COMPRESSED.matcher(file.getFileName().toString()).replaceFirst(""));
    return m.find() ? m.group(1).length() <= 3 ? Long.parseLong(m.group(1)) : 1 : 0;
  }

  /**
   * Reads the files of one Postfix log in order, each parser taking over the messages the previous
   * one left in the queue; the results in that order.
   */
  private List<FileResult> loadPostfixLog(List<Probe> log, PostfixQueueJoin join, LongConsumer bytes)
      throws SQLException {
    List<FileResult> results = new ArrayList<>();
    LinkedHashMap<String, PostfixLogParser.Message> carried = PostfixLogParser.newQueue();
    for (Probe p : log) {
      try (ReportDatabase.FileSink sink = db.sink(p.name()); BufferedReader in = open(p.file(), bytes)) {
        PostfixLogParser parser = new PostfixLogParser(sink, p.year(), p.month(), join, p.name(), carried);
        long lines = parser.parse(in);
        carried = parser.remaining();
        String evicted = parser.evicted() == 0 ? null : parser.evicted() + " queue ids let go (more than "
            + PostfixLogParser.MAX_RETAINED + " in the queue at once): their later lines have no session";
        String note = evicted == null ? parser.note() : parser.note() == null ? evicted : evicted + "; " + parser.note();
        results.add(new FileResult(p.name(), LogFormat.POSTFIX.cliName(), lines, sink.eventCount, sink.messageCount,
            sink.malformedCount, sink.ignoredCount, p.size(), note));
      } catch (IOException | UncheckedIOException e) {
        results.add(new FileResult(p.name(), LogFormat.POSTFIX.cliName(), 0, 0, 0, 0, 0, p.size(),
            "read error: " + e.getMessage()));
      }
    }
    join.finish(carried.values());
    return results;
  }

  private FileResult loadFile(Probe probe, LongConsumer bytes) throws SQLException {
    Path file = probe.file();
    String name = probe.name();
    long size = probe.size();
    LogFormat f = probe.format();
    if (probe.error() != null) {
      return new FileResult(name, f == null || f == LogFormat.AUTO ? "unknown" : f.cliName(), 0, 0, 0, 0, 0, size,
          probe.error());
    }
    if (f == null) {
      bytes.accept(size);
      return new FileResult(name, "unknown", 0, 0, 0, 0, 0, size, "format not recognised; not loaded");
    }
    try {
      if (bulk) {
        Optional<CsvBulkLoader.Plan> plan;
        try (DuckDBConnection conn = db.loadingConnection()) {
          plan = CsvBulkLoader.load(conn, file, name, f);
        }
        if (plan.isPresent()) {
          CsvBulkLoader.Plan p = plan.get();
          bytes.accept(size);
          return new FileResult(name, f.cliName(), p.lines(), p.lines() - p.headerLines() - p.outside(), 0, 0,
              p.headerLines() + p.outside(), size, null);
        }
      }
      try (ReportDatabase.FileSink sink = db.sink(name); BufferedReader in = open(file, bytes)) {
        long lines = new HeaderedLogParser(f, sink).parse(in);
        return new FileResult(name, f.cliName(), lines, sink.eventCount, sink.messageCount,
            sink.malformedCount, sink.ignoredCount, size, null);
      }
    } catch (IOException | UncheckedIOException e) {
      return new FileResult(name, f.cliName(), 0, 0, 0, 0, 0, size, "read error: " + e.getMessage());
    }
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      return 0;
    }
  }

  /** Detects the format of one file from its first lines. */
  public static Optional<LogFormat> detect(Path file) throws IOException {
    try (BufferedReader in = open(file, n -> {})) {
      List<String> first = new ArrayList<>();
      String line;
      while (first.size() < LogFormat.DETECT_LINES && (line = in.readLine()) != null) {
        first.add(first.isEmpty() && line.startsWith("\uFEFF") ? line.substring(1) : line);
      }
      return LogFormat.detect(first);
    }
  }

  /** Opens a file as UTF-8 text, gunzipping {@code .gz} files, reporting raw bytes read. */
  static BufferedReader open(Path file, LongConsumer bytes) throws IOException {
    InputStream raw = new CountingStream(Files.newInputStream(file), bytes);
    InputStream in = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gz")
        ? new GZIPInputStream(raw, 1 << 16) : raw;
    return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
  }

  private void record(List<FileResult> results) throws SQLException {
    try (PreparedStatement ps = db.connection().prepareStatement("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?)")) {
      for (FileResult r : results) {
        ps.setString(1, r.file());
        ps.setString(2, r.format());
        ps.setLong(3, r.lines());
        ps.setLong(4, r.events());
        ps.setLong(5, r.messages());
        ps.setLong(6, r.malformed());
        ps.setLong(7, r.ignored());
        ps.setLong(8, r.bytes());
        ps.setString(9, r.error());
        ps.addBatch();
      }
      ps.executeBatch();
    }
  }

  /** Counts bytes as they are read, for the progress bar. */
  private static final class CountingStream extends FilterInputStream {
    private final LongConsumer bytes;

    CountingStream(InputStream in, LongConsumer bytes) {
      super(in);
      this.bytes = bytes;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        bytes.accept(1);
      }
      return b;
    }

    @Override
    public int read(byte[] buf, int off, int len) throws IOException {
      int n = super.read(buf, off, len);
      if (n > 0) {
        bytes.accept(n);
      }
      return n;
    }
  }
}

package dev.sluice.report;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Joins Postfix queue ids across files. A message can start in one file and be decided in the next:
 * logrotate cut {@code maillog.1} after smtpd's {@code client=} line, and qmgr's {@code queue
 * active} (or cleanup's refusal) is in {@code maillog}. Files are parsed in parallel, each by its
 * own {@link PostfixLogParser}, so each hands over what it could not finish: the messages still
 * open at its end, and the lines about queue ids it never saw opened. Once every file is read,
 * {@link #resolve} applies those lines, per host and queue id in time order, to the open messages,
 * with the same rules as within a file ({@link PostfixLogParser.Message#apply}). Thread-safe.
 */
final class PostfixQueueJoin {
  private record Open(String file, PostfixLogParser.Message message) {}

  private final List<Open> open = new ArrayList<>();
  private final Map<String, List<PostfixLogParser.Verdict>> loose = new HashMap<>();

  /** A message still undecided at the end of {@code file}. */
  synchronized void open(String file, PostfixLogParser.Message m) {
    open.add(new Open(file, m));
  }

  /** A line about a queue id of {@code host} that no earlier line of its file opened. */
  synchronized void loose(String host, String queueId, PostfixLogParser.Verdict v) {
    loose.computeIfAbsent(key(host, queueId), k -> new ArrayList<>()).add(v);
  }

  private static String key(String host, String queueId) {
    return host + ' ' + queueId;
  }

  /**
   * Decides the open messages and loads the {@code RECEIVE} rows of those received, each into the
   * file of its {@code client=} line. Returns how many rows went to each file.
   */
  synchronized Map<String, Long> resolve(ReportDatabase db) throws SQLException {
    Map<String, List<Open>> byKey = new HashMap<>();
    for (Open o : open) {
      byKey.computeIfAbsent(key(o.message().row.server, o.message().row.queueId), k -> new ArrayList<>()).add(o);
    }
    Map<String, List<MessageRow>> rowsByFile = new LinkedHashMap<>();
    for (Map.Entry<String, List<Open>> e : byKey.entrySet()) {
      List<Open> opens = e.getValue();
      opens.sort(Comparator.comparingLong(o -> o.message().row.tsMicros));
      List<PostfixLogParser.Verdict> verdicts = new ArrayList<>(loose.getOrDefault(e.getKey(), List.of()));
      verdicts.sort(Comparator.comparingLong(PostfixLogParser.Verdict::ts));
      // Each line goes to the latest message opened at or before it (a queue id is reused only
      // after its file is gone, and a line never precedes the client= line of its message).
      for (int i = 0; i < opens.size(); i++) {
        PostfixLogParser.Message m = opens.get(i).message();
        long from = m.row.tsMicros;
        long until = i + 1 < opens.size() ? opens.get(i + 1).message().row.tsMicros : Long.MAX_VALUE;
        verdicts.stream().filter(v -> v.ts() >= from && v.ts() < until).forEach(m::apply);
        m.settle();
        if (m.received()) {
          rowsByFile.computeIfAbsent(opens.get(i).file(), f -> new ArrayList<>()).add(m.row);
        }
      }
    }
    Map<String, Long> counts = new HashMap<>();
    for (Map.Entry<String, List<MessageRow>> e : rowsByFile.entrySet()) {
      try (ReportDatabase.FileSink sink = db.sink(e.getKey())) {
        e.getValue().forEach(sink::message);
        counts.put(e.getKey(), sink.messageCount);
      }
    }
    return counts;
  }
}

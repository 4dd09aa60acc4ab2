package dev.sluice.report;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Joins Postfix queue ids across the files of one rotated log. A message can start in one file and
 * go on in the next: logrotate cut {@code maillog.1} after smtpd's {@code client=} line, and qmgr's
 * {@code queue active}, cleanup's refusal, the delivery attempts and {@code removed} are in {@code
 * maillog}; a deferred message may be delivered days and files later. The files of one log are
 * therefore read one after another, oldest first, each {@link PostfixLogParser} taking over the
 * messages the previous one had not seen removed ({@link PostfixLogParser#remaining}), so every
 * line of a message finds its session as it does within one file, and nothing but the messages
 * still in the queue is kept from one file to the next. Lines about queue ids that no smtpd opened
 * (local submissions, bounces) are never kept.
 *
 * <p>What crosses files here is the {@code RECEIVE} row of a message decided after its {@code
 * client=} line's file was loaded: it is loaded into that file once every file is read ({@link
 * #flush}). Thread-safe: the logs are read in parallel.
 */
final class PostfixQueueJoin {
  private final Map<String, List<MessageRow>> late = new LinkedHashMap<>();
  private long peakRetained;

  /** The {@code RECEIVE} row of a message opened in {@code file}, decided in a later file. */
  synchronized void late(String file, MessageRow row) {
    late.computeIfAbsent(file, f -> new ArrayList<>()).add(row);
  }

  /**
   * Records the most messages a parser kept at once while reading one file (what it took over from
   * the previous file included): the memory the join costs.
   */
  synchronized void retained(int messages) {
    peakRetained = Math.max(peakRetained, messages);
  }

  /**
   * The most messages any parser kept at once: bounded by the messages in the server's queue at a
   * time, not by the lines read.
   */
  synchronized long peakRetained() {
    return peakRetained;
  }

  /** Rows waiting to be loaded into the file of their {@code client=} line. */
  synchronized int lateRows() {
    return late.values().stream().mapToInt(List::size).sum();
  }

  /**
   * The messages still not removed after the last file of a log: settled with what was read ({@link
   * PostfixLogParser.Message#settle}), the received ones' rows to be loaded (not a requeued
   * message's copy's: the original's row counts it).
   */
  synchronized void finish(Collection<PostfixLogParser.Message> messages) {
    for (PostfixLogParser.Message m : messages) {
      m.settle();
      if (m.loadsRow()) {
        late(m.file, m.row);
      }
    }
  }

  /**
   * Loads the rows decided after their file, each into the file of its {@code client=} line.
   * Returns how many rows went to each file.
   */
  synchronized Map<String, Long> flush(ReportDatabase db) throws SQLException {
    Map<String, Long> counts = new HashMap<>();
    for (Map.Entry<String, List<MessageRow>> e : late.entrySet()) {
      try (ReportDatabase.FileSink sink = db.sink(e.getKey())) {
        e.getValue().forEach(sink::message);
        counts.put(e.getKey(), sink.messageCount);
      }
    }
    late.clear();
    return counts;
  }
}

package dev.sluice.report;

import java.time.LocalDate;

/**
 * Allocation-free parsing of the ISO-8601 timestamps in Exchange, Sluice and RFC 3339 syslog lines
 * into UTC epoch microseconds. Stateless and thread-safe.
 */
final class Timestamps {
  /** Returned when the text is not a timestamp. */
  static final long INVALID = Long.MIN_VALUE;

  private Timestamps() {}

  /**
   * Parses {@code yyyy-MM-ddTHH:mm:ss[.fraction][Z|±hh:mm]} (a space instead of {@code T} is
   * accepted). Without an offset the value is taken as UTC, which is what Exchange writes.
   */
  static long parseIso(String s) {
    int n = s.length();
    if (n < 19 || s.charAt(4) != '-' || s.charAt(7) != '-' || (s.charAt(10) != 'T' && s.charAt(10) != ' ')
        || s.charAt(13) != ':' || s.charAt(16) != ':') {
      return INVALID;
    }
    int year = digits(s, 0, 4);
    int month = digits(s, 5, 2);
    int day = digits(s, 8, 2);
    int hour = digits(s, 11, 2);
    int minute = digits(s, 14, 2);
    int second = digits(s, 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0
        || minute > 59 || second < 0 || second > 60) {
      return INVALID;
    }
    int i = 19;
    long micros = 0;
    if (i < n && s.charAt(i) == '.') {
      i++;
      int scale = 100_000;
      int start = i;
      while (i < n && Character.isDigit(s.charAt(i))) {
        if (scale > 0) {
          micros += (s.charAt(i) - '0') * (long) scale;
          scale /= 10;
        }
        i++;
      }
      if (i == start) {
        return INVALID;
      }
    }
    long offsetSeconds = 0;
    if (i < n) {
      char c = s.charAt(i);
      if (c == 'Z' && i == n - 1) {
        offsetSeconds = 0;
      } else if ((c == '+' || c == '-') && n - i == 6 && s.charAt(i + 3) == ':') {
        int oh = digits(s, i + 1, 2);
        int om = digits(s, i + 4, 2);
        if (oh < 0 || om < 0) {
          return INVALID;
        }
        offsetSeconds = (c == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
      } else {
        return INVALID;
      }
    }
    long days;
    try {
      days = LocalDate.of(year, month, day).toEpochDay();
    } catch (java.time.DateTimeException e) {
      return INVALID;
    }
    long seconds = days * 86_400 + hour * 3600L + minute * 60L + second - offsetSeconds;
    return seconds * 1_000_000 + micros;
  }

  /** Non-negative value of {@code len} ASCII digits at {@code from}, or -1. */
  static int digits(String s, int from, int len) {
    int v = 0;
    for (int i = from; i < from + len; i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }
}

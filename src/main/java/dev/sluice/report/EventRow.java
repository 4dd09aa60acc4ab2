package dev.sluice.report;

/**
 * One row of the {@code events} table (see {@link ReportDatabase} for the schema). Parsers reuse a
 * single instance per file to avoid allocating per line, so a sink must copy what it keeps. Not
 * thread-safe.
 */
final class EventRow {
  long tsMicros;
  String server;
  String connector;
  String sessionId;
  int seq;
  String localIp;
  int localPort = -1;
  String remoteIp;
  int remotePort = -1;
  String event;
  String data;
  String context;
  long sourceLine;
  String logType;

  /** Fills local or remote ip/port from an {@code ip:port} or {@code [v6]:port} endpoint. */
  void endpoints(String local, String remote) {
    int lp = portIndex(local);
    localIp = lp < 0 ? emptyToNull(local) : stripBrackets(local.substring(0, lp));
    localPort = lp < 0 ? -1 : parsePort(local, lp + 1);
    int rp = portIndex(remote);
    remoteIp = rp < 0 ? emptyToNull(remote) : stripBrackets(remote.substring(0, rp));
    remotePort = rp < 0 ? -1 : parsePort(remote, rp + 1);
  }

  private static int portIndex(String endpoint) {
    if (endpoint == null || endpoint.isEmpty()) {
      return -1;
    }
    int colon = endpoint.lastIndexOf(':');
    // "::1" without a port has no bracket and more than one colon: treat as a bare address.
    if (colon < 0 || (endpoint.charAt(0) != '[' && endpoint.indexOf(':') != colon && !endpoint.contains("."))) {
      return -1;
    }
    return colon;
  }

  private static int parsePort(String s, int from) {
    int v = 0;
    if (from >= s.length()) {
      return -1;
    }
    for (int i = from; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9' || v > 65535) {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }

  private static String stripBrackets(String ip) {
    return ip.length() > 1 && ip.charAt(0) == '[' && ip.charAt(ip.length() - 1) == ']' ? ip.substring(1, ip.length() - 1) : ip;
  }

  static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }
}

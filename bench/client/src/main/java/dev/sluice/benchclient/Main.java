package dev.sluice.benchclient;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SMTP load clients for the benchmark scripts:
 *
 * <pre>
 * idle    --target H:P --sessions N [--sources 127.0.1.1-127.0.1.20] [--threads 8]
 * big     --target H:P --size BYTES [--source ADDR]
 * latency --path NAME=H:P ... --sessions S [--rounds R] [--tx K] [--warmup W] [--size BYTES] [--hdr-dir DIR]
 * </pre>
 *
 * Each prints machine-readable lines (starting with an upper-case word) that the scripts parse.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
      usage();
      System.exit(args.length == 0 ? 1 : 0);
    }
    Args a = Args.parse(args, 1);
    int rc;
    switch (args[0]) {
      case "idle" -> rc = IdleSessions.run(a);
      case "big" -> rc = BigMessage.run(a);
      case "latency" -> rc = Latency.run(a);
      default -> {
        usage();
        rc = 1;
      }
    }
    System.out.flush();
    System.exit(rc);
  }

  private static void usage() {
    System.err.println("""
        usage: java -jar bench-client.jar COMMAND [options]
          idle    --target H:P --sessions N [--sources A-B] [--threads 8] [--ehlo NAME]
                  opens N sessions (banner, EHLO) and keeps them idle; reads commands on stdin:
                  'check' sends NOOP on every session and prints ALIVE; EOF or 'quit' closes them
          big     --target H:P --size BYTES [--source ADDR]
                  sends one message of BYTES bytes; prints BIG ... reply=... seconds=...
          latency --path NAME=H:P [--path ...] --sessions S [--rounds 5] [--tx 200] [--warmup 200]
                  [--size 1024] [--rate TX_PER_S] [--cpu-pid PID --clk-tck 100] [--hdr-dir DIR]
                  times MAIL..250-after-the-dot per transaction on persistent sessions, paths
                  alternated every round; prints RESULT lines (microseconds)""");
  }

  /** --key value options; repeated keys are kept in order. */
  static final class Args {
    private final Map<String, List<String>> values = new HashMap<>();

    static Args parse(String[] args, int from) {
      Args a = new Args();
      for (int i = from; i < args.length; i++) {
        String k = args[i];
        if (!k.startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("expected --key value at '" + k + "'");
        a.values.computeIfAbsent(k.substring(2), x -> new ArrayList<>()).add(args[++i]);
      }
      return a;
    }

    String get(String key, String dflt) {
      List<String> v = values.get(key);
      return v == null ? dflt : v.get(v.size() - 1);
    }

    String required(String key) {
      String v = get(key, null);
      if (v == null) throw new IllegalArgumentException("--" + key + " is required");
      return v;
    }

    List<String> all(String key) {
      return values.getOrDefault(key, List.of());
    }

    int integer(String key, int dflt) {
      return Integer.parseInt(get(key, Integer.toString(dflt)));
    }

    long number(String key, long dflt) {
      return Long.parseLong(get(key, Long.toString(dflt)));
    }
  }

  static InetSocketAddress hostPort(String s) throws UnknownHostException {
    int colon = s.lastIndexOf(':');
    if (colon < 0) throw new IllegalArgumentException("expected HOST:PORT, got '" + s + "'");
    return new InetSocketAddress(InetAddress.getByName(s.substring(0, colon)), Integer.parseInt(s.substring(colon + 1)));
  }

  /** "127.0.1.1-127.0.1.20" or "127.0.1.1-20" (last octet range) or a single address. */
  static List<InetAddress> addressRange(String spec) throws UnknownHostException {
    List<InetAddress> out = new ArrayList<>();
    int dash = spec.indexOf('-');
    if (dash < 0) {
      out.add(InetAddress.getByName(spec));
      return out;
    }
    byte[] first = InetAddress.getByName(spec.substring(0, dash)).getAddress();
    String rest = spec.substring(dash + 1);
    int last = rest.contains(".") ? InetAddress.getByName(rest).getAddress()[3] & 0xff : Integer.parseInt(rest);
    for (int o = first[3] & 0xff; o <= last; o++) {
      byte[] b = first.clone();
      b[3] = (byte) o;
      out.add(InetAddress.getByAddress(b));
    }
    if (out.isEmpty()) throw new IllegalArgumentException("empty address range '" + spec + "'");
    return out;
  }
}

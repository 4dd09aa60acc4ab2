package dev.sluice.proxy.smtp;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.testing.RecordingSmtpBackend;
import dev.sluice.testing.RecordingSmtpBackend.Message;
import dev.sluice.testing.SluiceFixture;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Randomized framing through the network: random message bodies (CRLF, bare LF, bare CR, lines
 * starting with dots, {@code .<CRLF>} look-alikes and the published smuggling terminators followed
 * by a second transaction, NUL, 8-bit bytes, long lines) written to a real Sluice smtp listener in
 * random TCP chunks (often splitting {@code <CRLF>.<CRLF>} itself), one listener per {@code
 * bare_newline} mode, both over two strict {@link RecordingSmtpBackend}s that keep every body.
 *
 * <p>For every message: the reply is the documented one ({@code 550 5.6.0} for a bare CR, bare LF
 * or NUL in reject mode, otherwise the backend's own {@code 250 … queued as ID}); a {@code 250}
 * names exactly one stored message, with this message's Message-ID, whose un-stuffed body is the
 * expected body (computed by {@link #expectedBody}, a model independent of {@link DataScanner});
 * what reached the backend has no bare CR, bare LF or NUL (so a lenient backend frames it the same
 * way); nothing is stored for a rejected message; and the session stays in sync (a NOOP or RSET,
 * pipelined behind the terminator or sent afterwards, gets its {@code 250}). At the end the
 * backends hold exactly the accepted messages, no session stored more messages than it had DATA
 * commands, and no smuggled {@code MAIL FROM} ever reached a backend as a command.
 *
 * <p>The seed is fixed so builds are reproducible and printed in every failure;
 * {@code -Dsluice.fuzz.seed=N} tries another, {@code -Dsluice.fuzz.connections=N} runs longer.
 */
class FramingNetworkFuzzTest {
  private static final long SEED = Long.getLong("sluice.fuzz.seed", 20_261_201L);
  private static final int CONNECTIONS = Integer.getInteger("sluice.fuzz.connections", 60);
  private static final String SMUGGLED_SENDER = "smuggled@evil.example";
  private static final Pattern QUEUED = Pattern.compile("^250 2\\.0\\.0 Ok: queued as (\\S+)$");
  private static final Pattern MESSAGE_ID = Pattern.compile("^Message-ID: <([^>]+)>\r\n");

  private RecordingSmtpBackend a;
  private RecordingSmtpBackend b;
  private SluiceFixture sluice;

  @BeforeEach
  void start() throws Exception {
    a = new RecordingSmtpBackend("fa");
    b = new RecordingSmtpBackend("fb");
    sluice = SluiceFixture.start("""
        health:
          basic: { steps: [connect, banner, ehlo, quit], interval: 60s, timeout: 2s }
        pools:
          p:
            algorithm: round_robin
            backends:
              - { name: fa, address: "127.0.0.1:%d" }
              - { name: fb, address: "127.0.0.1:%d" }
        listeners:
          reject:    { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.fuzz.test }
          normalize: { listen: "127.0.0.1:0", mode: smtp, pool: p, health: basic, hostname: mx.fuzz.test,
                       bare_newline: normalize }
        """.formatted(a.port(), b.port()));
  }

  @AfterEach
  void stop() throws Exception {
    if (sluice != null) {
      sluice.close();
    }
    a.close();
    b.close();
  }

  /** What one message was sent as and what came back. */
  record Sent(String id, boolean normalize, byte[] wire, String reply, String where) {}

  @Test
  void randomBodiesInRandomChunksAreFramedExactlyOnce() throws Exception {
    Random master = new Random(SEED);
    List<Sent> sent = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int c = 0; c < CONNECTIONS; c++) {
      long connSeed = master.nextLong();
      boolean normalize = master.nextBoolean();
      sent.addAll(session(c, connSeed, normalize));
    }

    Map<String, Message> stored = new HashMap<>(a.messages());
    stored.putAll(b.messages());
    int accepted = 0;
    int rejected = 0;
    Map<String, Integer> storedById = new HashMap<>();
    for (Message m : stored.values()) {
      storedById.merge(messageId(m.body()), 1, Integer::sum);
    }
    for (Sent s : sent) {
      byte[] body = Arrays.copyOf(s.wire(), s.wire().length - 3);
      byte[] expected = s.normalize() ? normalizedBody(body) : strictBody(body);
      if (expected == null) {
        rejected++;
        assertThat(s.reply()).as(s.where()).startsWith("550 5.6.0 ");
        assertThat(storedById.getOrDefault(s.id(), 0)).as("rejected message stored: " + s.where()).isZero();
        continue;
      }
      accepted++;
      Matcher q = QUEUED.matcher(s.reply());
      assertThat(q.matches()).as("reply to an acceptable message: " + s.where()).isTrue();
      Message m = stored.get(q.group(1));
      assertThat(m).as("stored message behind " + s.reply() + ": " + s.where()).isNotNull();
      assertThat(m.cleanWire()).as("no bare CR/LF/NUL reached the backend: " + escape(m.wire()) + " " + s.where())
          .isTrue();
      if (!Arrays.equals(m.body(), expected)) {
        int at = Arrays.mismatch(m.body(), expected);
        throw new AssertionError("stored body differs from the expected body at byte " + at + ": stored "
            + escape(Arrays.copyOfRange(m.body(), Math.max(0, at - 20), Math.min(m.body().length, at + 20)))
            + ", expected " + escape(Arrays.copyOfRange(expected, Math.max(0, at - 20), Math.min(expected.length, at + 20)))
            + "; " + s.where());
      }
      assertThat(storedById.get(s.id())).as("stored exactly once: " + s.where()).isEqualTo(1);
    }
    System.out.printf("framing fuzz: seed %d, %d connections, %d messages: %d accepted, %d rejected (550 5.6.0)%n",
        SEED, CONNECTIONS, sent.size(), accepted, rejected);
    assertThat(stored).as("backends hold exactly the accepted messages (seed %d)", SEED).hasSize(accepted);
    assertThat(a.problems()).as("seed %d", SEED).isEmpty();
    assertThat(b.problems()).as("seed %d", SEED).isEmpty();
    List<String> commands = new ArrayList<>(a.commands());
    commands.addAll(b.commands());
    assertThat(commands).as("smuggled commands reached a backend (seed %d)", SEED)
        .noneMatch(l -> l.toLowerCase().contains(SMUGGLED_SENDER) || l.contains("RCPT TO:<victim@"));
    // The generator must really exercise both outcomes.
    assertThat(sent.size()).isGreaterThanOrEqualTo(CONNECTIONS * 3);
    assertThat(rejected).as("rejected (seed %d)", SEED).isPositive();
    assertThat(accepted).as("accepted (seed %d)", SEED).isGreaterThan(sent.size() / 3);
  }

  /** One client connection: EHLO, 1–10 messages, each followed by a NOOP or RSET, then QUIT. */
  private List<Sent> session(int conn, long seed, boolean normalize) throws IOException {
    Random r = new Random(seed);
    InetSocketAddress at = sluice.address(normalize ? "normalize" : "reject");
    List<Sent> out = new ArrayList<>();
    try (Socket s = new Socket()) {
      s.bind(new InetSocketAddress("127.0.0." + (10 + conn % 200), 0));
      s.connect(at, 5000);
      s.setTcpNoDelay(true);
      s.setSoTimeout(20_000);
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), ISO_8859_1));
      OutputStream o = s.getOutputStream();
      String ctx = "seed " + SEED + " connection " + conn + " (session seed " + seed + ", "
          + (normalize ? "normalize" : "reject") + ")";
      assertThat(reply(in)).as(ctx).startsWith("220 ");
      write(o, "EHLO fuzz.client.test\r\n");
      assertThat(reply(in)).as(ctx).startsWith("250 ");
      int messages = 1 + r.nextInt(10);
      for (int m = 0; m < messages; m++) {
        String id = "m" + conn + "." + m + "." + Long.toHexString(seed) + "@fuzz.test";
        byte[] wire = wire(r, id);
        String where = ctx + " message " + m + " <" + id + "> wire " + escape(wire);
        String envelope = "MAIL FROM:<sender@client.test>\r\nRCPT TO:<user@corp.example>\r\nDATA\r\n";
        if (r.nextBoolean()) {
          write(o, envelope); // pipelined envelope
          assertThat(reply(in)).as(where).startsWith("250 ");
          assertThat(reply(in)).as(where).startsWith("250 ");
        } else {
          write(o, "MAIL FROM:<sender@client.test>\r\n");
          assertThat(reply(in)).as(where).startsWith("250 ");
          write(o, "RCPT TO:<user@corp.example>\r\n");
          assertThat(reply(in)).as(where).startsWith("250 ");
          write(o, "DATA\r\n");
        }
        assertThat(reply(in)).as(where).startsWith("354 ");
        String next = r.nextBoolean() ? "NOOP" : "RSET";
        boolean pipelineNext = r.nextInt(3) == 0;
        byte[] payload = pipelineNext ? concat(wire, (next + "\r\n").getBytes(ISO_8859_1)) : wire;
        int[] cuts = cuts(r, payload, wire.length);
        where += " cuts " + Arrays.toString(cuts) + (pipelineNext ? " +" + next : "");
        writeChunks(o, payload, cuts, r);
        String dataReply = reply(in);
        out.add(new Sent(id, normalize, wire, dataReply, where));
        if (!pipelineNext) {
          write(o, next + "\r\n");
        }
        assertThat(reply(in)).as("%s after the message: %s", next, where).startsWith("250 ");
      }
      write(o, "QUIT\r\n");
      assertThat(reply(in)).as(ctx).startsWith("221 ");
    }
    return out;
  }

  // ---- message generation ----------------------------------------------------------------------

  private static final String[] LOOK_ALIKES = {
    "\n.\r\n", "\n.\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\n", "\n..\r\n", "\r\n..\r\n", "\r\n. \r\n",
    "\r\n.\0\r\n", "\r\n\0.\r\n", ".\r\n", "\r\n.\r\n", "\r\n.\r\n.\r\n",
  };

  /**
   * A wire-form DATA stream: a Message-ID line, random segments, and the terminator. Any strict end
   * of data ({@code <CRLF>.<CRLF>}) inside is dot-stuffed away, so the message ends only at the end.
   * About half the messages are clean (no bare CR, bare LF or NUL).
   */
  private static byte[] wire(Random r, String id) {
    boolean dirty = r.nextBoolean();
    ByteArrayOutputStream w = new ByteArrayOutputStream();
    put(w, "Message-ID: <" + id + ">\r\n");
    int segments = r.nextInt(25);
    for (int i = 0; i < segments; i++) {
      int k = r.nextInt(dirty ? 14 : 9);
      switch (k) {
        case 0, 1 -> put(w, text(r, r.nextInt(60)) + "\r\n");
        case 2 -> put(w, text(r, r.nextInt(20)));
        case 3 -> put(w, "\r\n" + ".".repeat(1 + r.nextInt(3)) + text(r, r.nextInt(5)) + "\r\n");
        case 4 -> put(w, "\r\n");
        case 5 -> {
          // high bytes
          for (int j = r.nextInt(10); j > 0; j--) {
            w.write(0x80 + r.nextInt(0x80));
          }
        }
        case 6 -> put(w, r.nextInt(8) == 0 ? text(r, 1000 + r.nextInt(20_000)) : text(r, 200 + r.nextInt(800)));
        case 7 -> put(w, "\r\n..\r\n"); // a stuffed lone dot: content "."
        case 8 -> put(w, "\r\nMAIL FROM:<" + SMUGGLED_SENDER + ">\r\nRCPT TO:<victim@corp.example>\r\nDATA\r\nforged\r\n");
        case 9 -> put(w, LOOK_ALIKES[r.nextInt(LOOK_ALIKES.length)]);
        case 10 -> put(w, LOOK_ALIKES[r.nextInt(LOOK_ALIKES.length)]
            + "MAIL FROM:<" + SMUGGLED_SENDER + ">\r\nRCPT TO:<victim@corp.example>\r\nDATA\r\nforged");
        case 11 -> put(w, r.nextBoolean() ? "\n" : "\r");
        case 12 -> w.write(0);
        default -> put(w, (r.nextBoolean() ? "\n" : "\r") + ".".repeat(r.nextInt(3)) + text(r, r.nextInt(5)));
      }
    }
    byte[] body = w.toByteArray();
    // The body must end with CRLF before the final ".": add one unless it does.
    boolean endsCrlf = body.length >= 2 && body[body.length - 2] == '\r' && body[body.length - 1] == '\n';
    byte[] prefix = endsCrlf ? body : concat(body, "\r\n".getBytes(ISO_8859_1));
    return concat(stuffStrictEnds(prefix), ".\r\n".getBytes(ISO_8859_1));
  }

  /**
   * Inserts a dot into every line {@code .<CRLF>} of {@code prefix} (which ends with CRLF), so the
   * only strict end of data is the one appended after it. Line starts are after CRLF (and at 0).
   */
  private static byte[] stuffStrictEnds(byte[] prefix) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(prefix.length + 8);
    for (int i = 0; i < prefix.length; i++) {
      boolean lineStart = i == 0 || i >= 2 && prefix[i - 2] == '\r' && prefix[i - 1] == '\n';
      if (lineStart && prefix[i] == '.' && i + 2 < prefix.length && prefix[i + 1] == '\r' && prefix[i + 2] == '\n') {
        out.write('.');
      }
      out.write(prefix[i]);
    }
    return out.toByteArray();
  }

  private static String text(Random r, int n) {
    String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .:-<>@";
    StringBuilder sb = new StringBuilder(n);
    for (int i = 0; i < n; i++) {
      sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
    }
    return sb.toString();
  }

  /**
   * Cut points: a few random ones, often one inside the final {@code <CRLF>.<CRLF>}, and sometimes
   * one right after every CR or LF of the body (a CR's meaning depends on the next chunk).
   */
  private static int[] cuts(Random r, byte[] payload, int wireLength) {
    TreeSet<Integer> cuts = new TreeSet<>();
    for (int i = r.nextInt(6); i > 0; i--) {
      cuts.add(1 + r.nextInt(Math.max(1, payload.length - 1)));
    }
    if (r.nextInt(3) > 0 && wireLength >= 5) {
      cuts.add(wireLength - 1 - r.nextInt(4)); // within "\r\n.\r\n"
    }
    if (r.nextInt(4) == 0) {
      for (int i = 0; i < wireLength; i++) {
        if ((payload[i] == '\r' || payload[i] == '\n') && r.nextBoolean()) {
          cuts.add(i + 1);
        }
      }
    }
    cuts.removeIf(c -> c <= 0 || c >= payload.length);
    return cuts.stream().mapToInt(Integer::intValue).toArray();
  }

  /**
   * Writes the chunks, each flushed on its own (TCP_NODELAY), with a short pause after some of them
   * (about eight per message) so that Sluice reads them apart.
   */
  private static void writeChunks(OutputStream o, byte[] payload, int[] cuts, Random r) throws IOException {
    int from = 0;
    for (int i = 0; i <= cuts.length; i++) {
      int to = i < cuts.length ? cuts[i] : payload.length;
      o.write(payload, from, to - from);
      o.flush();
      from = to;
      if (i < cuts.length && r.nextInt(cuts.length) < 8) {
        try {
          Thread.sleep(1); // deliberate pace, not a wait: lets Sluice read the chunks as separate TCP segments
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException(e);
        }
      }
    }
  }

  // ---- the expected outcome (independent of DataScanner) -----------------------------------------

  /** Reject mode: the un-stuffed body, or null when the body has a bare CR, bare LF or NUL (550). */
  static byte[] strictBody(byte[] body) {
    for (int i = 0; i < body.length; i++) {
      byte c = body[i];
      boolean bareLf = c == '\n' && (i == 0 || body[i - 1] != '\r');
      boolean bareCr = c == '\r' && (i + 1 >= body.length || body[i + 1] != '\n');
      if (c == 0 || bareLf || bareCr) {
        return null;
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Line l : lines(body)) {
      byte[] b = l.bytes();
      int from = b.length > 0 && b[0] == '.' ? 1 : 0;
      out.write(b, from, b.length - from);
      put(out, "\r\n");
    }
    return out.toByteArray();
  }

  /**
   * Normalize mode (docs/smtp-mode.md, "Strict framing"): every bare CR and bare LF ends a line as
   * CRLF would, NULs are removed, and the message text is otherwise kept. Per line: after a real
   * CRLF (or at the start) a leading dot is dot-stuffing and is removed, except that a line that is
   * a lone dot once its NULs are gone ({@code .<NUL>}, or {@code .} ended by a bare CR/LF) keeps its
   * dot as content; after a bare CR/LF the line is taken literally (its dot is content, since the
   * sender did not stuff it).
   */
  static byte[] normalizedBody(byte[] body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Line l : lines(body)) {
      byte[] b = l.bytes();
      byte[] noNul = withoutNul(b);
      byte[] logical;
      if (l.afterBareNewline()) {
        logical = noNul;
      } else if (noNul.length == 1 && noNul[0] == '.') {
        logical = noNul;
      } else if (b.length > 0 && b[0] == '.') {
        logical = withoutNul(Arrays.copyOfRange(b, 1, b.length));
      } else {
        logical = noNul;
      }
      out.write(logical, 0, logical.length);
      put(out, "\r\n");
    }
    return out.toByteArray();
  }

  /** A line's bytes without its terminator, and whether the previous line ended with a bare CR or LF. */
  record Line(byte[] bytes, boolean afterBareNewline) {}

  /** Lines ended by CRLF, a bare CR or a bare LF; the body ends with a line end (or is empty). */
  static List<Line> lines(byte[] body) {
    List<Line> lines = new ArrayList<>();
    boolean afterBare = false;
    int start = 0;
    for (int i = 0; i < body.length; i++) {
      if (body[i] == '\r' && i + 1 < body.length && body[i + 1] == '\n') {
        lines.add(new Line(Arrays.copyOfRange(body, start, i), afterBare));
        afterBare = false;
        i++;
        start = i + 1;
      } else if (body[i] == '\r' || body[i] == '\n') {
        lines.add(new Line(Arrays.copyOfRange(body, start, i), afterBare));
        afterBare = true;
        start = i + 1;
      }
    }
    if (start < body.length) {
      throw new IllegalStateException("body does not end with a line end: " + escape(body));
    }
    return lines;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private static String messageId(byte[] body) {
    Matcher m = MESSAGE_ID.matcher(new String(body, 0, Math.min(body.length, 200), ISO_8859_1));
    return m.find() ? m.group(1) : "(none)";
  }

  private static byte[] withoutNul(byte[] b) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(b.length);
    for (byte x : b) {
      if (x != 0) {
        out.write(x);
      }
    }
    return out.toByteArray();
  }

  /** The last line of the next reply. */
  private static String reply(BufferedReader in) throws IOException {
    String line;
    do {
      line = in.readLine();
      if (line == null) {
        throw new IOException("connection closed by Sluice");
      }
    } while (line.length() > 3 && line.charAt(3) == '-');
    return line;
  }

  private static void write(OutputStream o, String s) throws IOException {
    o.write(s.getBytes(ISO_8859_1));
    o.flush();
  }

  private static void put(ByteArrayOutputStream w, String s) {
    byte[] b = s.getBytes(ISO_8859_1);
    w.write(b, 0, b.length);
  }

  private static byte[] concat(byte[] x, byte[] y) {
    byte[] out = Arrays.copyOf(x, x.length + y.length);
    System.arraycopy(y, 0, out, x.length, y.length);
    return out;
  }

  /** Printable form; long runs of text are shortened. */
  static String escape(byte[] b) {
    StringBuilder sb = new StringBuilder("\"");
    int run = 0;
    for (byte x : b) {
      int c = x & 0xff;
      String e = switch (c) {
        case '\r' -> "\\r";
        case '\n' -> "\\n";
        case 0 -> "\\0";
        default -> c < 0x20 || c >= 0x7f ? String.format("\\x%02x", c) : String.valueOf((char) c);
      };
      run = e.length() == 1 ? run + 1 : 0;
      if (run == 61) {
        sb.append("…");
      } else if (run <= 60) {
        sb.append(e);
      }
    }
    return sb.append('"').toString();
  }
}

package dev.sluice.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A strict, recording SMTP backend for framing tests. Unlike the lab's {@code EmbeddedSmtpServer},
 * which counts messages and discards their bodies, this one keeps every message: the raw DATA
 * stream exactly as it arrived (wire form, dot-stuffed) and the un-stuffed body, under the queue ID
 * it put in its {@code 250 2.0.0 Ok: queued as ID} reply.
 *
 * <p>End of data is {@code <CRLF>.<CRLF>} and nothing else (the stream starts just after the CRLF of
 * {@code DATA}), the strictest reading of RFC 5321. A test can then check that what Sluice
 * forwarded contains no bare CR, bare LF or NUL ({@link Message#cleanWire()}): such a stream is
 * framed identically by every server, lenient ones (Postfix 3.7) included. A session that ends
 * before end of data stores nothing, as a real MTA discards a partial message.
 *
 * <p>Every command line of every session is recorded ({@link #commands()}), so a smuggled {@code
 * MAIL FROM} that reached the backend as a command would show up there. One thread per session;
 * plain blocking sockets; loopback only. Close it to stop.
 */
public final class RecordingSmtpBackend implements AutoCloseable {

  /** One stored message. {@code session} numbers the backend session it arrived on. */
  public record Message(String queueId, int session, byte[] wire, byte[] body) {
    /** True when the wire form has no NUL, bare CR or bare LF. */
    public boolean cleanWire() {
      for (int i = 0; i < wire.length; i++) {
        byte b = wire[i];
        if (b == 0
            || b == '\n' && (i == 0 || wire[i - 1] != '\r')
            || b == '\r' && (i + 1 >= wire.length || wire[i + 1] != '\n')) {
          return false;
        }
      }
      return true;
    }
  }

  private final String name;
  private final ServerSocket server;
  private final Thread acceptor;
  private final AtomicInteger sessions = new AtomicInteger();
  private final AtomicInteger counter = new AtomicInteger();
  private final Map<String, Message> messages = new ConcurrentHashMap<>();
  private final List<String> commands = new CopyOnWriteArrayList<>();
  private final List<String> problems = new CopyOnWriteArrayList<>();
  private final List<Socket> open = new CopyOnWriteArrayList<>();
  /** DATA commands answered 354, per session. */
  private final Map<Integer, AtomicInteger> dataPerSession = new ConcurrentHashMap<>();
  private volatile boolean closed;

  public RecordingSmtpBackend(String name) throws IOException {
    this.name = name;
    this.server = new ServerSocket(0, 200, InetAddress.getByName("127.0.0.1"));
    this.acceptor = new Thread(this::acceptLoop, "recording-smtp-" + name);
    acceptor.setDaemon(true);
    acceptor.start();
  }

  public String name() {
    return name;
  }

  public int port() {
    return server.getLocalPort();
  }

  public InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", port());
  }

  /** Stored messages by queue ID. */
  public Map<String, Message> messages() {
    return Map.copyOf(messages);
  }

  /** Every command line received, as {@code "session: line"}. */
  public List<String> commands() {
    return List.copyOf(commands);
  }

  /** Protocol oddities seen (e.g. more messages than DATA commands in a session); empty if none. */
  public List<String> problems() {
    return List.copyOf(problems);
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket s = server.accept();
        open.add(s);
        int id = sessions.incrementAndGet();
        Thread t = new Thread(() -> serve(s, id), "recording-smtp-" + name + "-" + id);
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        if (!closed) {
          problems.add("accept failed: " + e);
        }
        return;
      }
    }
  }

  private void serve(Socket s, int session) {
    try (s) {
      s.setTcpNoDelay(true);
      InputStream in = new BufferedInputStream(s.getInputStream(), 8192);
      OutputStream out = s.getOutputStream();
      say(out, "220 " + name + " ESMTP recording backend");
      boolean mail = false;
      int rcpts = 0;
      while (true) {
        String line = readLine(in);
        if (line == null) {
          return;
        }
        commands.add(session + ": " + line);
        String upper = line.toUpperCase(Locale.ROOT);
        if (upper.startsWith("EHLO ")) {
          mail = false;
          rcpts = 0;
          say(out, "250-" + name + "\r\n250-PIPELINING\r\n250-SIZE 104857600\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES");
        } else if (upper.startsWith("HELO ")) {
          say(out, "250 " + name);
        } else if (upper.startsWith("MAIL FROM:")) {
          if (mail) {
            say(out, "503 5.5.1 Error: nested MAIL command");
          } else {
            mail = true;
            say(out, "250 2.1.0 Ok");
          }
        } else if (upper.startsWith("RCPT TO:")) {
          if (!mail) {
            say(out, "503 5.5.1 Error: need MAIL command");
          } else {
            rcpts++;
            say(out, "250 2.1.5 Ok");
          }
        } else if (upper.equals("DATA")) {
          if (rcpts == 0) {
            say(out, "503 5.5.1 Error: need RCPT command");
            continue;
          }
          say(out, "354 End data with <CR><LF>.<CR><LF>");
          dataPerSession.computeIfAbsent(session, k -> new AtomicInteger()).incrementAndGet();
          byte[] wire = readData(in);
          if (wire == null) {
            return; // closed before end of data: discard, like a real MTA
          }
          mail = false;
          rcpts = 0;
          String id = name + "Q" + counter.incrementAndGet();
          messages.put(id, new Message(id, session, wire, unstuff(wire)));
          long stored = messages.values().stream().filter(m -> m.session() == session).count();
          if (stored > dataPerSession.get(session).get()) {
            problems.add("session " + session + ": more messages stored than DATA commands");
          }
          say(out, "250 2.0.0 Ok: queued as " + id);
        } else if (upper.equals("RSET")) {
          mail = false;
          rcpts = 0;
          say(out, "250 2.0.0 Ok");
        } else if (upper.equals("NOOP")) {
          say(out, "250 2.0.0 Ok");
        } else if (upper.equals("QUIT")) {
          say(out, "221 2.0.0 Bye");
          return;
        } else {
          say(out, "502 5.5.2 Error: command not recognized");
        }
      }
    } catch (IOException e) {
      // the peer went away (Sluice aborts a backend session after a framing violation)
    } finally {
      open.remove(s);
    }
  }

  /** A command line without its line end (LF, optionally preceded by CR); null at end of stream. */
  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0) {
      if (c == '\n') {
        byte[] l = b.toByteArray();
        int n = l.length > 0 && l[l.length - 1] == '\r' ? l.length - 1 : l.length;
        return new String(l, 0, n, StandardCharsets.ISO_8859_1);
      }
      b.write(c);
    }
    return null;
  }

  /**
   * The DATA stream up to and including the first {@code <CRLF>.<CRLF>} (the stream starts after a
   * CRLF, so {@code .<CRLF>} at its start is an empty message); null if the stream ends first.
   */
  private static byte[] readData(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    // Last four bytes seen, with the CRLF of the DATA command in front.
    int p3 = 0;
    int p2 = 0;
    int p1 = '\r';
    int p0 = '\n';
    int c;
    while ((c = in.read()) >= 0) {
      b.write(c);
      if (c == '\n' && p0 == '\r' && p1 == '.' && p2 == '\n' && p3 == '\r') {
        return b.toByteArray();
      }
      p3 = p2;
      p2 = p1;
      p1 = p0;
      p0 = c;
    }
    return null;
  }

  /** The body of a wire-form message: terminator removed, each line's leading dot removed. */
  static byte[] unstuff(byte[] wire) {
    int n = wire.length - 3; // ".\r\n"
    ByteArrayOutputStream out = new ByteArrayOutputStream(n);
    boolean lineStart = true;
    for (int i = 0; i < n; i++) {
      byte b = wire[i];
      if (lineStart && b == '.') {
        lineStart = false;
        continue;
      }
      out.write(b);
      lineStart = b == '\n' && i > 0 && wire[i - 1] == '\r';
    }
    return out.toByteArray();
  }

  private static void say(OutputStream out, String reply) throws IOException {
    out.write((reply + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
  }

  @Override
  public void close() throws IOException {
    closed = true;
    server.close();
    for (Socket s : new ArrayList<>(open)) {
      s.close();
    }
  }
}

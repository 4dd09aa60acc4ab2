package dev.sluice.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * A TCP peer on loopback that plays a script per connection, for behaviours real servers will not
 * produce on demand (a 421 banner, a banner that never comes, replies split across packets, a
 * STARTTLS upgrade with a chosen certificate). Lines it receives are recorded. One daemon thread
 * per connection.
 */
public final class ScriptedPeer implements AutoCloseable {
  /** What the peer does on one connection. */
  @FunctionalInterface
  public interface Script {
    void play(Conversation c) throws IOException, InterruptedException;
  }

  private final ServerSocket server;
  private final List<String> received = new CopyOnWriteArrayList<>();
  private final AtomicInteger connections = new AtomicInteger();
  private volatile boolean closed;

  public ScriptedPeer(Script script) throws IOException {
    this(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), script);
  }

  /** A peer listening on {@code at} (say {@code [::1]:0} for an IPv6 backend). */
  public ScriptedPeer(InetSocketAddress at, Script script) throws IOException {
    server = new ServerSocket();
    server.bind(at);
    Thread acceptor = new Thread(() -> accept(script), "scripted-peer");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  private void accept(Script script) {
    while (!closed) {
      try {
        Socket s = server.accept();
        connections.incrementAndGet();
        Thread t = new Thread(() -> {
          try (s) {
            script.play(new Conversation(s));
          } catch (IOException | InterruptedException e) {
            // the other side went away; the script ends with it
          }
        }, "scripted-peer-conn");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        return;
      }
    }
  }

  /**
   * A script for a server behind a health check: it greets with {@code banner} on every
   * connection, serves the first one (Sluice's health probe) as a plain SMTP server, and plays
   * {@code session} on every later one.
   */
  public static Script afterHealthProbe(String banner, Script session) {
    AtomicInteger connections = new AtomicInteger();
    return c -> {
      c.say(banner);
      if (connections.incrementAndGet() == 1) {
        c.serveRest();
        return;
      }
      session.play(c);
    };
  }

  /**
   * A script for an SMTP server that offers STARTTLS, upgrades with {@code tls} when asked and then
   * serves the rest of the session ({@link Conversation#serveRest()}) inside TLS.
   */
  public static Script startTlsServer(SSLContext tls) {
    return c -> {
      c.say("220 tls.scripted ESMTP");
      c.hearUntil("EHLO");
      c.say("250-tls.scripted").say("250 STARTTLS");
      if (c.hearUntil("STARTTLS") == null) {
        return;
      }
      c.say("220 2.0.0 Ready to start TLS");
      c.startTls(tls);
      c.serveRest();
    };
  }

  /**
   * A script for an SMTP server on an implicit-TLS port (465): TLS from the first byte with {@code
   * tls}, then the banner and the rest of the session ({@link Conversation#serveRest()}) inside it.
   */
  public static Script implicitTlsServer(SSLContext tls) {
    return c -> {
      c.startTls(tls);
      c.say("220 smtps.scripted ESMTP");
      c.serveRest();
    };
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) server.getLocalSocketAddress();
  }

  public int port() {
    return server.getLocalPort();
  }

  /** Every line received on any connection, in arrival order. */
  public List<String> received() {
    return received;
  }

  public int connections() {
    return connections.get();
  }

  @Override
  public void close() throws IOException {
    closed = true;
    server.close();
  }

  /** One connection of the script. */
  public final class Conversation {
    private Socket socket;
    private BufferedReader in;
    private OutputStream out;

    Conversation(Socket socket) throws IOException {
      this.socket = socket;
      this.in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
      this.out = socket.getOutputStream();
    }

    /** Writes raw text (add CRLF yourself) and flushes: one call is usually one TCP segment. */
    public Conversation raw(String text) throws IOException {
      out.write(text.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      return this;
    }

    /** Writes one reply line with CRLF. */
    public Conversation say(String line) throws IOException {
      return raw(line + "\r\n");
    }

    /** Reads one line (recorded), or null at end of stream. */
    public String hear() throws IOException {
      String line = in.readLine();
      if (line != null) {
        received.add(line);
      }
      return line;
    }

    /**
     * Whether more input has already arrived (read into the buffer or waiting in the socket): after
     * a {@link #hear()}, true when the peer sent the next line in the same write.
     */
    public boolean inputWaiting() throws IOException {
      return in.ready();
    }

    /** Reads lines until one starts with {@code prefix} (case-insensitive). */
    public String hearUntil(String prefix) throws IOException {
      String line;
      while ((line = hear()) != null) {
        if (line.regionMatches(true, 0, prefix, 0, prefix.length())) {
          return line;
        }
      }
      return null;
    }

    /** Accepts one transaction up to the body: EHLO, MAIL, RCPT and DATA each get a positive reply. */
    public Conversation acceptUpToBody(String name) throws IOException {
      hearUntil("EHLO");
      say("250 " + name);
      hearUntil("MAIL");
      say("250 2.1.0 Ok");
      hearUntil("RCPT");
      say("250 2.1.5 Ok");
      hearUntil("DATA");
      return say("354 go ahead");
    }

    /** Reads the body up to its end-of-data line. */
    public void hearBody() throws IOException {
      String line;
      while ((line = hear()) != null && !line.equals(".")) {
        // the body
      }
    }

    /** A plain SMTP server from here on: answers every command until QUIT. */
    public void serveRest() throws IOException {
      String line;
      while ((line = hear()) != null) {
        String u = line.toUpperCase(java.util.Locale.ROOT);
        if (u.startsWith("QUIT")) {
          say("221 2.0.0 Bye");
          return;
        } else if (u.startsWith("EHLO")) {
          say("250-scripted").say("250 PIPELINING");
        } else if (u.startsWith("DATA")) {
          say("354 go ahead");
          while ((line = in.readLine()) != null && !line.equals(".")) {
            // body discarded
          }
          say("250 2.0.0 queued");
        } else {
          say("250 2.0.0 Ok");
        }
      }
    }

    /**
     * Upgrades the connection to TLS as the server (after the script said {@code 220} to
     * STARTTLS) and continues the conversation over it. A failed handshake throws, which ends the
     * script like a lost connection.
     */
    public Conversation startTls(SSLContext context) throws IOException {
      SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(socket, null, socket.getPort(), true);
      tls.setUseClientMode(false);
      tls.startHandshake();
      socket = tls;
      in = new BufferedReader(new InputStreamReader(tls.getInputStream(), StandardCharsets.ISO_8859_1));
      out = tls.getOutputStream();
      return this;
    }

    /** The address and port this connection came from. */
    public InetSocketAddress peer() {
      return (InetSocketAddress) socket.getRemoteSocketAddress();
    }

    public void close() throws IOException {
      socket.close();
    }
  }
}

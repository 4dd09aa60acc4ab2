package dev.sluice.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A Postfix SMTP access policy server (the policy delegation protocol of {@code
 * check_policy_service}) that answers one question: is this {@link PostfixInstance} in back
 * pressure? smtpd asks at every {@code MAIL FROM}, so switching takes effect at the next
 * transaction, also on a session that is already open, as Exchange's back pressure does and as the
 * lab's {@link EmbeddedSmtpServer} does. A sender in the exempt domain always passes.
 *
 * <p>Listens on {@code 127.0.0.1} only, on a free port; one daemon thread per smtpd connection
 * (smtpd keeps its connection open across requests). Replies {@code action=DUNNO} when back
 * pressure is off, else {@link PostfixInstance#BACK_PRESSURE_REPLY}, which smtpd wraps as {@code 452
 * 4.3.1 <sender>: Sender address rejected: Insufficient system resources}.
 */
final class BackPressurePolicy implements AutoCloseable {
  private final String exemptSuffix;
  private final ServerSocket server;
  private final Set<Socket> clients = ConcurrentHashMap.newKeySet();
  private volatile boolean on;

  /** @param exemptDomain sender domain never refused, or null for none */
  BackPressurePolicy(String name, String exemptDomain) {
    this.exemptSuffix = exemptDomain == null ? null : "@" + exemptDomain.toLowerCase(Locale.ROOT);
    try {
      server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the back-pressure policy service for " + name, e);
    }
    Thread acceptor = new Thread(this::acceptLoop, "postfix-policy-" + name);
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** The port smtpd connects to ({@code check_policy_service inet:127.0.0.1:PORT}). */
  int port() {
    return server.getLocalPort();
  }

  void set(boolean backPressure) {
    on = backPressure;
  }

  boolean isOn() {
    return on;
  }

  /** The action for one request's {@code sender} attribute. */
  String action(String sender) {
    if (!on || (exemptSuffix != null && sender.toLowerCase(Locale.ROOT).endsWith(exemptSuffix))) {
      return "DUNNO";
    }
    return PostfixInstance.BACK_PRESSURE_REPLY;
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        clients.add(s);
        Thread t = new Thread(() -> serve(s), Thread.currentThread().getName() + "-session");
        t.setDaemon(true);
        t.start();
      } catch (IOException e) {
        // closed: the loop ends
      }
    }
  }

  /** Requests are {@code name=value} lines ended by an empty line; the reply likewise. */
  private void serve(Socket s) {
    try (s) {
      BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
      OutputStream out = s.getOutputStream();
      String sender = "";
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isEmpty()) {
          out.write(("action=" + action(sender) + "\n\n").getBytes(StandardCharsets.UTF_8));
          out.flush();
          sender = "";
        } else if (line.startsWith("sender=")) {
          sender = line.substring("sender=".length());
        }
      }
    } catch (IOException e) {
      // smtpd went away; it reconnects when it needs us again
    } finally {
      clients.remove(s);
    }
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    for (Socket s : clients) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }
}

package dev.sluice.lab;

import dev.sluice.proxy.smtp.SmtpReply;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.function.IntConsumer;

/**
 * The seed's traffic as a fixed script, so that every lab run sends exactly the same thing: one
 * email-security gateway (127.0.0.50) sends four messages in five over {@value #GATEWAY_CONNECTIONS}
 * long connections (each carries {@value #MESSAGES_PER_GATEWAY_CONNECTION} messages, then the
 * gateway reconnects), and twenty internal applications (127.0.0.101–120) send the fifth, one
 * message per connection.
 *
 * <p>One thread sends everything, message by message, with the gateway's connections held open in
 * between: no pacing and no races between senders, so the order of connections and transactions
 * that reaches the balancer is the same on every machine. A hook runs before each message, where a
 * run switches back pressure and waits for health to notice.
 *
 * <p>What the senders saw is counted like a real sender would: 2xx after data accepted, 4xx (and a
 * connection that failed, which a sender also retries later) deferred, 5xx rejected. Not thread-safe.
 */
public final class ScriptedTraffic {
  static final int GATEWAY_CONNECTIONS = 3;
  static final int MESSAGES_PER_GATEWAY_CONNECTION = 10;
  static final int APPLICATIONS = 20;
  static final String GATEWAY_ADDRESS = "127.0.0.50";
  /** A host on the internet trying to relay; only the internet listener is reachable for it. */
  static final String OUTSIDER_ADDRESS = "127.0.0.66";
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final InetSocketAddress internet;
  private final InetSocketAddress relay;
  private final LabSmtpClient[] gateway = new LabSmtpClient[GATEWAY_CONNECTIONS];
  private final int[] sentOnConnection = new int[GATEWAY_CONNECTIONS];
  private final Tally tally = new Tally();

  /** What the senders were told. */
  public record Outcome(long accepted, long deferred, long rejected) {}

  /**
   * Counts what senders are told, as a real sender judges it: 2xx after data accepted, 4xx (and a
   * connection that failed or a refused banner, which a sender also retries later) deferred, 5xx
   * rejected. Shared by the lab's scripts; not thread-safe.
   */
  static final class Tally {
    private long accepted;
    private long deferred;
    private long rejected;

    void count(SmtpReply r) {
      if (r.isPositive()) {
        accepted++;
      } else if (r.isTransient()) {
        deferred++;
      } else {
        rejected++;
      }
    }

    /** A connection that failed: the sender tries again later. */
    void deferred() {
      deferred++;
    }

    /** Connects from {@code source} and greets; a refused banner counts as deferred, null returned. */
    LabSmtpClient open(InetSocketAddress target, String source, String helo) throws IOException {
      LabSmtpClient c = LabSmtpClient.connect(target, address(source), TIMEOUT);
      if (!c.banner().isPositive()) {
        deferred++;
        c.close();
        return null;
      }
      c.command("EHLO " + helo);
      return c;
    }

    Outcome outcome() {
      return new Outcome(accepted, deferred, rejected);
    }
  }

  /**
   * @param internet the listener the gateway sends to (internet mail)
   * @param relay the listener the applications send to
   */
  public ScriptedTraffic(InetSocketAddress internet, InetSocketAddress relay) {
    this.internet = internet;
    this.relay = relay;
  }

  /**
   * Sends {@code messages} messages and returns what the senders saw.
   *
   * @param beforeMessage called with the number of messages sent so far, before each message
   */
  public Outcome send(int messages, IntConsumer beforeMessage) {
    int gatewayMessages = 0;
    try {
      for (int i = 0; i < messages; i++) {
        beforeMessage.accept(i);
        if (i % 5 == 4) {
          int app = 101 + (i / 5) % APPLICATIONS;
          application(app, i);
        } else {
          gateway(gatewayMessages++ % GATEWAY_CONNECTIONS, i);
        }
      }
    } finally {
      for (int c = 0; c < GATEWAY_CONNECTIONS; c++) {
        closeGateway(c);
      }
    }
    return tally.outcome();
  }

  private void gateway(int c, int n) {
    try {
      if (gateway[c] == null) {
        gateway[c] = tally.open(internet, GATEWAY_ADDRESS, "gateway.lab.invalid");
        if (gateway[c] == null) {
          return;
        }
      }
      tally.count(gateway[c].send("news" + n + "@internet.example", "user" + (n % 50) + "@corp.example", body(n)));
      if (++sentOnConnection[c] == MESSAGES_PER_GATEWAY_CONNECTION) {
        closeGateway(c);
      }
    } catch (IOException e) {
      tally.deferred();
      closeGateway(c);
    }
  }

  /** An application's message: to a partner outside the organisation, relayed by the hub servers. */
  private void application(int app, int n) {
    try (LabSmtpClient c = tally.open(relay, "127.0.0." + app, "app" + app + ".corp.example")) {
      if (c != null) {
        tally.count(c.send("app" + app + "@corp.example", "customer" + n + "@partner.example", body(n)));
      }
    } catch (IOException e) {
      tally.deferred();
    }
  }

  /**
   * Tries to relay from {@value #OUTSIDER_ADDRESS} through the internet listener to a foreign
   * domain, {@code attempts} times, each on its own connection. RSET before DATA, as {@code sluice
   * probe relay} does: an accepted recipient proves the relay, nothing needs delivering.
   *
   * @return attempts whose foreign recipient was accepted
   */
  public int relayAttempts(int attempts) {
    int relayed = 0;
    for (int i = 0; i < attempts; i++) {
      try (LabSmtpClient c = LabSmtpClient.connect(internet, address(OUTSIDER_ADDRESS), TIMEOUT)) {
        if (!c.banner().isPositive()) {
          continue;
        }
        c.command("EHLO spam.internet.example");
        if (c.command("MAIL FROM:<spammer@internet.example>").isPositive()
            && c.command("RCPT TO:<victim" + i + "@elsewhere.example>").isPositive()) {
          relayed++;
        }
        c.command("RSET");
      } catch (IOException e) {
        // could not ask: not a relay
      }
    }
    return relayed;
  }

  private void closeGateway(int c) {
    if (gateway[c] != null) {
      gateway[c].close();
      gateway[c] = null;
    }
    sentOnConnection[c] = 0;
  }

  /** A small message body, with a Message-ID unique within a run. */
  static String body(int n) {
    return "Subject: lab message " + n + "\nMessage-ID: <lab." + n + "@lab.invalid>\n\nHello from the Sluice lab.\n";
  }

  static InetAddress address(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException(literal, e); // a literal never needs DNS
    }
  }
}

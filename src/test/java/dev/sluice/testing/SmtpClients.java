package dev.sluice.testing;

import dev.sluice.lab.ExternalCommand;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs real, external SMTP clients (swaks, Python smtplib, Postfix smtp-source) as processes and
 * parses their outcome. Every call has a timeout (default or explicit) and never hangs: on timeout
 * the client is killed and the result says {@code timedOut}.
 *
 * <p>Only loopback targets are accepted ({@code 127.0.0.0/8} or {@code localhost}); source
 * addresses, where supported, must be in {@code 127.0.0.0/8} too.
 */
public final class SmtpClients {

  /** Default timeout of a swaks run. */
  public static final Duration SWAKS_TIMEOUT = Duration.ofSeconds(30);

  /** Default timeout of an smtplib run. */
  public static final Duration SMTPLIB_TIMEOUT = Duration.ofSeconds(120);

  /** Default timeout of an smtp-source run. */
  public static final Duration SMTP_SOURCE_TIMEOUT = Duration.ofSeconds(600);

  private static final Pattern MSG_LINE = Pattern.compile("^MSG (\\d+) (\\d{3}|ERR) ?(.*)$");
  private static final Pattern REPLY_LINE = Pattern.compile("^(?:<-|<\\*\\*|<~|<~\\*)\\s+(.*)$");
  private static Path smtplibScript;

  private SmtpClients() {}

  // ------------------------------------------------------------------ swaks

  /**
   * Outcome of one swaks run.
   *
   * @param exitCode swaks' exit status (0 = delivered; 2 = connect failure; 23 = error after MAIL
   *     FROM; 24 = no recipient accepted; 25 = error after DATA; see swaks(1)); -1 on timeout
   * @param transcript swaks' full transcript (stdout + stderr)
   * @param timedOut whether swaks was killed on timeout
   */
  public record SwaksResult(int exitCode, String transcript, boolean timedOut) {

    /** True when swaks finished in time and reports success (exit 0). */
    public boolean succeeded() {
      return !timedOut && exitCode == 0;
    }

    /**
     * The server's reply lines in transcript order ({@code <-} and {@code <**} lines, without the
     * prefix), e.g. {@code "452 4.3.1 Insufficient system resources"}.
     */
    public List<String> serverReplies() {
      List<String> out = new ArrayList<>();
      for (String line : transcript.split("\\R")) {
        Matcher m = REPLY_LINE.matcher(line.stripLeading());
        if (m.matches()) {
          out.add(m.group(1));
        }
      }
      return out;
    }

    /** The last server reply line, or "" if the server never answered. */
    public String lastReply() {
      List<String> r = serverReplies();
      return r.isEmpty() ? "" : r.get(r.size() - 1);
    }
  }

  /**
   * Sends one message with swaks from {@code sourceAddress} (swaks {@code --local-interface};
   * {@code null} lets the kernel choose).
   *
   * @param extraArgs further swaks arguments, e.g. {@code "--header", "Subject: x"}
   */
  public static SwaksResult swaks(
      String host, int port, String from, String to, String sourceAddress, String... extraArgs) {
    return swaks(SWAKS_TIMEOUT, host, port, from, to, sourceAddress, extraArgs);
  }

  /** As {@link #swaks(String, int, String, String, String, String...)} with a timeout. */
  public static SwaksResult swaks(
      Duration timeout,
      String host,
      int port,
      String from,
      String to,
      String sourceAddress,
      String... extraArgs) {
    requireLoopback(host);
    List<String> cmd = new ArrayList<>();
    cmd.addAll(
        List.of(
            ExternalCommand.tool("swaks"),
            "--server", host,
            "--port", Integer.toString(port),
            "--from", from,
            "--to", to,
            "--helo", "swaks.sluice.test",
            "--timeout", Math.max(1, timeout.toSeconds() - 2) + "s"));
    if (sourceAddress != null) {
      requireLoopback(sourceAddress);
      cmd.add("--local-interface");
      cmd.add(sourceAddress);
    }
    cmd.addAll(Arrays.asList(extraArgs));
    ExternalCommand.Result r = ExternalCommand.run(timeout, cmd);
    return new SwaksResult(r.exitCode(), r.output(), r.timedOut());
  }

  // ------------------------------------------------------------------ smtplib

  /**
   * Outcome of an smtplib run: one final reply per message.
   *
   * @param accepted messages whose final reply was 2xx
   * @param deferred messages whose final reply was 4xx
   * @param rejected messages whose final reply was 5xx
   * @param errors messages without a reply (connect failure, lost connection, timeout)
   * @param codes the final reply code per message in send order ({@code -1} for an error)
   * @param exitCode the script's exit status ({@code -1} on timeout)
   * @param timedOut whether the run was killed on timeout
   * @param output the script's full output (for failure messages)
   */
  public record SmtplibResult(
      int accepted,
      int deferred,
      int rejected,
      int errors,
      List<Integer> codes,
      int exitCode,
      boolean timedOut,
      String output) {

    /** Number of messages with a reported outcome. */
    public int total() {
      return accepted + deferred + rejected + errors;
    }
  }

  /**
   * Sends {@code messages} messages with Python's smtplib from {@code sourceAddress} ({@code
   * source_address=(addr, 0)}; {@code null} lets the kernel choose), {@code messagesPerConnection}
   * per SMTP session.
   */
  public static SmtplibResult smtplib(
      String host,
      int port,
      String sourceAddress,
      int messages,
      int messagesPerConnection,
      String from,
      String to) {
    return smtplib(
        SMTPLIB_TIMEOUT, host, port, sourceAddress, messages, messagesPerConnection, from, to);
  }

  /** As {@link #smtplib(String, int, String, int, int, String, String)} with a timeout. */
  public static SmtplibResult smtplib(
      Duration timeout,
      String host,
      int port,
      String sourceAddress,
      int messages,
      int messagesPerConnection,
      String from,
      String to) {
    requireLoopback(host);
    List<String> cmd =
        new ArrayList<>(
            List.of(
                "python3",
                smtplibScript().toString(),
                "--host", host,
                "--port", Integer.toString(port),
                "--messages", Integer.toString(messages),
                "--per-connection", Integer.toString(messagesPerConnection),
                "--from", from,
                "--to", to,
                "--timeout", "10"));
    if (sourceAddress != null) {
      requireLoopback(sourceAddress);
      cmd.add("--source");
      cmd.add(sourceAddress);
    }
    ExternalCommand.Result r = ExternalCommand.run(timeout, cmd);
    int accepted = 0;
    int deferred = 0;
    int rejected = 0;
    int errors = 0;
    List<Integer> codes = new ArrayList<>();
    for (String line : r.stdout().split("\\R")) {
      Matcher m = MSG_LINE.matcher(line);
      if (!m.matches()) {
        continue;
      }
      if (m.group(2).equals("ERR")) {
        errors++;
        codes.add(-1);
        continue;
      }
      int code = Integer.parseInt(m.group(2));
      codes.add(code);
      switch (code / 100) {
        case 2 -> accepted++;
        case 4 -> deferred++;
        case 5 -> rejected++;
        default -> errors++;
      }
    }
    // Messages the script never reported (killed on timeout, crashed) count as errors.
    int missing = messages - codes.size();
    for (int i = 0; i < missing; i++) {
      errors++;
      codes.add(-1);
    }
    return new SmtplibResult(
        accepted, deferred, rejected, errors, List.copyOf(codes), r.exitCode(), r.timedOut(),
        r.output());
  }

  private static synchronized Path smtplibScript() {
    if (smtplibScript == null) {
      try (InputStream in = SmtpClients.class.getResourceAsStream("/clients/smtplib_send.py")) {
        Objects.requireNonNull(in, "classpath resource /clients/smtplib_send.py");
        Path p = Files.createTempFile("sluice-smtplib_send-", ".py");
        Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
        p.toFile().deleteOnExit();
        smtplibScript = p;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return smtplibScript;
  }

  // ------------------------------------------------------------------ smtp-source

  /**
   * Outcome of an smtp-source run.
   *
   * @param exitCode smtp-source's exit status (0 = every message was accepted); -1 on timeout
   * @param messages messages requested
   * @param elapsed wall-clock time of the run
   * @param timedOut whether the run was killed on timeout
   * @param output smtp-source's output (its fatal/warning lines name the failure)
   */
  public record SmtpSourceResult(
      int exitCode, int messages, Duration elapsed, boolean timedOut, String output) {

    /** True when smtp-source finished in time with exit 0 (it stops at the first bad reply). */
    public boolean succeeded() {
      return !timedOut && exitCode == 0;
    }

    /** Messages per second over the whole run (meaningful only if {@link #succeeded()}). */
    public double messagesPerSecond() {
      return messages / Math.max(1e-9, elapsed.toNanos() / 1e9);
    }
  }

  /**
   * Runs Postfix's {@code smtp-source -s sessions -m messages -l sizeBytes} against {@code
   * host:port}, sender {@code smtp-source@example.test}, recipient {@code user@example.test}.
   *
   * <p>smtp-source cannot choose its source address (it has no such option); connections come
   * from whatever address the kernel picks for the target ({@code 127.0.0.1} for loopback).
   *
   * @param extraArgs further smtp-source options placed before the target, e.g. {@code "-d"}
   *     (several messages per connection), {@code "-f", "x@corp.example"} (overrides the sender:
   *     the last {@code -f} wins), {@code "-S", "subject"}, {@code "-r", "3"}
   */
  public static SmtpSourceResult smtpSource(
      String host, int port, int sessions, int messages, int sizeBytes, String... extraArgs) {
    return smtpSource(SMTP_SOURCE_TIMEOUT, host, port, sessions, messages, sizeBytes, extraArgs);
  }

  /** As {@link #smtpSource(String, int, int, int, int, String...)} with a timeout. */
  public static SmtpSourceResult smtpSource(
      Duration timeout,
      String host,
      int port,
      int sessions,
      int messages,
      int sizeBytes,
      String... extraArgs) {
    requireLoopback(host);
    List<String> cmd =
        new ArrayList<>(
            List.of(
                ExternalCommand.tool("smtp-source"),
                "-s", Integer.toString(sessions),
                "-m", Integer.toString(messages),
                "-l", Integer.toString(sizeBytes),
                "-M", "smtp-source.sluice.test",
                "-f", "smtp-source@example.test",
                "-t", "user@example.test"));
    cmd.addAll(Arrays.asList(extraArgs));
    cmd.add(host + ":" + port);
    ExternalCommand.Result r = ExternalCommand.run(timeout, cmd);
    return new SmtpSourceResult(r.exitCode(), messages, r.elapsed(), r.timedOut(), r.output());
  }

  // ------------------------------------------------------------------ helpers

  private static void requireLoopback(String host) {
    if (!(host.equals("localhost") || host.matches("127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}"))) {
      throw new IllegalArgumentException(
          "test clients talk to 127.0.0.0/8 only, not to " + host);
    }
  }
}

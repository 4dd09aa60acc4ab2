package dev.sluice.lab;

import dev.sluice.proxy.smtp.ReplyAssembler;
import dev.sluice.proxy.smtp.SmtpReply;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * A blocking SMTP client for the lab's traffic: connects from a chosen source address (distinct
 * 127.x addresses stand for distinct senders), sends messages and reports each one's final reply.
 * Not thread-safe; one per sending thread.
 */
public final class LabSmtpClient implements AutoCloseable {
  private final Socket socket;
  private final BufferedReader in;
  private final OutputStream out;
  private final SmtpReply banner;

  private LabSmtpClient(Socket socket) throws IOException {
    this.socket = socket;
    this.in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.ISO_8859_1));
    this.out = socket.getOutputStream();
    this.banner = read();
  }

  /** Connects and reads the banner; check {@link #banner()} before sending. */
  public static LabSmtpClient connect(InetSocketAddress server, InetAddress source, Duration timeout) throws IOException {
    Socket s = new Socket();
    try {
      s.setTcpNoDelay(true);
      s.setSoTimeout((int) timeout.toMillis());
      if (source != null) {
        s.bind(new InetSocketAddress(source, 0));
      }
      s.connect(server, (int) timeout.toMillis());
      return new LabSmtpClient(s);
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  public SmtpReply banner() {
    return banner;
  }

  public SmtpReply command(String line) throws IOException {
    out.write((line + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
    return read();
  }

  /**
   * Sends one message (MAIL, RCPT, DATA, body, end of data) and returns the reply that decided it:
   * the first non-2xx/3xx reply of the transaction, or the reply after end of data.
   */
  public SmtpReply send(String from, String to, String body) throws IOException {
    SmtpReply r = command("MAIL FROM:<" + from + ">");
    if (!r.isPositive()) {
      return r;
    }
    r = command("RCPT TO:<" + to + ">");
    if (!r.isPositive()) {
      command("RSET");
      return r;
    }
    r = command("DATA");
    if (r.code() != 354) {
      return r;
    }
    StringBuilder sb = new StringBuilder(body.length() + 16);
    for (String line : body.split("\r?\n", -1)) {
      sb.append(line.startsWith(".") ? "." : "").append(line).append("\r\n");
    }
    sb.append(".\r\n");
    out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
    return read();
  }

  private SmtpReply read() throws IOException {
    ReplyAssembler assembler = new ReplyAssembler();
    while (true) {
      String line = in.readLine();
      if (line == null) {
        throw new IOException("connection closed by server");
      }
      try {
        SmtpReply r = assembler.feed(line);
        if (r != null) {
          return r;
        }
      } catch (ReplyAssembler.MalformedReplyException e) {
        throw new IOException(e.getMessage());
      }
    }
  }

  /** Sends QUIT (ignoring errors) and closes. */
  @Override
  public void close() {
    try {
      if (!socket.isClosed()) {
        command("QUIT");
      }
    } catch (IOException ignored) {
      // the server may already have gone; closing is all that is left to do
    } finally {
      try {
        socket.close();
      } catch (IOException ignored) {
        // nothing to do
      }
    }
  }
}

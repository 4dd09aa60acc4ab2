package dev.sluice.benchclient;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/** One plain blocking SMTP client connection: write a command, read a (multi-line) reply. */
final class SmtpConn implements AutoCloseable {
  private final Socket socket;
  private final InputStream in;
  private final OutputStream out;
  private final StringBuilder line = new StringBuilder(128);
  /** Text of the last line of the last reply read. */
  String lastReply = "";

  private SmtpConn(Socket socket) throws IOException {
    this.socket = socket;
    this.in = new BufferedInputStream(socket.getInputStream(), 8192);
    this.out = socket.getOutputStream();
  }

  /** Connects from {@code source} (null: the OS's choice) with the given timeout for connect and every read. */
  static SmtpConn open(InetAddress source, InetSocketAddress target, int timeoutMs) throws IOException {
    Socket s = new Socket();
    try {
      s.setTcpNoDelay(true);
      s.setSoTimeout(timeoutMs);
      if (source != null) s.bind(new InetSocketAddress(source, 0));
      s.connect(target, timeoutMs);
      return new SmtpConn(s);
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  /** Reads one reply; returns its code (the last line's). */
  int readReply() throws IOException {
    while (true) {
      line.setLength(0);
      int c;
      while ((c = in.read()) != '\n') {
        if (c < 0) throw new EOFException("connection closed by peer" + (line.length() > 0 ? " after '" + line + "'" : ""));
        if (c != '\r') line.append((char) c);
      }
      if (line.length() < 3) throw new IOException("malformed reply line '" + line + "'");
      if (line.length() == 3 || line.charAt(3) == ' ') {
        lastReply = line.toString();
        try {
          return Integer.parseInt(line, 0, 3, 10);
        } catch (NumberFormatException e) {
          throw new IOException("malformed reply line '" + line + "'");
        }
      }
      if (line.charAt(3) != '-') throw new IOException("malformed reply line '" + line + "'");
    }
  }

  void write(byte[] bytes) throws IOException {
    out.write(bytes);
  }

  void send(String command) throws IOException {
    out.write((command + "\r\n").getBytes(StandardCharsets.US_ASCII));
  }

  /** Sends a command and reads its reply. */
  int command(String command) throws IOException {
    send(command);
    return readReply();
  }

  /** Reads the greeting, sends EHLO; throws unless both are positive. */
  SmtpConn handshake(String ehloName) throws IOException {
    expect(readReply(), 220, "banner");
    expect(command("EHLO " + ehloName), 250, "EHLO");
    return this;
  }

  void expect(int code, int wanted, String what) throws IOException {
    if (code != wanted) throw new UnexpectedReply(what + ": '" + lastReply + "'");
  }

  boolean isOpen() {
    return !socket.isClosed();
  }

  @Override
  public void close() {
    try {
      socket.close();
    } catch (IOException ignored) {
      // nothing to do
    }
  }

  /** A reply other than the one expected (the connection itself is still usable). */
  static final class UnexpectedReply extends IOException {
    UnexpectedReply(String message) {
      super(message);
    }
  }
}

package dev.sluice.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * A byte-exact SMTP client for tests: writes exactly what it is given (pipelined groups, smuggling
 * sequences, bare line ends) and reads replies line by line. Can be upgraded to TLS after STARTTLS.
 */
public final class RawSmtpClient implements AutoCloseable {
  private Socket socket;
  private BufferedReader in;
  private OutputStream out;

  public RawSmtpClient(Socket connected) throws IOException {
    use(connected);
  }

  /** Connects to {@code at}, from {@code source} when not null. */
  public static RawSmtpClient connect(InetSocketAddress at, String source) throws IOException {
    Socket s = new Socket();
    if (source != null) {
      s.bind(new InetSocketAddress(source, 0));
    }
    s.connect(at);
    return new RawSmtpClient(s);
  }

  private void use(Socket s) throws IOException {
    socket = s;
    socket.setSoTimeout(20_000);
    in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
    out = s.getOutputStream();
  }

  /** Closes with a reset (SO_LINGER 0), as {@code smtp-source} does: the peer sees the connection fail. */
  public void reset() throws IOException {
    socket.setSoLinger(true, 0);
    socket.close();
  }

  public RawSmtpClient send(String text) throws IOException {
    out.write(text.getBytes(StandardCharsets.ISO_8859_1));
    out.flush();
    return this;
  }

  /** Bytes received and not yet read (the kernel's count; what the reader buffered is not included). */
  public int bytesWaiting() throws IOException {
    return socket.getInputStream().available();
  }

  /** All lines of the next reply, each followed by a newline. */
  public String replyLines() throws IOException {
    StringBuilder sb = new StringBuilder();
    String line;
    do {
      line = in.readLine();
      if (line == null) {
        throw new IOException("connection closed");
      }
      sb.append(line).append('\n');
    } while (line.length() > 3 && line.charAt(3) == '-');
    return sb.toString();
  }

  /** The last line of the next reply. */
  public String reply() throws IOException {
    String all = replyLines();
    int start = all.lastIndexOf('\n', all.length() - 2) + 1;
    return all.substring(start, all.length() - 1);
  }

  public void expect(String prefix) throws IOException {
    assertThat(reply()).startsWith(prefix);
  }

  /** Upgrades to TLS (after a 220 to STARTTLS) and goes on over it. */
  public SSLSocket upgrade(SSLContext context, String host) throws IOException {
    SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(socket, host, socket.getPort(), true);
    tls.startHandshake();
    use(tls);
    return tls;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}

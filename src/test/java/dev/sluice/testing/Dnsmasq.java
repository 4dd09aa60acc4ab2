package dev.sluice.testing;

import dev.sluice.lab.PeerDaemon;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A throwaway dnsmasq (Debian's dnsmasq-base) on a loopback UDP port, serving only the records a
 * test gives it: {@code --host-record} (A and PTR), {@code --ptr-record}, {@code --address}. No
 * upstream servers, no /etc/hosts: other reverse names of loopback addresses get NXDOMAIN
 * ({@code --bogus-priv}), other names REFUSED. Its query log is kept for the test to read.
 */
public final class Dnsmasq implements AutoCloseable {
  private final InetSocketAddress address;
  private final Path log;
  private PeerDaemon daemon;

  private Dnsmasq(InetSocketAddress address, Path log) {
    this.address = address;
    this.log = log;
  }

  /** Starts dnsmasq on {@code 127.0.0.1} with {@code records} (dnsmasq options) and waits until it answers. */
  public static Dnsmasq start(String... records) throws IOException {
    int port = Loopback.freePort();
    Path dir = Files.createTempDirectory("dnsmasq");
    Path log = dir.resolve("queries.log");
    List<String> cmd = new ArrayList<>(List.of(PeerDaemon.binary("dnsmasq", "dnsmasq-base"), "--keep-in-foreground",
        "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1", "--port=" + port,
        "--bogus-priv", "--pid-file=" + dir.resolve("pid"), "--log-queries", "--log-facility=" + log));
    cmd.addAll(List.of(records));
    Dnsmasq d = new Dnsmasq(new InetSocketAddress("127.0.0.1", port), log);
    d.daemon = PeerDaemon.start(cmd, dir, Duration.ofSeconds(15), d::answers);
    return d;
  }

  /** Whether a query for the root's SOA gets any reply. */
  private boolean answers() throws IOException {
    byte[] query = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1};
    try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
      s.setSoTimeout(300);
      s.send(new DatagramPacket(query, query.length, address));
      s.receive(new DatagramPacket(new byte[512], 512));
      return true;
    } catch (SocketTimeoutException e) {
      return false;
    }
  }

  public InetSocketAddress address() {
    return address;
  }

  /** dnsmasq's query log so far. */
  public List<String> queryLog() throws IOException {
    return Files.exists(log) ? Files.readAllLines(log) : List.of();
  }

  @Override
  public void close() {
    daemon.close();
  }
}

package dev.sluice.cli;

import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.ConfigValues;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.HealthProfile.Step;
import dev.sluice.config.HostPort;
import dev.sluice.config.IpLiteral;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.Location;
import dev.sluice.config.ResolverConfig;
import dev.sluice.config.SluiceConfig;
import dev.sluice.health.ProbeKey;
import dev.sluice.health.ProbeOutcome;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.SmtpProbe;
import dev.sluice.proxy.identity.ClientName;
import dev.sluice.proxy.identity.DnsClientNames;
import dev.sluice.runtime.Transport;
import io.netty.channel.EventLoopGroup;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code sluice probe}: one-off checks of a server, printed as an SMTP dialogue. */
@Command(name = "probe", description = "Probe a server once and print the SMTP dialogue.",
    mixinStandardHelpOptions = true, subcommands = {ProbeCommand.Backend.class, ProbeCommand.Relay.class, ProbeCommand.Name.class})
public final class ProbeCommand implements Runnable {
  @Override
  public void run() {
    new picocli.CommandLine(this).usage(System.out);
  }

  /** A command-line argument that cannot be used; the message is for the user. */
  static final class UsageError extends Exception {
    private static final long serialVersionUID = 1L;

    UsageError(String message) {
      super(message, null, false, false);
    }
  }

  static HostPort target(String text) throws UsageError {
    try {
      return ConfigValues.parseHostPort(text, false, false);
    } catch (IllegalArgumentException e) {
      throw new UsageError(e.getMessage() + " (expected HOST:PORT, e.g. 127.0.0.1:25)");
    }
  }

  /**
   * The --source address, or null when not given. Refused when {@code target} is an IP literal of
   * the other family: the connect would only fail with the kernel's "Address family not supported".
   */
  static InetAddress source(String text, HostPort target) throws UsageError {
    if (text == null) {
      return null;
    }
    InetAddress a = IpLiteral.toAddress(text);
    if (a == null) {
      throw new UsageError("--source '" + text + "' is not an IP address");
    }
    InetAddress to = IpLiteral.toAddress(target.host());
    if (to != null && to.getAddress().length != a.getAddress().length) {
      throw new UsageError("--source " + text + " is an " + family(a) + " address but " + target.host() + " is "
          + family(to) + ": a connection comes from an address of its target's family");
    }
    return a;
  }

  private static String family(InetAddress a) {
    return a.getAddress().length == 4 ? "IPv4" : "IPv6";
  }

  /**
   * {@code sluice probe name ADDRESS}: looks a client address up as a listener with a {@code
   * resolver:} does (PTR, then the forward check) and prints what XCLIENT and XFORWARD would tell
   * the backends. Exit 0 when the name is verified, 1 when there is none (or only an unverified
   * one), 2 when DNS failed or on a usage error.
   */
  @Command(name = "name", mixinStandardHelpOptions = true,
      description = {"Look up a client address as Sluice's resolver does and print the NAME and REVERSE_NAME"
          + " that XCLIENT would send.",
          "Exit status: 0 verified name, 1 no verified name, 2 DNS failure or usage error."})
  static final class Name implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ADDRESS", description = "The client's IP address.")
    String address;

    @Option(names = "--server", paramLabel = "IP[:PORT]",
        description = "DNS server to ask (repeatable); default: the config's resolver (-c), else /etc/resolv.conf.")
    List<String> servers = new ArrayList<>();

    @Option(names = "--timeout", converter = DurationConverter.class,
        description = "Time the whole lookup may take (default: the config's resolver timeout, else 5s).")
    Duration timeout;

    @Option(names = {"-c", "--config"}, description = "Configuration file whose resolver: section to use.")
    Path config;

    @Override
    public Integer call() throws Exception {
      InetAddress client = IpLiteral.toAddress(address);
      if (client == null) {
        System.err.println("sluice probe name: '" + address + "' is not an IP address");
        return 2;
      }
      ResolverConfig resolver = resolver();
      if (resolver == null) {
        return 2;
      }
      List<java.net.InetSocketAddress> nameServers;
      try {
        nameServers = DnsClientNames.nameServers(resolver, Path.of("/etc/resolv.conf"));
      } catch (IllegalArgumentException e) {
        System.err.println("sluice probe name: " + e.getMessage());
        return 2;
      }
      if (nameServers.isEmpty()) {
        System.err.println("sluice probe name: no DNS server: give --server, or a config with resolver: servers");
        return 2;
      }
      Transport transport = Transport.best();
      EventLoopGroup group = transport.newGroup(1);
      try (DnsClientNames names = new DnsClientNames(resolver, nameServers, transport.datagramChannelFactory(),
          transport.socketChannelFactory())) {
        io.netty.channel.EventLoop loop = group.next();
        ClientName name = loop.submit(() -> names.lookup(loop, client)).get()
            .get(resolver.timeout().toMillis() + 5000, TimeUnit.MILLISECONDS);
        PrintStream out = System.out;
        out.println("asked: " + nameServers.stream().map(a -> new HostPort(a.getHostString(), a.getPort()).toString())
            .collect(java.util.stream.Collectors.joining(", ")));
        out.println("XCLIENT NAME=" + name.name() + " REVERSE_NAME=" + name.reverseName());
        out.println(name.describe());
        return switch (name.result()) {
          case VERIFIED -> 0;
          case UNVERIFIED, NONE -> 1;
          case TEMPFAIL -> 2;
        };
      } finally {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }
    }

    /** The resolver settings: --server/--timeout over the config's resolver: over the defaults. */
    private ResolverConfig resolver() {
      ResolverConfig base = ResolverConfig.NONE;
      if (config != null) {
        try {
          SluiceConfig c = ConfigLoader.load(config);
          base = c.resolver();
        } catch (ConfigException e) {
          System.err.println(e.describe().strip());
          return null;
        }
      }
      List<HostPort> chosen = new ArrayList<>(base.servers());
      if (!servers.isEmpty()) {
        chosen.clear();
        for (String s : servers) {
          try {
            chosen.add(ConfigValues.parseNameServer(s));
          } catch (IllegalArgumentException e) {
            System.err.println("sluice probe name: --server " + e.getMessage());
            return null;
          }
        }
      }
      Duration t = timeout != null ? timeout : base.timeout();
      return new ResolverConfig(true, chosen, t, java.util.Map.of(), Location.NONE);
    }
  }

  /**
   * {@code sluice probe backend HOST:PORT}: runs a deep health probe once (the same code the
   * balancer runs) and prints the dialogue and the verdict. Exit 0 UP, 1 DEGRADED, 2 DOWN.
   */
  @Command(name = "backend", mixinStandardHelpOptions = true,
      description = {"Run a deep health probe once against HOST:PORT and print the dialogue and verdict.",
          "Exit status: 0 UP, 1 DEGRADED (back pressure), 2 DOWN (or usage error)."})
  static final class Backend implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server to probe.")
    String target;

    @Option(names = "--mail-from", description = "Sender for MAIL FROM (default: ${DEFAULT-VALUE}).",
        defaultValue = "probe@sluice-probe.invalid")
    String mailFrom;

    @Option(names = "--rcpt-to", description = "Recipient for RCPT TO; adds the rcpt_to step.")
    String rcptTo;

    @Option(names = "--helo", description = "Name for EHLO (default: ${DEFAULT-VALUE}).", defaultValue = "probe.sluice.invalid")
    String helo;

    @Option(names = "--starttls", description = "Upgrade with STARTTLS and report the certificate.")
    boolean starttls;

    @Option(names = "--tls", description = "Shake hands over TLS first, before the banner (implicit TLS, port 465),"
        + " and report the certificate.")
    boolean implicitTls;

    @Option(names = "--cert-warn-days", defaultValue = "14",
        description = "With --starttls or --tls: warn when the certificate expires within this many days (default: ${DEFAULT-VALUE}).")
    int certWarnDays;

    @Option(names = "--source", description = "Local address to probe from (as a listener's source_address).")
    String source;

    @Option(names = "--proxy", paramLabel = "v1|v2",
        description = "Send a PROXY protocol header first (for a port that expects one).")
    String proxy;

    @Option(names = "--xclient",
        description = "After EHLO, send XCLIENT naming the probe's own address, as a listener with client_identity: xclient does.")
    boolean xclient;

    @Option(names = "--xforward",
        description = "After EHLO, send XFORWARD naming the probe's own address (client_identity: xforward).")
    boolean xforward;

    @Option(names = "--transparent",
        description = "Connect from --source even when it is not this host's address (IP_TRANSPARENT), as a listener"
            + " with client_identity: transparent does: checks that the server's answers to that address come"
            + " back through this host.")
    boolean transparent;

    @Option(names = "--timeout", defaultValue = "5s", converter = DurationConverter.class,
        description = "Time allowed for each reply (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--profile", description = "Use this health profile from the config given with -c.")
    String profileName;

    @Option(names = {"-c", "--config"}, description = "Configuration file, with --profile.")
    Path config;

    private ClientIdentity identity() {
      if (proxy != null) {
        return proxy.equals("v2") ? ClientIdentity.PROXY_V2 : ClientIdentity.PROXY_V1;
      }
      if (transparent) {
        return ClientIdentity.TRANSPARENT;
      }
      return xclient ? ClientIdentity.XCLIENT : xforward ? ClientIdentity.XFORWARD : ClientIdentity.NONE;
    }

    @Override
    public Integer call() throws Exception {
      PrintStream out = System.out;
      HostPort hp;
      InetAddress from;
      try {
        hp = target(target);
        from = source(source, hp);
        if (certWarnDays < 0) {
          throw new UsageError("--cert-warn-days must be 0 or more");
        }
        if (proxy != null && !proxy.equals("v1") && !proxy.equals("v2")) {
          throw new UsageError("--proxy must be v1 or v2");
        }
        if ((proxy != null ? 1 : 0) + (xclient ? 1 : 0) + (xforward ? 1 : 0) + (transparent ? 1 : 0) > 1) {
          throw new UsageError("--proxy, --xclient, --xforward and --transparent are different client identities: give one");
        }
        if (transparent && from == null) {
          throw new UsageError("--transparent needs --source: the client address to connect from");
        }
        if (implicitTls && starttls) {
          throw new UsageError("--tls and --starttls: give one (--tls for port 465, where TLS comes first)");
        }
      } catch (UsageError e) {
        System.err.println("sluice probe backend: " + e.getMessage());
        return 2;
      }
      HealthProfile profile = profile();
      if (profile == null) {
        return 2;
      }
      Transport transport = Transport.best();
      String noTransparency = transparent ? transport.transparentUnavailable() : null;
      if (noTransparency != null) {
        System.err.println("sluice probe backend: --transparent: " + noTransparency);
        return 2;
      }
      EventLoopGroup group = transport.newGroup(1);
      try {
        ProbeResult r = new SmtpProbe(group, transport::clientChannelFactory)
            .probe(hp.toSocketAddress(), new ProbeKey(profile.name(), from, identity(), BackendTls.NONE, null), profile)
            .get(timeout.toMillis() * (profile.steps().size() + 4), TimeUnit.MILLISECONDS);
        r.transcript().forEach(out::println);
        out.println();
        String verdict = switch (r.outcome()) {
          case OK -> "UP";
          case BACK_PRESSURE -> "DEGRADED";
          case FAILED, MISCONFIGURED -> "DOWN";
        };
        out.println(verdict + ": " + r.reason() + " (" + r.elapsedNanos() / 1_000_000 + " ms)");
        if (transparent && r.reason().contains("connect timed out")) {
          // The server's SYN-ACK never came back: with a transparent source that is the return route
          // (a refused connection, by contrast, did come back).
          out.println("hint: with --transparent the server's answers go to " + source + "; they reach this host only"
              + " when the server's route to " + source + " goes through it and the policy route for transparent"
              + " sockets is in place (docs/security.md, Transparent mode)");
        }
        ProbeResult.CertificateInfo cert = r.certificate();
        if (cert != null) {
          out.println("certificate: " + cert.subject() + ", " + cert.describeExpiry());
          // A warning, not a verdict: the exit status stays that of the SMTP dialogue (see docs/health.md).
          if (cert.expired()) {
            out.println("WARNING: the certificate of " + target + " has EXPIRED (" + cert.notAfter() + ")");
          } else if (cert.expiresWithin(profile.certWarnDays())) {
            out.println("WARNING: the certificate of " + target + " expires in " + cert.daysLeft()
                + " days (cert_warn_days " + profile.certWarnDays() + ")");
          }
        }
        return r.outcome() == ProbeOutcome.OK ? 0 : r.outcome() == ProbeOutcome.BACK_PRESSURE ? 1 : 2;
      } finally {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
      }
    }

    /** The profile from the config, or one built from the options; null after a printed error. */
    private HealthProfile profile() {
      if (profileName != null) {
        if (config == null) {
          System.err.println("sluice probe backend: --profile needs -c FILE");
          return null;
        }
        try {
          SluiceConfig cfg = ConfigLoader.load(config);
          HealthProfile p = cfg.health().get(profileName);
          if (p == null) {
            System.err.println("sluice probe backend: no health profile '" + profileName + "' in " + config
                + "; defined: " + String.join(", ", cfg.health().keySet()));
          }
          return p;
        } catch (ConfigException e) {
          System.err.print(e.describe());
          return null;
        }
      }
      List<Step> steps = new ArrayList<>(List.of(Step.CONNECT, Step.BANNER, Step.EHLO));
      if (implicitTls) {
        steps.add(1, Step.TLS);
      } else if (starttls) {
        steps.add(Step.STARTTLS);
      }
      steps.add(Step.MAIL_FROM);
      if (rcptTo != null) {
        steps.add(Step.RCPT_TO);
      }
      steps.add(Step.QUIT);
      return new HealthProfile("command line", steps, helo, mailFrom, rcptTo, timeout.plusSeconds(1), timeout, 1, 1, certWarnDays,
          Map.of(), Location.NONE);
    }
  }

  /**
   * {@code sluice probe relay HOST:PORT --from A --to B}: tries to relay through a server (or through
   * a Sluice listener) to a foreign recipient, as an outsider would, and says OPEN RELAY when the
   * recipient is accepted. RSET before DATA unless {@code --send}, so nothing is delivered. Exit 1
   * for an open relay, 0 when refused, 2 when the server could not be asked.
   */
  @Command(name = "relay", mixinStandardHelpOptions = true,
      description = {"Try to relay through HOST:PORT to a foreign recipient and print the dialogue.",
          "Exit status: 1 OPEN RELAY, 0 relay refused, 2 error."})
  static final class Relay implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "HOST:PORT", description = "The server or listener to test.")
    String target;

    @Option(names = "--from", required = true, description = "Sender address.")
    String from;

    @Option(names = "--to", required = true, description = "Recipient in a domain the server must not relay to.")
    String to;

    @Option(names = "--source", description = "Local address to connect from (test as a given client).")
    String source;

    @Option(names = "--helo", defaultValue = "relay-test.sluice.invalid", description = "EHLO name (default: ${DEFAULT-VALUE}).")
    String helo;

    @Option(names = "--send", description = "Also send a small test message when the recipient is accepted.")
    boolean send;

    @Option(names = "--timeout", defaultValue = "10s", converter = DurationConverter.class,
        description = "Time allowed for each reply (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Override
    public Integer call() {
      PrintStream out = System.out;
      HostPort hp;
      InetAddress sourceAddress;
      try {
        hp = target(target);
        sourceAddress = source(source, hp);
      } catch (UsageError e) {
        System.err.println("sluice probe relay: " + e.getMessage());
        return 2;
      }
      try (dev.sluice.lab.LabSmtpClient c =
          dev.sluice.lab.LabSmtpClient.connect(hp.toSocketAddress(), sourceAddress, timeout)) {
        Transcript t = new Transcript(out);
        t.server(c.banner());
        if (!c.banner().isPositive()) {
          out.println("\nrelay refused: no session (" + c.banner() + ")");
          return 0;
        }
        t.exchange(c, "EHLO " + helo);
        if (!t.exchange(c, "MAIL FROM:<" + this.from + ">").isPositive()) {
          out.println("\nrelay refused at MAIL FROM");
          return 0;
        }
        var rcpt = t.exchange(c, "RCPT TO:<" + to + ">");
        if (!rcpt.isPositive()) {
          t.exchange(c, "RSET");
          out.println("\nrelay refused: " + rcpt);
          return 0;
        }
        if (send) {
          t.exchange(c, "DATA");
          out.println("C: (test message)");
          t.server(c.command("Subject: sluice relay test\r\n\r\nThis server relayed a message for an outsider.\r\n."));
        } else {
          t.exchange(c, "RSET");
        }
        out.println("\nOPEN RELAY: " + hp + " accepted a recipient in a foreign domain (" + to + ") from "
            + (source == null ? "this host" : source));
        return 1;
      } catch (java.io.IOException e) {
        System.err.println("sluice probe relay: " + e.getMessage());
        return 2;
      }
    }
  }

  /** Prints an SMTP dialogue the way the seed's telnet sessions read. */
  private static final class Transcript {
    private final PrintStream out;

    Transcript(PrintStream out) {
      this.out = out;
    }

    void server(dev.sluice.proxy.smtp.SmtpReply r) {
      r.lines().forEach(l -> out.println("S: " + l));
    }

    dev.sluice.proxy.smtp.SmtpReply exchange(dev.sluice.lab.LabSmtpClient c, String command) throws java.io.IOException {
      out.println("C: " + command);
      dev.sluice.proxy.smtp.SmtpReply r = c.command(command);
      server(r);
      return r;
    }
  }
}

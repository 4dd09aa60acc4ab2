package dev.sluice.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A throwaway Postfix instance listening on a loopback address: the backends of {@code sluice lab
 * --backend postfix} ({@link PostfixBackends}) and of the integration tests.
 *
 * <p>Each instance lives in its own temporary directory:
 *
 * <pre>
 *   DIR/etc/main.cf, master.cf   config_directory (what {@code postfix -c} gets)
 *   DIR/etc/virtual_mailbox      catch-all: every recipient in the local domains → DIR/mail/maildir/
 *   DIR/queue/                   queue_directory (private/public sockets live here, so unique)
 *   DIR/data/                    data_directory
 *   DIR/mail/maildir/{new,cur}   delivered messages, one file each
 *   DIR/maillog                  maillog_file, written by this instance's postlogd
 * </pre>
 *
 * <p>The smtpd service is bound to {@code address():port()} only; nothing is ever delivered off
 * the machine: {@code default_transport}, {@code relay_transport} and {@code local_transport} are
 * {@code error:} (the lab makes the first two {@code virtual}, so relayed mail lands in the Maildir
 * too), DNS is disabled and reverse lookups of clients are off (clients appear as {@code
 * unknown[127.0.0.x]} in the maillog). Mail for the local domains (default {@code example.test} and
 * {@code corp.example}) is delivered by {@code virtual(8)} to one Maildir, counted by {@link
 * #deliveredCount()}.
 *
 * <p>Optionally it greylists with a postgrey of its own ({@link Builder#greylisting}), started and
 * stopped with it.
 *
 * <p>Needs root (Postfix's master must start as root) and Postfix installed. The default Postfix
 * instance does not need to run; its {@code /etc/postfix/main.cf} only gets this instance's config
 * directory added to {@code alternate_config_directories} (and removed again on {@link #close()}).
 *
 * <p>Typical use:
 *
 * <pre>{@code
 * try (PostfixInstance pf = PostfixInstance.builder("pf-a").build().start()) {
 *   SmtpClients.swaks(pf.address(), pf.port(), "a@corp.example", "u@example.test", "127.0.0.9");
 *   pf.awaitDelivered(1);
 * }
 * }</pre>
 *
 * <p>Thread-safety: the lifecycle methods are synchronized; read methods may be called from any
 * thread. Every live instance is also stopped and deleted by a JVM shutdown hook.
 */
public final class PostfixInstance implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PostfixInstance.class);

  /**
   * Action of the back-pressure access table. Postfix wraps access-table text, so the reply on the
   * wire is {@code 452 4.3.1 <sender>: Sender address rejected: Insufficient system resources};
   * use {@link #isBackPressureReply(String)} to recognise it.
   */
  public static final String BACK_PRESSURE_REPLY = "452 4.3.1 Insufficient system resources";

  /** True for the reply line an outside sender gets at MAIL FROM while back pressure is on. */
  public static boolean isBackPressureReply(String replyLine) {
    return replyLine.startsWith("452 4.3.1 ")
        && replyLine.endsWith("Insufficient system resources");
  }

  private static final Path DEFAULT_MAIN_CF = Path.of("/etc/postfix/main.cf");
  private static final Path ALT_DIRS_LOCK = Path.of("/etc/postfix/.sluice-testing.lock");
  private static final String DIR_PREFIX = "sluice-postfix-";
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9-]{0,40}");
  private static final Set<PostfixInstance> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  for (PostfixInstance pf : List.copyOf(LIVE)) {
                    try {
                      pf.close();
                    } catch (RuntimeException e) {
                      log.warn("shutdown hook: could not close {}: {}", pf, e.toString());
                    }
                  }
                },
                "postfix-instance-cleanup"));
  }

  private final String name;
  private final String address;
  private final int port;
  private final Path dir;
  private final Path etc;
  private final Path queue;
  private final Path maildir;
  private final Path maillogFile;
  private final BackPressurePolicy policy;
  /** Null unless the instance greylists. */
  private final Postgrey postgrey;
  private final Duration startTimeout;
  private volatile boolean running;
  private volatile boolean closed;

  private PostfixInstance(Builder b) {
    this.name = b.name;
    this.address = b.address;
    this.port = b.port > 0 ? b.port : freePort(b.address);
    this.startTimeout = b.startTimeout;
    requireRoot();
    try {
      this.dir = Files.createTempDirectory(DIR_PREFIX + name + "-");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary directory for " + name, e);
    }
    this.policy = new BackPressurePolicy(name, b.backPressureExemptDomain);
    this.postgrey = b.greylistDelay == null ? null
        : new Postgrey(dir.resolve("postgrey"), b.greylistDelay, freePort("127.0.0.1"));
    this.etc = dir.resolve("etc");
    this.queue = dir.resolve("queue");
    this.maildir = dir.resolve("mail").resolve("maildir");
    this.maillogFile = dir.resolve("maillog");
    LIVE.add(this);
    try {
      // createTempDirectory gives 0700; Postfix daemons (user postfix) must traverse it.
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
      Files.createDirectory(etc);
      Files.createDirectory(queue);
      Path mail = Files.createDirectory(dir.resolve("mail"));
      UserPrincipalLookupService lookup = dir.getFileSystem().getUserPrincipalLookupService();
      UserPrincipal postfixUser = lookup.lookupPrincipalByName("postfix");
      GroupPrincipal postfixGroup = lookup.lookupPrincipalByGroupName("postfix");
      PosixFileAttributeView view = Files.getFileAttributeView(mail, PosixFileAttributeView.class);
      view.setOwner(postfixUser);
      view.setGroup(postfixGroup);
      int uid = (Integer) Files.getAttribute(mail, "unix:uid");
      int gid = (Integer) Files.getAttribute(mail, "unix:gid");

      createQueueDirectories(postfixUser, lookup);

      Files.writeString(etc.resolve("virtual_mailbox"), "/.*/ maildir/\n");
      Files.writeString(etc.resolve("main.cf"), mainCf(b, uid, gid));
      Files.writeString(etc.resolve("master.cf"), masterCf(b));
      for (String f : List.of("main.cf", "master.cf", "virtual_mailbox")) {
        backdate(etc.resolve(f));
      }
      registerAlternateConfigDirectory(etc, true);
    } catch (IOException | RuntimeException e) {
      closed = true;
      policy.close();
      deleteTree(dir);
      LIVE.remove(this);
      if (e instanceof RuntimeException re) {
        throw re;
      }
      throw new UncheckedIOException("cannot create Postfix instance " + name, (IOException) e);
    }
  }

  /** Starts a builder for an instance called {@code name} (letters, digits, dashes). */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  // ------------------------------------------------------------------ configuration

  /**
   * Creates queue_directory and data_directory exactly as Postfix's {@code postfix-files} /
   * {@code post-install create-missing} would (owner, group, mode). Together with the {@code
   * quick-start} marker this lets {@code postfix start} skip its slow integrity checks, which
   * otherwise run ~20 postconf processes and take seconds per instance.
   */
  private void createQueueDirectories(
      UserPrincipal mailOwner, UserPrincipalLookupService lookup)
      throws IOException {
    GroupPrincipal root = lookup.lookupPrincipalByGroupName("root");
    GroupPrincipal setgid = lookup.lookupPrincipalByGroupName("postdrop");
    UserPrincipal rootUser = lookup.lookupPrincipalByName("root");
    for (String q :
        List.of(
            "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
            "private", "saved", "trace")) {
      mkdir(queue.resolve(q), mailOwner, root, "rwx------");
    }
    mkdir(queue.resolve("maildrop"), mailOwner, setgid, "rwx-wx---");
    mkdir(queue.resolve("public"), mailOwner, setgid, "rwx--x---");
    mkdir(queue.resolve("pid"), rootUser, root, "rwxr-xr-x");
    mkdir(dir.resolve("data"), mailOwner, root, "rwx------");
  }

  private static void mkdir(Path d, UserPrincipal owner, GroupPrincipal group, String mode)
      throws IOException {
    Files.createDirectories(d);
    PosixFileAttributeView v = Files.getFileAttributeView(d, PosixFileAttributeView.class);
    v.setOwner(owner);
    v.setGroup(group);
    v.setPermissions(PosixFilePermissions.fromString(mode));
  }

  private String mainCf(Builder b, int uid, int gid) {
    Map<String, String> p = new LinkedHashMap<>();
    p.put("compatibility_level", "3.6");
    p.put("queue_directory", queue.toString());
    p.put("data_directory", dir.resolve("data").toString());
    p.put("maillog_file", maillogFile.toString());
    p.put("maillog_file_prefixes", dir.toString());
    p.put("myhostname", name + ".sluice.test");
    p.put("mydomain", "sluice.test");
    p.put("mydestination", "");
    p.put("inet_interfaces", "loopback-only");
    p.put("inet_protocols", "ipv4");
    p.put("mynetworks", b.mynetworks);
    // Nothing leaves this machine: no DNS, no outbound or local delivery.
    p.put("smtpd_peername_lookup", "no");
    p.put("smtp_dns_support_level", "disabled");
    p.put("default_transport", "error:5.7.1 test instance: no outbound delivery");
    p.put("relay_transport", "error:5.7.1 test instance: no outbound delivery");
    p.put("local_transport", "error:5.7.1 test instance: no local delivery");
    p.put("alias_maps", "");
    p.put("alias_database", "");
    p.put("biff", "no");
    p.put("notify_classes", "");
    p.put("delay_warning_time", "0");
    // Countable delivery: every recipient in the local domains goes to one Maildir.
    p.put("virtual_mailbox_domains", String.join(" ", b.domains));
    p.put("virtual_mailbox_maps", "regexp:" + etc.resolve("virtual_mailbox"));
    p.put("virtual_mailbox_base", dir.resolve("mail").toString());
    p.put("virtual_uid_maps", "static:" + uid);
    p.put("virtual_gid_maps", "static:" + gid);
    p.put("virtual_minimum_uid", "1");
    p.put("virtual_mailbox_limit", "0");
    // SMTP server behaviour.
    p.put("smtpd_banner", "$myhostname ESMTP Postfix sluice-test " + name);
    p.put("smtpd_delay_reject", "no");
    p.put("smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination");
    // Back pressure: asked at every MAIL FROM, so it also reaches sessions already open.
    p.put("smtpd_sender_restrictions", "check_policy_service inet:127.0.0.1:" + policy.port());
    if (postgrey != null) {
      p.put("smtpd_recipient_restrictions", postgrey.restriction());
    }
    p.put("smtpd_authorized_xclient_hosts", "127.0.0.0/8");
    p.put("smtpd_authorized_xforward_hosts", "127.0.0.0/8");
    // No throttling: load tests must measure the balancer, not anvil.
    p.put("smtpd_client_connection_count_limit", "0");
    p.put("smtpd_client_connection_rate_limit", "0");
    p.put("smtpd_client_message_rate_limit", "0");
    p.put("smtpd_client_recipient_rate_limit", "0");
    p.put("smtpd_client_new_tls_session_rate_limit", "0");
    p.put("smtpd_client_auth_rate_limit", "0");
    p.put("in_flow_delay", "0s");
    p.put("default_process_limit", "200");
    // Short delays so retries and queue runs happen within a test.
    p.put("queue_run_delay", "1s");
    p.put("minimal_backoff_time", "1s");
    p.put("maximal_backoff_time", "2s");
    p.putAll(b.mainCf);
    StringBuilder sb =
        new StringBuilder("# Generated by dev.sluice.lab.PostfixInstance (" + name + ")\n");
    p.forEach((k, v) -> sb.append(k).append(" = ").append(v).append('\n'));
    return sb.toString();
  }

  private String masterCf(Builder b) {
    StringBuilder sb =
        new StringBuilder("# Generated by dev.sluice.lab.PostfixInstance (" + name + ")\n");
    sb.append(address).append(':').append(port).append(" inet n - n - - smtpd\n");
    b.smtpdOptions.forEach((k, v) -> sb.append("  -o ").append(k).append('=').append(v).append('\n'));
    for (Listener l : b.extraListeners) {
      sb.append(address).append(':').append(l.port()).append(l.postscreen() ? " inet n - n - 1 postscreen\n" : " inet n - n - - smtpd\n");
      l.options().forEach((k, v) -> sb.append("  -o ").append(k).append('=').append(v).append('\n'));
    }
    if (b.extraListeners.stream().anyMatch(Listener::postscreen)) {
      // What postscreen hands clients to, and its helpers (postscreen(8)).
      sb.append("smtpd      pass  - - n -     - smtpd\n");
      b.smtpdOptions.forEach((k, v) -> sb.append("  -o ").append(k).append('=').append(v).append('\n'));
      sb.append("dnsblog    unix  - - n -     0 dnsblog\n");
      sb.append("tlsproxy   unix  - - n -     0 tlsproxy\n");
    }
    sb.append(
        """
        pickup     unix  n - n 60    1 pickup
        cleanup    unix  n - n -     0 cleanup
        qmgr       unix  n - n 300   1 qmgr
        rewrite    unix  - - n -     - trivial-rewrite
        bounce     unix  - - n -     0 bounce
        defer      unix  - - n -     0 bounce
        trace      unix  - - n -     0 bounce
        verify     unix  - - n -     1 verify
        flush      unix  n - n 1000? 0 flush
        proxymap   unix  - - n -     - proxymap
        proxywrite unix  - - n -     1 proxymap
        showq      unix  n - n -     - showq
        error      unix  - - n -     - error
        retry      unix  - - n -     - error
        discard    unix  - - n -     - discard
        virtual    unix  - n n -     - virtual
        anvil      unix  - - n -     1 anvil
        scache     unix  - - n -     1 scache
        tlsmgr     unix  - - n 1000? 1 tlsmgr
        postlog    unix-dgram n - n - 1 postlogd
        """);
    return sb.toString();
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Runs {@code postfix -c DIR start} and waits until the port answers with a 220 banner.
   *
   * @return this instance
   * @throws IllegalStateException if Postfix does not start or does not answer in time
   */
  public synchronized PostfixInstance start() {
    checkOpen();
    if (running) {
      return this;
    }
    long t0 = System.nanoTime();
    try {
      // Postfix's own fast path (also used by "postfix quick-stop"): skip the integrity checks;
      // the directories were created with the right owners and modes above.
      Files.writeString(queue.resolve("quick-start"), "");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (postgrey != null) {
      postgrey.start(); // before smtpd: a RCPT asked of no policy server would get a 451
    }
    postfix("start").orThrow();
    long t1 = System.nanoTime();
    running = true;
    try {
      poll("220 banner from " + this, startTimeout, () -> banner().startsWith("220"));
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          this + " did not answer 220 in " + startTimeout + "; maillog:\n" + tail(40), e);
    }
    log.debug("{} started in {} ms (postfix start {} ms) in {}",
        this, (System.nanoTime() - t0) / 1_000_000, (t1 - t0) / 1_000_000, dir);
    return this;
  }

  /**
   * Freezes the instance (SIGSTOP to its master and every process under it): connections are still
   * accepted by the kernel, but nothing answers, like a server stuck on a full disk. {@link #thaw()}
   * resumes it.
   */
  public void freeze() {
    signalAll("-STOP");
  }

  /**
   * Kills the instance outright (SIGKILL to the master and every process under it), as a crash or
   * an OOM kill would: sessions die mid-command, nothing is flushed. {@link #start()} brings it back.
   */
  public synchronized void kill() {
    Optional<Long> masterPid = masterPid();
    masterPid.flatMap(ProcessHandle::of).ifPresent(ph -> {
      ph.descendants().forEach(ProcessHandle::destroyForcibly);
      ph.destroyForcibly();
    });
    poll("killed " + this + " to be gone", Duration.ofSeconds(15),
        () -> masterPid.map(pid -> !alive(pid)).orElse(true) && !portOpen());
    running = false;
  }

  /** Resumes a {@link #freeze() frozen} instance. */
  public void thaw() {
    signalAll("-CONT");
  }

  private void signalAll(String signal) {
    long master;
    try {
      master = Long.parseLong(Files.readString(queue.resolve("pid").resolve("master.pid")).trim());
    } catch (IOException | NumberFormatException e) {
      throw new IllegalStateException("cannot read the master pid of " + this, e);
    }
    java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("kill", signal, Long.toString(master)));
    ProcessHandle.of(master).ifPresent(h -> h.descendants().forEach(d -> cmd.add(Long.toString(d.pid()))));
    ExternalCommand.run(Duration.ofSeconds(10), cmd);
  }

  /**
   * Runs {@code postfix -c DIR stop} and waits until the master process is gone and the port
   * refuses connections. The instance can be started again with {@link #start()}.
   */
  public synchronized void stop() {
    if (postgrey != null) {
      postgrey.stop(); // it may run without Postfix, whose start failed
    }
    if (!running) {
      return;
    }
    Optional<Long> masterPid = masterPid();
    ExternalCommand.Result r = postfix("stop");
    try {
      poll("master of " + this + " to exit", Duration.ofSeconds(15),
          () -> masterPid.map(pid -> !alive(pid)).orElse(true) && !portOpen());
    } catch (RuntimeException e) {
      // Last resort: kill the master and its children outright.
      masterPid
          .flatMap(ProcessHandle::of)
          .ifPresent(
              ph -> {
                ph.descendants().forEach(ProcessHandle::destroyForcibly);
                ph.destroyForcibly();
              });
      running = false;
      throw new IllegalStateException(this + " did not stop: " + r.describe(), e);
    }
    running = false;
  }

  /**
   * Runs {@code postfix -c DIR flush}: every deferred message is tried again now rather than after
   * Postfix's retry backoff (minutes), e.g. when a kill left a delivery deferred.
   */
  public synchronized void flush() {
    checkOpen();
    if (running) {
      postfix("flush").orThrow();
    }
  }

  /** Runs {@code postfix -c DIR reload} (configuration and tables are re-read). */
  public synchronized void reload() {
    checkOpen();
    if (running) {
      postfix("reload").orThrow();
    }
  }

  /**
   * Turns back pressure on or off. While on, every sender outside the exempt domain (default
   * {@code corp.example}) gets {@code 452 4.3.1 <sender>: Sender address rejected: Insufficient
   * system resources} at {@code MAIL FROM} (see {@link #isBackPressureReply(String)}); senders in
   * the exempt domain are accepted. Implemented as a {@code check_policy_service} in this JVM
   * ({@link BackPressurePolicy}), asked at every MAIL FROM: no reload, and a session already open
   * sees the change at its next transaction, as with Exchange. Returns only once a probe connection
   * observes the new behaviour.
   */
  public synchronized void setBackPressure(boolean on) {
    checkOpen();
    policy.set(on);
    if (!running) {
      return;
    }
    String probeSender = "probe@outside-" + name + ".invalid";
    poll("back pressure " + (on ? "on" : "off") + " observable on " + this, Duration.ofSeconds(15),
        () -> {
          String reply = mailFromReply(probeSender);
          return on ? isBackPressureReply(reply) : reply.startsWith("250");
        });
  }

  /**
   * Makes this instance's greylisting forget every triplet it has seen: its postgrey restarts with an
   * empty database. No-op unless the instance greylists ({@link Builder#greylisting}).
   */
  public synchronized void forgetGreylisting() {
    checkOpen();
    if (postgrey != null) {
      postgrey.forget();
    }
  }

  /** Whether back pressure is currently configured on. */
  public boolean backPressure() {
    return policy.isOn();
  }

  /** Stops the instance (if running), unregisters it and deletes its directory. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    RuntimeException failure = null;
    try {
      stop();
    } catch (RuntimeException e) {
      failure = e;
    }
    try {
      registerAlternateConfigDirectory(etc, false);
    } catch (RuntimeException e) {
      if (failure == null) {
        failure = e;
      }
    }
    policy.close();
    deleteTree(dir);
    LIVE.remove(this);
    if (failure != null) {
      throw failure;
    }
  }

  // ------------------------------------------------------------------ accessors

  /** The instance name (also in the banner and {@code myhostname = NAME.sluice.test}). */
  public String name() {
    return name;
  }

  /** The loopback address smtpd is bound to. */
  public String address() {
    return address;
  }

  /** The TCP port smtpd listens on. */
  public int port() {
    return port;
  }

  /** The instance's temporary directory. */
  public Path directory() {
    return dir;
  }

  /** The config directory given to {@code postfix -c}. */
  public Path configDirectory() {
    return etc;
  }

  /** The maillog file path. */
  public Path maillogFile() {
    return maillogFile;
  }

  /** Whether {@link #start()} succeeded and {@link #stop()} has not been called since. */
  public boolean isRunning() {
    return running;
  }

  /** Number of delivered messages (files in the Maildir's {@code new} and {@code cur}). */
  public int deliveredCount() {
    return deliveredMessages().size();
  }

  /** Paths of the delivered message files, sorted by name (≈ delivery order). */
  public List<Path> deliveredMessages() {
    List<Path> all = new ArrayList<>();
    for (String sub : List.of("new", "cur")) {
      Path d = maildir.resolve(sub);
      if (!Files.isDirectory(d)) {
        continue;
      }
      try (Stream<Path> s = Files.list(d)) {
        s.filter(Files::isRegularFile).forEach(all::add);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    all.sort(null);
    return all;
  }

  /** Contents of the delivered messages, in {@link #deliveredMessages()} order. */
  public List<String> deliveredMessageContents() {
    return deliveredMessages().stream().map(PostfixInstance::read).collect(Collectors.toList());
  }

  /** Number of messages still in the queue (maildrop, incoming, active, deferred, hold). */
  public int queuedCount() {
    int n = 0;
    for (String q : List.of("maildrop", "incoming", "active", "deferred", "hold")) {
      Path d = queue.resolve(q);
      if (!Files.isDirectory(d)) {
        continue;
      }
      try (Stream<Path> s = Files.walk(d)) {
        n += (int) s.filter(f -> Files.isRegularFile(f) && (!q.equals("incoming") || complete(f))).count();
      } catch (IOException | UncheckedIOException e) {
        // files vanish while Postfix moves them; count again on the next poll
        return Integer.MAX_VALUE;
      }
    }
    return n;
  }

  /**
   * Whether a queue file in {@code incoming} is a whole message: cleanup sets the owner-execute bit
   * when it has written the file (Postfix's MAIL_QUEUE_STAT_READY), and qmgr leaves files without
   * it alone. A {@code postfix stop} while cleanup was writing leaves such a file behind for good
   * (until postsuper purges it hours later); it holds a message no client was told was accepted.
   */
  private static boolean complete(Path f) {
    try {
      return Files.getPosixFilePermissions(f).contains(java.nio.file.attribute.PosixFilePermission.OWNER_EXECUTE);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // gone meanwhile: counted again on the next poll
    }
  }

  /**
   * Submits {@code message} (headers, a blank line, the body) from {@code from} to {@code to} with
   * Postfix's own {@code sendmail} and this instance's configuration: local mail, which postdrop
   * puts in the maildrop and pickup hands to cleanup, as a cron job's or a script's would go. No
   * smtpd sees it, so the maillog names no client for it.
   */
  public void sendmail(String from, String to, String message) {
    checkOpen();
    Path file = null;
    try {
      file = Files.createTempFile("sluice-sendmail-", ".eml");
      Files.writeString(file, message, StandardCharsets.UTF_8);
      ExternalCommand.run(Duration.ofSeconds(30), file,
          List.of(ExternalCommand.tool("sendmail"), "-C", etc.toString(), "-f", from, "--", to)).orThrow();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the message for sendmail", e);
    } finally {
      if (file != null) {
        try {
          Files.deleteIfExists(file);
        } catch (IOException ignored) {
          // a temp file; nothing useful to do
        }
      }
    }
  }

  /**
   * Runs {@code postsuper -c DIR ARGS} on this instance's queue ({@code -r ALL}, {@code -d QUEUEID},
   * …) and returns what it reported (it reports on stderr), one line each, without the program
   * name: {@code Requeued: 3 messages}.
   */
  public String postsuper(String... args) {
    checkOpen();
    List<String> cmd = new ArrayList<>(List.of(ExternalCommand.tool("postsuper"), "-c", etc.toString()));
    cmd.addAll(Arrays.asList(args));
    return ExternalCommand.run(Duration.ofSeconds(30), cmd).orThrow().stderr().trim()
        .replaceAll("(?m)^postsuper: ", "");
  }

  /**
   * Has pickup look into the maildrop now ({@code postkick public pickup W}) rather than at its
   * next minute: local mail and messages {@code postsuper -r} requeued go on at once.
   */
  public void kickPickup() {
    checkOpen();
    ExternalCommand.run(Duration.ofSeconds(30), ExternalCommand.tool("postkick"), "-c", etc.toString(), "public",
        "pickup", "W").orThrow();
  }

  /**
   * Waits (at most 30 s) until {@code n} messages are in the queue ({@link #queuedCount()}) and
   * none is in the active queue: nothing moves between queues then unless a retry is due, so
   * postsuper finds each message where the test put it.
   */
  public void awaitSettled(int n) {
    Path active = queue.resolve("active");
    poll(n + " messages settled in the queue of " + this, Duration.ofSeconds(30), () -> {
      try (Stream<Path> files = Files.list(active)) {
        return queuedCount() == n && files.findAny().isEmpty();
      }
    });
  }

  /** All maillog lines written so far (empty if none yet). */
  public List<String> maillog() {
    if (!Files.exists(maillogFile)) {
      return List.of();
    }
    try {
      // Lenient decoding: a client may have sent raw 8-bit bytes that Postfix logs verbatim.
      return new String(Files.readAllBytes(maillogFile), StandardCharsets.UTF_8)
          .lines()
          .collect(Collectors.toList());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Waits (at most 30 s) until the queue is empty. */
  public void awaitQueueEmpty() {
    awaitQueueEmpty(Duration.ofSeconds(30));
  }

  /** Waits until the queue is empty. */
  public void awaitQueueEmpty(Duration atMost) {
    try {
      poll("queue of " + this + " empty", atMost, () -> queuedCount() == 0);
    } catch (IllegalStateException e) {
      // What is stuck, and the log's last words on it, so that a failure says why.
      List<String> log = maillog();
      throw new IllegalStateException(e.getMessage() + "; still queued: " + queueListing() + "; last maillog lines: "
          + String.join(" | ", log.subList(Math.max(0, log.size() - 15), log.size())), e);
    }
  }

  /** The files of the queue directories that {@link #queuedCount} counts, with their modes. */
  private String queueListing() {
    List<String> out = new ArrayList<>();
    for (String q : List.of("maildrop", "incoming", "active", "deferred", "hold")) {
      try (Stream<Path> s = Files.walk(queue.resolve(q))) {
        s.filter(Files::isRegularFile).forEach(f -> {
          try {
            out.add(queue.relativize(f) + " " + PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
          } catch (IOException e) {
            out.add(queue.relativize(f) + " (gone)");
          }
        });
      } catch (IOException | UncheckedIOException e) {
        out.add(q + " (unreadable: " + e.getMessage() + ")");
      }
    }
    return out.isEmpty() ? "nothing" : String.join(", ", out);
  }

  /** Waits (at most 30 s) until at least {@code n} messages are delivered; returns the count. */
  public int awaitDelivered(int n) {
    return awaitDelivered(n, Duration.ofSeconds(30));
  }

  /** Waits until at least {@code n} messages are delivered; returns the count then. */
  public int awaitDelivered(int n, Duration atMost) {
    poll(n + " messages delivered by " + this, atMost, () -> deliveredCount() >= n);
    return deliveredCount();
  }

  /** Waits (at most 10 s) until some maillog line contains {@code text}; returns that line. */
  public String awaitMaillog(String text) {
    String[] found = {null};
    poll("maillog of " + this + " to contain " + text, Duration.ofSeconds(10),
        () -> (found[0] = maillog().stream().filter(l -> l.contains(text)).findFirst().orElse(null)) != null);
    return found[0];
  }

  /** Connects, reads the (first line of the) greeting, sends QUIT; returns the greeting line. */
  public String banner() throws IOException {
    try (Socket s = connect()) {
      BufferedReader in = reader(s);
      String banner = readReply(in);
      send(s, "QUIT");
      return banner;
    }
  }

  /**
   * Opens a probe session and returns the server's last-line reply to {@code MAIL FROM:<sender>}
   * (after {@code EHLO}); the session ends with QUIT.
   */
  public String mailFromReply(String sender) throws IOException {
    try (Socket s = connect()) {
      BufferedReader in = reader(s);
      String banner = readReply(in);
      if (!banner.startsWith("220")) {
        return banner;
      }
      send(s, "EHLO probe.sluice.test");
      readReply(in);
      send(s, "MAIL FROM:<" + sender + ">");
      String reply = readReply(in);
      send(s, "QUIT");
      return reply;
    }
  }

  @Override
  public String toString() {
    return "postfix " + name + " " + address + ":" + port;
  }

  // ------------------------------------------------------------------ helpers

  /** A condition to poll; an exception counts as "not yet". */
  @FunctionalInterface
  interface Check {
    boolean holds() throws Exception;
  }

  /**
   * Polls {@code check} every 50 ms until it holds; throws {@link IllegalStateException} naming
   * {@code what} (and the last exception the check threw, if any) once {@code atMost} has passed.
   */
  static void poll(String what, Duration atMost, Check check) {
    long deadline = System.nanoTime() + atMost.toNanos();
    Exception last = null;
    while (true) {
      try {
        if (check.holds()) {
          return;
        }
      } catch (Exception e) {
        last = e;
      }
      if (System.nanoTime() - deadline > 0) {
        IllegalStateException timeout =
            new IllegalStateException("no " + what + " within " + atMost.toMillis() + " ms");
        if (last != null) {
          timeout.initCause(last);
        }
        throw timeout;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for " + what, e);
      }
    }
  }

  private Socket connect() throws IOException {
    Socket s = new Socket();
    try {
      s.connect(new InetSocketAddress(address, port), 2000);
      s.setSoTimeout(5000);
      return s;
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  private static BufferedReader reader(Socket s) throws IOException {
    return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.US_ASCII));
  }

  private static void send(Socket s, String line) throws IOException {
    OutputStream out = s.getOutputStream();
    out.write((line + "\r\n").getBytes(StandardCharsets.US_ASCII));
    out.flush();
  }

  /** Reads a possibly multi-line reply and returns its last line. */
  private static String readReply(BufferedReader in) throws IOException {
    String line;
    while ((line = in.readLine()) != null) {
      if (line.length() < 4 || line.charAt(3) != '-') {
        return line;
      }
    }
    throw new IOException("connection closed before a complete reply");
  }

  private boolean portOpen() {
    return portOpen(address, port, 500);
  }

  /** Whether something accepts TCP connections on {@code host:port} within {@code timeoutMillis}. */
  static boolean portOpen(String host, int port, int timeoutMillis) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, port), timeoutMillis);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private Optional<Long> masterPid() {
    try {
      return Optional.of(Long.parseLong(Files.readString(queue.resolve("pid/master.pid")).trim()));
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  /** Alive and not a zombie (zombies linger until init reaps them; they hold no resources). */
  private static boolean alive(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
      int close = stat.lastIndexOf(')');
      return close < 0 || stat.length() < close + 3 || stat.charAt(close + 2) != 'Z';
    } catch (IOException e) {
      return false;
    }
  }

  private ExternalCommand.Result postfix(String verb) {
    // Idempotent; re-adds the entry if something else rewrote alternate_config_directories
    // meanwhile (postfix -c refuses directories that are not listed).
    registerAlternateConfigDirectory(etc, true);
    return ExternalCommand.run(
        Duration.ofSeconds(60), ExternalCommand.tool("postfix"), "-c", etc.toString(), verb);
  }

  private String tail(int n) {
    List<String> lines = maillog();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException(this + " is closed");
    }
  }

  private static String read(Path p) {
    try {
      return Files.readString(p, StandardCharsets.ISO_8859_1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void requireRoot() {
    unavailableReason(ExternalCommand.tool("postfix"), System.getProperty("user.name"))
        .ifPresent(reason -> {
          throw new IllegalStateException(reason);
        });
  }

  /**
   * Why no instance can run here, or empty when one can: Postfix must be installed ({@code
   * postfixCommand} executable) and this process must be root (Postfix's master starts as root).
   */
  public static Optional<String> unavailableReason(String postfixCommand, String user) {
    if (!Files.isExecutable(Path.of(postfixCommand))) {
      return Optional.of("Postfix is not installed (no /usr/sbin/postfix); install it, e.g. apt-get install postfix"
          + " (./test does this when run as root)");
    }
    if (!"root".equals(user)) {
      return Optional.of("Postfix instances need root (Postfix's master starts as root); running as " + user);
    }
    return Optional.empty();
  }

  private static int freePort(String address) {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(false);
      s.bind(new InetSocketAddress(address, 0));
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("no free port on " + address, e);
    }
  }

  /**
   * Adds or removes {@code configDir} in the default instance's {@code
   * alternate_config_directories}, creating a minimal {@code /etc/postfix/main.cf} if absent. Also
   * drops entries of earlier harness instances whose directories no longer exist. Serialized across
   * threads (synchronized) and JVMs (a file lock).
   */
  @SuppressWarnings("try") // the lock is held for the block; it is not otherwise referenced
  private static synchronized void registerAlternateConfigDirectory(Path configDir, boolean add) {
    try {
      Files.createDirectories(DEFAULT_MAIN_CF.getParent());
      try (FileChannel ch =
              FileChannel.open(ALT_DIRS_LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
          FileLock ignored = ch.lock()) {
        if (!Files.exists(DEFAULT_MAIN_CF)) {
          Files.writeString(
              DEFAULT_MAIN_CF,
              "# Minimal main.cf created by dev.sluice.lab.PostfixInstance\n"
                  + "compatibility_level = 3.6\n"
                  + "inet_interfaces = loopback-only\n");
        }
        String postconf = ExternalCommand.tool("postconf");
        String current =
            ExternalCommand.run(Duration.ofSeconds(30), postconf, "-h", "alternate_config_directories")
                .orThrow()
                .stdout()
                .trim();
        List<String> before = new ArrayList<>();
        List<String> dirs = new ArrayList<>();
        for (String d : current.split("[\\s,]+")) {
          if (!d.isEmpty()) {
            before.add(d);
          }
          if (d.isEmpty() || dirs.contains(d)) {
            continue;
          }
          boolean stale = d.contains("/" + DIR_PREFIX) && !Files.isDirectory(Path.of(d));
          if (!stale && !d.equals(configDir.toString())) {
            dirs.add(d);
          }
        }
        if (add) {
          dirs.add(configDir.toString());
        }
        if (Set.copyOf(dirs).equals(Set.copyOf(before)) && dirs.size() == before.size()) {
          return; // already as wanted: do not rewrite main.cf
        }
        List<String> cmd =
            dirs.isEmpty()
                ? List.of(postconf, "-X", "alternate_config_directories")
                : List.of(postconf, "-e", "alternate_config_directories = " + String.join(" ", dirs));
        ExternalCommand.run(Duration.ofSeconds(30), cmd).orThrow();
        backdate(DEFAULT_MAIN_CF);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot update " + DEFAULT_MAIN_CF, e);
    }
  }

  /**
   * Sets a config file's mtime 10 s into the past. Postfix re-reads a configuration file in 300 ms
   * steps for as long as its mtime is within about the last second (it may still be being
   * written), which made every start after writing main.cf take 1.5 to 2 s.
   */
  private static void backdate(Path file) throws IOException {
    Files.setLastModifiedTime(file, FileTime.from(Instant.now().minusSeconds(10)));
  }

  private static void deleteTree(Path root) {
    if (root == null || !Files.exists(root)) {
      return;
    }
    try {
      Files.walkFileTree(
          root,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
                throws IOException {
              Files.deleteIfExists(file);
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
              Files.deleteIfExists(d);
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (IOException e) {
      log.warn("could not delete {}: {}", root, e.toString());
    }
  }

  // ------------------------------------------------------------------ builder

  private record Listener(int port, Map<String, String> options, boolean postscreen) {}

  /** Builder for {@link PostfixInstance}; {@link #build()} writes the config but does not start. */
  public static final class Builder {
    private final String name;
    private String address = "127.0.0.1";
    private int port;
    private String mynetworks = "127.0.0.0/8";
    private List<String> domains = List.of("example.test", "corp.example");
    private String backPressureExemptDomain = "corp.example";
    private Duration startTimeout = Duration.ofSeconds(20);
    private Duration greylistDelay;
    private final Map<String, String> mainCf = new LinkedHashMap<>();
    private final Map<String, String> smtpdOptions = new LinkedHashMap<>();
    private final List<Listener> extraListeners = new ArrayList<>();

    private Builder(String name) {
      if (!NAME.matcher(name).matches()) {
        throw new IllegalArgumentException("instance name must match " + NAME + ": " + name);
      }
      this.name = name;
    }

    /** Loopback address (127.0.0.0/8 only) smtpd binds to; default 127.0.0.1. */
    public Builder address(String address) {
      try {
        InetAddress a = InetAddress.getByName(address);
        if (!(a.getAddress().length == 4 && a.isLoopbackAddress())) {
          throw new IllegalArgumentException("not a 127.0.0.0/8 address: " + address);
        }
      } catch (UnknownHostException e) {
        throw new IllegalArgumentException("not an IP address: " + address, e);
      }
      this.address = address;
      return this;
    }

    /** TCP port; default: a free port chosen at {@link #build()}. */
    public Builder port(int port) {
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port out of range: " + port);
      }
      this.port = port;
      return this;
    }

    /** {@code mynetworks} (clients allowed to relay); default {@code 127.0.0.0/8}. */
    public Builder mynetworks(String mynetworks) {
      this.mynetworks = mynetworks;
      return this;
    }

    /** Domains delivered to the Maildir; default {@code example.test corp.example}. */
    public Builder domains(String... domains) {
      this.domains = List.copyOf(Arrays.asList(domains));
      return this;
    }

    /** Sender domain still accepted under back pressure; default {@code corp.example}. */
    public Builder backPressureExemptDomain(String domain) {
      this.backPressureExemptDomain = domain;
      return this;
    }

    /**
     * Sets (or overrides) a main.cf parameter, e.g. {@code mainCf("smtpd_upstream_proxy_protocol",
     * "haproxy")}.
     */
    public Builder mainCf(String parameter, String value) {
      mainCf.put(parameter, value);
      return this;
    }

    /** Adds a {@code -o parameter=value} override to the main smtpd service only. */
    public Builder smtpdOption(String parameter, String value) {
      smtpdOptions.put(parameter, value);
      return this;
    }

    /**
     * Adds another smtpd service on {@code address():port} with its own {@code -o} overrides, e.g.
     * a PROXY-protocol port next to a plain one: {@code additionalListener(p,
     * Map.of("smtpd_upstream_proxy_protocol", "haproxy"))}.
     */
    public Builder additionalListener(int port, Map<String, String> options) {
      extraListeners.add(new Listener(port, Map.copyOf(options), false));
      return this;
    }

    /**
     * Adds a postscreen(8) service on {@code address():port} with its own {@code -o} overrides
     * (e.g. {@code postscreen_upstream_proxy_protocol=haproxy}), handing the clients it passes to
     * an smtpd with the main service's overrides.
     */
    public Builder postscreenListener(int port, Map<String, String> options) {
      extraListeners.add(new Listener(port, Map.copyOf(options), true));
      return this;
    }

    /**
     * Greylists with a postgrey of the instance's own (its database in the instance's directory),
     * asked at every {@code RCPT TO}: a (client /24, sender, recipient) triplet seen for the first
     * time gets {@code 450 4.2.0 <recipient>: Recipient address rejected: Greylisted, …} and passes
     * when it comes back after {@code delay} (whole seconds, at least one; postgrey compares whole
     * seconds, so a retry is sure to pass one second after that). Needs postgrey installed.
     */
    public Builder greylisting(Duration delay) {
      if (delay.toSeconds() < 1) {
        throw new IllegalArgumentException("postgrey's delay is whole seconds, at least 1: " + delay);
      }
      this.greylistDelay = delay;
      return this;
    }

    /** How long {@link PostfixInstance#start()} waits for the 220 banner; default 20 s. */
    public Builder startTimeout(Duration timeout) {
      this.startTimeout = timeout;
      return this;
    }

    /** Creates the directory and configuration; the instance is not started yet. */
    public PostfixInstance build() {
      return new PostfixInstance(this);
    }

    /** {@code build().start()}. */
    public PostfixInstance start() {
      PostfixInstance pf = build();
      try {
        return pf.start();
      } catch (RuntimeException e) {
        pf.closeQuietly(e);
        throw e;
      }
    }
  }

  private void closeQuietly(RuntimeException primary) {
    try {
      close();
    } catch (RuntimeException e) {
      primary.addSuppressed(e);
    }
  }
}

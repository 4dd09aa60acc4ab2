package dev.sluice.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external program with a hard timeout and captures its output.
 *
 * <p>Output goes to temporary files rather than pipes, so a chatty child can never block on a full
 * pipe while we wait for it. On timeout the process and all its descendants are killed; the call
 * never hangs longer than the timeout plus a few seconds.
 */
public final class ExternalCommand {

  /**
   * Outcome of one run.
   *
   * @param command the command line that was run
   * @param exitCode the exit status, or -1 when the process was killed on timeout
   * @param stdout everything written to standard output
   * @param stderr everything written to standard error
   * @param timedOut whether the timeout expired and the process was killed
   * @param elapsed wall-clock run time
   */
  public record Result(
      List<String> command,
      int exitCode,
      String stdout,
      String stderr,
      boolean timedOut,
      Duration elapsed) {

    /** True when the process finished in time with exit status 0. */
    public boolean ok() {
      return !timedOut && exitCode == 0;
    }

    /** Standard output followed by standard error. */
    public String output() {
      return stdout + stderr;
    }

    /** Throws {@link IllegalStateException} with the full output unless {@link #ok()}. */
    public Result orThrow() {
      if (!ok()) {
        throw new IllegalStateException(describe());
      }
      return this;
    }

    /** A one-paragraph description for failure messages. */
    public String describe() {
      return "command "
          + String.join(" ", command)
          + (timedOut ? " timed out after " + elapsed : " exited " + exitCode)
          + "\n--- stdout ---\n"
          + stdout
          + "\n--- stderr ---\n"
          + stderr;
    }
  }

  private ExternalCommand() {}

  /** Runs {@code command} with the given timeout, standard input empty. */
  public static Result run(Duration timeout, String... command) {
    return run(timeout, List.of(command));
  }

  /** Runs {@code command} with the given timeout, standard input empty. */
  public static Result run(Duration timeout, List<String> command) {
    return run(timeout, Path.of("/dev/null"), command);
  }

  /**
   * Runs {@code command} with the given timeout, standard input read from {@code input} (a program
   * that reads a message from it, such as {@code sendmail}).
   */
  public static Result run(Duration timeout, Path input, List<String> command) {
    List<String> cmd = List.copyOf(command);
    Path out = null;
    Path err = null;
    long start = System.nanoTime();
    try {
      out = Files.createTempFile("sluice-cmd-", ".out");
      err = Files.createTempFile("sluice-cmd-", ".err");
      ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(cmd));
      pb.redirectInput(ProcessBuilder.Redirect.from(input.toFile()));
      pb.redirectOutput(out.toFile());
      pb.redirectError(err.toFile());
      Process p = pb.start();
      boolean finished = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
      if (!finished) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
      }
      Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
      return new Result(
          cmd,
          finished ? p.exitValue() : -1,
          Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8),
          !finished,
          elapsed);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run " + String.join(" ", cmd), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running " + String.join(" ", cmd), e);
    } finally {
      deleteQuietly(out);
      deleteQuietly(err);
    }
  }

  /** Returns {@code /usr/sbin/NAME} (or {@code /usr/bin/NAME}) if it exists, else NAME. */
  public static String tool(String name) {
    for (String dir : List.of("/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/")) {
      if (Files.isExecutable(Path.of(dir + name))) {
        return dir + name;
      }
    }
    return name;
  }

  private static void deleteQuietly(Path p) {
    if (p != null) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException ignored) {
        // temp file; nothing useful to do
      }
    }
  }
}
